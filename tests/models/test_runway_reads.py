"""The runway's reads from real entries and lots: the 7-day usage, the lots' order, balanceAt."""

from __future__ import annotations

import datetime as dt

from tortoise import connections

from infra import clock
from models.customer import Customer
from models.ledger import TransactionKind, post
from models.runway_reads import balance_at, read, runways
from models.unit_of_work import unit_of_work
from tests.factories import enable_credits, grant_lot, make_catalog_admin, make_customer

START = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


async def _post(customer: Customer, kind: TransactionKind, cents: int, at: dt.datetime) -> int:
    """Post one entry at `at` (the clock set there); its balance after."""
    with clock.set_to(at):
        async with unit_of_work() as uow:
            posting = await post(uow, customer.id, cents, kind, actor=None)
    return posting.new_balance


async def _at(customer: Customer, moment: dt.datetime) -> int:
    return await balance_at(connections.get("default"), customer.id, moment)


async def _usage(customer: Customer, now: dt.datetime) -> int:
    return (await read(connections.get("default"), [customer.id], now)).usage.get(customer.id, 0)


async def test_usage_is_charges_less_refunds_of_the_last_7_days_without_withdrawals_or_grants():
    # given: a customer granted 1,000.00, then charged, refunded, withdrawn from over a week
    customer = await make_customer()
    await _post(customer, TransactionKind.GRANT, 100_000, START)
    await _post(customer, TransactionKind.SERVICE_CHARGE, 3_000, START + DAY)
    await _post(customer, TransactionKind.SERVICE_CHARGE, 4_000, START + 2 * DAY)
    await _post(customer, TransactionKind.REFUND, 1_000, START + 3 * DAY)
    await _post(customer, TransactionKind.WITHDRAWAL, 50_000, START + 4 * DAY)
    await _post(customer, TransactionKind.GRANT, 20_000, START + 5 * DAY)

    # when: a week after the first charge, less a second
    usage = await _usage(customer, START + 8 * DAY - dt.timedelta(seconds=1))

    # then: 30.00 + 40.00 - 10.00
    assert usage == 6_000
    # and: a day later the first charge has left the window: 30.00 / 7 a day, to the hundredth
    [forecast] = (await runways(connections.get("default"), {customer.id: 70_000}, START + 8 * DAY)).values()
    assert forecast.burn_rate_per_day == 429


async def test_the_7_day_window_excludes_an_entry_exactly_7_days_old_and_entries_after_now():
    # given: one charge at START, one the next day
    customer = await make_customer()
    await _post(customer, TransactionKind.GRANT, 10_000, START - DAY)
    await _post(customer, TransactionKind.SERVICE_CHARGE, 700, START)
    await _post(customer, TransactionKind.SERVICE_CHARGE, 1_400, START + DAY)

    # when / then: just under 7 days later both count, at exactly 7 days the first has left
    assert await _usage(customer, START + 7 * DAY - dt.timedelta(microseconds=1)) == 2_100
    assert await _usage(customer, START + 7 * DAY) == 1_400
    # and: before the second was written it does not count
    assert await _usage(customer, START + DAY - dt.timedelta(microseconds=1)) == 700
    # and: a week after the last, nothing
    assert await _usage(customer, START + 8 * DAY) == 0


async def test_refunds_beyond_charges_make_negative_usage():
    # given: a charge before the window, its refund inside it
    customer = await make_customer()
    await _post(customer, TransactionKind.GRANT, 10_000, START)
    await _post(customer, TransactionKind.SERVICE_CHARGE, 2_000, START)
    await _post(customer, TransactionKind.REFUND, 2_000, START + 3 * DAY)

    # when
    usage = await _usage(customer, START + 8 * DAY)

    # then
    assert usage == -2_000


async def test_lots_come_in_the_ledgers_consumption_order():
    # given: lots of priority 50 without expiry, 50 expiring later, 50 expiring sooner, 10 without expiry
    await enable_credits()
    admin = await make_catalog_admin()
    customer = await make_customer()
    now = dt.datetime.now(dt.UTC)
    await grant_lot(customer, 100, None, by=admin)
    await grant_lot(customer, 200, now + 9 * DAY, by=admin)
    await grant_lot(customer, 300, now + 2 * DAY, by=admin)
    await grant_lot(customer, 400, None, by=admin, priority=10)

    # when
    lots = (await read(connections.get("default"), [customer.id], now)).lots[customer.id]

    # then: lowest priority, then soonest expiry, expiry-less last, then oldest
    assert [lot.remaining for lot in lots] == [400, 300, 200, 100]


async def test_balance_at_before_the_first_entry_at_an_entry_and_between_entries():
    # given: entries at START (100.00), START + 1 day (-30.00) and two posted in one moment at START + 2 days
    customer = await make_customer()
    await _post(customer, TransactionKind.GRANT, 10_000, START)
    await _post(customer, TransactionKind.SERVICE_CHARGE, 3_000, START + DAY)
    await _post(customer, TransactionKind.GRANT, 500, START + 2 * DAY)
    last = await _post(customer, TransactionKind.WITHDRAWAL, 200, START + 2 * DAY)

    # when / then: before the first, 0
    assert await _at(customer, START - dt.timedelta(microseconds=1)) == 0
    # and: at an entry's exact moment, the balance after it
    assert await _at(customer, START) == 10_000
    assert await _at(customer, START + DAY) == 7_000
    # and: between entries, the balance after the earlier one
    assert await _at(customer, START + DAY + dt.timedelta(hours=5)) == 7_000
    # and: of entries sharing a moment, the later in the ledger
    assert await _at(customer, START + 3 * DAY) == last == 7_300
    # and: a time without offset is UTC; a customer without entries has 0
    assert await _at(customer, (START + DAY).replace(tzinfo=None)) == 7_000
