"""Hand-written SQL for the hot paths, in whichever dialect the connection speaks."""

from __future__ import annotations

import uuid
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient


async def fetch(conn: BaseDBAsyncClient, sql: str, *values: object) -> list[dict[str, Any]]:
    """Run `sql` with `{0}`, `{1}` … placeholders; rows as dicts.

    asyncpg wants `$1` and UUIDs, SQLite `?1` and UUIDs as text. `execute_query_dict`, because
    Tortoise's `execute_query` drops the rows of a statement that starts with UPDATE.
    """
    numbers = range(1, len(values) + 1)
    if conn.capabilities.dialect == "postgres":
        marks = [f"${n}" for n in numbers]
        args = list(values)
    else:
        marks = [f"?{n}" for n in numbers]
        args = [str(v) if isinstance(v, uuid.UUID) else v for v in values]
    return await conn.execute_query_dict(sql.format(*marks), args)
