"""What the runway and `balanceAt` read: two queries for any number of runways, one for a past balance.

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

from tortoise.backends.base.client import BaseDBAsyncClient

from infra import sql
from models import runway as forecast
from models.customer import Customer
from models.lot_allocation import LotState
from models.transaction import CreditTransaction, TransactionKind

USAGE = (TransactionKind.SERVICE_CHARGE, TransactionKind.REFUND)  # withdrawals, expiries, grants: not usage


# Plain SQL, as for the top-menu badge: the ORM's query building cost more than the queries.
_KINDS = ", ".join(f"'{kind.value}'" for kind in USAGE)
_USAGE = (
    'SELECT "customer_id", SUM("amount") AS "total" FROM "credit_transaction" '
    'WHERE "customer_id" {among0} AND "created_at" > {{1}} AND "created_at" <= {{2}} '
    f'AND "kind" IN ({_KINDS}) GROUP BY "customer_id"'
)
_LOTS = (
    'SELECT "customer_id", "id", "amount", "remaining", "priority", "expires_at", "sequence" '
    'FROM "credit_lot" WHERE "customer_id" {among0} AND "status" = \'ACTIVE\' AND "remaining" > 0'
)


async def net_usage(
    conn: BaseDBAsyncClient, customer_ids: Sequence[uuid.UUID], now: dt.datetime
) -> dict[uuid.UUID, int]:
    """Each customer's charges less refunds in (now - 7 days, now], hundredths (absent: none)."""
    if not customer_ids:
        return {}
    statement = _USAGE.format(among0=sql.among(conn, 0))
    rows = await sql.fetch(conn, statement, list(customer_ids), now - forecast.WINDOW, now)
    return {sql.as_uuid(row["customer_id"]): -int(row["total"] or 0) for row in rows}


async def lots_left(
    conn: BaseDBAsyncClient, customer_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[forecast.LotLeft]]:
    """Each customer's ACTIVE lots with credits, in the ledger's consumption order."""
    if not customer_ids:
        return {}
    rows = await sql.fetch(conn, _LOTS.format(among0=sql.among(conn, 0)), list(customer_ids))
    states: dict[uuid.UUID, list[LotState]] = {}
    for row in rows:
        expires_at = _aware(row["expires_at"])
        state = LotState(
            sql.as_uuid(row["id"]),
            row["amount"],
            row["remaining"],
            row["priority"],
            expires_at,
            row["sequence"],
        )
        states.setdefault(sql.as_uuid(row["customer_id"]), []).append(state)
    return {
        customer_id: [
            forecast.LotLeft(s.remaining, s.expires_at) for s in sorted(lots, key=LotState.consumption_key)
        ]
        for customer_id, lots in states.items()
    }


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
    ids = list(balances)
    usage = await net_usage(conn, ids, now)
    lots = await lots_left(conn, ids)
    return {
        customer_id: forecast.runway(lots.get(customer_id, []), balance, usage.get(customer_id, 0), now)
        for customer_id, balance in balances.items()
    }


def balances(customers: Sequence[Customer]) -> dict[uuid.UUID, int]:
    """The customers' balances by id, as `runways` takes them."""
    return {c.id: c.balance for c in customers}


async def balance_at(customer_id: uuid.UUID, time: dt.datetime) -> int:
    """The balance after the customer's last entry made at or before `time` (0 before the first).

    One query on the (customer_id, created_at) index. Entries of one posting share a moment: the
    highest sequence among them wins. A time without offset is UTC.
    """
    if time.tzinfo is None:
        time = time.replace(tzinfo=dt.UTC)
    rows = (
        await CreditTransaction.filter(customer_id=customer_id, created_at__lte=time)
        .order_by("-created_at", "-sequence")
        .limit(1)
        .values_list("balance_after", flat=True)
    )
    return int(rows[0]) if rows else 0
