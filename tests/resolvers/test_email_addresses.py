"""Email addresses: exactly one per account, wherever one enters (createUser, the environment, login)."""

from __future__ import annotations

from pathlib import Path

import pytest

from models import accounts
from models.errors import DomainError, ErrorCode
from models.user import Role, User
from server import address_refusal
from settings import Settings
from tests.client import GraphQLClient
from tests.documents import CREATE_USER, LOGIN
from tests.factories import PASSWORD, make_catalog_admin, make_customer, make_user
from tests.processes import embedded_env, run_to_exit

# Spellings that name several mailboxes, smuggle a header, or are no address at all.
HOSTILE = [
    "a,outsider@evil.test",
    "a@x.test, b@y.test",
    "a@x.test;b@y.test",
    '"A" <a@x.test>',
    "<a@x.test>",
    "A <a@x.test>",
    "a@x.test\r\nBcc: b@y.test",
    "a@x.test\nb@y.test",
    "a@x.test%0ABcc:b@y.test",
    '"a,outsider"@evil.test',
    '"a@x.test"@y.test',
    '"a b"@x.test',
    "a@x.test (comment)",
    "a@[127.0.0.1]",
    "a\u2028@x.test",
    "l" * 292 + "@x.test",  # 300 characters
    "",
    "   ",
    "@x.test",
    "a@",
]
# The sender may be named (`Credits <alerts@x.test>`): still one address, and no header in the name.
NAMED = ['"A" <a@x.test>', "<a@x.test>", "A <a@x.test>"]
HOSTILE_SENDERS = [e for e in HOSTILE if e not in NAMED] + [
    "A <a@x.test>, b@y.test",
    "A <a@x.test>\r\nBcc: b@y.test",
    "A\r\nBcc: b@y.test <a@x.test>",
    '"A\nBcc: b@y.test" <a@x.test>',
]
INVALID_EMAIL = [{"code": "INVALID_INPUT", "field": ["input", "email"]}]


def user_input(email: str, **extra: object) -> dict[str, object]:
    """A createUser input for a catalog administrator with `email`."""
    return {"email": email, "name": "New Person", "role": "CATALOG_ADMIN", "password": PASSWORD, **extra}


async def addresses() -> list[str]:
    """Every stored address, sorted."""
    return sorted(await User.all().values_list("email", flat=True))


@pytest.mark.parametrize("email", HOSTILE)
async def test_create_user_refuses_anything_but_one_address(gql: GraphQLClient, email: str) -> None:
    # given: a catalog administrator
    admin = await make_catalog_admin()
    before = await addresses()

    # when: a user is created with the spelling
    result = (await gql(CREATE_USER, {"input": user_input(email)}, token=admin.token))["createUser"]

    # then: INVALID_INPUT on the email, and no user written
    assert result["user"] is None
    assert [{k: e[k] for k in ("code", "field")} for e in result["userErrors"]] == INVALID_EMAIL
    assert await addresses() == before


async def test_a_customer_administrator_cannot_add_a_second_recipient_either(gql: GraphQLClient) -> None:
    # given: a customer administrator (whose users receive its customer's alert mail)
    customer = await make_customer()
    admin = await make_user(Role.CUSTOMER_ADMIN, customer)
    before = await addresses()

    # when: it creates an administrator whose address lists an outsider
    variables = {"input": user_input("boss,outsider@evil.test", role="CUSTOMER_ADMIN")}
    result = (await gql(CREATE_USER, variables, token=admin.token))["createUser"]

    # then: refused, nothing written
    assert [{k: e[k] for k in ("code", "field")} for e in result["userErrors"]] == INVALID_EMAIL
    assert await addresses() == before


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("  Erin@Example.COM ", "Erin@example.com"),
        ("jos\u0065\u0301@b\u00fccher.test", "jos\u00e9@b\u00fccher.test"),
        ("admin@localhost", "admin@localhost"),
        ("ops@corp", "ops@corp"),
    ],
)
async def test_one_address_is_stored_in_its_normal_form_and_logs_in(
    gql: GraphQLClient, typed: str, stored: str
) -> None:
    # given: a catalog administrator
    admin = await make_catalog_admin()

    # when: a user is created with one address, spaces and case as typed, then logs in so
    created = (await gql(CREATE_USER, {"input": user_input(typed)}, token=admin.token))["createUser"]
    login = (await gql(LOGIN, {"email": typed, "password": PASSWORD}))["login"]

    # then: the domain in lower case (Unicode form), the local part NFC, otherwise as typed
    assert created["userErrors"] == [] and created["user"]["email"] == stored
    assert login["userErrors"] == [] and login["user"]["email"] == stored


