"""Credit lots in the bench: the seats' lots, the lots' invariants in SQL, five lots against one.

Issue 19's targets on this machine: `requestService` for customers with five lots at least 0.9×
the same for customers with one; the hot customer with five lots still at least 1× the raw-SQL
ceiling; 10,000 lots expiring in the same second all expired within 10 s, no charge refused.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import Sequence

from bench import checks
from bench.paired import Pairing, paired_rounds
from bench.report import Row
from bench.world import FLOAT_CENTS, LotTerms, Seat

LOTS_ROUNDS = 3  # one-lot and five-lot runs alternate; the figure is the median of paired ratios
FIVE_VS_ONE_TARGET = 0.9
HOT_VS_CEILING_TARGET = 1.0
EXPIRY_TARGET_SECONDS = 10.0
EXPIRING_PER_CUSTOMER = 10
EXPIRING_LOT_CENTS = 10_000  # 100.00 credits: a run's charges never use one up, so each expiry has an entry
FIRST_LOTS_SEAT = 100_000  # numbers of the seats seeded for these scenarios (the world's are 0..N)
FIRST_EXPIRY_SEAT = 200_000
# Seconds ahead the lots expire: enough to grant them first. Each lot granted within 7 days of its
# expiry is warned in the grant's transaction (alert, webhook row, administrators): 10,000 lots took
# 34 s through the ledger's batch on this box, busy with other work (49-86 s before the warnings
# were claimed once per batch).
EXPIRY_LEAD_BASE = 5.0
EXPIRY_LEAD_PER_LOT = 1 / 100
CHARGING_BEFORE = 3.0  # the charges start this long before the lots expire: their rate undisturbed
POLL_SECONDS = 0.1


def four_more_lots(now: dt.datetime) -> list[LotTerms]:
    """Beside the float (priority 50, no expiry), four lots of mixed priority expiring in the future.

    Each holds as much as the float, so no run uses one up: every charge meets all five. The
    priority-10 lot comes first in the consumption order, so charges take from it.
    """
    return [
        LotTerms(FLOAT_CENTS, 70, now + dt.timedelta(days=3650)),
        LotTerms(FLOAT_CENTS, 30, now + dt.timedelta(days=90)),
        LotTerms(FLOAT_CENTS, 10, now + dt.timedelta(days=365)),
        LotTerms(FLOAT_CENTS, 50, now + dt.timedelta(days=30)),
    ]


def expiring_lots(expires_at: dt.datetime, per_customer: int = EXPIRING_PER_CUSTOMER) -> list[LotTerms]:
    """`per_customer` lots expiring at the same instant; consumed before the float (soonest expiry first)."""
    return [LotTerms(EXPIRING_LOT_CENTS, 50, expires_at) for _ in range(per_customer)]


# Per entry, its allocations add up to its amount; per lot, remaining = amount + later allocations,
# and credits left exactly when ACTIVE; per customer, the balance is what ACTIVE lots hold (or 0 in
# debt). For the seats of these scenarios only: the raw-SQL ceilings charge the world's seats
# without allocations (they are the transaction before lots), so those ledgers have none.
_ENTRIES_UNBALANCED = """
SELECT t.id, t.kind, t.amount, coalesce(sum(a.amount), 0) FROM credit_transaction t
LEFT JOIN credit_allocation a ON a.transaction_id = t.id
WHERE t.customer_id = ANY($1::uuid[])
GROUP BY t.id HAVING coalesce(sum(a.amount), 0) <> t.amount LIMIT 5
"""
_LOTS_UNBALANCED = """
SELECT l.id, l.status, l.amount, l.remaining, coalesce(sum(a.amount), 0) FROM credit_lot l
LEFT JOIN credit_allocation a ON a.lot_id = l.id AND a.transaction_id <> l.transaction_id
WHERE l.customer_id = ANY($1::uuid[])
GROUP BY l.id
HAVING l.remaining <> l.amount + coalesce(sum(a.amount), 0)
    OR CASE WHEN l.status = 'ACTIVE' THEN l.remaining <= 0 ELSE l.remaining <> 0 END
