"""After each run, the ledger must still hold: every success charged (or refunded) exactly once."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import asyncpg

# Every customer: balance == sum of its entries, sequences 1..last_sequence without gaps (the
# unique (customer, sequence) constraint rules out repeats), newest balance_after == balance.
_LEDGER = """
SELECT c.id, c.balance, c.last_sequence, t.total, t.n, t.top, t.low, newest.balance_after
FROM customer c
LEFT JOIN (
    SELECT customer_id, sum(amount) AS total, count(*) AS n, max(sequence) AS top, min(sequence) AS low
    FROM credit_transaction GROUP BY customer_id
) t ON t.customer_id = c.id
LEFT JOIN credit_transaction newest ON newest.customer_id = c.id AND newest.sequence = c.last_sequence
WHERE c.balance <> coalesce(t.total, 0) OR c.last_sequence <> coalesce(t.n, 0)
   OR coalesce(t.top, 0) <> coalesce(t.n, 0) OR coalesce(t.low, 1) <> 1
   OR (c.last_sequence > 0 AND (newest.balance_after IS NULL OR newest.balance_after <> c.balance))
LIMIT 5
"""
_COUNTS = """
SELECT (SELECT count(*) FROM service_request),
       (SELECT count(*) FROM credit_transaction WHERE kind = 'SERVICE_CHARGE'),
       (SELECT count(*) FROM credit_transaction WHERE kind = 'GRANT'),
       (SELECT count(*) FROM credit_transaction WHERE kind = 'REFUND'),
       (SELECT count(*) FROM service_request WHERE status = 'CANCELLED')
"""
_KINDS = ("requests", "charges", "grants", "refunds", "cancelled")


class Database(Protocol):
    """The few queries the checks need, on PostgreSQL or SQLite."""

    async def rows(self, sql: str) -> list[tuple[Any, ...]]: ...

    async def load_ids(self, ids: Sequence[str]) -> None: ...

    async def close(self) -> None: ...


class Postgres:
    """Checks over one asyncpg connection; `bench_ids` is a temporary table of the ids to check."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    @classmethod
    async def connect(cls, url: str) -> Postgres:
        """Open a connection to the bench database."""
        return cls(await asyncpg.connect(url, timeout=10))

    async def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in await self.conn.fetch(sql)]

    async def load_ids(self, ids: Sequence[str]) -> None:
        await self.conn.execute("DROP TABLE IF EXISTS bench_ids; CREATE TEMP TABLE bench_ids (id uuid)")
        await self.conn.copy_records_to_table("bench_ids", records=[(uuid.UUID(i),) for i in ids])

    async def close(self) -> None:
        await self.conn.close()


class Sqlite:
    """The same checks on the embedded database file (WAL: readable beside the server)."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path)

    async def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return list(self.db.execute(sql).fetchall())

    async def load_ids(self, ids: Sequence[str]) -> None:
        self.db.executescript("DROP TABLE IF EXISTS temp.bench_ids; CREATE TEMP TABLE bench_ids (id text)")
        self.db.executemany("INSERT INTO bench_ids VALUES (?)", [(i,) for i in ids])

    async def close(self) -> None:
        self.db.close()


async def counts(db: Database) -> dict[str, int]:
    """Rows of each kind now, to compare before and after a run."""
    (row,) = await db.rows(_COUNTS)
    return dict(zip(_KINDS, (int(v) for v in row), strict=True))


async def ledger(db: Database) -> list[str]:
    """Problems with any customer's ledger (empty when it holds)."""
    return [f"ledger broken for customer {r[0]}: {r[1:]}" for r in await db.rows(_LEDGER)]


def _delta(before: dict[str, int], after: dict[str, int], expected: dict[str, int]) -> list[str]:
    return [
        f"{kind}: {after[kind] - before[kind]} new rows, expected {count}"
        for kind, count in expected.items()
        if after[kind] - before[kind] != count
    ]


