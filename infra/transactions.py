"""Database transactions that leave nothing behind when they cannot begin.

Tortoise's `in_transaction` takes a connection (PostgreSQL: from the pool; SQLite: the lock on
its one connection) and makes it the task's current one before it sends BEGIN. When BEGIN fails
(the connection died as PostgreSQL stopped), its `__aexit__` never runs: the pool loses the
connection, SQLite's lock stays taken, and the task keeps the dead connection as its current
transaction, so every later transaction in that task nests a savepoint on it and fails. A
long-lived task (a webhook or mail dispatcher, the lot sweep) then never works again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from tortoise.backends.base.client import BaseDBAsyncClient, TransactionContext
from tortoise.transactions import in_transaction


@asynccontextmanager
async def transaction() -> AsyncIterator[BaseDBAsyncClient]:
    """`in_transaction()`, undone (connection or lock given back, current one reset) if BEGIN fails."""
    context = in_transaction()
    try:
        conn = await context.__aenter__()
    except BaseException as error:
        if _holds_a_connection(context):
            with suppress(Exception):  # the rollback of a transaction that never began
                await context.__aexit__(type(error), error, error.__traceback__)
        raise
    try:
        yield conn
    except BaseException as error:
        await context.__aexit__(type(error), error, error.__traceback__)
        raise
    await context.__aexit__(None, None, None)


def _holds_a_connection(context: TransactionContext) -> bool:
    """Whether `__aenter__` got as far as taking the connection and making it the task's current one.

    Both outermost contexts (pooled, SQLite) set `token` right after taking it; a nested one
    (a savepoint) takes nothing.
    """
    return getattr(context, "token", None) is not None
