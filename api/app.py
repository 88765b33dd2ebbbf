"""The ASGI apps: the service (/graphql, /healthz, /readyz, /metrics, the console) and a dispatch process."""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

import metrics
from api import console, ledger_export, logs
from api.console_session import ConsoleSessions
from api.graphql_app import GRAPHQL_PATH, GraphQLApp
from api.graphql_http import http_error_handler, json_too_large
from api.runtime import Runtime
from api.shutdown import on_server_exit
from api.socket_limits import TICKET, client_address, refuse
from infra import db
from models.webhook_outbox import webhook_lag_seconds
from notifications.mail import outbox_backlog
from settings import Settings, get_settings

log = logging.getLogger("credits.server")


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
        """Websockets on /graphql: the GraphQL app; everything else: Starlette (413s on /graphql in JSON)."""
        if scope["type"] != "websocket" or scope["path"] != GRAPHQL_PATH:
            if scope["type"] == "http" and scope["path"] == GRAPHQL_PATH:
                send = json_too_large(scope, send)
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
    return Response(
        await metrics.exposition(outbox_backlog, webhook_lag_seconds), media_type=metrics.CONTENT_TYPE
    )


def _lifespan(
    runtime: Runtime, what: str, on_exit: Callable[[], None] = lambda: None
) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    """Start `runtime` before the first request and stop it after the last; `on_exit` as the server
    begins to shut down (before it waits for open responses)."""
    settings = runtime.settings

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await runtime.start()
        _settle_heap()
        where = settings.effective_database_url if settings.is_sqlite else "PostgreSQL"
        log.info("%s in %s (%s database, event bus %s)", what, settings.env, where, runtime.bus.safe_url)
        try:
            with on_server_exit(on_exit):
                yield
        finally:
            await runtime.stop()

    return lifespan


def _readyz(runtime: Runtime) -> Route:
    """/readyz for `runtime`'s database and bus."""

    async def readyz(_: Request) -> Response:
        """The database and the event bus answer; 503 while one does not."""
        database, bus = await db.ping(), runtime.bus.healthy
        body = {"database": "ok" if database else "unreachable", "eventBus": "ok" if bus else "unreachable"}
        if database and bus:
            return JSONResponse({"status": "ready", **body})
        return JSONResponse({"status": "unavailable", **body}, status_code=503)

    return Route("/readyz", readyz)


def create_app(settings: Settings | None = None, *, demo: bool = False) -> Service:
    """Build the ASGI application for `settings` (default: from the environment)."""
    settings = settings or get_settings()
    runtime = Runtime(settings, demo=demo)
    what = "serving" if runtime.sends else "serving (mail and webhooks left to `server.py dispatch`)"
    graphql = GraphQLApp(runtime)
    # uvicorn closes websockets with 1012 at once, but would wait for open event streams to end.
    lifespan = _lifespan(runtime, what, on_exit=graphql.streams.end_all)
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
        _readyz(runtime),
    ]
    if settings.metrics_enabled:
        routes.append(Route("/metrics", metrics_endpoint))
    sessions = ConsoleSessions(settings) if settings.console_enabled else None
    routes += ledger_export.routes(sessions)
    if sessions is not None:
        routes += sessions.routes()
    routes += console.routes(settings)
    app = Service(
        graphql,
        middleware=middleware,
        routes=routes,
        lifespan=lifespan,
        max_body_size=settings.max_body_bytes,
        exception_handlers={HTTPException: http_error_handler(GRAPHQL_PATH)},
    )
    app.state.runtime = runtime
    return app


def worker_app() -> Service:
    """The app of one `--workers` process: settings from the environment (the parent prepared the rest)."""
    settings = get_settings()
    logs.configure_from(settings)
    return create_app(settings)


def create_dispatch_app(settings: Settings | None = None) -> Starlette:
    """A `server.py dispatch` process: sends mail and webhooks; serves /healthz, /readyz, /metrics only."""
    settings = settings or get_settings()
    runtime = Runtime(settings, role="dispatch")
    routes = [Route("/healthz", healthz), _readyz(runtime)]
    if settings.metrics_enabled:
        routes.append(Route("/metrics", metrics_endpoint))
    app = Starlette(routes=routes, lifespan=_lifespan(runtime, "dispatching mail and webhooks"))
    app.state.runtime = runtime
    return app
