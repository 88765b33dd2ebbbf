"""RUNWAY_LOW: once per crossing, when a customer's runway `depletesAt` comes within its runwayAlertDays.

Evaluated after commit, coalesced per customer, by a sweep every CREDITS_RUNWAY_SWEEP_SECONDS
(≤ 30 s; notifications/housekeeping.py) over the customers that set the alert: every change that
moves the runway (charges, refunds, grants, expiries) is seen by the next sweep, and so is time
passing (a customer who stops spending sees its rate fall and `depletesAt` move out; a lot comes
near its expiry), which no posting would ever report. The charge path pays nothing for it. The
sweep reads a page of customers and their runways in two statements, and only a customer whose state
must change is evaluated again under its row lock, in a transaction of its own that writes the
alert, the notifications, the mail and the webhook rows with the fired flag.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid

from tortoise import connections

from infra import clock
from models import runway_reads
from models.alerts import raise_alert
from models.customer import Customer, lock_customer
from models.errors import invalid_input
from models.events import CustomerChanged
from models.money import format_amount
from models.notification import AlertKind
from models.outbox import format_expiry, render_runway_email
from models.runway import Runway
from models.unit_of_work import UnitOfWork, run_in_transaction

log = logging.getLogger("credits.runway")

MIN_DAYS, MAX_DAYS = 1, 365
BATCH = 500  # customers one sweep step reads, and their runways, in two statements


def check_days(days: int | None) -> int | None:
    """A runway alert's days: 1 to 365, or None for off."""
    if days is not None and not MIN_DAYS <= days <= MAX_DAYS:
        raise invalid_input(f"days must lie between {MIN_DAYS} and {MAX_DAYS}, or be null", "days")
    return days


def is_low(customer: Customer, runway: Runway, now: dt.datetime) -> bool:
    """Whether the runway depletes within the customer's alert days (never while the alert is off)."""
    days = customer.runway_alert_days
    return (
        days is not None
        and runway.depletes_at is not None
        and runway.depletes_at <= now + dt.timedelta(days=days)
    )


async def evaluate(uow: UnitOfWork, customer: Customer, now: dt.datetime) -> list[str]:
    """Fire RUNWAY_LOW for the (locked) customer if its runway came within the days; re-arm if it left.

    Returns the names of the changed fields, for the caller's save.
    """
    runway = (await runway_reads.runways(uow.conn, {customer.id: customer.balance}, now))[customer.id]
    low = is_low(customer, runway, now)
    if low == customer.runway_low_fired:
        return []
    customer.runway_low_fired = low
    if low:
        await _raise(uow, customer, runway)
    return ["runway_low_fired"]


async def set_runway_alert(customer_id: uuid.UUID, days: int | None) -> Customer:
    """Set a customer's runway alert days (None: off); a new value starts afresh and may fire at once."""
    check_days(days)

    async def work(uow: UnitOfWork) -> Customer:
        customer = await lock_customer(uow.conn, customer_id)
        if customer.runway_alert_days != days:
            customer.runway_alert_days = days
            customer.runway_low_fired = False
            await evaluate(uow, customer, clock.now())
            await customer.save(using_db=uow.conn, update_fields=["runway_alert_days", "runway_low_fired"])
            uow.events.append(CustomerChanged(customer.id))
        return customer

    return await run_in_transaction(work)


async def sweep(now: dt.datetime, batch: int = BATCH) -> int:
    """Evaluate every customer with a runway alert at `now`; returns how many alerts fired.

    Pages through those customers by id; a page's runways are read outside any transaction, and
    each customer whose fired flag disagrees is evaluated again under its lock (another process's
    sweep may have done it meanwhile: then nothing changes).
    """
    fired = 0
    after: uuid.UUID | None = None
    conn = connections.get("default")
    while True:
        query = Customer.filter(runway_alert_days__not_isnull=True)
        if after is not None:
            query = query.filter(id__gt=after)
        customers = await query.order_by("id").limit(batch)
        if not customers:
            return fired
        runways = await runway_reads.runways(conn, runway_reads.balances(customers), now)
        for customer in customers:
            if is_low(customer, runways[customer.id], now) != customer.runway_low_fired:
                fired += await _evaluate_locked(customer.id, now)
        if len(customers) < batch:
            return fired
        after = customers[-1].id


async def _evaluate_locked(customer_id: uuid.UUID, now: dt.datetime) -> int:
    """`evaluate` one customer under its row lock, in a transaction of its own; 1 if it fired."""

    async def work(uow: UnitOfWork) -> int:
        customer = (
            await Customer.select_for_update(no_key=True).using_db(uow.conn).get_or_none(id=customer_id)
        )
        if customer is None or customer.runway_alert_days is None:
            return 0
        was = customer.runway_low_fired
        changed = await evaluate(uow, customer, now)
        if changed:
            await customer.save(using_db=uow.conn, update_fields=changed)
        return int(customer.runway_low_fired and not was)

    return await run_in_transaction(work)


def _message(customer: Customer, runway: Runway) -> str:
    when = format_expiry(runway.depletes_at)
    text = f"At the current rate, the credits of {customer.name} run out on {when}"
    if runway.expiring_before_depletion:
        return f"{text}; {format_amount(runway.expiring_before_depletion)} will expire unused first."
    return f"{text}."


async def _raise(uow: UnitOfWork, customer: Customer, runway: Runway) -> None:
    """The RUNWAY_LOW alert: alert row, webhook, a notification and an email for every administrator."""
    assert runway.depletes_at is not None
    depletes_at = runway.depletes_at
    message = _message(customer, runway)
    expiring = runway.expiring_before_depletion
    await raise_alert(
        uow,
        customer,
        AlertKind.RUNWAY_LOW,
        message,
        lambda admin, alert_id: render_runway_email(
            admin, customer, depletes_at, expiring, message, alert_id
        ),
        depletes_at=depletes_at,
    )
    log.info("RUNWAY_LOW for customer %s: depletes at %s", customer.id, depletes_at.isoformat())
