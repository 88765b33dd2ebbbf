"""What the runway and `balanceAt` read: one statement for any number of customers, each.

The runway costs the charge path nothing but one more index entry per ledger entry: it is
computed when asked, from the last 7 days of the customers' `SERVICE_CHARGE` and `REFUND` entries
(read on the (customer_id, created_at) index) and their ACTIVE lots (on the lots' consumption
index). Exact at any moment, unlike daily buckets, which would need a write per charge and still
cut the 7-day window at a bucket's edge.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from tortoise.backends.base.client import BaseDBAsyncClient

from infra import sql
from models import runway as forecast
from models.customer import Customer
from models.lot_allocation import LotState
from models.transaction import TransactionKind

USAGE = (TransactionKind.SERVICE_CHARGE, TransactionKind.REFUND)  # withdrawals, expiries, grants: not usage


# Plain SQL, one statement: the week's usage (one row per customer, `id` null) and the ACTIVE lots.
# The ORM's query building cost more than the queries, and a second round trip as much again.
_KINDS = ", ".join(f"'{kind.value}'" for kind in USAGE)
_READ = (
    'SELECT "customer_id", NULL AS "id", SUM("amount") AS "amount", NULL AS "remaining", '
    'NULL AS "priority", NULL AS "expires_at", NULL AS "sequence" FROM "credit_transaction" '
    'WHERE "customer_id" {among0} AND "created_at" > {{1}} AND "created_at" <= {{2}} '
    f'AND "kind" IN ({_KINDS}) GROUP BY "customer_id" '
    'UNION ALL SELECT "customer_id", "id", "amount", "remaining", "priority", "expires_at", "sequence" '
    'FROM "credit_lot" WHERE "customer_id" {among0} AND "status" = \'ACTIVE\' AND "remaining" > 0'
)


@dataclass
class Read:
    """What the runways of some customers need: each one's week of net usage and its lots in order."""

    usage: dict[uuid.UUID, int] = field(default_factory=dict)
    lots: dict[uuid.UUID, list[forecast.LotLeft]] = field(default_factory=dict)


async def read(conn: BaseDBAsyncClient, customer_ids: Sequence[uuid.UUID], now: dt.datetime) -> Read:
    """Each customer's charges less refunds in (now - 7 days, now] (hundredths) and ACTIVE lots with credits.

    The lots come in the ledger's consumption order (`LotState.consumption_key`).
    """
    if not customer_ids:
        return Read()
    statement = _READ.format(among0=sql.among(conn, 0))
    found = Read()
    states: dict[uuid.UUID, list[LotState]] = {}
    for row in await sql.fetch(conn, statement, list(customer_ids), now - forecast.WINDOW, now):
        customer_id = sql.as_uuid(row["customer_id"])
        if row["id"] is None:
            found.usage[customer_id] = -int(row["amount"] or 0)
            continue
        lot_id, expires_at = sql.as_uuid(row["id"]), _aware(row["expires_at"])
        amount, remaining = int(row["amount"]), int(row["remaining"])
        state = LotState(lot_id, amount, remaining, int(row["priority"]), expires_at, int(row["sequence"]))
        states.setdefault(customer_id, []).append(state)
    for customer_id, lots in states.items():
        ordered = sorted(lots, key=LotState.consumption_key)
        found.lots[customer_id] = [forecast.LotLeft(s.remaining, s.expires_at) for s in ordered]
    return found


def _aware(value: object) -> dt.datetime | None:
    """A timestamp column's value as an aware UTC datetime: asyncpg gives one, SQLite text."""
    if value is None:
        return None
    moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


async def runways(
    conn: BaseDBAsyncClient, balances: Mapping[uuid.UUID, int], now: dt.datetime
) -> dict[uuid.UUID, forecast.Runway]:
    """Each customer's runway at `now`: its balance as given (id: hundredths), its lots and usage as read."""
    found = await read(conn, list(balances), now)
    return {
        customer_id: forecast.runway(
            found.lots.get(customer_id, []), balance, found.usage.get(customer_id, 0), now
        )
        for customer_id, balance in balances.items()
    }


def balances(customers: Sequence[Customer]) -> dict[uuid.UUID, int]:
    """The customers' balances by id, as `runways` takes them."""
    return {c.id: c.balance for c in customers}


# Per customer, its last entry at or before the time: one index probe each (newest first).
_LAST_BALANCE = (
    '(SELECT "balance_after" FROM "credit_transaction" WHERE "customer_id" = {customer} '
    'AND "created_at" <= {{1}} ORDER BY "created_at" DESC, "sequence" DESC LIMIT 1)'
)
_BALANCES_AT = {
    "postgres": 'SELECT c.id AS "customer_id", '
    + _LAST_BALANCE.format(customer="c.id")
    + ' AS "balance" FROM unnest({0}::uuid[]) AS c(id)',
    "sqlite": 'SELECT value AS "customer_id", '
    + _LAST_BALANCE.format(customer="value")
    + ' AS "balance" FROM json_each({0})',
}


async def balances_at(
    conn: BaseDBAsyncClient, customer_ids: Sequence[uuid.UUID], time: dt.datetime
) -> dict[uuid.UUID, int]:
    """Each customer's balance after its last entry made at or before `time` (0 before the first).

    One statement for any number of customers, each a probe of the (customer_id, created_at) index.
    Entries of one posting share a moment: the highest sequence among them wins. A time without
    offset is UTC.
    """
    if not customer_ids:
        return {}
    if time.tzinfo is None:
        time = time.replace(tzinfo=dt.UTC)
    statement = _BALANCES_AT["postgres" if conn.capabilities.dialect == "postgres" else "sqlite"]
    rows = await sql.fetch(conn, statement, list(customer_ids), time)
    return {sql.as_uuid(row["customer_id"]): int(row["balance"] or 0) for row in rows}


async def balance_at(conn: BaseDBAsyncClient, customer_id: uuid.UUID, time: dt.datetime) -> int:
    """One customer's `balances_at`."""
    return (await balances_at(conn, [customer_id], time)).get(customer_id, 0)
