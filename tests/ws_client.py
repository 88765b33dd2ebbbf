"""A small GraphQL-over-websocket client for tests: `graphql-transport-ws` and legacy `graphql-ws`.

    async with GraphQLSocket(url, TRANSPORT_WS, token) as ws:
        sub = await ws.subscribe(QUERY, {"customerId": cid})
        data = await sub.next(timeout=5)        # the `data` of the next result
        errors = await sub.errors(timeout=5)    # the errors of a failed operation
        code = await ws.closed(timeout=5)       # the close code the server sent

A background task reads every message and routes it to its operation's queue, so waits are
bounded by the timeouts given. A rejected `connection_init` raises `ConnectionRejected` from
`__aenter__`, carrying the close code and (legacy protocol) the `connection_error` payload.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from types import TracebackType
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"
PROTOCOLS = (TRANSPORT_WS, LEGACY_WS)


class ConnectionRejected(Exception):
    """The server refused `connection_init`: closed (code) and, legacy, sent `connection_error`."""

    def __init__(self, code: int | None, error: Any = None) -> None:
        super().__init__(f"connection rejected: close code {code}, error {error!r}")
        self.code = code
        self.error = error


class SocketClosed(Exception):
    """The socket closed while an operation waited for its next message."""

    def __init__(self, code: int | None, reason: str = "") -> None:
        super().__init__(f"socket closed with {code} {reason}".strip())
        self.code = code
        self.reason = reason


class OperationError(Exception):
    """The operation answered with GraphQL errors (an `error` message or a result with errors)."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(json.dumps(errors))
        self.errors = errors

    @property
    def codes(self) -> list[str | None]:
        """The `extensions.code` of each error."""
        return [e.get("extensions", {}).get("code") for e in self.errors]


class OperationCompleted(Exception):
    """The server completed the operation (no more results)."""


def ws_url(base_url: str) -> str:
    """The /graphql websocket URL of a server's http(s) base URL."""
    return base_url.replace("http", "ws", 1).rstrip("/") + "/graphql"


def http_url(url: str) -> str:
    """The http(s) base URL of a server from its base or /graphql websocket URL."""
    return url.replace("ws", "http", 1).removesuffix("/graphql") if url.startswith("ws") else url


async def running_subscriptions(url: str, field: str) -> float:
    """The server's `credits_subscriptions_active` gauge of `field`, read from its /metrics."""
    async with httpx.AsyncClient(base_url=http_url(url), timeout=10) as http:
        response = await http.get("/metrics")
    response.raise_for_status()
    prefix = f'credits_subscriptions_active{{field="{field}"}} '
    for line in response.text.splitlines():
        if line.startswith(prefix):
            return float(line.removeprefix(prefix))
    return 0.0


async def until_subscribed(url: str, field: str, count: int = 1, timeout: float = 10) -> None:
    """Wait until the server runs exactly `count` subscriptions of `field` (earlier sockets gone).

    The server raises the gauge as a subscription registers on its event bus (a shared feed's
    member: as it joins the feed), so an event committed after this returns reaches it: a signal,
    where a fixed sleep could be too short on a loaded machine.
    """
    async with asyncio.timeout(timeout):
        while await running_subscriptions(url, field) != count:
            await asyncio.sleep(0.02)


def auth_params(token: str | None, key: str = "Authorization") -> dict[str, str]:
    """A `connection_init` payload carrying a bearer token (empty without one)."""
    return {key: f"Bearer {token}"} if token else {}


def init_message(params: dict[str, Any]) -> dict[str, Any]:
    """`connection_init` (same on both protocols)."""
    return {"type": "connection_init", "payload": params}


def start_message(
    protocol: str, op_id: str, query: str, variables: dict[str, Any] | None, operation_name: str | None = None
) -> dict[str, Any]:
    """`subscribe` (graphql-transport-ws) or `start` (graphql-ws)."""
    kind = "subscribe" if protocol == TRANSPORT_WS else "start"
    payload: dict[str, Any] = {"query": query, "variables": variables or {}}
    if operation_name is not None:
        payload["operationName"] = operation_name
    return {"id": op_id, "type": kind, "payload": payload}


def stop_message(protocol: str, op_id: str) -> dict[str, Any]:
    """`complete` (graphql-transport-ws) or `stop` (graphql-ws)."""
    return {"id": op_id, "type": "complete" if protocol == TRANSPORT_WS else "stop"}


