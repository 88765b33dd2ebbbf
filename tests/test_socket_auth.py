"""The socket guard: one sweep re-checks every open socket, and closed sockets are let go."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.websockets import WebSocketState

from models.accounts import issue_jwt, set_user_active
from models.user import Role
from resolvers.socket_auth import FORBIDDEN_CLOSE, SocketGuard
from tests.factories import make_catalog_admin, make_customer, make_user


@dataclass(eq=False)
class FakeSocket:
    """What the guard reads of a starlette WebSocket, and the close codes it sent."""

    application_state: WebSocketState = WebSocketState.CONNECTED
    client_state: WebSocketState = WebSocketState.CONNECTED
    closed_with: list[int] = field(default_factory=list)

    async def close(self, code: int, reason: str = "") -> None:
        self.closed_with.append(code)


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
