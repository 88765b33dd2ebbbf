"""The socket guard: one sweep re-checks every open socket, and closed sockets are let go."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import time
from dataclasses import dataclass, field

from starlette.websockets import WebSocketState

from api.socket_auth import FORBIDDEN_CLOSE, SocketGuard
from models import accounts, console_sessions
from models.accounts import issue_jwt, set_user_active
from models.console_sessions import ConsoleSession
from models.user import Role
from tests.factories import PASSWORD, make_catalog_admin, make_customer, make_user


@dataclass(eq=False)
class FakeSocket:
    """What the guard reads of a starlette WebSocket, and the close codes it sent."""

    application_state: WebSocketState = WebSocketState.CONNECTED
    client_state: WebSocketState = WebSocketState.CONNECTED
    closed_with: list[int] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    async def close(self, code: int, reason: str = "") -> None:
        self.closed_with.append(code)
        self.closed.set()


async def test_sockets_closed_by_either_side_are_let_go() -> None:
    # given: three watched sockets of an active user
    login = await make_user(Role.CUSTOMER_ADMIN, await make_customer())
    guard = SocketGuard(recheck_seconds=60)
    by_client, by_app, open_socket = FakeSocket(), FakeSocket(), FakeSocket()
    for socket in (by_client, by_app, open_socket):
        guard.watch(socket, login.actor, login.token)  # type: ignore[arg-type]

    # when: the client closes one, the app another, and a sweep runs
    by_client.client_state = WebSocketState.DISCONNECTED
    by_app.application_state = WebSocketState.DISCONNECTED
    await guard.sweep()

    # then: only the open socket is still watched, and nobody was closed with 4403
    assert list(guard._sockets) == [open_socket]
    assert open_socket.closed_with == []
    await guard.stop()


async def test_a_forgotten_socket_is_no_longer_watched() -> None:
    # given
    login = await make_user(Role.END_USER, await make_customer())
    guard = SocketGuard(recheck_seconds=60)
    socket = FakeSocket()
    guard.watch(socket, login.actor, login.token)  # type: ignore[arg-type]

    # when: its handler ended
    guard.forget(socket)  # type: ignore[arg-type]

    # then
    assert guard._sockets == {}
    await guard.stop()


async def test_one_sweep_closes_exactly_the_sockets_of_a_deactivated_user() -> None:
    # given: sockets of two users, one of whom is then deactivated
    customer = await make_customer()
    keep, drop = await make_user(Role.END_USER, customer), await make_user(Role.END_USER, customer)
    guard = SocketGuard(recheck_seconds=60)
    kept = [FakeSocket() for _ in range(3)]
    dropped = [FakeSocket() for _ in range(3)]
    for socket in kept:
        guard.watch(socket, keep.actor, issue_jwt(keep.user).token)  # type: ignore[arg-type]
    for socket in dropped:
        guard.watch(socket, drop.actor, issue_jwt(drop.user).token)  # type: ignore[arg-type]
    drop.user.active = False
    await drop.user.save(update_fields=["active"])

    # when
    await guard.sweep()

    # then
    assert [s.closed_with for s in dropped] == [[FORBIDDEN_CLOSE]] * 3
    assert [s.closed_with for s in kept] == [[]] * 3
    assert set(guard._sockets) == set(kept)
    await guard.stop()


async def test_a_socket_closes_when_any_identity_it_was_authenticated_as_loses_access() -> None:
    # given: a socket authenticated twice, first as a user who is then deactivated
    customer = await make_customer()
    first, second = await make_user(Role.CUSTOMER_ADMIN, customer), await make_user(Role.END_USER, customer)
    guard = SocketGuard(recheck_seconds=60)
    socket = FakeSocket()
    guard.watch(socket, first.actor, first.token)  # type: ignore[arg-type]
    guard.watch(socket, second.actor, second.token)  # type: ignore[arg-type]
    first.user.active = False
    await first.user.save(update_fields=["active"])

    # when
    await guard.sweep()

    # then
    assert socket.closed_with == [FORBIDDEN_CLOSE]
    await guard.stop()


async def test_a_deactivation_on_the_bus_closes_the_users_sockets_without_a_sweep(runtime) -> None:
    # given: a guard whose sweep is an hour away, listening on the process's bus
    customer = await make_customer()
    admin = await make_user(Role.CATALOG_ADMIN)
    keep, drop = await make_user(Role.END_USER, customer), await make_user(Role.END_USER, customer)
    guard = SocketGuard(recheck_seconds=3600, bus=runtime.bus)
    guard.start()
    kept, dropped = FakeSocket(), FakeSocket()
    guard.watch(kept, keep.actor, keep.token)  # type: ignore[arg-type]
    guard.watch(dropped, drop.actor, drop.token)  # type: ignore[arg-type]
    await asyncio.sleep(0)  # the listener subscribes

    # when: deactivated (committed, then published)
    await accounts.set_user_active(admin.actor, drop.user, False)

    # then
    await asyncio.wait_for(dropped.closed.wait(), 5)
    assert dropped.closed_with == [FORBIDDEN_CLOSE]
    assert kept.closed_with == []
    await guard.stop()


async def test_a_revocation_on_the_bus_closes_the_tokens_sockets_without_a_sweep(runtime) -> None:
    # given
    user = await make_user(Role.CATALOG_ADMIN)
    secret, row = await accounts.create_api_token(user.actor, "dashboard")
    guard = SocketGuard(recheck_seconds=3600, bus=runtime.bus)
    guard.start()
    by_token, by_jwt = FakeSocket(), FakeSocket()
    guard.watch(by_token, await accounts.authenticate(secret), secret)  # type: ignore[arg-type]
    guard.watch(by_jwt, user.actor, user.token)  # type: ignore[arg-type]
    await asyncio.sleep(0)

    # when
    await accounts.revoke_api_token(user.actor, row.id)

    # then
    await asyncio.wait_for(by_token.closed.wait(), 5)
    assert by_token.closed_with == [FORBIDDEN_CLOSE]
    assert by_jwt.closed_with == []
    await guard.stop()


async def test_a_sweep_closes_the_sockets_of_a_user_deactivated_and_reactivated_since() -> None:
    # given: a socket of a user who is deactivated and reactivated before the next sweep
    admin = await make_catalog_admin()
    login = await make_user(Role.END_USER, await make_customer())
    guard = SocketGuard(recheck_seconds=60)
    socket = FakeSocket()
    guard.watch(socket, login.actor, login.token)  # type: ignore[arg-type]
    for active in (False, True):
        await set_user_active(admin.actor, login.user, active)

    # when
    await guard.sweep()

    # then: its token died with the deactivation, and so does the socket
    assert socket.closed_with == [FORBIDDEN_CLOSE]
    assert guard._sockets == {}
    await guard.stop()


async def test_a_sweep_closes_the_sockets_of_a_console_session_ended_elsewhere() -> None:
    # given: two sockets of one user's console sessions, and the bus message of a logout missed
    login = await make_user(Role.CUSTOMER_ADMIN, await make_customer())
    guard = SocketGuard(recheck_seconds=60)
    kept, dropped = FakeSocket(), FakeSocket()
    sessions = [await console_sessions.start(login.user.email, PASSWORD) for _ in range(2)]
    actors = [await console_sessions.authenticate(s.token, s.csrf_token) for s in sessions]
    guard.watch(kept, actors[0])  # type: ignore[arg-type]
    guard.watch(dropped, actors[1])  # type: ignore[arg-type]
    await ConsoleSession.filter(id=sessions[1].id).update(ended_at=dt.datetime.now(dt.UTC))

    # when
    await guard.sweep()

    # then: only the ended session's socket is closed
    assert dropped.closed_with == [FORBIDDEN_CLOSE]
    assert kept.closed_with == []
    await guard.stop()


async def test_a_console_sessions_socket_closes_when_the_session_expires() -> None:
    # given: a socket of a console session that has just expired
    login = await make_user(Role.END_USER, await make_customer())
    started = await console_sessions.start(login.user.email, PASSWORD)
    actor = await console_sessions.authenticate(started.token, started.csrf_token)
    guard = SocketGuard(recheck_seconds=60)
    socket = FakeSocket()

    # when: it is watched past its end
    guard.watch(socket, dataclasses.replace(actor, expires_at=time.time() - 1))  # type: ignore[arg-type]

    # then: the guard closes it without waiting for the next sweep
    await asyncio.wait_for(socket.closed.wait(), 5)
    assert socket.closed_with == [FORBIDDEN_CLOSE]
    await guard.stop()
