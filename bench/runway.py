"""The runway in the bench: a customer with a year of daily usage, `Customer.runway` p50/p99.

Issue 22's target on this machine: `Customer.runway` for a customer with a year of daily usage,
p99 under 5 ms. Measured twice: the domain's reads alone (in this process, on PostgreSQL), and the
query through the server with one client (so the figure is a request's latency, not a queue's).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from typing import Any

from tortoise import connections

from bench import checks
from bench.load import percentile
from bench.report import Row
from bench.world import Seat
from infra import clock, db
from models.accounts import normalise_email
from models.actor import Actor
from models.customer import Customer
from models.ledger import Movement, TransactionKind, post_batch
from models.money import format_amount
from models.runway_reads import runways
from models.unit_of_work import UnitOfWork, run_in_transaction
from models.user import User
from settings import Settings

P99_TARGET_MS = 5.0
DAYS = 365
SMOKE_DAYS = 14
CHARGES_PER_DAY = 24  # one an hour, written together at the day's moment: 8,760 entries a year
CHARGE_CENTS = 25
GRANT_EVERY_DAYS = 30
GRANT_CENTS = 30_000  # 300.00 a month, expiring after 90 days: some expire, some are left
GRANT_LIFETIME = dt.timedelta(days=90)
DOMAIN_READS = 500
FIRST_RUNWAY_SEAT = 300_000  # seat numbers for this scenario (the world's are 0..N, lots' 100,000…)
BALANCE = "query ($id: ID!) { customer(id: $id) { balance } }"
RUNWAY = (
    "query ($id: ID!) { customer(id: $id) { runway { burnRatePerDay depletesAt expiringBeforeDepletion } } }"
)


async def year_of_usage(settings: Settings, seat: Seat, days: int, now: dt.datetime) -> dict[str, Any]:
    """Write `days` days of usage for the seat's customer, ending today; then time the domain's reads.

    The seat's float is withdrawn first (a runway beyond year 9999 simulates nothing). Each day:
    a grant on the first day and every 30 days (expiring 90 days later) and 24 charges, in one
    posting at that day's moment (the clock set there); some grants expire, the last ones are
    left, and the runway ends within months. Returns the reads' p50 and p99 in milliseconds.
    """
    await db.init_db(settings)
    try:
        assert settings.admin_email
        admin = Actor(await User.get(email_key=normalise_email(settings.admin_email)))
        customer_id = uuid.UUID(seat.customer_id)
        float_cents = (await Customer.get(id=customer_id)).balance
        if float_cents > 0:
            with clock.set_to(now - dt.timedelta(days=days + 1)):
                withdrawal = Movement(float_cents, TransactionKind.WITHDRAWAL, admin, "bench: no float")
                await run_in_transaction(lambda uow: post_batch(uow, [(customer_id, [withdrawal])]))
        for day in range(days, 0, -1):
            moment = now - dt.timedelta(days=day)
            movements = [
                Movement(CHARGE_CENTS, TransactionKind.SERVICE_CHARGE, admin, "bench usage")
                for _ in range(CHARGES_PER_DAY)
            ]
            if day % GRANT_EVERY_DAYS == 0 or day == days:
                grant = Movement(
                    GRANT_CENTS,
                    TransactionKind.GRANT,
                    admin,
                    "bench grant",
                    expires_at=moment + GRANT_LIFETIME,
                )
                movements.insert(0, grant)

            async def work(uow: UnitOfWork, movements: list[Movement] = movements) -> None:
                await post_batch(uow, [(customer_id, movements)])

            with clock.set_to(moment):
                await run_in_transaction(work)
        return await _time_reads(customer_id, now)
    finally:
        await db.close_db()


async def _time_reads(customer_id: uuid.UUID, now: dt.datetime) -> dict[str, Any]:
    """`runways` for the one customer, DOMAIN_READS times: p50 and p99 in milliseconds."""
    conn = connections.get("default")
    balance = (await Customer.get(id=customer_id)).balance
    took: list[float] = []
    for _ in range(DOMAIN_READS):
        started = time.perf_counter()
        forecast = (await runways(conn, {customer_id: balance}, now))[customer_id]
        took.append(time.perf_counter() - started)
    took.sort()
    return {
        "domain_p50_ms": round((percentile(took, 0.5) or 0) * 1000, 3),
        "domain_p99_ms": round((percentile(took, 0.99) or 0) * 1000, 3),
        "balance": format_amount(balance),
        "burn_rate_per_day": format_amount(forecast.burn_rate_per_day),
        "depletes_in_days": None if forecast.depletes_at is None else (forecast.depletes_at - now).days,
        "expiring_before_depletion": format_amount(forecast.expiring_before_depletion),
    }


# Lots of the customer past their expiry that the server's lot sweep has not expired yet.
_UNSWEPT = (
    "SELECT count(*) FROM credit_lot WHERE customer_id = $1 AND status <> 'EXPIRED' AND expires_at <= now()"
)


async def swept(db: checks.Postgres, customer_id: str, *, deadline: float = 30.0) -> bool:
    """Wait until the server's lot sweep has expired the lots the year left past their expiry."""
    until = time.monotonic() + deadline
    while time.monotonic() < until:
        if await db.conn.fetchval(_UNSWEPT, uuid.UUID(customer_id)) == 0:
            return True
        await asyncio.sleep(0.2)
    return False


def judged(row: Row, domain: dict[str, Any], days: int, *, strict: bool) -> Row:
    """The server row with the domain's figures beside it; p99 over the target fails a full run."""
    row.figures.update(domain, days=days, entries=days * CHARGES_PER_DAY)
    row.notes = (
        f"{days} days × {CHARGES_PER_DAY} charges, balance {domain['balance']} at "
        f"{domain['burn_rate_per_day']}/day: {domain['depletes_in_days']} days; domain reads p50 "
        f"{domain['domain_p50_ms']:.2f} ms, p99 {domain['domain_p99_ms']:.2f} ms; " + row.notes
    )
    if strict and (row.p99_ms is None or row.p99_ms >= P99_TARGET_MS):
        row.ok = False
        row.problems.append(f"Customer.runway p99 {row.p99_ms} ms (want < {P99_TARGET_MS} ms)")
    return row
