"""Open websockets stay authenticated: expired, revoked, logged out or deactivated means closed (4403).

A deactivation, a revocation or a console logout arrives on the event bus (every process's guard
hears it) and closes the sockets it concerns at once; the periodic sweep catches expiry, and
anything the bus missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import math
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import jwt
from starlette.websockets import WebSocket, WebSocketState
from tortoise.models import Model

from infra import sql
from infra.tasks import cancel_and_wait
from models.actor import Actor
from models.console_sessions import ConsoleSession
from models.user import ApiToken, User
from notifications import wire
from notifications.bus import EventBus, Resync, SubscriberTooSlow

log = logging.getLogger("credits.websocket")

FORBIDDEN_CLOSE = 4403
_CHUNK = 500  # ids per query: SQLite caps the number of bound variables


def _expires_at(token: str) -> float | None:
    """A JWT's `exp` as a monotonic deadline (None for API tokens, which do not expire)."""
    try:
        exp = jwt.decode(token, options={"verify_signature": False}).get("exp")
    except jwt.PyJWTError:
        return None
    if not isinstance(exp, int | float):
        return None
    return time.monotonic() + exp - dt.datetime.now(dt.UTC).timestamp()


@dataclass(frozen=True)
class _Watched:
    user_id: uuid.UUID
    generation: int  # the user's token generation when the socket authenticated
    api_token_id: uuid.UUID | None
    session_id: uuid.UUID | None
    expires_at: float | None