LIMIT 5
"""
_BALANCE_NOT_IN_LOTS = """
SELECT c.id, c.balance, coalesce(sum(l.remaining), 0) FROM customer c
LEFT JOIN credit_lot l ON l.customer_id = c.id AND l.status = 'ACTIVE'
WHERE c.id = ANY($1::uuid[])
GROUP BY c.id HAVING coalesce(sum(l.remaining), 0) <> greatest(c.balance, 0) LIMIT 5
"""


async def lots_hold(db: checks.Postgres, seats: Sequence[Seat]) -> list[str]:
    """Problems with the invariants of "Credit lots" for these seats' customers (empty when they hold)."""
    ids = [uuid.UUID(s.customer_id) for s in seats]
    entries = await db.conn.fetch(_ENTRIES_UNBALANCED, ids)
    lots = await db.conn.fetch(_LOTS_UNBALANCED, ids)
    customers = await db.conn.fetch(_BALANCE_NOT_IN_LOTS, ids)
    return (
        [f"entry {r[0]} ({r[1]} {r[2]}): allocations add up to {r[3]}" for r in entries]
        + [f"lot {r[0]} ({r[1]}): amount {r[2]}, remaining {r[3]}, later allocations {r[4]}" for r in lots]
        + [f"customer {r[0]}: balance {r[1]}, ACTIVE lots hold {r[2]}" for r in customers]
    )


LOTS_PAIRING = Pairing(
    name="requestService lots",
    unit="5 lots / 1 lot",
    key="five_vs_one",
    runs=("one_lot_ops_per_s", "five_lots_ops_per_s"),
    against="one lot",
    verdict="five lots {ratio} one lot",
    missing="one-lot and five-lot",
    target=FIVE_VS_ONE_TARGET,
)


def five_against_one(one: Sequence[Row], five: Sequence[Row], *, strict: bool) -> Row:
    """The median over rounds of five lots' throughput over one lot's in the same round."""
    return paired_rounds(LOTS_PAIRING, one, five, strict=strict)


def hot_against_ceiling(row: Row, *, strict: bool) -> None:
    """The hot customer with five lots against the asyncpg ceiling of the same run (issue 5's yardstick).

    The ratios must be set on the row beforehand (`Suite.ratios`); pgbench's is reported beside it.
    """
    if row.vs_asyncpg is None:
        row.notes += ", no asyncpg ceiling measured in this run"
        return
    shown = [f"{row.vs_asyncpg:.2f}× asyncpg"]
    if row.vs_pgbench is not None:
        shown.append(f"{row.vs_pgbench:.2f}× pgbench")
    row.notes += ", " + ", ".join(shown)
    if row.vs_asyncpg < HOT_VS_CEILING_TARGET and strict:
        row.ok = False
        row.problems.append(
            f"hot customer with five lots at {row.vs_asyncpg:.2f}× the asyncpg ceiling "
            f"(want ≥ {HOT_VS_CEILING_TARGET}×)"
        )


def expiry_lead(lots: int) -> float:
    """Seconds from now at which `lots` lots seeded now may expire, their seeding done."""
    return EXPIRY_LEAD_BASE + lots * EXPIRY_LEAD_PER_LOT


def expiry_window(smoke: bool) -> float:
    """Seconds the charges go on after the expiry: the target and a margin (a smoke run: 3)."""
    return 3.0 if smoke else EXPIRY_TARGET_SECONDS + 2.0


_EXPIRED = """
SELECT count(*) FILTER (WHERE status = 'EXPIRED') FROM credit_lot
WHERE customer_id = ANY($1::uuid[]) AND expires_at = $2
"""


async def wait_expired(
    db: checks.Postgres, customers: Sequence[str], expires_at: dt.datetime, lots: int, *, deadline: float
) -> float | None:
    """Poll until the `lots` lots due at `expires_at` are all EXPIRED: the Unix time it was seen, or None.

    Gives up `deadline` seconds after the expiry.
    """
    ids = [uuid.UUID(c) for c in customers]
    due = expires_at.timestamp()
    while time.time() < due + deadline:
        if time.time() >= due and await db.conn.fetchval(_EXPIRED, ids, expires_at) == lots:
            return time.time()
        await asyncio.sleep(POLL_SECONDS)
    return None


