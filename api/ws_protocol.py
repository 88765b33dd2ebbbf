"""What both websocket protocols check before Strawberry reads a frame.

Strawberry indexes every decoded frame as an object: a first frame of `[1]`, `null` or `"x"`, or
a subscribe whose payload is a string, raised TypeError out of the handler (no close frame, an
ERROR traceback per frame). Its legacy `graphql-ws` handler also has no `connection_init`
timeout and acknowledges a second `connection_init`, switching the socket's identity while the
first identity's streams run on. Here a malformed frame closes the socket with 4400 and one log
line, a frame before `connection_ack` is bounded (`CREDITS_WS_MAX_MESSAGE_BYTES`), and the legacy
protocol gets the timeout (4408) and refuses a second `connection_init` (4429), as
`graphql-transport-ws` does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Mapping
from json import JSONDecodeError
from typing import Any

from starlette.websockets import WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import NonJsonMessageReceived, NonTextMessageReceived
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler

from api.context import Context
from api.error_codes import BAD_REQUEST
from api.socket_limits import TICKET, SocketTicket
from infra.tasks import cancel_and_wait

log = logging.getLogger("credits.websocket")

MALFORMED_CLOSE = 4400
INIT_TIMEOUT_CLOSE = 4408
TOO_MANY_INITS_CLOSE = 4429
TOO_BIG_CLOSE = 1009
_OPERATION_TYPES = frozenset({"subscribe", "start", "complete", "stop"})


def malformed(message: object, start_type: str) -> str | None:
    """Why a decoded frame cannot be handled (None when it can); `start_type` starts an operation."""
    if not isinstance(message, dict):
        return "a message must be a JSON object"
    kind = message.get("type")
    if not isinstance(kind, str):
        return "a message's type must be a string"
    if kind in _OPERATION_TYPES and not isinstance(message.get("id"), str):
        return "an operation id must be a string"
    if kind != start_type:
        return None
    payload = message.get("payload")
    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
        return "a subscribe payload must be an object with a query string"
    if not isinstance(payload.get("variables"), dict | None):
        return "variables must be an object"
    if not isinstance(payload.get("operationName"), str | None):
        return "operationName must be a string"
    return None


async def close_malformed(websocket: Any, reason: str) -> None:
    """Close with 4400 and one line at info level (a client's mistake, not the server's)."""
    log.info("closing websocket: malformed message (%s)", reason)
    await websocket.close(MALFORMED_CLOSE, reason)


class BoundedWebSocketAdapter(ASGIWebSocketAdapter):
    """Strawberry's ASGI adapter; before authentication a frame longer than the bound closes (1009).

    The length is checked before the JSON is parsed. After `connection_ack` a frame may be as
    long as uvicorn's `ws_max_size` (the request body limit) and the document limits apply.
    """

    async def iter_json(self, *, ignore_parsing_errors: bool = False) -> AsyncGenerator[object, None]:
        """Strawberry's loop with the pre-authentication bound."""
        limit = self.view.runtime.settings.ws_max_message_bytes  # type: ignore[attr-defined]
        try:
            while self.ws.application_state != WebSocketState.DISCONNECTED:
                try:
                    text = await self.ws.receive_text()
                    if len(text) > limit and not _authenticated(self.ws.scope):
                        log.info("closing websocket: %d characters before authentication", len(text))
                        await self.ws.close(TOO_BIG_CLOSE, "message too big before connection_ack")
                        return
                    yield self.view.decode_json(text)
                except JSONDecodeError as e:
                    if not ignore_parsing_errors:
                        raise NonJsonMessageReceived from e
        except KeyError as e:
            raise NonTextMessageReceived from e
        except WebSocketDisconnect:
            pass

    async def send_json(self, message: Mapping[str, object]) -> None:
        """Strawberry's send; a message for a socket this side already closed is dropped.

        A slow subscriber's socket is closed (1013) while its operation may still be sending an
        event or a `complete`; Starlette raises RuntimeError for a send after close, which the
        protocol handlers would log as a traceback. An `error` Strawberry makes itself, outside
        the schema ("Subscription limit reached"), gets the code every top-level error has.
        """
        if self.ws.application_state == WebSocketState.DISCONNECTED:
            return
        if message.get("type") == "error":
            message = {**message, "payload": _coded(message.get("payload"))}
        try:
            await super().send_json(message)
        except RuntimeError:
            if self.ws.application_state != WebSocketState.DISCONNECTED:
                raise

    async def close(self, code: int, reason: str) -> None:
        """Close once; closing a socket already closed is nothing to report."""
        if self.ws.application_state != WebSocketState.DISCONNECTED:
            await super().close(code, reason)


def _coded(payload: object) -> object:
    """An `error` payload (one error, legacy; a list, graphql-transport-ws) whose errors all have a code."""
    if isinstance(payload, list):
        return [_coded(error) for error in payload]
    if isinstance(payload, dict) and not (payload.get("extensions") or {}).get("code"):
        return {**payload, "extensions": {**(payload.get("extensions") or {}), "code": BAD_REQUEST}}
    return payload


def _authenticated(scope: dict[str, Any]) -> bool:
    ticket = scope.get(TICKET)
    return isinstance(ticket, SocketTicket) and ticket.authenticated


class LegacyHandler(BaseGraphQLWSHandler[Context, None]):
    """Strawberry's legacy `graphql-ws` handler: malformed frames, init timeout, one init per socket."""

    _init_received = False
    _init_timer: asyncio.Task[None] | None = None

    async def handle(self) -> None:
        """As Strawberry, with `CREDITS_WS_INIT_TIMEOUT_SECONDS` to authenticate."""
        self._init_timer = asyncio.create_task(self._close_unless_acknowledged())
        try:
            await super().handle()
        finally:
            await cancel_and_wait(self._init_timer)
            self._init_timer = None

    async def _close_unless_acknowledged(self) -> None:
        await asyncio.sleep(self.view.connection_init_wait_timeout.total_seconds())
        if not self.connection_acknowledged:
            log.info("closing websocket: no connection_init in time")
            await self.websocket.close(INIT_TIMEOUT_CLOSE, "Connection initialisation timeout")

    async def handle_message(self, message: Any) -> None:
        """Close malformed frames with 4400; refuse untrusted documents when only trusted ones run."""
        if (reason := malformed(message, "start")) is not None:
            await close_malformed(self.websocket, reason)
            return
        if message["type"] == "start" and self.connection_acknowledged:
            refused = self.view.persisted_queries.socket_refusal(message["payload"]["query"])  # type: ignore[attr-defined]
            if refused is not None:  # only trusted documents run (api/persisted_queries.py)
                await self.websocket.send_json({"type": "error", "id": message["id"], "payload": refused})
                return
        await super().handle_message(message)

    async def handle_connection_init(self, message: Any) -> None:
        """The first `connection_init` authenticates the socket for good; a second closes it (4429)."""
        if self._init_received:
            log.info("closing websocket: a second connection_init")
            await self.websocket.close(TOO_MANY_INITS_CLOSE, "Too many initialisation requests")
            return
        self._init_received = True
        await super().handle_connection_init(message)
        if self.connection_acknowledged and self._init_timer is not None:
            self._init_timer.cancel()  # a finished socket's timer would sleep on until it fires
