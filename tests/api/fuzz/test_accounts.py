"""Fuzzed accounts: login, API tokens, users."""

from __future__ import annotations

from typing import Any

import httpx
from hypothesis import given
from hypothesis import strategies as st

from models import accounts
from models.user import Role
from settings import Settings
from tests.api.fuzz.oracle import (
    ABSENT,
    ACCEPT,
    CALLERS,
    CREATE_API_TOKEN,
    CREATE_USER,
    FUZZ,
    JUNK,
    LOGIN,
    REQUEST_ERROR,
    REVOKE_API_TOKEN,
    SET_USER_ACTIVE,
    TEXT,
    Expect,
    NotGraphQL,
    Problem,
    State,
    World,
    as_bool,
    as_id,
    as_input,
    as_is,
    as_str,
    assert_only,
    authorise,
    call,
    caller_of,
    decomposed,
    fold_email,
    from_problems,
    id_values,
    input_of,
    known,
    login_keys,
    new_rows,
    nul_after,
    one_address,
    own_customer,
    padded,
    pools_of,
    read_state,
    realise,
    reject,
    resolve,
    settle,
    storable,
    valid_name,
    valid_or,
    vars_of,
)
from tests.factories import (
    PASSWORD,
    Login,
)


@FUZZ
@given(data=st.data())
async def test_login_fuzzed(
    data: st.DataObject, http: httpx.AsyncClient, world: World, settings: Settings, monkeypatch
) -> None:
    """Any email and password: a token only for an active user's own credentials, else INVALID_CREDENTIALS."""
    # given: throttling out of the way (every rejection here is a failed login), and the users' emails
    monkeypatch.setattr(settings, "login_max_failures_per_email_and_address", 10**9)
    monkeypatch.setattr(settings, "login_max_failures_per_email", 10**9)
    monkeypatch.setattr(settings, "login_max_failures_per_address", 10**9)
    before = await read_state()
    pools = pools_of(before)
    spellings = (as_is, str.upper, padded, str.casefold, decomposed, nul_after)
    email = realise(data.draw(valid_or(known("emails", *spellings)), label="email"), pools)
    wrong = st.sampled_from([PASSWORD + "\x00", PASSWORD.upper(), PASSWORD + "\ud800", " " + PASSWORD])
    password = data.draw(valid_or(st.just(PASSWORD), wrong | TEXT), label="password")
    variables = vars_of(email=email, password=password)
    try:
        as_str(email), as_str(password)
        keys = login_keys(email)
        users = [u for u in before.users.values() if u[1] in keys]
        expect = (
            ACCEPT
            if users and users[0][5] and password == PASSWORD
            else reject(("INVALID_CREDENTIALS", None))
        )
    except NotGraphQL:
        expect = REQUEST_ERROR

    # when: logging in
    answer = await call(http, LOGIN, variables, None, "login")

    # then: a session for exactly that user, or a rejection that changed nothing
    after = await read_state()
    settle(expect, answer, before, after, variables)
    if answer.ok:
        assert answer.payload["token"] and answer.payload["expiresAt"]
        assert fold_email(answer.payload["user"]["email"]) in login_keys(email)
        assert after == before


@FUZZ
@given(data=st.data())
async def test_create_api_token_fuzzed(data: st.DataObject, http: httpx.AsyncClient, world: World) -> None:
    """Any name from any caller: a token named after the stripped name, or a rejection."""
    # given: a caller and a name
    before = await read_state()
    caller = caller_of(world, data.draw(CALLERS, label="caller"))
    name = data.draw(valid_or(st.text(min_size=1, max_size=30)), label="name")
    variables = vars_of(name=name)
    try:
        as_str(name)
        expect = authorise(before, caller) or from_problems(
            [] if valid_name(name) else [("INVALID_INPUT", ("name",))]
        )
    except NotGraphQL:
        expect = REQUEST_ERROR

    # when: creating the token
    answer = await call(http, CREATE_API_TOKEN, variables, caller, "createApiToken")

    # then: one new token of the caller, named as asked
    after = await read_state()
    settle(expect, answer, before, after, variables)
    if answer.ok:
        assert answer.payload["token"].startswith("crd_")
        assert new_rows(before.tokens, after.tokens) == {
            answer.payload["apiToken"]["id"]: (str(caller.user.id), name.strip(), None)
        }
        assert_only(before, after, "tokens")


