"""Request bodies and text: malformed bodies, the size limit, text no database can hold."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from settings import Settings
from tests.api.fuzz.oracle import (
    CREATE_API_TOKEN,
    CREATE_CUSTOMER,
    CREATE_SERVICE,
    CREATE_USER,
    CUSTOMER_LEDGER,
    CUSTOMERS,
    FAIL,
    FUZZ,
    GRANT,
    JUNK,
    LOGIN,
    NOTIFICATIONS,
    REJECT,
    REQUEST_SERVICE,
    WITHDRAW,
    Problem,
    State,
    World,
    call,
    check_well_formed,
    cursor_of,
    post,
    read_state,
    short,
)
from tests.factories import (
    PASSWORD,
)

MALFORMED_BODIES = [
    b"",
    b"{",
    b"null",
    b"[]",
    b"42",
    b'"query"',
    b'{"query": 1}',
    b'{"query": ["{ viewer { id } }"]}',
    b'{"query": "{ viewer { id } }", "variables": []}',
    b'{"query": "{ viewer { id } }", "variables": "x"}',
    b'{"query": "{ viewer { id } }", "variables": 1}',
    b"\xff\xfe\x00",
    b'{"query": "\xff"}',
    b'{"query": "{ viewer { id } }", "variables": {"a": ' + b"9" * 5000 + b"}}",
    b"[" * 100_000,
    b'{"query": "{ viewer { id } }", "variables": {"a": ' + b"[" * 50_000 + b"]" * 50_000 + b"}}",
]


@pytest.mark.parametrize("body", MALFORMED_BODIES, ids=lambda b: short(b)[:40])
async def test_a_malformed_request_body_is_400(body: bytes, http: httpx.AsyncClient, world: World) -> None:
    """A body that is no GraphQL request is 400, never a 500, and changes nothing."""
    # given: the world as it is
    before = await read_state()

    # when: the body is posted
    response = await http.post(
        "/graphql",
        content=body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {world.admin.token}"},
    )

    # then: 400, and nothing changed
    assert response.status_code == 400, (response.status_code, response.text[:300])
    assert await read_state() == before


@FUZZ
@given(
    body=st.one_of(
        st.binary(max_size=200),
        st.recursive(JUNK, lambda c: st.lists(c) | st.dictionaries(st.text(), c)).map(
            lambda v: json.dumps(v).encode()
        ),
    )
)
async def test_random_bodies_are_answered_400_or_200(
    body: bytes, http: httpx.AsyncClient, world: World
) -> None:
    """Random bytes and random JSON: 400, or 200 with a well-formed GraphQL error; never a 500."""
    # given: the world as it is
    before = await read_state()

    # when: the body is posted
    response = await http.post(
        "/graphql",
        content=body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {world.admin.token}"},
    )

    # then: refused as malformed, or answered as GraphQL; nothing changed
    assert response.status_code in (200, 400), (response.status_code, response.text[:300])
    if response.status_code == 200:
        body = response.json()
        for result in body if isinstance(body, list) else [body]:  # a batch answers a list
            check_well_formed(result)
    assert await read_state() == before


async def test_a_body_above_the_limit_is_413(
    http: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    """A grant whose body exceeds CREDITS_MAX_BODY_BYTES is refused with 413 and changes nothing."""
    # given: a grant padded with a note just beyond the body limit
    before = await read_state()
    variables = {
        "input": {"customerId": str(world.a.id), "amount": "1", "note": "x" * settings.max_body_bytes}
    }

    # when: it is posted
    response = await http.post(
        "/graphql",
        content=json.dumps({"query": GRANT, "variables": variables}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {world.admin.token}"},
    )

    # then: 413, and the ledger is as it was
    assert response.status_code == 413
    assert await read_state() == before


async def test_a_note_of_100_kb_is_invalid_input_not_a_crash(http: httpx.AsyncClient, world: World) -> None:
    """A 100 kB note (below the body limit) is INVALID_INPUT on ["input","note"]; the balance stays."""
    # given: customer A at 100.00
    before = await read_state()

    # when: a grant carries a note of 100 000 characters
    answer = await call(
        http,
        GRANT,
        {"input": {"customerId": str(world.a.id), "amount": "1", "note": "é" * 100_000}},
        world.admin,
        "grantCredits",
    )

    # then: rejected for the note, and nothing moved
    assert answer.problem == ("INVALID_INPUT", ("input", "note"))
    assert await read_state() == before


def _requested(state: State) -> str:
    """A REQUESTED request of the world."""
    return next(k for k, v in sorted(state.requests.items()) if v[5] == "REQUESTED")


def _user_input(world: World, **fields: str) -> dict[str, Any]:
    base = {
        "email": f"new-{uuid.uuid4().hex[:8]}@example.com",
        "name": "New User",
        "role": "END_USER",
        "customerId": str(world.a.id),
        "password": PASSWORD,
    }
    return {"input": {**base, **fields}}


def _grant(world: World, **fields: str) -> dict[str, Any]:
    return {"input": {"customerId": str(world.a.id), "amount": "1", **fields}}


# Every text argument that is stored or looked up: (operation, document, variables, expected problem).
TEXT_ARGUMENTS: list[tuple[str, str, Callable[[World, State, str], dict[str, Any]], Problem]] = [
    (
        "createCustomer",
        CREATE_CUSTOMER,
        lambda w, s, t: {"input": {"name": t}},
        ("INVALID_INPUT", ("input", "name")),
    ),
    (
        "createService",
        CREATE_SERVICE,
        lambda w, s, t: {"input": {"name": t}},
        ("INVALID_INPUT", ("input", "name")),
    ),
    ("createApiToken", CREATE_API_TOKEN, lambda w, s, t: {"name": t}, ("INVALID_INPUT", ("name",))),
    (
        "createUser",
        CREATE_USER,
        lambda w, s, t: _user_input(w, email=f"a{t}b@example.com"),
        ("INVALID_INPUT", ("input", "email")),
    ),
    ("createUser", CREATE_USER, lambda w, s, t: _user_input(w, name=t), ("INVALID_INPUT", ("input", "name"))),
    (
        "createUser",
        CREATE_USER,
        lambda w, s, t: _user_input(w, password=PASSWORD + t),
        ("INVALID_INPUT", ("input", "password")),
    ),
    ("grantCredits", GRANT, lambda w, s, t: _grant(w, note=t), ("INVALID_INPUT", ("input", "note"))),
    (
        "grantCredits",
        GRANT,
        lambda w, s, t: _grant(w, idempotencyKey=t),
        ("INVALID_INPUT", ("input", "idempotencyKey")),
    ),
    ("withdrawCredits", WITHDRAW, lambda w, s, t: _grant(w, note=t), ("INVALID_INPUT", ("input", "note"))),
    (
        "withdrawCredits",
        WITHDRAW,
        lambda w, s, t: _grant(w, idempotencyKey=t),
        ("INVALID_INPUT", ("input", "idempotencyKey")),
    ),
    (
        "requestService",
        REQUEST_SERVICE,
        lambda w, s, t: {
            "input": {"serviceId": str(w.priced.id), "customerId": str(w.a.id), "idempotencyKey": t}
        },
        ("INVALID_INPUT", ("input", "idempotencyKey")),
    ),
    (
        "failServiceRequest",
        FAIL,
        lambda w, s, t: {"id": _requested(s), "reason": t},
        ("INVALID_INPUT", ("reason",)),
    ),
    (
        "rejectServiceRequest",
        REJECT,
        lambda w, s, t: {"id": _requested(s), "reason": t},
        ("INVALID_INPUT", ("reason",)),
    ),
    (
        "login",
        LOGIN,
        lambda w, s, t: {"email": t + s.users[str(w.a_user.user.id)][0], "password": PASSWORD},
        ("INVALID_CREDENTIALS", None),
    ),
    (
        "login",
        LOGIN,
        lambda w, s, t: {"email": s.users[str(w.a_user.user.id)][0], "password": PASSWORD + t},
        ("INVALID_CREDENTIALS", None),
    ),
    ("customers", CUSTOMERS, lambda w, s, t: {"search": t}, ("INVALID_INPUT", None)),
]


@pytest.mark.parametrize(
    "text",
    ["Acme\x00", "Acme\ud800", "\udfffAcme"],
    ids=["nul", "unpaired-high-surrogate", "unpaired-low-surrogate"],
)
@pytest.mark.parametrize(
    ("operation", "document", "variables", "problem"),
    TEXT_ARGUMENTS,
    ids=[f"{op}-{i}" for i, (op, *_) in enumerate(TEXT_ARGUMENTS)],
)
async def test_text_no_database_can_hold_is_rejected_with_its_field(
    operation: str,
    document: str,
    variables: Callable[[World, State, str], dict[str, Any]],
    problem: Problem,
    text: str,
    http: httpx.AsyncClient,
    world: World,
) -> None:
    """NUL and unpaired surrogates in any text argument: a coded rejection of that field, nothing written."""
    # given: the world as it is
    before = await read_state()

    # when: the argument carries the text
    answer = await call(
        http,
        document,
        variables(world, before, text),
        None if operation == "login" else world.admin,
        operation,
    )

    # then: rejected for that argument (never masked), and nothing changed
    assert answer.problem == problem, answer.body
    assert await read_state() == before


async def test_names_of_100_000_characters_are_invalid_input(http: httpx.AsyncClient, world: World) -> None:
    """A customer name of 10^5 characters (below the body limit) is INVALID_INPUT, not a crash."""
    # given: the world as it is
    before = await read_state()

    # when: a customer is created with that name
    answer = await call(
        http, CREATE_CUSTOMER, {"input": {"name": "x" * 100_000}}, world.admin, "createCustomer"
    )

    # then: a coded rejection of the name, no new customer
    assert answer.problem == ("INVALID_INPUT", ("input", "name"))
    assert await read_state() == before


async def test_a_login_with_an_address_longer_than_any_account_fails_like_any_other(
    http: httpx.AsyncClient, world: World
) -> None:
    """An email of 255 (or 10^5) characters is INVALID_CREDENTIALS, not a masked error."""
    # given: no account can have such an address
    before = await read_state()

    # when: logging in with them
    answers = [
        await call(http, LOGIN, {"email": email, "password": PASSWORD}, None, "login")
        for email in ("x" * 255, "x" * 100_000 + "@example.com")
    ]

    # then: both are ordinary failed logins
    assert [a.problem for a in answers] == [("INVALID_CREDENTIALS", None)] * 2
    assert await read_state() == before


CRAFTED_CURSORS = [
    ("customers", CUSTOMERS, {}, ["x" * 201, str(uuid.UUID(int=1))]),
    ("customers", CUSTOMERS, {}, ["Acme\x00", str(uuid.UUID(int=1))]),
    ("customers", CUSTOMERS, {}, ["Acme\ud800", str(uuid.UUID(int=1))]),
    ("ledger", CUSTOMER_LEDGER, {"id": "A"}, ["9" * 30]),
    ("ledger", CUSTOMER_LEDGER, {"id": "A"}, [str(-(2**63) - 1)]),
    ("notifications", NOTIFICATIONS, {}, ["9999-12-31T23:59:59-23:59", str(uuid.UUID(int=1))]),
    ("notifications", NOTIFICATIONS, {}, ["0001-01-01T00:00:00+23:59", str(uuid.UUID(int=1))]),
    ("notifications", NOTIFICATIONS, {}, ["2020-01-01T00:00:00", str(uuid.UUID(int=1))]),
    ("notifications", NOTIFICATIONS, {}, "[" * 100_000),  # not a list of values: nested beyond recursion
]


@pytest.mark.parametrize(
    ("name", "document", "extra", "values"),
    CRAFTED_CURSORS,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(CRAFTED_CURSORS)],
)
async def test_a_crafted_cursor_no_row_can_have_is_invalid_input(
    name: str,
    document: str,
    extra: dict[str, str],
    values: list[str] | str,
    http: httpx.AsyncClient,
    world: World,
) -> None:
    """A cursor holding a value no column can hold (too long, NUL, beyond 64 bits, beyond year 9999
    in UTC, without time zone) is INVALID_INPUT, not a database error."""
    # given: a cursor in the service's format with such a value
    after = (
        cursor_of(values) if isinstance(values, list) else base64.urlsafe_b64encode(values.encode()).decode()
    )
    variables = {"after": after, **{k: str(world.a.id) for k in extra}}

    # when: a page after it is asked for
    body = await post(http, document, variables, world.admin)

    # then: a top-level INVALID_INPUT
    assert [(e.get("extensions") or {}).get("code") for e in body["errors"]] == ["INVALID_INPUT"]


async def test_emails_equal_after_unicode_normalisation_are_the_same_account(
    http: httpx.AsyncClient, world: World
) -> None:
    """ "e\u0301" and "é", "STRASSE" and "straße": one account each, and either spelling logs in."""
    # given: a user "josé@example.com" (precomposed) and the world's "straße@example.com"
    created = await call(
        http,
        CREATE_USER,
        {
            "input": {
                "email": "jos\u00e9@example.com",
                "name": "José",
                "role": "END_USER",
                "customerId": str(world.a.id),
                "password": PASSWORD,
            }
        },
        world.admin,
        "createUser",
    )
    assert created.ok, created.body
    before = await read_state()

    # when: the decomposed and the upper-case spellings are registered again, and used to log in
    again = [
        await call(
            http,
            CREATE_USER,
            {
                "input": {
                    "email": email,
                    "name": "Twin",
                    "role": "END_USER",
                    "customerId": str(world.a.id),
                    "password": PASSWORD,
                }
            },
            world.admin,
            "createUser",
        )
        for email in ("JOSE\u0301@example.com", "STRASSE@EXAMPLE.COM")
    ]
    login = await call(http, LOGIN, {"email": "JOSE\u0301@example.com", "password": PASSWORD}, None, "login")

    # then: both are duplicates, and the other spelling logs into the same user
    assert [a.problem for a in again] == [("INVALID_INPUT", ("input", "email"))] * 2
    assert login.ok and login.payload["user"]["id"] == created.payload["user"]["id"]
    assert await read_state() == before


async def test_an_email_that_folds_beyond_254_characters_is_invalid_input(
    http: httpx.AsyncClient, world: World
) -> None:
    """ "İ" lower-cases to two characters: the folded key must fit its column too (PostgreSQL)."""
    # given: an address of 212 characters whose folded form has 412
    email = "İ" * 200 + "@example.com"
    before = await read_state()

    # when: a user is created with it, and someone logs in with it
    created = await call(
        http,
        CREATE_USER,
        {"input": {"email": email, "name": "Dotted", "role": "CATALOG_ADMIN", "password": PASSWORD}},
        world.admin,
        "createUser",
    )
    login = await call(http, LOGIN, {"email": email, "password": PASSWORD}, None, "login")

    # then: a coded rejection of the email, and an ordinary failed login
    assert created.problem == ("INVALID_INPUT", ("input", "email"))
    assert login.problem == ("INVALID_CREDENTIALS", None)
    assert await read_state() == before
