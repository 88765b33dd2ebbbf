"""How many websockets one process holds, so that sockets never starve money operations.

Every socket costs a file descriptor; at the process's descriptor limit, grants failed with
"Too many open files". A cap for all sockets leaves descriptors for HTTP, the database pool and
Redis, and a cap per client address on sockets not yet authenticated keeps one client from
taking the whole cap before showing a token. Once authenticated, a socket (or SSE stream) counts
against its user and its customer until it ends: one end user had opened 492 streams in a second,
and another customer's administrator then got 503.
"""

from __future__ import annotations

import logging
import resource
import uuid
from dataclasses import dataclass

from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

import metrics
from api.error_codes import error_body
from api.unavailable import SERVICE_UNAVAILABLE
from models.actor import Actor

log = logging.getLogger("credits.websocket")

TICKET = "credits.socket"  # the scope key of a socket's ticket
TRY_AGAIN_LATER = 1013
RETRY_AFTER_SECONDS = 5
CAPACITY = "capacity"
ADDRESS = "address"
USER = "user"
CUSTOMER = "customer"
REASONS = (CAPACITY, ADDRESS, USER, CUSTOMER)  # the refusals' labels in /metrics
_refused = {reason: metrics.WEBSOCKETS_REFUSED.labels(reason) for reason in REASONS}


def raise_descriptor_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit (when allowed); the soft limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError) as exc:
            log.warning("could not raise the descriptor limit from %d to %d: %s", soft, hard, exc)
    return soft


def default_max_websockets(descriptor_limit: int, db_pool_max: int) -> int:
    """The descriptors left after a fifth (at least 512) for HTTP and Redis, and the database pool."""
    if descriptor_limit == resource.RLIM_INFINITY:
        descriptor_limit = 1 << 20
    headroom = max(512, descriptor_limit // 5) + db_pool_max
    return max(16, descriptor_limit - headroom)


@dataclass(eq=False, slots=True)
class SocketTicket:
    """One admitted socket: its client address, and once authenticated, whose it is."""

    address: str
    authenticated: bool = False
    user_id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None


class SocketLimits:
    """Admit a websocket at the handshake, or refuse it (503, or close 1013 without the extension)."""

    def __init__(
        self,
        max_sockets: int,
        max_unauthenticated_per_address: int,
        max_per_user: int = 1 << 30,
        max_per_customer: int = 1 << 30,
    ) -> None:
        self.max_sockets = max_sockets
        self.max_unauthenticated_per_address = max_unauthenticated_per_address
        self.max_per_user = max_per_user
        self.max_per_customer = max_per_customer
        self.open = 0
        self._unauthenticated: dict[str, int] = {}
        self._per_user: dict[uuid.UUID, int] = {}
        self._per_customer: dict[uuid.UUID, int] = {}
        metrics.WEBSOCKETS_MAX.set(max_sockets)
        metrics.STREAM_HOLDERS.labels(USER).set_function(lambda: len(self._per_user))
        metrics.STREAM_HOLDERS.labels(CUSTOMER).set_function(lambda: len(self._per_customer))

    def admit(self, address: str) -> SocketTicket | None:
        """A ticket for a new socket from `address`, or None (counted) when a cap is reached."""
        if self.open >= self.max_sockets:
            reason = CAPACITY
        elif self._unauthenticated.get(address, 0) >= self.max_unauthenticated_per_address:
            reason = ADDRESS
        else:
            self.open += 1
            self._unauthenticated[address] = self._unauthenticated.get(address, 0) + 1
            return SocketTicket(address)
        _refused[reason].inc()
        log.info("refusing websocket from %s: %s limit reached", address, reason)
        return None

    def authenticate(self, ticket: SocketTicket, actor: Actor) -> str | None:
        """Count the socket against its user and customer (none for a catalog administrator) instead
        of its address; the refusal's message (counted) when either is at its cap, else None."""
        if ticket.authenticated:
            return None  # one identity per socket: counted when it first authenticated
        user_id, customer_id = actor.user_id, actor.customer_id
        if self._per_user.get(user_id, 0) >= self.max_per_user:
            reason = USER
        elif customer_id is not None and self._per_customer.get(customer_id, 0) >= self.max_per_customer:
            reason = CUSTOMER
        else:
            ticket.authenticated = True
            ticket.user_id, ticket.customer_id = user_id, customer_id
            _enter(self._per_user, user_id)
            if customer_id is not None:
                _enter(self._per_customer, customer_id)
            self._leave_address(ticket.address)
            return None
        _refused[reason].inc()
        log.info("refusing a stream of user %s: %s limit reached", user_id, reason)
        return f"too many open streams for this {reason}; try again later"

    def release(self, ticket: SocketTicket) -> None:
        """The socket's handler ended (whichever way): it counts against nobody any more."""
        self.open -= 1
        if not ticket.authenticated:
            self._leave_address(ticket.address)
            return
        if ticket.user_id is not None:
            _leave(self._per_user, ticket.user_id)
        if ticket.customer_id is not None:
            _leave(self._per_customer, ticket.customer_id)

    def _leave_address(self, address: str) -> None:
        _leave(self._unauthenticated, address)


def _enter(counts: dict, key: object) -> None:
    counts[key] = counts.get(key, 0) + 1


def _leave(counts: dict, key: object) -> None:
    """One fewer for `key`; a key at zero is dropped, so the maps hold only what is open."""
    left = counts.get(key, 0) - 1
    if left > 0:
        counts[key] = left
    else:
        counts.pop(key, None)


def client_address(scope: Scope) -> str:
    """The peer's address as the server saw it (uvicorn applies trusted proxies' headers)."""
    client = scope.get("client")
    return str(client[0]) if client else "-"


async def refuse(scope: Scope, receive: Receive, send: Send) -> int:
    """Turn the handshake down: HTTP 503 where the server can answer before the upgrade, else
    accept and close 1013 (try again later). Returns the status for the access line."""
    socket = WebSocket(scope, receive, send)
    if "websocket.http.response" in scope.get("extensions", {}):
        body = error_body("too many websockets; try again later", SERVICE_UNAVAILABLE)
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        await socket.send_denial_response(JSONResponse(body, status_code=503, headers=headers))
        return 503
    await socket.accept()
    await socket.close(TRY_AGAIN_LATER, "too many websockets; try again later")
    return TRY_AGAIN_LATER
