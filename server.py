"""The credit-balance service: ASGI app factory and command line (serve, migrate, export-schema)."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import json
import logging
import os
import resource
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from cross_web import HTTPException
from graphql import GraphQLError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UNSET, UnsetType

import logs
import metrics
from models import db, idempotency
from models.accounts import AuthenticationError, authenticate, ensure_first_admin
from models.alerts import EmailQueued
from models.ledger import BalanceChanged
from models.unit_of_work import add_event_sink, remove_event_sink
from models.webhooks import WebhooksQueued
from notifications import wire
from notifications.bus import EventBus
from notifications.mail import MailDispatcher, outbox_backlog
from notifications.tasks import cancel_and_wait
from notifications.webhooks import WebhookDispatcher
from resolvers.context import Context, bearer_token, build_context
from resolvers.errors import RETRY_AFTER_SECONDS, is_unavailable, unavailable_body
from resolvers.feeds import SharedFeedHandler
from resolvers.root import build_schema, schema
from resolvers.socket_auth import SocketGuard
from resolvers.socket_limits import (
    TICKET,
    SocketLimits,
    SocketTicket,
    client_address,
    default_max_websockets,
    raise_descriptor_limit,
    refuse,
)
from resolvers.ws_protocol import BoundedWebSocketAdapter, LegacyHandler
from settings import Settings, get_settings

log = logging.getLogger("credits.server")

GRAPHQL_PATH = "/graphql"
SUBSCRIPTION_NEEDS_A_STREAM = (
    "subscriptions need a websocket: open /graphql with graphql-transport-ws (or graphql-ws)"
)


class Runtime:
    """What runs beside the requests: database, event bus, mail dispatcher."""

    def __init__(self, settings: Settings, *, demo: bool = False) -> None:
        self.settings = settings
        self.demo = demo
        self.bus = EventBus(
            settings.broadcast_url,
            queue_size=settings.subscriber_queue_size,
            heartbeat_seconds=settings.bus_heartbeat_seconds,
            liveness_seconds=settings.bus_liveness_seconds,
            channel=settings.bus_channel,
        )
        self.mailer = MailDispatcher(settings)
        self.webhooks = WebhookDispatcher(settings)
        self.sockets = SocketGuard(settings.ws_auth_recheck_seconds, self.bus)
        descriptors = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        self.socket_limits = SocketLimits(
            settings.max_websockets or default_max_websockets(descriptors, settings.db_pool_max),
            settings.max_unauthenticated_websockets_per_address,
        )
        self.housekeeping: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Open the database, migrate, ensure a catalog administrator, then start the side effects."""
        await db.init_db(self.settings)
        await db.migrate(self.settings)
        await ensure_first_admin(
            self.settings.admin_email, self.settings.admin_password, development=self.settings.is_development
        )
        if self.demo:
            from models.demo import load_demo

            await load_demo()
        await self.bus.start()
        add_event_sink(self.publish)
        self.sockets.start()
        self.mailer.start()
        self.webhooks.start()
        self.housekeeping = asyncio.create_task(self._keep_house(), name="housekeeping")

    async def stop(self) -> None:
        """Stop in reverse order; pending mail stays in the outbox for the next start."""
        await cancel_and_wait(self.housekeeping)
        self.housekeeping = None
        remove_event_sink(self.publish)
        await self.sockets.stop()
        await self.mailer.stop()
        await self.webhooks.stop()
        await self.bus.stop()
        await db.close_db()

    async def keep_house(self) -> int:
        """Prune idempotency records past their retention; returns how many went."""
        retention = dt.timedelta(hours=self.settings.idempotency_retention_hours)
        pruned = await idempotency.prune(dt.datetime.now(dt.UTC) - retention)
        metrics.IDEMPOTENCY_PRUNED.inc(pruned)
        if pruned:
            log.info("pruned %d idempotency records older than %s", pruned, retention)
        return pruned

    async def _keep_house(self) -> None:
        """`keep_house` at start and every CREDITS_HOUSEKEEPING_SECONDS; a failure waits for the next."""
        while True:
            try:
                await self.keep_house()
            except Exception:
                log.exception("housekeeping failed; retrying at the next interval")
            await asyncio.sleep(self.settings.housekeeping_seconds)

    async def publish(self, events: Sequence[object]) -> None:
        """After commit: the events to the bus in one publish; new mail wakes the dispatcher."""
        messages = []
        for event in events:
            if isinstance(event, EmailQueued):
                self.mailer.wake()
                continue
            if isinstance(event, WebhooksQueued):
                self.webhooks.wake()
                continue
            if isinstance(event, BalanceChanged):
                metrics.ledger_operation(event.transaction.kind)
            if (message := wire.encode(event)) is not None:
                metrics.event_published(message["t"])
                messages.append(message)
        await self.bus.publish_many(messages)


