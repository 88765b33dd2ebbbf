"""Console sessions in the domain: secrets stored hashed, expiry, and housekeeping."""

from __future__ import annotations

import datetime as dt

import pytest

from models import console_sessions
from models.accounts import AuthenticationError
from models.console_sessions import ConsoleSession
from models.user import Role
from tests.factories import PASSWORD, make_customer, make_user


async def test_only_hashes_of_the_secrets_are_stored() -> None:
    # given a started session
    login = await make_user(Role.END_USER, await make_customer())
    started = await console_sessions.start(login.user.email, PASSWORD)

    # when its row is read
    row = await ConsoleSession.get(id=started.id)

    # then neither secret is in it, and the two together authenticate the user
    assert started.token not in (row.token_hash, row.csrf_hash)
    assert started.csrf_token not in (row.token_hash, row.csrf_hash)
    actor = await console_sessions.authenticate(started.token, started.csrf_token)
    assert actor.user_id == login.user.id and actor.session_id == started.id


async def test_an_expired_session_is_refused_and_pruned_by_housekeeping(runtime: object) -> None:
    # given a session whose lifetime has passed, and a live one
    login = await make_user(Role.CUSTOMER_ADMIN, await make_customer())
    expired = await console_sessions.start(login.user.email, PASSWORD)
    live = await console_sessions.start(login.user.email, PASSWORD)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    await ConsoleSession.filter(id=expired.id).update(expires_at=past)

    # when it is used, and housekeeping runs
    with pytest.raises(AuthenticationError):
        await console_sessions.authenticate(expired.token, expired.csrf_token)
    await runtime.housekeeping.keep_house()  # type: ignore[attr-defined]

    # then only the live session is left
    assert [row.id for row in await ConsoleSession.all()] == [live.id]
