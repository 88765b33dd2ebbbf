"""Subscriptions over Server-Sent Events: graphql-sse in distinct connections mode, held like a socket.

Strawberry streams the operation (`next` events, then `complete`, with `: ping` comments in
between). An open stream counts against `CREDITS_MAX_WEBSOCKETS` like a socket, and is watched by
the socket guard: a deactivated user, a revoked API token or an expired JWT ends it with a last
UNAUTHENTICATED `next` and `complete`. A subscriber too slow to keep up (its bus queue overflowed)
gets what was already on its way, a comment, and the end of the stream without `complete`: it
resumes with `afterSequence`, as a websocket closed with 1013 does.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing

from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocketState
from strawberry.http.streaming import SSETransport

from api.error_codes import error_body
from api.socket_limits import RETRY_AFTER_SECONDS
from api.unavailable import SERVICE_UNAVAILABLE
from infra.tasks import cancel_and_wait
from schema.access import unauthenticated

STREAM = "credits.stream"  # the scope key of an SSE request's EventStream
_SSE = SSETransport()
TOO_SLOW_WORDS = _SSE.encode_comment("subscriber too slow: resume with afterSequence")
REVOKED_WORDS = (
    _SSE.encode_event("next", json.dumps({"errors": [unauthenticated().formatted]}, separators=(",", ":")))
    + _SSE.encode_complete()
)

TextStream = Callable[[], AsyncGenerator[str, None]]


def wants_event_stream(scope: Scope) -> bool:
    """Whether an HTTP request's Accept asks for `text/event-stream` (graphql-sse)."""
    accept = b", ".join(value for name, value in scope.get("headers", ()) if name == b"accept")
    return _SSE.accepts(accept.decode("latin-1"))


def sse_transport(heartbeat_seconds: float) -> type[SSETransport]:
    """Strawberry's SSE transport with our heartbeat interval (Strawberry builds it without arguments)."""

    class Transport(SSETransport):
        def __init__(self) -> None:
            super().__init__(heartbeat_interval=heartbeat_seconds)

    return Transport


class EventStream:
    """One open event stream; the socket guard watches it as it watches a websocket."""

    __slots__ = ("_pump", "last_words")

    def __init__(self) -> None:
        self._pump: asyncio.Task[None] | None = None
        self.last_words: str | None = None

    @property
    def application_state(self) -> WebSocketState:
        """CONNECTED until the stream is ended (the guard's sweep drops ended ones)."""
        return WebSocketState.CONNECTED if self.last_words is None else WebSocketState.DISCONNECTED

    client_state = application_state

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        """The guard's close: the caller lost its access (deactivated, revoked or expired)."""
        self.end(REVOKED_WORDS)

    def too_slow(self) -> None:
        """The subscription's bus queue overflowed (called by the bus, without waiting)."""
        self.end(TOO_SLOW_WORDS)

    def end(self, last_words: str) -> None:
        """Stop the operation; what was already sent stays sent, then `last_words`, then the end."""
        if self.last_words is not None:
            return
        self.last_words = last_words
        if self._pump is not None:
            self._pump.cancel()

    def guard(self, stream: TextStream) -> TextStream:
        """Strawberry's event stream, ended early by `end`."""

        async def guarded() -> AsyncGenerator[str, None]:
            queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=1)
            self._pump = asyncio.get_running_loop().create_task(self._run(stream(), queue))
            try:
                while (chunk := await queue.get()) is not None:
                    yield chunk
            finally:
                await cancel_and_wait(self._pump)

        return guarded

    async def _run(self, source: AsyncGenerator[str, None], queue: asyncio.Queue[str | None]) -> None:
        try:
            async with aclosing(source):
                if self.last_words is None:
                    async for chunk in source:
                        await queue.put(chunk)
        except asyncio.CancelledError:
            if self.last_words is None:
                raise  # the response itself is being cancelled (the client went away)
        if self.last_words is not None:
            await queue.put(self.last_words)
        await queue.put(None)


def unauthenticated_response() -> JSONResponse:
    """401 with a top-level UNAUTHENTICATED error, before any event."""
    body = {"errors": [unauthenticated().formatted]}
    return JSONResponse(body, status_code=401, headers={"WWW-Authenticate": "Bearer"})


def too_many_streams(message: str = "too many open streams; try again later") -> JSONResponse:
    """503 with Retry-After, before any event: a cap on open streams is reached."""
    body = error_body(message, SERVICE_UNAVAILABLE)
    return JSONResponse(body, status_code=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


async def refuse_stream(scope: Scope, receive: Receive, send: Send) -> None:
    """The process holds as many sockets and streams as it may."""
    await too_many_streams()(scope, receive, send)