class GraphQLApp(GraphQL):
    """Strawberry's ASGI app with our per-request context and websocket authentication."""

    graphql_transport_ws_handler_class = SharedFeedHandler
    graphql_ws_handler_class = LegacyHandler
    websocket_adapter_class = BoundedWebSocketAdapter

    def __init__(self, runtime: Runtime, **kwargs: Any) -> None:
        settings = runtime.settings
        super().__init__(
            build_schema(settings),
            graphql_ide="graphiql" if settings.is_development else None,
            max_subscriptions_per_connection=settings.max_subscriptions_per_socket,
            connection_init_wait_timeout=dt.timedelta(seconds=settings.ws_init_timeout_seconds),
            **kwargs,
        )
        self.runtime = runtime

    def decode_json(self, data: str | bytes) -> object:
        """JSON Python cannot read is malformed (400 over HTTP), not a crash.

        `json.loads` raises plain ValueError for integers beyond 4300 digits and invalid UTF-8,
        and RecursionError for deep nesting; Strawberry answers 400 only for JSONDecodeError.
        """
        try:
            return json.loads(data)
        except json.JSONDecodeError:
            raise
        except (ValueError, RecursionError) as exc:
            raise json.JSONDecodeError(f"unreadable JSON: {type(exc).__name__}", "", 0) from None

    def parse_json(self, data: str | bytes) -> Any:
        """An HTTP body (or GET parameter) that is JSON but no object (or batch list) is 400 too.

        Strawberry would call `.get` on `null`, `42` or `"query"` and answer 500.
        """
        value = super().parse_json(data)
        if not isinstance(value, dict | list):
            raise json.JSONDecodeError("expected a JSON object", "", 0)
        return value

    async def execute_single(
        self,
        request: Request,
        request_adapter: Any,
        sub_response: Response,
        context: Any,
        root_value: Any,
        request_data: Any,
    ) -> ExecutionResult:
        """One operation of a plain HTTP request; a subscription is answered 400, not run.

        The schema refuses to execute a subscription as a single result (streams go through
        `schema.stream`); Strawberry would answer that in plain text, this answers a GraphQL error.
        """
        try:
            return await super().execute_single(
                request=request,
                request_adapter=request_adapter,
                sub_response=sub_response,
                context=context,
                root_value=root_value,
                request_data=request_data,
            )
        except HTTPException as exc:
            refused = exc.__cause__
            if not isinstance(refused, InvalidOperationTypeError):
                raise
            if refused.operation_type is not OperationType.SUBSCRIPTION:
                raise
        sub_response.status_code = 400
        return ExecutionResult(data=None, errors=[GraphQLError(SUBSCRIPTION_NEEDS_A_STREAM)])

    async def run(self, request: Request | WebSocket, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        """Answer 503 SERVICE_UNAVAILABLE when the database fails before execution (authentication).

        A websocket counts as open (metrics) and is watched for as long as its handler runs.
        """
        if isinstance(request, WebSocket):
            metrics.WEBSOCKETS.inc()
            try:
                return await super().run(request, context, root_value)
            finally:
                metrics.WEBSOCKETS.dec()
                self.runtime.sockets.forget(request)
        try:
            return await super().run(request, context, root_value)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            log.warning("service unavailable before execution: %s: %s", type(exc).__name__, exc)
            return JSONResponse(
                unavailable_body(), status_code=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
            )

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
        """Authenticate the HTTP caller from its Authorization header (websockets: on connect)."""
        header = request.headers.get("authorization") if isinstance(request, Request) else None
        return await build_context(request, response, header, self.runtime.bus)

    async def on_ws_connect(self, context: Context) -> UnsetType:
        """Authenticate `connection_init`'s token; refuse the socket (4403) without a valid one."""
        params = context.connection_params or {}
        header = params.get("Authorization") or params.get("authorization")
        token = bearer_token(header) if isinstance(header, str) else None
        if not token:
            raise ConnectionRejectionError({"message": "a valid bearer token is required"})
        try:
            context.actor = await authenticate(token)
        except AuthenticationError:
            raise ConnectionRejectionError({"message": "invalid token"}) from None
        if isinstance(context.request, WebSocket):
            self.runtime.sockets.watch(context.request, context.actor, token)
            ticket = context.request.scope.get(TICKET)
            if isinstance(ticket, SocketTicket):
                self.runtime.socket_limits.authenticated(ticket)
        context.connection_params = None  # the token is kept by the socket guard only
        return UNSET


class Service(Starlette):
    """Starlette, except that GraphQL websockets go straight to the GraphQL app.

    An open socket keeps a coroutine of every layer it passed alive for as long as it is open; the
    HTTP middleware and router (CORS, body limit, error pages: HTTP only) cost some 4 KB per
    subscriber. The request id and the access line are kept.
    """

    def __init__(self, graphql: GraphQLApp, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.graphql = graphql

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Websockets on /graphql: the GraphQL app; everything else: Starlette."""
        if scope["type"] != "websocket" or scope["path"] != GRAPHQL_PATH:
            await super().__call__(scope, receive, send)
            return
        scope["app"] = self
        logs.begin_request(scope)
        started = time.perf_counter()
        limits = self.graphql.runtime.socket_limits
        ticket = limits.admit(client_address(scope))
        if ticket is None:
            logs.log_access(scope, await refuse(scope, receive, send), started)
            return
        scope[TICKET] = ticket
        try:
            await self.graphql(scope, receive, send)
        finally:
            limits.release(ticket)
            logs.log_access(scope, 0, started)


def _settle_heap() -> None:
    """Move start-up objects out of the collector's sight and collect less often.

    With 10,000 subscribers, full collections of the default thresholds took 2–3 s each and
    stalled the event loop (deliveries, requests and the bus heartbeat alike).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 10, 10)


async def healthz(_: Request) -> Response:
    """The process is up."""
    return JSONResponse({"status": "ok"})


async def metrics_endpoint(_: Request) -> Response:
    """This process's metrics in the Prometheus text format (unauthenticated: keep it off the internet)."""
    return Response(await metrics.exposition(outbox_backlog), media_type=metrics.CONTENT_TYPE)


def create_app(settings: Settings | None = None, *, demo: bool = False) -> Service:
    """Build the ASGI application for `settings` (default: from the environment)."""
    settings = settings or get_settings()
    runtime = Runtime(settings, demo=demo)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await runtime.start()
        _settle_heap()
        where = settings.effective_database_url if settings.is_sqlite else "PostgreSQL"
        log.info("serving in %s (%s database, event bus %s)", settings.env, where, runtime.bus.safe_url)
        try:
            yield
        finally:
            await runtime.stop()

    async def readyz(_: Request) -> Response:
        """The database and the event bus answer; 503 while one does not."""
        database, bus = await db.ping(), runtime.bus.healthy
        body = {"database": "ok" if database else "unreachable", "eventBus": "ok" if bus else "unreachable"}
        if database and bus:
            return JSONResponse({"status": "ready", **body})
        return JSONResponse({"status": "unavailable", **body}, status_code=503)

    graphql = GraphQLApp(runtime)
    middleware = [Middleware(logs.RequestIdMiddleware)]
    if settings.cors_origins:
        # Explicit origins only: a wildcard together with credentials would let any site act.
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization", "Content-Type"],
                allow_credentials="*" not in settings.cors_origins,
                max_age=600,
            )
        )
    routes = [
        Route(GRAPHQL_PATH, graphql, methods=["GET", "POST"]),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
    ]
    if settings.metrics_enabled:
        routes.append(Route("/metrics", metrics_endpoint))
    app = Service(
        graphql,
        middleware=middleware,
        routes=routes,
        lifespan=lifespan,
        max_body_size=settings.max_body_bytes,
    )
    app.state.runtime = runtime
    return app