def _unique(ids: Sequence[str]) -> list[str]:
    return [] if len(set(ids)) == len(ids) else [f"{len(ids) - len(set(ids))} ids returned twice"]


async def charged(db: Database, ids: Sequence[str], price: int, before: dict[str, int]) -> list[str]:
    """Each returned service request exists, charged once by `price`; nothing else was charged."""
    await db.load_ids(ids)
    bad = await db.rows(
        f"""SELECT i.id, count(t.id) FROM bench_ids i
        LEFT JOIN credit_transaction t ON t.service_request_id = i.id AND t.kind = 'SERVICE_CHARGE'
             AND t.amount = {-price}
        GROUP BY i.id HAVING count(t.id) <> 1 LIMIT 5"""
    )
    missing = await db.rows(
        "SELECT count(*) FROM bench_ids i LEFT JOIN service_request r ON r.id = i.id WHERE r.id IS NULL"
    )
    problems = _unique(ids) + [f"request {r[0]} has {r[1]} charges" for r in bad]
    if missing[0][0]:
        problems.append(f"{missing[0][0]} returned requests do not exist")
    after = await counts(db)
    problems += _delta(before, after, {"requests": len(ids), "charges": len(ids)})
    return problems + await ledger(db)


async def granted(db: Database, ids: Sequence[str], amount: int, before: dict[str, int]) -> list[str]:
    """Each returned ledger entry is a GRANT of `amount`; no other grant was written."""
    await db.load_ids(ids)
    found = await db.rows(
        f"""SELECT count(*) FROM bench_ids i JOIN credit_transaction t
        ON t.id = i.id AND t.kind = 'GRANT' AND t.amount = {amount}"""
    )
    problems = _unique(ids)
    if found[0][0] != len(ids):
        problems.append(f"{len(ids) - found[0][0]} returned grants are not in the ledger")
    problems += _delta(before, await counts(db), {"grants": len(ids)})
    return problems + await ledger(db)


async def refunded(db: Database, ids: Sequence[str], price: int, before: dict[str, int]) -> list[str]:
    """Each returned request is CANCELLED with exactly one charge and one refund of `price`."""
    await db.load_ids(ids)
    bad = await db.rows(
        f"""SELECT i.id, r.status, coalesce(x.refunds, 0), coalesce(x.charges, 0)
        FROM bench_ids i
        LEFT JOIN service_request r ON r.id = i.id
        LEFT JOIN (
            SELECT t.service_request_id AS id,
                   sum(CASE WHEN t.kind = 'REFUND' AND t.amount = {price} THEN 1 ELSE 0 END) AS refunds,
                   sum(CASE WHEN t.kind = 'SERVICE_CHARGE' THEN 1 ELSE 0 END) AS charges
            FROM credit_transaction t JOIN bench_ids j ON j.id = t.service_request_id
            GROUP BY t.service_request_id
        ) x ON x.id = i.id
        WHERE r.status IS NULL OR r.status <> 'CANCELLED'
           OR coalesce(x.refunds, 0) <> 1 OR coalesce(x.charges, 0) <> 1
        LIMIT 5"""
    )
    problems = _unique(ids) + [f"request {r[0]}: status {r[1]}, {r[2]} refunds, {r[3]} charges" for r in bad]
    problems += _delta(before, await counts(db), {"refunds": len(ids), "cancelled": len(ids)})
    return problems + await ledger(db)


async def unchanged(db: Database, before: dict[str, int]) -> list[str]:
    """A read-only run wrote nothing."""
    after = await counts(db)
    return _delta(before, after, dict.fromkeys(_KINDS, 0)) + await ledger(db)


async def counted(db: Database, before: dict[str, int], *, requests: int, charges: int) -> list[str]:
    """Exactly so many requests and charges were written (pgbench returns no ids)."""
    return _delta(before, await counts(db), {"requests": requests, "charges": charges}) + await ledger(db)
