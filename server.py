"""The credit-balance service: ASGI app factory and command line (serve, migrate, export-schema)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from models import db
from models.accounts import ensure_first_admin
from resolvers.context import Context, build_context
from resolvers.root import schema
from settings import Settings, get_settings

log = logging.getLogger("credits.server")


class GraphQLApp(GraphQL):
    """Strawberry's ASGI app with our per-request context."""

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
        """Authenticate the HTTP caller from its Authorization header."""
        return await build_context(request, response, request.headers.get("authorization"))


async def healthz(_: Request) -> Response:
    """The process is up."""
    return JSONResponse({"status": "ok"})


async def readyz(_: Request) -> Response:
    """The database answers; 503 while it does not."""
    if await db.ping():
        return JSONResponse({"status": "ready", "database": "ok"})
    return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)


async def start(settings: Settings, *, demo: bool = False) -> None:
    """Open the database, apply migrations, make sure a catalog administrator exists."""
    await db.init_db(settings)
    await db.migrate(settings)
    await ensure_first_admin(
        settings.admin_email, settings.admin_password, development=settings.is_development
    )
    if demo:
        from models.demo import load_demo

        await load_demo()


def create_app(settings: Settings | None = None, *, demo: bool = False) -> Starlette:
    """Build the ASGI application for `settings` (default: from the environment)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await start(settings, demo=demo)
        where = settings.effective_database_url if settings.is_sqlite else "PostgreSQL"
        log.info("serving on %s (%s database)", settings.env, where)
        try:
            yield
        finally:
            await db.close_db()

    graphql = GraphQLApp(schema, graphql_ide="graphiql" if settings.is_development else None)
    return Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
        ],
        lifespan=lifespan,
        max_body_size=settings.max_body_bytes,
    )


def _parse_args(argv: list[str]) -> argparse.Namespace:
    settings = get_settings()
    parser = argparse.ArgumentParser(description="Credit-balance GraphQL service")
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "migrate", "export-schema"])
    parser.add_argument("--host", default=settings.host, help="default 127.0.0.1 (CREDITS_HOST)")
    parser.add_argument("--port", type=int, default=settings.port, help="default 8000 (CREDITS_PORT)")
    parser.add_argument("--demo", action="store_true", help="turn credits on and load a demo customer")
    return parser.parse_args(argv)


async def _migrate_only(settings: Settings) -> None:
    await db.init_db(settings)
    try:
        await db.migrate(settings)
    finally:
        await db.close_db()


def main(argv: list[str] | None = None) -> None:
    """`python server.py [serve|migrate|export-schema] [--host H] [--port P] [--demo]`."""
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "export-schema":
        sys.stdout.write(schema.as_str() + "\n")
        return
    logging.basicConfig(
        level=os.environ.get("CREDITS_LOG_LEVEL", "INFO"), format="%(levelname)s %(name)s %(message)s"
    )
    settings = get_settings()
    if args.command == "migrate":
        asyncio.run(_migrate_only(settings))
        log.info(
            "migrations applied to %s",
            settings.effective_database_url if settings.is_sqlite else "PostgreSQL",
        )
        return
    if settings.is_sqlite:
        log.info("embedded database: %s", settings.effective_database_url)
    import uvicorn

    uvicorn.run(create_app(settings, demo=args.demo), host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
