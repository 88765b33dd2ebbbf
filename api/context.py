"""Per-request context: who is calling, resolved once from the bearer token; fresh loaders per execution."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.extensions import SchemaExtension

from models.accounts import AuthenticationError, authenticate
from models.actor import Actor
from notifications.bus import EventBus
from resolvers.live import LiveConnection
from schema.loaders import begin_execution


@dataclass(slots=True)
class Context:
    """What every resolver sees; `actor` is None for anonymous or rejected callers.

    Slotted: every open socket keeps one.
    """

    request: Request | WebSocket
    response: Response | WebSocket | None
    actor: Actor | None = None
    bus: EventBus | None = None
    connection_params: dict[str, Any] | None = None
    shared: bool = False  # a feed's operation, serving several sockets (api/feeds.py)
    on_too_slow: Callable[[], None] | None = None  # a feed's: its bus queue overflowed

    @property
    def live(self) -> LiveConnection | None:
        """The websocket a subscription runs on; None over HTTP (SSE) and for a shared feed."""
        return self.request if isinstance(self.request, WebSocket) else None


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, if there is one."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return ""
    return token.strip()


async def build_context(
    request: Request | WebSocket,
    response: Response | WebSocket | None,
    header: str | None,
    bus: EventBus | None = None,
) -> Context:
    """Authenticate the caller from its Authorization header value."""
    context = Context(request=request, response=response, bus=bus)
    token = bearer_token(header)
    if token is None:
        return context
    try:
        context.actor = await authenticate(token) if token else None
    except AuthenticationError:
        context.actor = None
    return context


class FreshLoaders(SchemaExtension):
    """A new set of DataLoaders for every execution: an HTTP request, a socket's operation, each event.

    The context cannot hold them: Strawberry builds it once per websocket, and a long-lived socket
    must never serve rows read for an earlier operation or event.
    """

    def on_execute(self) -> Iterator[None]:
        """Queries, mutations, and a subscription's setup start afresh."""
        begin_execution()
        yield

    def on_stream_result(self, result: object) -> Iterator[None]:
        """Once a subscription's event has been handed on, the next one starts afresh."""
        yield
        begin_execution()
