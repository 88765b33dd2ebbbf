"""Database lifecycle: Tortoise configuration, start-up, migrations under a lock, shutdown."""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from tortoise import Tortoise, connections
from tortoise.migrations.executor import MigrationExecutor

from settings import Settings, get_settings

log = logging.getLogger("credits.db")

APP = "models"
_MIGRATION_LOCK = zlib.crc32(b"credits.migrations")


class _PooledConnection(asyncpg.Connection):
    """A pooled connection released without asyncpg's reset query (one round trip less per use).

    The reset undoes session state (advisory locks, LISTEN, SET, open cursors); the service
    never leaves any on a pooled connection: the migration lock has a connection of its own.
    """

    def get_reset_query(self) -> str:
        """Nothing to undo."""
        return ""


def tortoise_config(settings: Settings) -> dict[str, Any]:
    """Tortoise's configuration for the configured database."""
    url = settings.effective_database_url
    credentials: dict[str, Any] = {}
    if not settings.is_sqlite:
        credentials = {
            "maxsize": settings.db_pool_max,
            "minsize": 1,
            # asyncpg: bounded connect and per-statement waits; an outage answers instead of hanging.
            "timeout": settings.db_connect_timeout_seconds,
            "command_timeout": settings.db_command_timeout_seconds,
            "connection_class": _PooledConnection,
        }
    return {
        "connections": {"default": _connection(url, credentials)},
        "apps": {
            APP: {
                "models": ["models"],
                "default_connection": "default",
                "migrations": "models.migrations",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def _connection(url: str, extra: dict[str, Any]) -> str | dict[str, Any]:
    if not extra:
        return url
    from tortoise.backends.base.config_generator import expand_db_url

    config = expand_db_url(url)
    config["credentials"].update(extra)
    return config


def __getattr__(name: str) -> Any:
    """`TORTOISE_ORM` for Tortoise's CLI (`tortoise -c infra.db.TORTOISE_ORM makemigrations`)."""
    if name == "TORTOISE_ORM":
        return tortoise_config(get_settings())
    raise AttributeError(name)


async def init_db(settings: Settings) -> None:
    """Open the connections; the global fallback lets uvicorn's request tasks see them."""
    if settings.is_sqlite:
        (settings.data_dir).mkdir(parents=True, exist_ok=True)
    await Tortoise.init(config=tortoise_config(settings), _enable_global_fallback=True)
    if settings.is_sqlite:
        conn = connections.get("default")
        # WAL lets readers (other processes, backups) work beside the single writer.
        await conn.execute_script("PRAGMA journal_mode=WAL; PRAGMA busy_timeout=10000;")


async def close_db() -> None:
    """Close every connection (a second init needs it; SQLite would hang the exit)."""
    await Tortoise.close_connections()


async def migrate(settings: Settings) -> None:
    """Apply pending migrations; processes starting together take turns."""
    async with _migration_lock(settings):
        apps = {APP: tortoise_config(settings)["apps"][APP]}
        await MigrationExecutor(connections.get("default"), apps).migrate()


@asynccontextmanager
async def _migration_lock(settings: Settings) -> AsyncIterator[None]:
    """A PostgreSQL advisory lock on a connection of its own; SQLite has one writer anyway."""
    if settings.is_sqlite:
        yield
        return
    conn = await asyncpg.connect(settings.effective_database_url, timeout=settings.db_connect_timeout_seconds)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
        yield
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
        await conn.close()


async def ping(within: float | None = None) -> bool:
    """Whether the database answers within `within` seconds (default: the connect timeout)."""
    seconds = get_settings().db_connect_timeout_seconds if within is None else within
    try:
        await asyncio.wait_for(connections.get("default").execute_query("SELECT 1"), seconds)
        return True
    except Exception:
        log.warning("database did not answer", exc_info=True)
        return False