class Subscription:
    """One operation on a socket: read its results in order."""

    def __init__(self, socket: GraphQLSocket, op_id: str) -> None:
        self.socket = socket
        self.id = op_id
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def message(self, timeout: float = 5.0) -> dict[str, Any]:
        """The next raw message of this operation (`next`/`data`, `error`, `complete`, or closed)."""
        return await asyncio.wait_for(self.queue.get(), timeout)

    async def next(self, timeout: float = 5.0) -> dict[str, Any]:
        """The `data` of the next result; raises OperationError, OperationCompleted or SocketClosed."""
        message = await self.message(timeout)
        kind = message["type"]
        if kind == "closed":
            raise SocketClosed(message["code"], message["reason"])
        if kind == "complete":
            raise OperationCompleted(self.id)
        payload = message.get("payload")
        if kind == "error":
            raise OperationError(payload if isinstance(payload, list) else [payload])
        if payload.get("errors"):
            raise OperationError(payload["errors"])
        return payload["data"]

    async def take(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The `data` of the next `count` results, all within `timeout` seconds."""
        async with asyncio.timeout(timeout):
            return [await self.next(timeout) for _ in range(count)]

    async def errors(self, timeout: float = 5.0) -> list[dict[str, Any]]:
        """The errors the operation answers with; fails if it yields data instead."""
        try:
            data = await self.next(timeout)
        except OperationError as error:
            return error.errors
        raise AssertionError(f"expected errors, got data {data!r}")

    async def expect_silence(self, seconds: float = 0.3) -> None:
        """Assert that nothing arrives for this operation within `seconds`."""
        try:
            message = await asyncio.wait_for(self.queue.get(), seconds)
        except TimeoutError:
            return
        raise AssertionError(f"expected no message, got {message!r}")

    async def stop(self) -> None:
        """Ask the server to stop this operation."""
        await self.socket.send(stop_message(self.socket.protocol, self.id))


class GraphQLSocket:
    """An authenticated GraphQL websocket; `async with` connects and waits for `connection_ack`."""

    def __init__(
        self,
        url: str,
        protocol: str = TRANSPORT_WS,
        token: str | None = None,
        *,
        params: dict[str, Any] | None = None,
        ack_timeout: float = 5.0,
        **connect_kwargs: Any,
    ) -> None:
        assert protocol in PROTOCOLS, protocol
        self.url = url if url.startswith("ws") else ws_url(url)
        self.protocol = protocol
        self.params = auth_params(token) if params is None else params
        self.ack_timeout = ack_timeout
        self.connect_kwargs = connect_kwargs
        self.ws: ClientConnection | None = None
        self.close_code: int | None = None
        self.close_reason = ""
        self.connection_error: Any = None
        self._acked = asyncio.Event()
        self._closed = asyncio.Event()
        self._subscriptions: dict[str, Subscription] = {}
        self._reader: asyncio.Task[None] | None = None
        self._pong: asyncio.Event | None = None

    async def __aenter__(self) -> GraphQLSocket:
        self.ws = await connect(self.url, subprotocols=[self.protocol], open_timeout=5, **self.connect_kwargs)
        assert self.ws.subprotocol == self.protocol, self.ws.subprotocol
        self._reader = asyncio.create_task(self._read())
        await self.send(init_message(self.params))
        acked = asyncio.create_task(self._acked.wait())
        closed = asyncio.create_task(self._closed.wait())
        await asyncio.wait({acked, closed}, timeout=self.ack_timeout, return_when=asyncio.FIRST_COMPLETED)
        acked.cancel()
        closed.cancel()
        if self._acked.is_set():
            return self
        if self.connection_error is not None:
            # Legacy: connection_error, then the server closes the socket.
            await self.closed(self.ack_timeout)
        await self.close()
        raise ConnectionRejected(self.close_code, self.connection_error)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def send(self, message: dict[str, Any]) -> None:
        """Send one protocol message."""
        assert self.ws is not None
        await self.ws.send(json.dumps(message))

    async def subscribe(
        self, query: str, variables: dict[str, Any] | None = None, operation_name: str | None = None
    ) -> Subscription:
        """Start an operation; read its results from the returned Subscription."""
        subscription = Subscription(self, uuid.uuid4().hex[:8])
        self._subscriptions[subscription.id] = subscription
        if self._closed.is_set():
            subscription.queue.put_nowait(self._closed_message())
        else:
            await self.send(start_message(self.protocol, subscription.id, query, variables, operation_name))
        return subscription

    async def ping(self, timeout: float = 5.0) -> None:
        """graphql-transport-ws `ping`; returns once the `pong` arrived."""
        assert self.protocol == TRANSPORT_WS
        self._pong = asyncio.Event()
        await self.send({"type": "ping"})
        await asyncio.wait_for(self._pong.wait(), timeout)

    async def closed(self, timeout: float = 5.0) -> int | None:
        """Wait until the server closes the socket; its close code."""
        await asyncio.wait_for(self._closed.wait(), timeout)
        return self.close_code

    @property
    def is_closed(self) -> bool:
        """Whether the socket is closed."""
        return self._closed.is_set()

    async def close(self) -> None:
        """Close from our side (no-op when already closed) and stop the reader."""
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            try:
                await asyncio.wait_for(self._reader, 5)
            except (TimeoutError, asyncio.CancelledError):
                pass

    def _closed_message(self) -> dict[str, Any]:
        return {"type": "closed", "code": self.close_code, "reason": self.close_reason}

    async def _read(self) -> None:
        assert self.ws is not None
        try:
            async for raw in self.ws:
                await self._dispatch(json.loads(raw))
        except ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code
            self.close_reason = self.ws.close_reason or ""
            self._closed.set()
            for subscription in self._subscriptions.values():
                subscription.queue.put_nowait(self._closed_message())

    async def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "connection_ack":
            self._acked.set()
        elif kind == "connection_error":
            self.connection_error = message.get("payload", {})
        elif kind == "ping":
            await self.send({"type": "pong"})
        elif kind == "pong":
            if self._pong is not None:
                self._pong.set()
        elif kind == "ka":
            pass
        elif (subscription := self._subscriptions.get(message.get("id", ""))) is not None:
            subscription.queue.put_nowait(message)
