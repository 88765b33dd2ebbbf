"""Logins, bearer tokens, API tokens, user creation and the first catalog administrator."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import json
import re
import time
import uuid
from types import SimpleNamespace

import httpx
import jwt
import pytest
from argon2 import PasswordHasher

from models import accounts
from models.user import ApiToken, Role, User
from tests.client import GraphQLClient, error_codes
from tests.documents import CREATE_API_TOKEN, CREATE_USER, LOGIN, REVOKE_API_TOKEN, SET_USER_ACTIVE
from tests.factories import PASSWORD, make_catalog_admin, make_customer, make_user

VIEWER = "query { viewer { id email role active } }"
API_TOKENS = "query { apiTokens { id name createdAt lastUsedAt revokedAt } }"

UNAUTHENTICATED_MESSAGE = "Authentication required: send a valid bearer token."
INVALID_CREDENTIALS = {"code": "INVALID_CREDENTIALS", "field": None, "message": "invalid email or password"}


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _claims(user_id: uuid.UUID, *, expires_in: int = 3600) -> dict:
    now = dt.datetime.now(dt.UTC)
    return {"sub": str(user_id), "iat": now, "exp": now + dt.timedelta(seconds=expires_in)}


def _parse_time(value: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value)
    assert parsed.tzinfo is not None, value
    return parsed


async def _assert_unauthenticated(body: dict) -> None:
    assert body["data"] is None
    assert error_codes(body) == ["UNAUTHENTICATED"]
    assert [e["message"] for e in body["errors"]] == [UNAUTHENTICATED_MESSAGE]


async def _api_token_row(token_id: str) -> dict:
    """Every column of the stored api_token row."""
    [row] = await ApiToken.filter(id=token_id).values()
    return row


# --- login ---------------------------------------------------------------------------------


async def test_login_compares_the_email_case_insensitively_and_the_token_works(
    gql: GraphQLClient, settings
) -> None:
    """Login with a differently cased email; the JWT authenticates `viewer` until expiresAt."""
    # given
    login = await make_user(Role.END_USER, await make_customer(), email="Alice.Smith@Example.com")
    before = dt.datetime.now(dt.UTC)

    # when
    result = (await gql(LOGIN, {"email": "  aLICE.smith@EXAMPLE.COM ", "password": PASSWORD}))["login"]

    # then: the user, its address as stored (the domain in lower case, the local part as given)
    assert result["userErrors"] == []
    assert result["user"] == {
        "id": str(login.user.id),
        "email": "Alice.Smith@example.com",
        "role": "END_USER",
    }
    expires_at = _parse_time(result["expiresAt"])
    assert expires_at > dt.datetime.now(dt.UTC)
    expected = before + dt.timedelta(seconds=settings.jwt_ttl_seconds)
    assert abs((expires_at - expected).total_seconds()) < 5
    viewer = (await gql(VIEWER, token=result["token"]))["viewer"]
    assert viewer == {
        "id": str(login.user.id),
        "email": "Alice.Smith@example.com",
        "role": "END_USER",
        "active": True,
    }


async def test_unknown_email_and_wrong_password_get_the_same_answer(gql: GraphQLClient) -> None:
    """Neither reveals whether the email exists."""
    # given
    await make_user(Role.CATALOG_ADMIN, email="known@example.com")

    # when
    unknown = (await gql(LOGIN, {"email": "nobody@example.com", "password": PASSWORD}))["login"]
    wrong = (await gql(LOGIN, {"email": "known@example.com", "password": PASSWORD + "x"}))["login"]

    # then
    expected = {"token": None, "expiresAt": None, "user": None, "userErrors": [INVALID_CREDENTIALS]}
    assert unknown == expected
    assert wrong == expected


async def test_a_deactivated_user_cannot_log_in(gql: GraphQLClient) -> None:
    """The right password of a deactivated user is answered like a wrong one."""
    # given
    login = await make_user(Role.END_USER, await make_customer(), email="gone@example.com")
    await User.filter(id=login.user.id).update(active=False)

    # when
    result = (await gql(LOGIN, {"email": "gone@example.com", "password": PASSWORD}))["login"]

    # then
    assert result == {"token": None, "expiresAt": None, "user": None, "userErrors": [INVALID_CREDENTIALS]}


# --- bearer tokens -------------------------------------------------------------------------


async def test_viewer_without_a_token_is_unauthenticated(gql: GraphQLClient) -> None:
    """No Authorization header at all."""
    # when
    body = await gql.raw(VIEWER)

    # then
    await _assert_unauthenticated(body)


async def test_a_garbage_bearer_token_is_unauthenticated(gql: GraphQLClient) -> None:
    """`Bearer garbage`."""
    # when
    body = await gql.raw(VIEWER, token="garbage")

    # then
    await _assert_unauthenticated(body)


async def test_an_unsigned_alg_none_jwt_is_unauthenticated(gql: GraphQLClient) -> None:
    """A token with `alg: none` and valid claims for a real user is refused."""
    # given
    login = await make_catalog_admin()
    claims = {"sub": str(login.user.id), "exp": int(dt.datetime.now(dt.UTC).timestamp()) + 3600}
    forged = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."

    # when
    body = await gql.raw(VIEWER, token=forged)

    # then
    await _assert_unauthenticated(body)


async def test_a_jwt_signed_with_another_secret_is_unauthenticated(gql: GraphQLClient) -> None:
    """Right claims, wrong key."""
    # given
    login = await make_catalog_admin()
    forged = jwt.encode(_claims(login.user.id), "another-secret-" + uuid.uuid4().hex, algorithm="HS256")

    # when
    body = await gql.raw(VIEWER, token=forged)

    # then
    await _assert_unauthenticated(body)


async def test_an_expired_jwt_is_unauthenticated(gql: GraphQLClient, settings) -> None:
    """Signed with the service's secret but past its `exp`."""
    # given
    login = await make_catalog_admin()
    expired = jwt.encode(
        _claims(login.user.id, expires_in=-60), settings.resolved_jwt_secret(), algorithm="HS256"
    )
    fresh = jwt.encode(_claims(login.user.id), settings.resolved_jwt_secret(), algorithm="HS256")
    assert (await gql(VIEWER, token=fresh))["viewer"]["id"] == str(login.user.id)

    # when
    body = await gql.raw(VIEWER, token=expired)

    # then
    await _assert_unauthenticated(body)


