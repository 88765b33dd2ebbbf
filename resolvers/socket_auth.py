"""Open websockets stay authenticated: expired, revoked or deactivated means closed (4403)."""

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

from models import sql
from models.actor import Actor
from models.user import ApiToken, User
from notifications.tasks import cancel_and_wait

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
    expires_at: float | None


class SocketGuard:
    """One task re-checks every open socket of the process, with one query per kind of credential.

    A task and a query per socket every few seconds would cost thousands of queries a second at
    10,000 subscribers; this sweep costs one or two queries per interval whatever their number.
    """

    def __init__(self, recheck_seconds: float) -> None:
        self.recheck_seconds = recheck_seconds
        self._sockets: dict[WebSocket, _Watched] = {}
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def watch(self, socket: WebSocket, actor: Actor, token: str) -> None:
        """Keep checking `socket`, authenticated as `actor` with `token`, until it closes."""
        watched = _Watched(actor.user_id, actor.user.token_generation, actor.api_token_id, _expires_at(token))
        self._sockets[socket] = watched
        self._changed.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="socket-guard")

    def forget(self, socket: WebSocket) -> None:
        """Stop watching a socket whose handler has ended."""
        self._sockets.pop(socket, None)

    async def stop(self) -> None:
        """Stop the sweeps (on shutdown)."""
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None

    async def _run(self) -> None:
        next_sweep = time.monotonic() + self.recheck_seconds
        while self._sockets:
            self._changed.clear()
            wait = min(next_sweep, self._soonest_expiry()) - time.monotonic()
            if wait > 0:
                # A new socket wakes this early: its token may expire before the next sweep.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), wait)
                continue
            try:
                await self.sweep()
            except Exception:
                log.warning("could not re-check the open websockets' tokens", exc_info=True)
            next_sweep = time.monotonic() + self.recheck_seconds

    def _soonest_expiry(self) -> float:
        deadlines = [w.expires_at for w in self._sockets.values() if w.expires_at is not None]
        return min(deadlines, default=math.inf)

    async def sweep(self) -> None:
        """Close every socket whose token expired, was revoked, or whose user was deactivated."""
        closed = WebSocketState.DISCONNECTED
        for socket in [s for s in self._sockets if closed in (s.application_state, s.client_state)]:
            del self._sockets[socket]
        if not self._sockets:
            return
        watched = dict(self._sockets)
        generations = await _active_generations({w.user_id for w in watched.values()})
        token_ids = {w.api_token_id for w in watched.values() if w.api_token_id is not None}
        live_tokens = await _existing(ApiToken, token_ids, revoked_at=None)
        now = time.monotonic()
        for socket, w in watched.items():
            expired = w.expires_at is not None and w.expires_at <= now
            revoked = w.api_token_id is not None and w.api_token_id not in live_tokens
            # Deactivated, or deactivated and reactivated since: either way its tokens are dead.
            if expired or revoked or generations.get(w.user_id) != w.generation:
                self._sockets.pop(socket, None)
                await _close(socket)


async def _existing(model: type[ApiToken], ids: Iterable[uuid.UUID], **where: object) -> set:
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