@FUZZ
@given(data=st.data())
async def test_revoke_api_token_fuzzed(data: st.DataObject, http: httpx.AsyncClient, world: World) -> None:
    """Ids of tokens, of other objects, or none at all: only the owner or a catalog admin revokes."""
    # given: a caller and an id
    before = await read_state()
    caller = caller_of(world, data.draw(CALLERS, label="caller"))
    raw = realise(
        data.draw(valid_or(known("tokens"), id_values("tokens")), label="id"),
        pools_of(before, tokens=sorted(before.tokens)),
    )
    variables = vars_of(id=raw)
    try:
        token_id = resolve(as_id(raw))
        token = before.tokens.get(token_id) if token_id else None
        visible = (
            token is not None
            and caller is not None
            and (caller.user.role == Role.CATALOG_ADMIN or token[0] == str(caller.user.id))
        )
        expect = authorise(before, caller) or from_problems([] if visible else [("NOT_FOUND", ("id",))])
    except NotGraphQL:
        expect = REQUEST_ERROR

    # when: revoking
    answer = await call(http, REVOKE_API_TOKEN, variables, caller, "revokeApiToken")

    # then: that token is revoked (once: a repeat keeps the first time), nothing else
    after = await read_state()
    settle(expect, answer, before, after, variables)
    if answer.ok:
        assert answer.payload["apiToken"]["id"] == token_id
        assert after.tokens[token_id][2] is not None
        if before.tokens[token_id][2] is not None:
            assert after.tokens[token_id] == before.tokens[token_id]
        assert {k: v for k, v in after.tokens.items() if k != token_id} == {
            k: v for k, v in before.tokens.items() if k != token_id
        }
        assert_only(before, after, "tokens")


def judge_create_user(state: State, caller: Login | None, value: Any) -> Expect:
    """createUser's rules: who may, which customer, and every field's value."""
    try:
        fields = as_input(value, {"email", "name", "role", "customerId", "password"})
        email, name, password = (as_str(fields[k]) for k in ("email", "name", "password"))
        role = fields["role"]
        if not isinstance(role, str) or role not in {r.value for r in Role}:
            raise NotGraphQL
        customer_raw = as_id(fields["customerId"], nullable=True)
    except NotGraphQL:
        return REQUEST_ERROR
    denied = authorise(state, caller, Role.CATALOG_ADMIN, Role.CUSTOMER_ADMIN)
    if denied:
        return denied
    if caller.user.role == Role.CUSTOMER_ADMIN and role == Role.CATALOG_ADMIN:
        return reject(("FORBIDDEN", None))
    problems: list[Problem] = []
    customer_field = ("input", "customerId")
    customer = resolve(customer_raw)
    if customer_raw is not None and customer is None:
        problems.append(("NOT_FOUND", customer_field))
    if caller.user.role == Role.CUSTOMER_ADMIN:
        if customer_raw is None:
            customer = own_customer(caller)
        elif customer is not None and customer != own_customer(caller):
            problems.append(("NOT_FOUND", customer_field))
    if role == Role.CATALOG_ADMIN and customer is not None:
        problems.append(("INVALID_INPUT", customer_field))
    if role != Role.CATALOG_ADMIN:
        if customer_raw is None and customer is None:
            problems.append(("INVALID_INPUT", customer_field))
        elif customer is not None and customer not in state.customers:
            problems.append(("NOT_FOUND", customer_field))
    address = one_address(email)
    folded = fold_email(address or "")
    if address is None or len(folded) > 254:
        problems.append(("INVALID_INPUT", ("input", "email")))
    elif folded in {u[1] for u in state.users.values()}:
        problems.append(("INVALID_INPUT", ("input", "email")))
    if not valid_name(name):
        problems.append(("INVALID_INPUT", ("input", "name")))
    if not 8 <= len(password) <= 1024 or not storable(password):
        problems.append(("INVALID_INPUT", ("input", "password")))
    return from_problems(problems)


# A role and its customer, drawn together so that valid pairs are common; or each fuzzed apart.
ROLE_AND_CUSTOMER = st.one_of(
    st.fixed_dictionaries({"role": st.just("CATALOG_ADMIN"), "customerId": st.sampled_from([ABSENT, None])}),
    st.fixed_dictionaries(
        {"role": st.sampled_from(["CUSTOMER_ADMIN", "END_USER"]), "customerId": known("customers")}
    ),
    st.fixed_dictionaries(
        {
            "role": valid_or(
                st.sampled_from([r.value for r in Role]), st.sampled_from(["catalog_admin", "ROOT", ""])
            ),
            "customerId": valid_or(known("customers") | st.none(), id_values("customers")),
        }
    ),
)


