"""Login throttling per email and per client address."""

from __future__ import annotations

import pytest

from models.throttle import LoginFailure
from settings import Settings, get_settings
from tests.client import GraphQLClient
from tests.documents import LOGIN
from tests.factories import PASSWORD, make_catalog_admin


def _codes(data: dict) -> list[str]:
    return [e["code"] for e in data["login"]["userErrors"]]


async def test_too_many_failures_for_an_email_are_rate_limited(
    gql: GraphQLClient, settings: Settings
) -> None:
    # given: a user whose email has failed the maximum number of times
    admin = await make_catalog_admin()
    for _ in range(settings.login_max_failures_per_email):
        assert _codes(await gql(LOGIN, {"email": admin.user.email, "password": "wrong password"})) == [
            "INVALID_CREDENTIALS"
        ]

    # when: even the right password is tried next
    data = await gql(LOGIN, {"email": admin.user.email.upper(), "password": PASSWORD})

    # then: the email is throttled
    assert _codes(data) == ["RATE_LIMITED"]
    assert data["login"]["token"] is None


async def test_a_success_clears_its_email_failures(gql: GraphQLClient, settings: Settings) -> None:
    # given: failures just below the limit
    admin = await make_catalog_admin()
    for _ in range(settings.login_max_failures_per_email - 1):
        await gql(LOGIN, {"email": admin.user.email, "password": "wrong password"})

    # when: the right password is given, then one more wrong one
    assert _codes(await gql(LOGIN, {"email": admin.user.email, "password": PASSWORD})) == []
    after = await gql(LOGIN, {"email": admin.user.email, "password": "wrong password"})

    # then: the counter had started again
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
