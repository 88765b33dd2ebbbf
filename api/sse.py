"""Subscriptions over Server-Sent Events: graphql-sse in distinct connections mode, held like a socket.

Strawberry streams the operation (`next` events, then `complete`, with `: ping` comments in
between). An open stream counts against `CREDITS_MAX_WEBSOCKETS` like a socket, and is watched by
the socket guard: a deactivated user, a revoked API token or an expired JWT ends it with a last
UNAUTHENTICATED `next` and `complete`. A subscriber too slow to keep up (its bus queue overflowed)
gets what was already on its way, a comment, and the end of the stream without `complete`: it
resumes with `afterSequence`, as a websocket closed with 1013 does. When the server shuts down
(SIGTERM), every open stream gets a comment and ends without `complete`, as uvicorn closes websockets
with 1012 (service restart): the client reconnects elsewhere and resumes with `afterSequence`.

A request gets a stream only when its Accept prefers `text/event-stream` (the highest q-value, the
earliest of equals): urql lists it after three JSON types on every query and mutation, which want
JSON. Strawberry writes CRLF line ends; ours are LF, which every SSE parser reads (urql's splits
events on a blank line of LFs only).
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
from api.negotiation import weighted
from api.socket_limits import RETRY_AFTER_SECONDS
from api.unavailable import SERVICE_UNAVAILABLE
from infra.tasks import cancel_and_wait
from schema.access import unauthenticated

STREAM = "credits.stream"  # the scope key of an SSE request's EventStream
EVENT_STREAM = "text/event-stream"

TextStream = Callable[[], AsyncGenerator[str, None]]


def prefers_event_stream(accept: str) -> bool:
    """Whether an Accept header prefers `text/event-stream`: its highest q-value, the earliest of equals."""
    preferred, best = "", 0.0
    for media, quality in weighted(accept):
        if quality > best:
            preferred, best = media, quality
    return preferred == EVENT_STREAM


def wants_event_stream(scope: Scope) -> bool:
    """Whether an HTTP request prefers an event stream (graphql-sse).

    Read from the first Accept header, as Strawberry reads it, so that a stream's caps and
    authentication apply exactly when Strawberry streams.
    """
    accept = next((value for name, value in scope.get("headers", ()) if name == b"accept"), b"")
    return prefers_event_stream(accept.decode("latin-1"))


class EventStreamTransport(SSETransport):
    """Strawberry's graphql-sse transport, chosen by preference, with LF line ends."""

    def accepts(self, accept: str) -> bool:
        """Stream only when the client prefers `text/event-stream` (Strawberry: whenever listed)."""
        return prefers_event_stream(accept)

    def encode_event(self, event: str, data: str | None = None) -> str:
        """One event; Strawberry's checks (`data` on one line), LF line ends."""
        return super().encode_event(event, data).replace("\r\n", "\n")

    def encode_comment(self, comment: str) -> str:
        """A comment line (heartbeats, last words), LF line ends."""
        return f": {comment}\n\n"


def sse_transport(heartbeat_seconds: float) -> type[EventStreamTransport]:
    """Our SSE transport with our heartbeat interval (Strawberry builds it without arguments)."""

    class Transport(EventStreamTransport):
        def __init__(self) -> None:
            super().__init__(heartbeat_interval=heartbeat_seconds)

    return Transport


_SSE = EventStreamTransport()
TOO_SLOW_WORDS = _SSE.encode_comment("subscriber too slow: resume with afterSequence")
REVOKED_WORDS = (
    _SSE.encode_event("next", json.dumps({"errors": [unauthenticated().formatted]}, separators=(",", ":")))
    + _SSE.encode_complete()
)
SHUTDOWN_WORDS = _SSE.encode_comment("server shutting down: reconnect and resume with afterSequence")


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


class OpenStreams:
    """The process's open event streams, all ended when the server shuts down.

    uvicorn closes websockets with 1012 when it shuts down, but waits for HTTP responses to end
    before it stops: an open stream would hold the process until its client leaves.
    """

    __slots__ = ("_streams", "closing")

    def __init__(self) -> None:
        self._streams: set[EventStream] = set()
        self.closing = False

    def open(self) -> EventStream:
        """A new stream; once the server is shutting down, one that ends at once."""
        stream = EventStream()
        if self.closing:
            stream.end(SHUTDOWN_WORDS)
        else:
            self._streams.add(stream)
        return stream

    def close(self, stream: EventStream) -> None:
        """Forget a stream whose response has ended."""
        self._streams.discard(stream)

    def end_all(self) -> None:
        """The server is shutting down: end every stream with a comment and without `complete`."""
        self.closing = True
        for stream in self._streams:
            stream.end(SHUTDOWN_WORDS)


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