def _parse_args(argv: list[str]) -> argparse.Namespace:
    settings = get_settings()
    parser = argparse.ArgumentParser(description="Credit-balance GraphQL service")
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "migrate", "export-schema"])
    parser.add_argument("--host", default=settings.host, help="default 127.0.0.1 (CREDITS_HOST)")
    parser.add_argument("--port", type=int, default=settings.port, help="default 8000 (CREDITS_PORT)")
    parser.add_argument("--demo", action="store_true", help="turn credits on and load a demo customer")
    parser.add_argument(
        "--workers",
        type=int,
        default=settings.workers,
        help="processes serving one port (CREDITS_WORKERS, default 1); needs PostgreSQL and Redis",
    )
    return parser.parse_args(argv)


def workers_refusal(settings: Settings, workers: int) -> str | None:
    """Why `workers` processes cannot serve with these settings, or None when they can."""
    if workers < 1:
        return f"--workers must be at least 1, not {workers}"
    if workers == 1:
        return None
    problems = []
    if settings.is_sqlite:
        problems.append("SQLite would serialise their writes (set CREDITS_DATABASE_URL to PostgreSQL)")
    if not settings.broadcast_url.startswith("redis"):
        problems.append("events would not cross them (set CREDITS_BROADCAST_URL to redis://…)")
    if not problems:
        return None
    return f"refusing to serve with {workers} workers: " + "; ".join(problems)