@FUZZ
@given(data=st.data())
async def test_create_user_fuzzed(data: st.DataObject, http: httpx.AsyncClient, world: World) -> None:
    """Every field of CreateUserInput fuzzed, by catalog and customer administrators (and others)."""
    # given: a caller and an input
    before = await read_state()
    caller = caller_of(world, data.draw(CALLERS, label="caller"))
    local = st.one_of(st.from_regex(r"[a-z0-9.]{1,20}", fullmatch=True), TEXT)
    valid_email = st.builds(
        lambda a, n: f"{a}.{n}@example.com",
        st.from_regex(r"[a-z0-9]{1,20}", fullmatch=True),
        st.integers(0, 10**9),
    )
    email = st.one_of(
        st.builds(
            lambda a, b: f"{a}@{b}", local, st.sampled_from(["example.com", "ÉXAMPLE.com", "x", "ß.de"])
        ),
        known("emails", str.upper, padded, decomposed),
        st.sampled_from(["İ" * 200 + "@example.com", "ﷺ" * 20 + "@example.com", "a@" + "b" * 252]),
        TEXT,
    )
    value = data.draw(
        input_of(
            {
                "email": valid_or(valid_email, email),
                "name": valid_or(st.text(min_size=1, max_size=30)),
                "password": valid_or(st.text(min_size=8, max_size=20)),
            },
            ROLE_AND_CUSTOMER,
        ),
        label="input",
    )
    value = realise(value, pools_of(before))
    variables = vars_of(input=value)
    expect = judge_create_user(before, caller, value)

    # when: creating the user
    answer = await call(http, CREATE_USER, variables, caller, "createUser")

    # then: exactly one new user, as asked
    after = await read_state()
    settle(expect, answer, before, after, variables)
    if answer.ok:
        user = answer.payload["user"]
        customer = (user["customer"] or {}).get("id")
        asked = resolve(as_id(value.get("customerId", ABSENT), nullable=True))
        assert customer == (asked or (own_customer(caller) if value["role"] != "CATALOG_ADMIN" else None))
        assert new_rows(before.users, after.users) == {
            user["id"]: (
                one_address(value["email"]),
                fold_email(one_address(value["email"])),
                value["name"].strip(),
                value["role"],
                customer,
                True,
            )
        }
        assert_only(before, after, "users")


@FUZZ
@given(data=st.data())
async def test_set_user_active_fuzzed(data: st.DataObject, http: httpx.AsyncClient, world: World) -> None:
    """Any id and any `active`: only users the caller manages change, and never oneself to inactive."""
    # given: a caller, an id and a flag
    before = await read_state()
    caller = caller_of(world, data.draw(CALLERS, label="caller"))
    raw = realise(
        data.draw(valid_or(known("users"), id_values("users")), label="id"),
        pools_of(before, users=sorted(before.users)),
    )
    active = data.draw(valid_or(st.booleans(), JUNK), label="active")
    variables = vars_of(id=raw, active=active)
    try:
        target_id = resolve(as_id(raw))
        as_bool(active)
        expect = authorise(before, caller, Role.CATALOG_ADMIN, Role.CUSTOMER_ADMIN)
        if expect is None:
            target = before.users.get(target_id) if target_id else None
            manages = target is not None and (
                caller.user.role == Role.CATALOG_ADMIN
                or (target[3] != Role.CATALOG_ADMIN and target[4] == own_customer(caller))
            )
            if not manages:
                expect = reject(("NOT_FOUND", ("id",)))
            elif target_id == str(caller.user.id) and not active:
                expect = reject(("INVALID_INPUT", ("active",)))
            else:
                expect = ACCEPT
    except NotGraphQL:
        expect = REQUEST_ERROR

    # when: (de)activating
    answer = await call(http, SET_USER_ACTIVE, variables, caller, "setUserActive")

    # then: only that user's flag is as asked; a deactivation also revoked that user's API tokens
    after = await read_state()
    settle(expect, answer, before, after, variables)
    if answer.ok:
        assert after.users[target_id] == (*before.users[target_id][:5], active)
        assert {k: v for k, v in after.users.items() if k != target_id} == {
            k: v for k, v in before.users.items() if k != target_id
        }
        deactivated = before.users[target_id][5] and not active
        for token_id, (user_id, name, revoked_at) in after.tokens.items():
            if deactivated and str(user_id) == target_id and before.tokens[token_id][2] is None:
                assert revoked_at is not None and before.tokens[token_id][:2] == (user_id, name)
            else:
                assert before.tokens[token_id] == (user_id, name, revoked_at)
        assert_only(before, after, "users", "tokens")
        if deactivated:
            await _log_in_again(world, target_id)


async def _log_in_again(world: World, user_id: str) -> None:
    """A deactivation killed the user's tokens for good: its login in the world gets a new one."""
    for login in world.logins:
        if str(login.user.id) == user_id:
            await login.user.refresh_from_db(fields=["token_generation"])
            login.token = accounts.issue_jwt(login.user).token