async def test_a_jwt_verified_before_is_refused_once_it_expires(
    gql: GraphQLClient, settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Verified tokens are remembered (models.accounts._verified_jwt), their expiry is not."""
    # given: a token valid for a minute, used once
    login = await make_catalog_admin()
    claims = _claims(login.user.id, expires_in=60)
    token = jwt.encode(claims, settings.resolved_jwt_secret(), algorithm="HS256")
    assert (await gql(VIEWER, token=token))["viewer"]["id"] == str(login.user.id)

    # when: two minutes later by the service's clock
    later = time.time() + 120
    monkeypatch.setattr(accounts, "time", SimpleNamespace(time=lambda: later))
    body = await gql.raw(VIEWER, token=token)

    # then
    await _assert_unauthenticated(body)


async def test_concurrent_authentications_share_their_user_lookups(monkeypatch: pytest.MonkeyPatch) -> None:
    """Twelve requests authenticating at once: each gets its own user, an inactive one none."""
    # given: eleven active users and a deactivated one, and a count of the queries made
    customer = await make_customer()
    logins = [await make_user(Role.END_USER, customer) for _ in range(12)]
    await User.filter(id=logins[-1].user.id).update(active=False)
    queries = 0
    real_fetch = accounts.sql.fetch

    async def counting_fetch(*args: object) -> list[dict]:
        nonlocal queries
        queries += 1
        return await real_fetch(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(accounts.sql, "fetch", counting_fetch)

    # when: all twelve tokens are authenticated at once
    outcomes = await asyncio.gather(
        *(accounts.authenticate(login.token) for login in logins), return_exceptions=True
    )

    # then: the active users are who their tokens say, the inactive one is refused
    assert [o.user_id for o in outcomes[:11]] == [login.user.id for login in logins[:11]]  # type: ignore[union-attr]
    assert isinstance(outcomes[11], accounts.AuthenticationError)
    # and: the first lookup ran alone, the eleven arriving meanwhile shared one query
    assert queries == 2


async def test_a_jwt_of_a_deleted_user_is_unauthenticated(gql: GraphQLClient) -> None:
    """A validly signed token whose subject no longer exists."""
    # given
    login = await make_user(Role.CATALOG_ADMIN)
    await User.filter(id=login.user.id).delete()

    # when
    body = await gql.raw(VIEWER, token=login.token)

    # then
    await _assert_unauthenticated(body)


async def test_deactivating_a_user_stops_its_existing_jwt_at_once(gql: GraphQLClient) -> None:
    """setUserActive(false) makes the token issued before it useless on the next request."""
    # given
    admin = await make_catalog_admin()
    login = await make_user(Role.END_USER, await make_customer())
    assert (await gql(VIEWER, token=login.token))["viewer"]["active"] is True

    # when
    result = (await gql(SET_USER_ACTIVE, {"id": str(login.user.id), "active": False}, token=admin.token))[
        "setUserActive"
    ]

    # then
    assert result == {"user": {"id": str(login.user.id), "active": False}, "userErrors": []}
    await _assert_unauthenticated(await gql.raw(VIEWER, token=login.token))


async def test_deactivating_a_user_stops_its_api_tokens_at_once(gql: GraphQLClient) -> None:
    """A deactivated user's API tokens stop working too."""
    # given
    admin = await make_catalog_admin()
    login = await make_user(Role.CUSTOMER_ADMIN, await make_customer())
    secret = (await gql(CREATE_API_TOKEN, {"name": "ci"}, token=login.token))["createApiToken"]["token"]
    assert (await gql(VIEWER, token=secret))["viewer"]["id"] == str(login.user.id)

    # when
    await gql(SET_USER_ACTIVE, {"id": str(login.user.id), "active": False}, token=admin.token)

    # then
    await _assert_unauthenticated(await gql.raw(VIEWER, token=secret))


async def test_reactivating_a_user_does_not_revive_its_old_jwt_or_api_tokens(gql: GraphQLClient) -> None:
    """Tokens issued before a deactivation stay dead; a login after the reactivation works."""
    # given: a user with a JWT and an API token, deactivated and then reactivated
    admin = await make_catalog_admin()
    login = await make_user(Role.CUSTOMER_ADMIN, await make_customer(), email="back@example.com")
    created = (await gql(CREATE_API_TOKEN, {"name": "ci"}, token=login.token))["createApiToken"]
    assert (await gql(VIEWER, token=login.token))["viewer"]["active"] is True
    for active in (False, True):
        result = await gql(SET_USER_ACTIVE, {"id": str(login.user.id), "active": active}, token=admin.token)
        assert result["setUserActive"]["user"] == {"id": str(login.user.id), "active": active}

    # when
    old_jwt = await gql.raw(VIEWER, token=login.token)
    old_api_token = await gql.raw(VIEWER, token=created["token"])
    fresh = (await gql(LOGIN, {"email": "back@example.com", "password": PASSWORD}))["login"]

    # then: the old ones are refused, the API token shows as revoked, the new login works
    await _assert_unauthenticated(old_jwt)
    await _assert_unauthenticated(old_api_token)
    assert (await _api_token_row(created["apiToken"]["id"]))["revoked_at"] is not None
    assert (await gql(VIEWER, token=fresh["token"]))["viewer"]["id"] == str(login.user.id)


@pytest.mark.parametrize("scheme", ["Token", "Basic", "JWT"])
async def test_a_non_bearer_scheme_is_unauthenticated(http: httpx.AsyncClient, scheme: str) -> None:
    """A valid JWT under another scheme is not accepted."""
    # given
    login = await make_catalog_admin()

    # when
    response = await http.post(
        "/graphql", json={"query": VIEWER}, headers={"Authorization": f"{scheme} {login.token}"}
    )

    # then
    assert response.status_code == 200
    await _assert_unauthenticated(response.json())


async def test_the_bearer_scheme_is_case_insensitive(http: httpx.AsyncClient) -> None:
    """HTTP auth schemes are case-insensitive: `bearer <token>` works."""
    # given
    login = await make_catalog_admin()

    # when
    response = await http.post(
        "/graphql", json={"query": VIEWER}, headers={"Authorization": f"bearer {login.token}"}
    )

    # then
    assert response.json() == {
        "data": {
            "viewer": {
                "id": str(login.user.id),
                "email": login.user.email,
                "role": "CATALOG_ADMIN",
                "active": True,
            }
        }
    }


# --- API tokens ----------------------------------------------------------------------------


async def test_an_api_token_is_shown_once_listed_without_secret_and_acts_as_its_owner(
    gql: GraphQLClient,
) -> None:
    """createApiToken returns the secret once; apiTokens lists it; the secret authenticates."""
    # given
    owner = await make_user(Role.CUSTOMER_ADMIN, await make_customer())

    # when
    created = (await gql(CREATE_API_TOKEN, {"name": "  nightly export "}, token=owner.token))[
        "createApiToken"
    ]

    # then: the secret is returned once, with the token's metadata
    assert created["userErrors"] == []
    secret = created["token"]
    assert secret.startswith("crd_")
    assert len(secret) >= 40
    token = created["apiToken"]
    assert token["name"] == "nightly export"
    assert token["lastUsedAt"] is None and token["revokedAt"] is None
    assert _parse_time(token["createdAt"]) <= dt.datetime.now(dt.UTC)

    # then: the list has it, and no secret anywhere
    listed_body = await gql.raw(API_TOKENS, token=owner.token)
    assert listed_body == {"data": {"apiTokens": [token]}}
    assert secret not in json.dumps(listed_body)
    assert secret[len("crd_") :] not in json.dumps(listed_body)

    # then: the secret acts as its owner
    viewer = (await gql(VIEWER, token=secret))["viewer"]
    assert viewer == {
        "id": str(owner.user.id),
        "email": owner.user.email,
        "role": "CUSTOMER_ADMIN",
        "active": True,
    }


async def test_the_database_stores_only_the_sha256_of_an_api_token(gql: GraphQLClient) -> None:
    """No column of the api_token row contains the secret."""
    # given
    owner = await make_catalog_admin()

    # when
    created = (await gql(CREATE_API_TOKEN, {"name": "ci"}, token=owner.token))["createApiToken"]

    # then
    secret = created["token"]
    row = await _api_token_row(created["apiToken"]["id"])
    assert row["token_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    for column, value in row.items():
        assert secret not in str(value), column
        assert secret[len("crd_") :] not in str(value), column


async def test_using_an_api_token_sets_last_used_at(gql: GraphQLClient) -> None:
    """lastUsedAt is null until the token authenticates a request."""
    # given
    owner = await make_catalog_admin()
    created = (await gql(CREATE_API_TOKEN, {"name": "ci"}, token=owner.token))["createApiToken"]
    assert (await gql(API_TOKENS, token=owner.token))["apiTokens"][0]["lastUsedAt"] is None
    before = dt.datetime.now(dt.UTC)

    # when
    await gql(VIEWER, token=created["token"])

    # then
    [listed] = (await gql(API_TOKENS, token=owner.token))["apiTokens"]
    last_used = _parse_time(listed["lastUsedAt"])
    assert before - dt.timedelta(seconds=1) <= last_used <= dt.datetime.now(dt.UTC)
    assert last_used >= _parse_time(listed["createdAt"])


async def test_a_revoked_api_token_stops_working_at_once(gql: GraphQLClient) -> None:
    """revokeApiToken: the next request with the secret is UNAUTHENTICATED."""
    # given
    owner = await make_user(Role.END_USER, await make_customer())
    created = (await gql(CREATE_API_TOKEN, {"name": "ci"}, token=owner.token))["createApiToken"]
    token_id = created["apiToken"]["id"]
    assert (await gql(VIEWER, token=created["token"]))["viewer"]["id"] == str(owner.user.id)

    # when
    revoked = (await gql(REVOKE_API_TOKEN, {"id": token_id}, token=owner.token))["revokeApiToken"]

    # then
    assert revoked["userErrors"] == []
    assert revoked["apiToken"]["id"] == token_id
    assert _parse_time(revoked["apiToken"]["revokedAt"]) <= dt.datetime.now(dt.UTC)
    await _assert_unauthenticated(await gql.raw(VIEWER, token=created["token"]))
    [listed] = (await gql(API_TOKENS, token=owner.token))["apiTokens"]
    assert listed["revokedAt"] == revoked["apiToken"]["revokedAt"]


async def test_revoking_someone_elses_api_token_is_not_found(gql: GraphQLClient) -> None:
    """A customer administrator cannot revoke another user's token; it keeps working."""
    # given
    customer = await make_customer()
    owner = await make_user(Role.END_USER, customer)
    other = await make_user(Role.CUSTOMER_ADMIN, customer)
    created = (await gql(CREATE_API_TOKEN, {"name": "ci"}, token=owner.token))["createApiToken"]

    # when
    result = (await gql(REVOKE_API_TOKEN, {"id": created["apiToken"]["id"]}, token=other.token))[
        "revokeApiToken"
    ]

    # then
    assert result == {
        "apiToken": None,
        "userErrors": [{"code": "NOT_FOUND", "field": ["id"], "message": "API token not found"}],
    }
    assert (await ApiToken.get(id=created["apiToken"]["id"])).revoked_at is None
    assert (await gql(VIEWER, token=created["token"]))["viewer"]["id"] == str(owner.user.id)


async def test_revoking_an_unknown_or_malformed_api_token_id_is_not_found(gql: GraphQLClient) -> None:
    """A missing id and a non-id are answered alike."""
    # given
    owner = await make_catalog_admin()

    # when
    missing = (await gql(REVOKE_API_TOKEN, {"id": str(uuid.uuid4())}, token=owner.token))["revokeApiToken"]
    malformed = (await gql(REVOKE_API_TOKEN, {"id": "42"}, token=owner.token))["revokeApiToken"]

    # then
    expected = {
        "apiToken": None,
        "userErrors": [{"code": "NOT_FOUND", "field": ["id"], "message": "API token not found"}],
    }
    assert missing == expected
    assert malformed == expected


async def test_a_catalog_admin_may_revoke_anyones_api_token(gql: GraphQLClient) -> None:
    """Catalog administrators revoke other users' tokens."""
    # given
    admin = await make_catalog_admin()
    owner = await make_user(Role.CUSTOMER_ADMIN, await make_customer())
    created = (await gql(CREATE_API_TOKEN, {"name": "ci"}, token=owner.token))["createApiToken"]

    # when
    result = (await gql(REVOKE_API_TOKEN, {"id": created["apiToken"]["id"]}, token=admin.token))[
        "revokeApiToken"
    ]

    # then
    assert result["userErrors"] == []
    assert result["apiToken"]["id"] == created["apiToken"]["id"]
    await _assert_unauthenticated(await gql.raw(VIEWER, token=created["token"]))


async def test_api_tokens_lists_only_the_callers_tokens(gql: GraphQLClient) -> None:
    """Another user's tokens are not in the caller's list."""
    # given
    admin = await make_catalog_admin()
    other = await make_user(Role.CUSTOMER_ADMIN, await make_customer())
    await gql(CREATE_API_TOKEN, {"name": "theirs"}, token=other.token)
    mine = (await gql(CREATE_API_TOKEN, {"name": "mine"}, token=admin.token))["createApiToken"]["apiToken"]

    # when
    listed = (await gql(API_TOKENS, token=admin.token))["apiTokens"]

    # then
    assert listed == [mine]


# --- createUser ----------------------------------------------------------------------------


def _user_input(**overrides: object) -> dict:
    values = {
        "email": f"new-{uuid.uuid4().hex[:8]}@example.com",
        "name": "New Person",
        "role": "END_USER",
        "password": "long enough",
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


@pytest.mark.parametrize("role", ["CUSTOMER_ADMIN", "END_USER"])
async def test_create_user_of_a_customer_role_requires_customer_id(gql: GraphQLClient, role: str) -> None:
    """A catalog administrator must say which customer the user belongs to."""
    # given
    admin = await make_catalog_admin()
    users_before = await User.all().count()

    # when
    result = (await gql(CREATE_USER, {"input": _user_input(role=role)}, token=admin.token))["createUser"]

    # then
    assert result == {
        "user": None,
        "userErrors": [
            {
                "code": "INVALID_INPUT",
                "field": ["input", "customerId"],
                "message": "customerId is required for this role",
            }
        ],
    }
    assert await User.all().count() == users_before


async def test_create_catalog_admin_with_a_customer_id_is_invalid(gql: GraphQLClient) -> None:
    """A catalog administrator belongs to no customer."""
    # given
    admin = await make_catalog_admin()
    customer = await make_customer()
    users_before = await User.all().count()

    # when
    result = (
        await gql(
            CREATE_USER,
            {"input": _user_input(role="CATALOG_ADMIN", customerId=str(customer.id))},
            token=admin.token,
        )
    )["createUser"]

    # then
    assert result == {
        "user": None,
        "userErrors": [
            {
                "code": "INVALID_INPUT",
                "field": ["input", "customerId"],
                "message": "a catalog administrator has no customer",
            }
        ],
    }
    assert await User.all().count() == users_before


async def test_create_user_with_an_email_differing_only_in_case_is_invalid(gql: GraphQLClient) -> None:
    """Emails are unique case-insensitively."""
    # given
    admin = await make_catalog_admin()
    customer = await make_customer()
    await make_user(Role.END_USER, customer, email="Dana@Example.com")
    users_before = await User.all().count()

    # when
    result = (
        await gql(
            CREATE_USER,
            {"input": _user_input(email="dana@example.COM", customerId=str(customer.id))},
            token=admin.token,
        )
    )["createUser"]

    # then
    assert result == {
        "user": None,
        "userErrors": [
            {"code": "INVALID_INPUT", "field": ["input", "email"], "message": "a user with this email exists"}
        ],
    }
    assert await User.all().count() == users_before


async def test_create_user_with_a_short_password_is_invalid(gql: GraphQLClient) -> None:
    """Seven characters are refused; eight are enough."""
    # given
    admin = await make_catalog_admin()
    customer = await make_customer()
    users_before = await User.all().count()

    # when
    short = (
        await gql(
            CREATE_USER,
            {"input": _user_input(password="7 chars", customerId=str(customer.id))},
            token=admin.token,
        )
    )["createUser"]
    enough = (
        await gql(
            CREATE_USER,
            {
                "input": _user_input(
                    email="eight@example.com", password="8 chars!", customerId=str(customer.id)
                )
            },
            token=admin.token,
        )
    )["createUser"]

    # then
    assert short == {
        "user": None,
        "userErrors": [
            {
                "code": "INVALID_INPUT",
                "field": ["input", "password"],
                "message": "password must be at least 8 characters",
            }
        ],
    }
    assert enough["userErrors"] == []
    assert enough["user"]["email"] == "eight@example.com"
    assert await User.all().count() == users_before + 1


async def test_create_user_with_a_password_over_1024_characters_is_invalid(gql: GraphQLClient) -> None:
    """1,024 characters are accepted; 1,025 are refused before anything is hashed."""
    # given
    admin = await make_catalog_admin()
    customer = await make_customer()
    users_before = await User.all().count()

    # when
    longest, too_long = [
        (
            await gql(
                CREATE_USER,
                {"input": _user_input(password="p" * length, customerId=str(customer.id))},
                token=admin.token,
            )
        )["createUser"]
        for length in (1024, 1025)
    ]

    # then
    assert longest["userErrors"] == []
    assert too_long == {
        "user": None,
        "userErrors": [
            {
                "code": "INVALID_INPUT",
                "field": ["input", "password"],
                "message": "password must be at most 1024 characters",
            }
        ],
    }
    assert await User.all().count() == users_before + 1


async def test_login_with_an_over_long_password_is_refused_without_hashing_it(
    gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 900 KB password answers INVALID_CREDENTIALS, and no argon2 check runs for it."""
    # given: a user, and a record of every password verification
    await make_user(Role.CATALOG_ADMIN, email="long@example.com")
    verified: list[int] = []
    real_verify = accounts.verify_password

    async def counting_verify(password_hash: str, password: str) -> bool:
        verified.append(len(password))
        return await real_verify(password_hash, password)

    monkeypatch.setattr(accounts, "verify_password", counting_verify)

    # when
    result = (await gql(LOGIN, {"email": "long@example.com", "password": "x" * 900_000}))["login"]

    # then
    assert result == {"token": None, "expiresAt": None, "user": None, "userErrors": [INVALID_CREDENTIALS]}
    assert verified == []


async def test_create_user_stores_the_password_hashed_with_argon2(gql: GraphQLClient) -> None:
    """The created user can log in; its row holds an argon2id hash, never the password."""
    # given
    admin = await make_catalog_admin()
    customer = await make_customer()
    password = "s3cret-Passw0rd"

    # when
    result = (
        await gql(
            CREATE_USER,
            {
                "input": _user_input(
                    email="Erin@Example.com",
                    role="CUSTOMER_ADMIN",
                    password=password,
                    customerId=str(customer.id),
                )
            },
            token=admin.token,
        )
    )["createUser"]

    # then
    assert result == {
        "user": {
            "email": "Erin@example.com",
            "name": "New Person",
            "role": "CUSTOMER_ADMIN",
            "active": True,
            "customer": {"id": str(customer.id)},
        },
        "userErrors": [],
    }
    row = await User.get(email_key="erin@example.com")
    assert row.password_hash.startswith("$argon2id$")
    assert password not in row.password_hash
    assert PasswordHasher().verify(row.password_hash, password) is True
    login = (await gql(LOGIN, {"email": "erin@example.com", "password": password}))["login"]
    assert login["userErrors"] == [] and login["user"]["role"] == "CUSTOMER_ADMIN"


async def test_a_customer_admin_creates_users_of_its_own_customer(gql: GraphQLClient) -> None:
    """A customer administrator may leave customerId out: its own."""
    # given
    customer = await make_customer()
    customer_admin = await make_user(Role.CUSTOMER_ADMIN, customer)

    # when
    result = (
        await gql(CREATE_USER, {"input": _user_input(email="own@example.com")}, token=customer_admin.token)
    )["createUser"]

    # then
    assert result["userErrors"] == []
    assert result["user"]["customer"] == {"id": str(customer.id)}
    assert (await User.get(email_key="own@example.com")).customer_id == customer.id


async def test_a_customer_admin_creating_a_catalog_admin_is_forbidden(gql: GraphQLClient) -> None:
    """A top-level FORBIDDEN, and no user is created."""
    # given
    customer_admin = await make_user(Role.CUSTOMER_ADMIN, await make_customer())
    users_before = await User.all().count()

    # when
    body = await gql.raw(
        CREATE_USER, {"input": _user_input(role="CATALOG_ADMIN")}, token=customer_admin.token
    )

    # then
    assert error_codes(body) == ["FORBIDDEN"]
    assert body["data"] is None
    assert await User.all().count() == users_before


# --- the first catalog administrator -------------------------------------------------------


async def test_first_admin_is_created_from_the_environment_once(gql: GraphQLClient) -> None:
    """A second start with another password neither duplicates nor overwrites it."""
    # given
    await accounts.ensure_first_admin("Root@Example.com", "first-password", development=False)
    [created] = await User.all()
    first_hash = created.password_hash

    # when
    await accounts.ensure_first_admin("root@example.com", "second-password", development=False)

    # then
    [after] = await User.all()
    assert (after.id, after.email, after.role, after.customer_id) == (
        created.id,
        "Root@example.com",
        Role.CATALOG_ADMIN,
        None,
    )
    assert after.password_hash == first_hash
    ok = (await gql(LOGIN, {"email": "root@example.com", "password": "first-password"}))["login"]
    assert ok["userErrors"] == [] and ok["user"]["role"] == "CATALOG_ADMIN"
    refused = (await gql(LOGIN, {"email": "root@example.com", "password": "second-password"}))["login"]
    assert refused["userErrors"] == [INVALID_CREDENTIALS]


async def test_first_admin_never_overwrites_an_existing_users_password(gql: GraphQLClient) -> None:
    """An existing user with the environment's email keeps its password and role."""
    # given
    existing = await make_user(Role.END_USER, await make_customer(), email="ops@example.com")

    # when
    await accounts.ensure_first_admin("OPS@example.com", "env-password", development=False)

    # then
    [after] = await User.all()
    assert after.id == existing.user.id
    assert after.role == Role.END_USER
    assert after.password_hash == existing.user.password_hash
    ok = (await gql(LOGIN, {"email": "ops@example.com", "password": PASSWORD}))["login"]
    assert ok["userErrors"] == []
    refused = (await gql(LOGIN, {"email": "ops@example.com", "password": "env-password"}))["login"]
    assert refused["userErrors"] == [INVALID_CREDENTIALS]


async def test_development_without_env_creates_admin_at_localhost_once(gql: GraphQLClient, capsys) -> None:
    """The generated password is printed once and logs in; a second start does nothing."""
    # given: no user at all

    # when
    await accounts.ensure_first_admin(None, None, development=True)
    printed = capsys.readouterr().out

    # then
    match = re.search(r"catalog administrator admin@localhost / (\S+)", printed)
    assert match, printed
    [admin] = await User.all()
    assert (admin.email, admin.role, admin.active) == ("admin@localhost", Role.CATALOG_ADMIN, True)
    login = (await gql(LOGIN, {"email": "admin@localhost", "password": match.group(1)}))["login"]
    assert login["userErrors"] == [] and login["user"]["role"] == "CATALOG_ADMIN"

    # when: the server starts again
    await accounts.ensure_first_admin(None, None, development=True)

    # then: nothing new, nothing printed
    assert capsys.readouterr().out == ""
    assert [u.id for u in await User.all()] == [admin.id]


async def test_development_without_env_keeps_an_existing_catalog_admin(capsys) -> None:
    """With any catalog administrator present, admin@localhost is not created."""
    # given
    existing = await make_catalog_admin()

    # when
    await accounts.ensure_first_admin(None, None, development=True)

    # then
    assert capsys.readouterr().out == ""
    assert [u.id for u in await User.all()] == [existing.user.id]


async def test_production_without_env_and_without_admin_refuses_to_start() -> None:
    """Production requires the first administrator's credentials."""
    # when / then
    with pytest.raises(RuntimeError, match="CREDITS_ADMIN_EMAIL and CREDITS_ADMIN_PASSWORD are required"):
        await accounts.ensure_first_admin(None, None, development=False)
    assert await User.all().count() == 0