class SocketGuard:
    """One task re-checks every open socket of the process, with one query per kind of credential.

    A task and a query per socket every few seconds would cost thousands of queries a second at
    10,000 subscribers; this sweep costs one or two queries per interval whatever their number.
    A socket keeps every identity it was ever authenticated as: it closes when any loses access.
    """

    def __init__(self, recheck_seconds: float, bus: EventBus | None = None) -> None:
        self.recheck_seconds = recheck_seconds
        self.bus = bus
        self._sockets: dict[WebSocket, tuple[_Watched, ...]] = {}
        self._changed = asyncio.Event()
        self._next_sweep = math.inf
        self._task: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Listen for deactivations and revocations on the bus (from every process)."""
        if self.bus is not None and self._listener is None:
            self._listener = asyncio.get_running_loop().create_task(self._listen(), name="socket-guard-bus")

    def watch(self, socket: WebSocket, actor: Actor, token: str | None = None) -> None:
        """Keep checking `socket`, authenticated as `actor` (with bearer `token`, or a console
        session), until it closes."""
        if actor.expires_at is not None:
            expires_at = time.monotonic() + actor.expires_at - time.time()
        else:
            expires_at = _expires_at(token) if token else None
        watched = _Watched(
            actor.user_id, actor.user.token_generation, actor.api_token_id, actor.session_id, expires_at
        )
        self._sockets[socket] = (*self._sockets.get(socket, ()), watched)
        self._changed.set()
        if self._task is None or self._task.done():
            self._next_sweep = time.monotonic() + self.recheck_seconds
            self._task = asyncio.get_running_loop().create_task(self._run(), name="socket-guard")

    def forget(self, socket: WebSocket) -> None:
        """Stop watching a socket whose handler has ended."""
        self._sockets.pop(socket, None)

    async def stop(self) -> None:
        """Stop the sweeps and the bus listener (on shutdown)."""
        await cancel_and_wait(self._listener)
        self._listener = None
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None

    async def revoke(
        self,
        user_id: uuid.UUID | None,
        api_token_id: uuid.UUID | None,
        session_id: uuid.UUID | None = None,
    ) -> None:
        """Close at once every socket of a deactivated user, or authenticated by a revoked token or
        an ended console session."""
        for socket, identities in list(self._sockets.items()):
            if any(
                (user_id is not None and w.user_id == user_id)
                or (api_token_id is not None and w.api_token_id == api_token_id)
                or (session_id is not None and w.session_id == session_id)
                for w in identities
            ):
                self._sockets.pop(socket, None)
                await _close(socket)

    def sweep_soon(self) -> None:
        """Sweep now rather than at the next interval (the bus may have missed a revocation)."""
        self._next_sweep = 0.0
        self._changed.set()

    async def _listen(self) -> None:
        assert self.bus is not None
        while True:
            try:
                async with self.bus.subscribe(wire.ACCESS) as subscription:
                    while True:
                        message = await subscription.get()
                        if isinstance(message, Resync):
                            self.sweep_soon()
                            continue
                        revoked = wire.access_from_message(message)
                        await self.revoke(revoked.user_id, revoked.api_token_id, revoked.session_id)
            except SubscriberTooSlow:
                self.sweep_soon()
            except Exception:
                log.warning("socket guard: could not handle a revocation; sweeping", exc_info=True)
                self.sweep_soon()
                await asyncio.sleep(1)

    async def _run(self) -> None:
        while self._sockets:
            self._changed.clear()
            wait = min(self._next_sweep, self._soonest_expiry()) - time.monotonic()
            if wait > 0:
                # A new socket wakes this early: its token may expire before the next sweep.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), wait)
                continue
            try:
                await self.sweep()
            except Exception:
                log.warning("could not re-check the open websockets' tokens", exc_info=True)
            self._next_sweep = time.monotonic() + self.recheck_seconds

    def _soonest_expiry(self) -> float:
        deadlines = [w.expires_at for ws in self._sockets.values() for w in ws if w.expires_at is not None]
        return min(deadlines, default=math.inf)

    async def sweep(self) -> None:
        """Close every socket whose token expired, was revoked, or whose user was deactivated."""
        closed = WebSocketState.DISCONNECTED
        for socket in [s for s in self._sockets if closed in (s.application_state, s.client_state)]:
            del self._sockets[socket]
        if not self._sockets:
            return
        watched = dict(self._sockets)
        identities = [w for ws in watched.values() for w in ws]
        generations = await _active_generations({w.user_id for w in identities})
        token_ids = {w.api_token_id for w in identities if w.api_token_id is not None}
        live_tokens = await _existing(ApiToken, token_ids, revoked_at=None)
        session_ids = {w.session_id for w in identities if w.session_id is not None}
        live_sessions = await _existing(ConsoleSession, session_ids, ended_at=None)
        now = time.monotonic()
        for socket, ws in watched.items():
            if any(_lost(w, now, generations, live_tokens | live_sessions) for w in ws):
                self._sockets.pop(socket, None)
                await _close(socket)


def _lost(w: _Watched, now: float, generations: dict[uuid.UUID, int], live: set) -> bool:
    """Whether an identity lost access: expired, revoked, logged out, or its user deactivated (since, too).

    `live`: the ids of the API tokens and console sessions that are neither revoked nor ended.
    """
    expired = w.expires_at is not None and w.expires_at <= now
    revoked = any(c is not None and c not in live for c in (w.api_token_id, w.session_id))
    # Deactivated, or deactivated and reactivated since: either way its tokens are dead.
    return expired or revoked or generations.get(w.user_id) != w.generation


async def _existing(model: type[Model], ids: Iterable[uuid.UUID], **where: object) -> set:
    """Which of `ids` still exist and match `where`, a chunk of ids per query."""
    ids = list(ids)
    found: set[uuid.UUID] = set()
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        found.update(await model.filter(id__in=chunk, **where).values_list("id", flat=True))
    return found


async def _active_generations(ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, int]:
    """The token generation of each of `ids` that is still an active user, a chunk of ids per query."""
    ids = list(ids)
    found: dict[uuid.UUID, int] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        rows = await User.filter(id__in=chunk, active=True).values_list("id", "token_generation")
        found.update((sql.as_uuid(user_id), generation) for user_id, generation in rows)
    return found


async def _close(socket: WebSocket) -> None:
    log.info("closing websocket: token expired, revoked or user deactivated")
    try:
        await socket.close(code=FORBIDDEN_CLOSE, reason="Forbidden")
    except RuntimeError:
        pass