def worker_app() -> Service:
    """The app of one `--workers` process: settings from the environment (the parent prepared the rest)."""
    settings = get_settings()
    _configure_logging(settings)
    return create_app(settings)


async def _prepare(settings: Settings, *, demo: bool) -> None:
    """Before the workers start, once: migrate, the first administrator, the demo data."""
    await db.init_db(settings)
    try:
        await db.migrate(settings)
        await ensure_first_admin(
            settings.admin_email, settings.admin_password, development=settings.is_development
        )
        if demo:
            from models.demo import load_demo

            await load_demo()
    finally:
        await db.close_db()


def _configure_logging(settings: Settings) -> None:
    logs.configure(
        os.environ.get("CREDITS_LOG_LEVEL", "INFO"),
        settings.log_format or ("text" if settings.is_development else "json"),
    )


async def _migrate_only(settings: Settings) -> None:
    await db.init_db(settings)
    try:
        await db.migrate(settings)
    finally:
        await db.close_db()


def main(argv: list[str] | None = None) -> None:
    """`python server.py [serve|migrate|export-schema] [--host H] [--port P] [--demo] [--workers N]`."""
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "export-schema":
        sys.stdout.write(schema.as_str() + "\n")
        return
    settings = get_settings()
    _configure_logging(settings)
    if args.command == "migrate":
        asyncio.run(_migrate_only(settings))
        log.info(
            "migrations applied to %s",
            settings.effective_database_url if settings.is_sqlite else "PostgreSQL",
        )
        return
    if refusal := workers_refusal(settings, args.workers):
        sys.exit(refusal)
    if settings.is_sqlite:
        log.info("embedded database: %s", settings.effective_database_url)
    import uvicorn

    raise_descriptor_limit()  # before create_app: the default socket cap is derived from it
    app: Service | str
    if args.workers > 1:
        # Workers import `worker_app` afresh: they read the settings from the same environment.
        settings.resolved_jwt_secret()  # a generated development secret: one file, before they race
        asyncio.run(_prepare(settings, demo=args.demo))
        app = "server:worker_app"
    else:
        app = create_app(settings, demo=args.demo)
    # Our middleware logs access without query strings; uvicorn's would log them.
    uvicorn.run(
        app,
        factory=args.workers > 1,
        workers=args.workers,
        host=args.host,
        port=args.port,
        log_config=None,
        access_log=False,
        # Events are a few hundred bytes; permessage-deflate would keep zlib state (~100 KB after
        # the first message) for every open socket, the bulk of a subscriber's memory.
        ws_per_message_deflate=False,
        # wsproto keeps less per open socket than the websockets library (about 3 KB less).
        ws="wsproto",
        # A frame after authentication may be as large as a request body; before it, the handler
        # bounds frames to CREDITS_WS_MAX_MESSAGE_BYTES.
        ws_max_size=settings.max_body_bytes,
        # The client address (login throttling) comes from X-Forwarded-For only when a trusted proxy
        # sent it; passed explicitly, so uvicorn's FORWARDED_ALLOW_IPS plays no part.
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=settings.trusted_proxies or None,
    )


if __name__ == "__main__":
    main()
