"""Login throttling per (email, client address), per client address and per email."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest

from models.throttle import LoginFailure
from settings import Settings, get_settings
from tests.client import GraphQLClient
from tests.documents import LOGIN
from tests.factories import PASSWORD, make_catalog_admin
from tests.processes import ServerProcess

STRANGER, OWNER = "203.0.113.66", "198.51.100.7"


def _codes(data: dict) -> list[str]:
    return [e["code"] for e in data["login"]["userErrors"]]


@pytest.fixture
def client_at(app) -> Callable[[str], AsyncIterator[GraphQLClient]]:
    """An in-process GraphQL client whose requests come from the given client address."""

    @asynccontextmanager
    async def connect(address: str) -> AsyncIterator[GraphQLClient]:
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield GraphQLClient(http)

    return connect


async def test_too_many_failures_for_an_email_from_one_address_are_rate_limited(
    gql: GraphQLClient, settings: Settings
) -> None:
    # given: a user whose email has failed the maximum number of times from one address
    admin = await make_catalog_admin()
    for _ in range(settings.login_max_failures_per_email_and_address):
        assert _codes(await gql(LOGIN, {"email": admin.user.email, "password": "wrong password"})) == [
            "INVALID_CREDENTIALS"
        ]

    # when: even the right password is tried next, from that address
    data = await gql(LOGIN, {"email": admin.user.email.upper(), "password": PASSWORD})

    # then: the email is throttled there
    assert _codes(data) == ["RATE_LIMITED"]
    assert data["login"]["token"] is None


def _retry_seconds(data: dict) -> int:
    """The seconds a RATE_LIMITED message says to wait."""
    [error] = data["login"]["userErrors"]
    match = re.fullmatch(r"too many failed logins; try again in (\d+) seconds", error["message"])
    assert match, error["message"]
    return int(match.group(1))


async def test_rate_limited_says_when_to_retry(gql: GraphQLClient, settings: Settings) -> None:
    # given: an email at its limit from one address, the failures made 100 seconds ago
    admin = await make_catalog_admin()
    for _ in range(settings.login_max_failures_per_email_and_address):
        await gql(LOGIN, {"email": admin.user.email, "password": "wrong password"})
    await LoginFailure.all().update(created_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=100))

    # when: it tries again
    data = await gql(LOGIN, {"email": admin.user.email, "password": PASSWORD})

    # then: the message says when the oldest failure leaves the window (give or take a second)
    assert _codes(data) == ["RATE_LIMITED"]
    assert settings.login_window_seconds - 101 <= _retry_seconds(data) <= settings.login_window_seconds - 99


async def test_the_retry_time_is_when_enough_failures_have_left_the_window(
    gql: GraphQLClient, settings: Settings
) -> None:
    # given: two failures more than the limit for an email from one address (counted by another
    # process while this one refused), the three oldest about to leave the window, the rest 300 s old
    admin = await make_catalog_admin()
    limit = settings.login_max_failures_per_email_and_address
    for _ in range(limit):
        await gql(LOGIN, {"email": admin.user.email, "password": "wrong password"})
    pair = (await LoginFailure.filter(key__startswith="pair:").first()).key
    for _ in range(2):
        await LoginFailure.create(key=pair)
    now = dt.datetime.now(dt.UTC)
    failures = await LoginFailure.filter(key=pair).order_by("created_at")
    assert len(failures) == limit + 2
    for index, failure in enumerate(failures):
        age = settings.login_window_seconds - 10 - index if index < 3 else 300
        failure.created_at = now - dt.timedelta(seconds=age)
        await failure.save(update_fields=["created_at"])

    # when
    data = await gql(LOGIN, {"email": admin.user.email, "password": PASSWORD})

    # then: one failure under the limit needs the three oldest gone: the third leaves in 12 s
    assert 11 <= _retry_seconds(data) <= 13


async def test_a_stranger_cannot_lock_the_owner_out_from_another_address(
    client_at: Callable[[str], AsyncIterator[GraphQLClient]],
) -> None:
    # given: a stranger who has failed ten times (the default limit) for an administrator's email
    admin = await make_catalog_admin()
    async with client_at(STRANGER) as stranger, client_at(OWNER) as owner:
        for _ in range(10):
            await stranger(LOGIN, {"email": admin.user.email, "password": "wrong password"})

        # when: the stranger tries once more, and the owner logs in from its own address
        again = await stranger(LOGIN, {"email": admin.user.email, "password": PASSWORD})
        own = await owner(LOGIN, {"email": admin.user.email, "password": PASSWORD})

    # then: only the stranger is throttled
    assert _codes(again) == ["RATE_LIMITED"]
    assert _codes(own) == []
    assert own["login"]["token"]


async def test_guessing_one_email_from_many_addresses_meets_the_per_email_ceiling(
    client_at: Callable[[str], AsyncIterator[GraphQLClient]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a per-email ceiling of 4, reached by one failure from each of 4 addresses
    monkeypatch.setattr(get_settings(), "login_max_failures_per_email", 4)
    admin = await make_catalog_admin()
    for n in range(4):
        async with client_at(f"192.0.2.{n + 1}") as guesser:
            await guesser(LOGIN, {"email": admin.user.email, "password": "wrong password"})

    # when: the right password comes from an address that has failed nothing
    async with client_at(OWNER) as owner:
        data = await owner(LOGIN, {"email": admin.user.email, "password": PASSWORD})

    # then: the email as a whole is throttled for the window
    assert _codes(data) == ["RATE_LIMITED"]


async def test_a_success_clears_its_email_failures(gql: GraphQLClient, settings: Settings) -> None:
    # given: failures just below the limit
    admin = await make_catalog_admin()
    for _ in range(settings.login_max_failures_per_email_and_address - 1):
        await gql(LOGIN, {"email": admin.user.email, "password": "wrong password"})

    # when: the right password is given, then two more wrong ones
    assert _codes(await gql(LOGIN, {"email": admin.user.email, "password": PASSWORD})) == []
    for _ in range(2):
        after = await gql(LOGIN, {"email": admin.user.email, "password": "wrong password"})

    # then: the counters had started again
    assert _codes(after) == ["INVALID_CREDENTIALS"]


async def test_one_address_spraying_many_emails_is_rate_limited(
    gql: GraphQLClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a small per-address limit, and one client trying many unknown emails
    monkeypatch.setattr(get_settings(), "login_max_failures_per_address", 3)
    for i in range(3):
        await gql(LOGIN, {"email": f"nobody{i}@example.com", "password": "guess-guess"})

    # when: it tries a real account next
    admin = await make_catalog_admin()
    data = await gql(LOGIN, {"email": admin.user.email, "password": PASSWORD})

    # then: its address is throttled
    assert _codes(data) == ["RATE_LIMITED"]
    assert await LoginFailure.filter(key__startswith="address:").count() == 3


# --- the client address behind a proxy (a real uvicorn process) --------------------------------


@pytest.fixture
def proxied_server(server_env: dict[str, str], request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    """A real server with the test's param as environment (a small login limit among it)."""
    with ServerProcess({**server_env, **request.param}) as server:
        yield server