# Per lot due then: its status, and the EXPIRATION entries naming it: one if it still held credits
# when it expired (its amount plus every later allocation but the expiry's), none if charges had
# used it up (it expires without an entry).
_EXPIRATIONS = """
SELECT l.id, l.status, count(t.id) FROM credit_lot l
LEFT JOIN credit_allocation a ON a.lot_id = l.id AND a.transaction_id <> l.transaction_id
LEFT JOIN credit_transaction t ON t.id = a.transaction_id AND t.kind = 'EXPIRATION'
WHERE l.customer_id = ANY($1::uuid[]) AND l.expires_at = $2
GROUP BY l.id
HAVING l.status <> 'EXPIRED'
    OR count(t.id) <> CASE WHEN l.amount + coalesce(sum(a.amount) FILTER (WHERE t.id IS NULL), 0) > 0
                           THEN 1 ELSE 0 END
LIMIT 5
"""


async def expired_once(
    db: checks.Postgres, customers: Sequence[str], expires_at: dt.datetime, lots: int
) -> list[str]:
    """Every lot due is EXPIRED, with one EXPIRATION entry if it still held credits and none if not."""
    ids = [uuid.UUID(c) for c in customers]
    found = await db.conn.fetchval(
        "SELECT count(*) FROM credit_lot WHERE customer_id = ANY($1::uuid[]) AND expires_at = $2",
        ids,
        expires_at,
    )
    problems = [] if found == lots else [f"{found} lots due, {lots} granted"]
    return problems + [
        f"lot {r[0]}: {r[1]} with {r[2]} EXPIRATION entries"
        for r in await db.conn.fetch(_EXPIRATIONS, ids, expires_at)
    ]


_CHARGES_BETWEEN = """
SELECT count(*) FROM credit_transaction
WHERE customer_id = ANY($1::uuid[]) AND kind = 'SERVICE_CHARGE' AND created_at >= $2 AND created_at < $3
"""


async def expiry_figures(
    db: checks.Postgres,
    row: Row,
    customers: Sequence[str],
    expires_at: dt.datetime,
    expired: float | None,
    *,
    strict: bool,
) -> None:
    """How long until all had expired, and the charges' rate (from the ledger) before and meanwhile."""
    ids = [uuid.UUID(c) for c in customers]
    due = expires_at.timestamp()
    last = await db.conn.fetchval(
        "SELECT max(t.created_at) FROM credit_transaction t "
        "WHERE t.customer_id = ANY($1::uuid[]) AND t.kind = 'EXPIRATION'",
        ids,
    )
    # The undisturbed rate: the second before the expiry (the first seconds are the load's warm-up).
    calm = await db.conn.fetchval(_CHARGES_BETWEEN, ids, expires_at - dt.timedelta(seconds=1), expires_at)
    row.figures.update(
        lots_expired_after_s=None if expired is None else round(expired - due, 2),
        last_expiration_entry_after_s=None if last is None else round(last.timestamp() - due, 2),
        charges_per_s_before=calm,
    )
    if expired is None:
        row.notes += ", not all lots expired"
        row.ok = False
        row.problems.append("some lots were still not EXPIRED when the bench stopped waiting")
        return
    seconds = max(expired - due, POLL_SECONDS)
    during = await db.conn.fetchval(
        _CHARGES_BETWEEN, ids, expires_at, dt.datetime.fromtimestamp(expired, dt.UTC)
    )
    rate = during / seconds
    row.figures["charges_per_s_during"] = round(rate, 1)
    row.notes += (
        f", all expired {expired - due:.1f}s after expiresAt (seen by polling every {POLL_SECONDS}s); "
        f"charges {calm}/s the second before, {rate:.0f}/s meanwhile"
    )
    if calm:
        row.figures["during_vs_before"] = round(rate / calm, 3)
    if expired - due > EXPIRY_TARGET_SECONDS and strict:
        row.ok = False
        row.problems.append(
            f"all lots expired after {expired - due:.1f}s (want ≤ {EXPIRY_TARGET_SECONDS:.0f}s)"
        )