@pytest.mark.parametrize("email", [e for e in HOSTILE if "a@x.test" in e])
async def test_login_with_a_hostile_spelling_is_invalid_credentials(gql: GraphQLClient, email: str) -> None:
    # given: a user a@x.test with a known password
    await make_user(Role.END_USER, await make_customer(), email="a@x.test")

    # when: someone logs in with a spelling that contains that address and more
    result = (await gql(LOGIN, {"email": email, "password": PASSWORD}))["login"]

    # then: the same answer as any wrong login, and no token
    assert result["token"] is None
    assert [e["code"] for e in result["userErrors"]] == ["INVALID_CREDENTIALS"]


async def test_an_account_stored_before_the_check_still_logs_in(gql: GraphQLClient) -> None:
    """A row written when the regex allowed `a,outsider@evil.test` keeps its login; mail skips it."""
    # given: an account whose address is no longer valid, stored as the old code stored it
    customer = await make_customer()
    legacy = await make_user(Role.CUSTOMER_ADMIN, customer)
    await User.filter(id=legacy.user.id).update(
        email="Boss,outsider@evil.test", email_key=accounts.normalise_email("Boss,outsider@evil.test")
    )

    # when: its owner logs in as before, and someone tries the wrong password
    ok = (await gql(LOGIN, {"email": "boss,outsider@EVIL.test", "password": PASSWORD}))["login"]
    wrong = (await gql(LOGIN, {"email": "Boss,outsider@evil.test", "password": "not-the-one"}))["login"]

    # then: the login works; the wrong password is the usual INVALID_CREDENTIALS
    assert ok["userErrors"] == [] and ok["user"]["id"] == str(legacy.user.id)
    assert wrong["token"] is None and [e["code"] for e in wrong["userErrors"]] == ["INVALID_CREDENTIALS"]


@pytest.mark.parametrize("email", [e for e in HOSTILE if e.strip()])
def test_the_first_administrator_from_the_environment_must_be_one_address(
    settings: Settings, email: str
) -> None:
    # given / when: CREDITS_ADMIN_EMAIL is such a spelling
    refusal = address_refusal(settings.model_copy(update={"admin_email": email}))

    # then: the server refuses to start, naming the setting
    assert refusal and "CREDITS_ADMIN_EMAIL is not one valid email address" in refusal


@pytest.mark.parametrize("email", HOSTILE_SENDERS)
def test_the_sender_must_be_one_address(settings: Settings, email: str) -> None:
    # given / when: CREDITS_MAIL_FROM is such a spelling
    refusal = address_refusal(settings.model_copy(update={"mail_from": email}))

    # then: the server refuses to start, naming the setting
    assert refusal and "CREDITS_MAIL_FROM is not one valid email address" in refusal


def test_the_sender_may_carry_a_name_and_an_empty_admin_email_is_unset(settings: Settings) -> None:
    # given / when
    named = settings.model_copy(update={"mail_from": '"Credits, Alerts" <alerts@x.test>', "admin_email": ""})

    # then
    assert address_refusal(named) is None
    assert address_refusal(settings) is None


async def test_ensure_first_admin_refuses_a_list_and_writes_nothing() -> None:
    # given: no users; an address list that skipped the settings (a direct call)
    before = await addresses()

    # when
    with pytest.raises(DomainError) as refused:
        await accounts.ensure_first_admin("root@x.test,outsider@evil.test", PASSWORD, development=False)

    # then
    assert (refused.value.code, refused.value.argument) == (ErrorCode.INVALID_INPUT, "email")
    assert await addresses() == before


@pytest.mark.slow
def test_a_server_with_an_address_list_as_first_administrator_refuses_to_start(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    # given: CREDITS_ADMIN_EMAIL naming an outsider too
    env = {**embedded_env(server_env, tmp_path), "CREDITS_ADMIN_EMAIL": "root@x.test,outsider@evil.test"}

    # when
    done = run_to_exit(env)

    # then: a non-zero exit naming the setting; no database was made, so no user
    assert done.returncode != 0
    assert "CREDITS_ADMIN_EMAIL is not one valid email address" in done.stderr
    assert not (tmp_path / "credits.sqlite3").exists()
