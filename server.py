"""The command line: `python server.py [serve|dispatch|migrate|export-schema|api-docs|trusted-documents]`."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path

from api import logs
from api.app import Service, create_app, create_dispatch_app
from api.persisted_queries import ManifestError, trusted_documents
from api.schema import schema
from api.socket_limits import raise_descriptor_limit
from infra import db
from infra.email_address import InvalidAddress, parse_address
from models.accounts import ensure_first_admin
from schema import reference
from settings import Settings, get_settings

log = logging.getLogger("credits.server")


def _parse_args(argv: list[str]) -> argparse.Namespace:
    settings = get_settings()
    parser = argparse.ArgumentParser(description="Credit-balance GraphQL service")
    parser.add_argument(
        "command",
        nargs="?",
        default="serve",
        choices=["serve", "dispatch", "migrate", "export-schema", "api-docs", "trusted-documents"],
        help="serve: the API (default); dispatch: only send mail and webhooks (CREDITS_OUTBOX_DISPATCH);"
        " api-docs: print the API reference (docs/api.md);"
        " trusted-documents: print the manifest of the console's documents and CREDITS_TRUSTED_DOCUMENTS'",
    )
    parser.add_argument(
        "--merge",
        action="append",
        default=[],
        type=Path,
        metavar="MANIFEST",
        help="trusted-documents: merge this manifest (sha256 hash → document) in too; repeatable",
    )
    parser.add_argument("--host", default=settings.host, help="default 127.0.0.1 (CREDITS_HOST)")
    parser.add_argument(
        "--port",
        type=int,
        help="default 8000 (CREDITS_PORT); dispatch: its /healthz and /metrics, 8001 (CREDITS_DISPATCH_PORT)",
    )
    parser.add_argument("--demo", action="store_true", help="turn credits on and load a demo customer")
    parser.add_argument(
        "--workers",
        type=int,
        default=settings.workers,
        help="processes serving one port (CREDITS_WORKERS, default 1); needs PostgreSQL and Redis",
    )
    return parser.parse_args(argv)


def _shared_services_missing(settings: Settings, without_postgres: str, without_redis: str) -> list[str]:
    """What several processes working together lack here: PostgreSQL and Redis, each with its reason."""
    problems = []
    if settings.is_sqlite:
        problems.append(f"{without_postgres} (set CREDITS_DATABASE_URL to PostgreSQL)")
    if not settings.broadcast_url.startswith("redis"):
        problems.append(f"{without_redis} (set CREDITS_BROADCAST_URL to redis://…)")
    return problems


def workers_refusal(settings: Settings, workers: int) -> str | None:
    """Why `workers` processes cannot serve with these settings, or None when they can."""
    if workers < 1:
        return f"--workers must be at least 1, not {workers}"
    if workers == 1:
        return None
    problems = _shared_services_missing(
        settings, "SQLite would serialise their writes", "events would not cross them"
    )
    return f"refusing to serve with {workers} workers: " + "; ".join(problems) if problems else None


def demo_refusal(settings: Settings, demo: bool) -> str | None:
    """Why `--demo` cannot run here: in production it would print passwords derived from the real secret."""
    if demo and not settings.is_development:
        return (
            "refusing to start: --demo makes up logins and prints their passwords; "
            "it runs only with CREDITS_ENV=development"
        )
    return None


def dispatch_refusal(settings: Settings, command: str) -> str | None:
    """Why mail and webhooks cannot be sent by separate processes here, or None when they can."""
    if command == "serve" and settings.outbox_dispatch == "inline":
        return None
    problems = _shared_services_missing(
        settings, "SQLite belongs to the serving process", "serving processes could not wake it"
    )
    if not problems:
        return None
    what = "dispatch" if command == "dispatch" else "serve with CREDITS_OUTBOX_DISPATCH=separate"
    hint = "; or leave CREDITS_OUTBOX_DISPATCH=inline: the serving process then sends them itself"
    return f"refusing to {what}: " + "; ".join(problems) + hint


def trusted_documents_refusal(settings: Settings) -> str | None:
    """Why a manifest of CREDITS_TRUSTED_DOCUMENTS cannot be used (unreadable, a wrong hash), or None."""
    try:
        trusted_documents(settings.trusted_documents_paths)
    except ManifestError as exc:
        return f"refusing to start: CREDITS_TRUSTED_DOCUMENTS: {exc}"
    return None


def address_refusal(settings: Settings) -> str | None:
    """Why CREDITS_ADMIN_EMAIL or CREDITS_MAIL_FROM is not exactly one address, or None when both are.

    A list there would make the first administrator's account, or every email's sender, name more
    than one mailbox. The sender may carry a name; an empty CREDITS_ADMIN_EMAIL means "not set".
    """
    problems = []
    for name, value, named in (
        ("CREDITS_ADMIN_EMAIL", settings.admin_email, False),
        ("CREDITS_MAIL_FROM", settings.mail_from, True),
    ):
        if value or named:
            try:
                parse_address(value or "", display_name=named)
            except InvalidAddress as exc:
                problems.append(f"{name} is not one valid email address ({exc})")
    return "refusing to start: " + "; ".join(problems) if problems else None


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


async def _migrate_only(settings: Settings) -> None:
    await db.init_db(settings)
    try:
        await db.migrate(settings)
    finally:
        await db.close_db()


def _dispatch(settings: Settings, host: str, port: int) -> None:
    """Send mail and webhooks until stopped; /healthz, /readyz and /metrics on `port`."""
    import uvicorn

    uvicorn.run(create_dispatch_app(settings), host=host, port=port, log_config=None, access_log=False)


def main(argv: list[str] | None = None) -> None:
    """`python server.py [COMMAND] [--host H] [--port P] [--demo] [--workers N]` (see `--help`)."""
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "export-schema":
        sys.stdout.write(schema.as_str() + "\n")
        return
    if args.command == "api-docs":
        sys.stdout.write(reference.render(schema.as_str()))
        return
    if args.command == "trusted-documents":
        try:
            manifest = trusted_documents([*get_settings().trusted_documents_paths, *args.merge])
        except ManifestError as exc:
            sys.exit(str(exc))
        sys.stdout.write(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
        return
    settings = get_settings()
    logs.configure_from(settings)
    if refusal := address_refusal(settings) or trusted_documents_refusal(settings):
        sys.exit(refusal)
    if args.command == "migrate":
        asyncio.run(_migrate_only(settings))
        log.info(
            "migrations applied to %s",
            settings.effective_database_url if settings.is_sqlite else "PostgreSQL",
        )
        return
    if refusal := dispatch_refusal(settings, args.command):
        sys.exit(refusal)
    if args.command == "dispatch":
        _dispatch(settings, args.host, args.port or settings.dispatch_port)
        return
    if refusal := demo_refusal(settings, args.demo) or workers_refusal(settings, args.workers):
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
        app = "api.app:worker_app"
    else:
        app = create_app(settings, demo=args.demo)
    # Our middleware logs access without query strings; uvicorn's would log them.
    uvicorn.run(
        app,
        factory=args.workers > 1,
        workers=args.workers,
        host=args.host,
        port=args.port or settings.port,
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