async def _login_via(server: ServerProcess, forwarded_for: str, email: str, password: str) -> dict:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        response = await http.post(
            "/graphql",
            json={"query": LOGIN, "variables": {"email": email, "password": password}},
            headers={"X-Forwarded-For": forwarded_for},
        )
    assert response.status_code == 200, response.text
    return response.json()["data"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "proxied_server",
    [
        {"CREDITS_TRUSTED_PROXIES": proxies, "CREDITS_LOGIN_MAX_FAILURES_PER_ADDRESS": "3"}
        for proxies in ("", "192.0.2.1")
    ],
    ids=["no-proxy", "another-proxy"],
    indirect=True,
)
async def test_x_forwarded_for_from_an_untrusted_peer_is_ignored(proxied_server: ServerProcess) -> None:
    # given: a server that trusts no proxy at 127.0.0.1, and three failures each claiming another client
    for n in range(3):
        await _login_via(proxied_server, f"198.51.100.{n + 1}", f"nobody{n}@example.com", "guess-guess")

    # when: a fourth attempt claims yet another client
    data = await _login_via(proxied_server, "198.51.100.99", "nobody@example.com", "guess-guess")

    # then: all four came from the real peer, whose address is throttled
    assert _codes(data) == ["RATE_LIMITED"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "proxied_server",
    [{"CREDITS_LOGIN_MAX_FAILURES_PER_EMAIL_AND_ADDRESS": "3"}],
    ids=["default"],
    indirect=True,
)
async def test_a_trusted_proxys_x_forwarded_for_is_the_client_address(proxied_server: ServerProcess) -> None:
    # given: behind the default trusted proxy (127.0.0.1), a stranger fails 3 times for an email
    admin = await make_catalog_admin()
    for _ in range(3):
        await _login_via(proxied_server, STRANGER, admin.user.email, "wrong password")

    # when: the stranger tries again, and the owner logs in from its own address
    again = await _login_via(proxied_server, STRANGER, admin.user.email, PASSWORD)
    own = await _login_via(proxied_server, OWNER, admin.user.email, PASSWORD)

    # then: each is its own client
    assert _codes(again) == ["RATE_LIMITED"]
    assert _codes(own) == []


def test_trusted_proxies_are_ip_addresses_or_networks() -> None:
    # given / when: a list with spaces, and a host name (which uvicorn would never match)
    listed = Settings(trusted_proxies=" 10.0.0.0/8 , ::1,")

    # then
    assert listed.trusted_proxies == "10.0.0.0/8,::1"
    with pytest.raises(ValueError, match="localhost"):
        Settings(trusted_proxies="localhost")
