"""Hand-written SQL for the hot paths, in whichever dialect the connection speaks."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
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
        args = [_sqlite_value(v) for v in values]
    return await conn.execute_query_dict(sql.format(*marks), args)


def among(conn: BaseDBAsyncClient, n: int) -> str:
    """`"id" {among}`: the column is one of the UUIDs in placeholder `n` (a list of them).

    An array on PostgreSQL, a JSON array of text on SQLite (which stores UUIDs as text).
    """
    if conn.capabilities.dialect == "postgres":
        return f"= ANY({{{n}}}::uuid[])"
    return f"IN (SELECT value FROM json_each({{{n}}}))"


def as_uuid(value: object) -> uuid.UUID:
    """A UUID column's value as a UUID: asyncpg returns UUIDs, SQLite text."""
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _sqlite_value(value: object) -> object:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return json.dumps([str(v) for v in value])
    return value
