"""The expiry sweep: a lot past its expiresAt becomes one EXPIRATION entry, however often it runs."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator, Sequence

import pytest

from models import lot_expiry
from models.catalog import set_alert_threshold
from models.credit_alert import CreditAlert
from models.events import BalanceChanged, DomainEvent
from models.ledger import CreditTransaction, Movement, TransactionKind, post_batch
from models.lots import CreditAllocation, CreditLot, LotStatus
from models.notification import AlertKind
from models.service import RequestStatus
from models.service_requests import finish, request_service
from models.unit_of_work import add_event_sink, remove_event_sink, unit_of_work
from models.webhook_outbox import WebhookDelivery, WebhookEventType
from models.webhooks import create_endpoint
from tests.conftest import requires_postgres
from tests.factories import Login, grant_lot, make_catalog_admin, make_customer, make_world
from tests.webhook_receiver import WebhookReceiver

AT = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=30)  # the lots' expiry
SECOND = dt.timedelta(seconds=1)


async def _withdraw(customer_id: uuid.UUID, cents: int, by: Login) -> None:
    async with unit_of_work() as uow:
        await post_batch(uow, [(customer_id, [Movement(cents, TransactionKind.WITHDRAWAL, by.actor)])])


async def _expirations(customer_id: uuid.UUID) -> list[CreditTransaction]:
    query = CreditTransaction.filter(customer_id=customer_id, kind=TransactionKind.EXPIRATION)
    return await query.order_by("sequence")


@pytest.fixture
async def published() -> AsyncIterator[list[DomainEvent]]:
    """The events of every unit of work committed during the test, in order."""
    events: list[DomainEvent] = []

    async def sink(batch: Sequence[DomainEvent]) -> None:
        events.extend(batch)

    add_event_sink(sink)
    yield events
    remove_event_sink(sink)


async def test_a_lot_expires_at_its_expiry_into_one_entry_of_what_is_left() -> None:
    # given: a lot of 10.00 expiring at AT, 4.00 of it spent, beside a lot that never expires
    admin = await make_catalog_admin()
    customer = await make_customer()
    lot = await grant_lot(customer, 1000, AT, by=admin)
    await grant_lot(customer, 500, None, by=admin, priority=90)
    await _withdraw(customer.id, 400, admin)

    # when: the sweep runs a second before its expiry, at it, and again after
    before = await lot_expiry.expire_due(AT - SECOND)
    at = await lot_expiry.expire_due(AT)
    again = await lot_expiry.expire_due(AT + SECOND)

    # then: nothing before; at AT one EXPIRATION entry of -6.00, allocated to the lot; none again
    assert (before, at, again) == (0, 1, 0)
    [expiry] = await _expirations(customer.id)
    assert (expiry.amount, expiry.balance_after) == (-600, 500)
    allocations = await CreditAllocation.filter(transaction_id=expiry.id)
    assert [(a.lot_id, a.amount) for a in allocations] == [(lot.id, -600)]
    await lot.refresh_from_db()
    assert (lot.status, lot.remaining) == (LotStatus.EXPIRED, 0)


async def test_a_lot_with_nothing_left_expires_without_an_entry() -> None:
    # given: a lot of 10.00 expiring at AT, all of it spent (DEPLETED)
    admin = await make_catalog_admin()
    customer = await make_customer()
    lot = await grant_lot(customer, 1000, AT, by=admin)
    await _withdraw(customer.id, 1000, admin)

    # when: the sweep runs at its expiry
    await lot_expiry.expire_due(AT)

    # then: the lot is EXPIRED and no entry was written
    await lot.refresh_from_db()
    assert lot.status == LotStatus.EXPIRED
    assert await _expirations(customer.id) == []
    assert await CreditTransaction.filter(customer_id=customer.id).count() == 2


async def test_one_sweep_expires_many_customers_lots_in_batches() -> None:
    # given: seven customers with a lot each, and a second lot for one of them, all due
    admin = await make_catalog_admin()
    customers = [await make_customer() for _ in range(7)]
    for n, customer in enumerate(customers):
        await grant_lot(customer, 100 + n, AT - dt.timedelta(minutes=n), by=admin)
    await grant_lot(customers[0], 50, AT, by=admin)

    # when: the sweep runs, three lots per transaction
    expired = await lot_expiry.expire_due(AT, batch=3)

    # then: every lot expired into one entry of what it held
    assert expired == 8
    assert await CreditLot.filter(status=LotStatus.EXPIRED).count() == 8
    for n, customer in enumerate(customers):
        amounts = sorted(e.amount for e in await _expirations(customer.id))
        assert amounts == ([-(100 + n), -50] if n == 0 else [-(100 + n)])
        await customer.refresh_from_db()
        assert customer.balance == 0


async def test_a_sweep_interrupted_by_a_restart_loses_and_repeats_nothing(monkeypatch) -> None:
    # given: five customers' lots due, and a process that dies after its first transaction of two
    admin = await make_catalog_admin()
    customers = [await make_customer() for _ in range(5)]
    for customer in customers:
        await grant_lot(customer, 300, AT, by=admin)
    real_post_batch = lot_expiry.post_batch
    calls = 0

    async def dying_post_batch(uow, groups):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls == 2:
            raise SystemExit("killed")  # mid-transaction: it rolls back
        return await real_post_batch(uow, groups)

    monkeypatch.setattr(lot_expiry, "post_batch", dying_post_batch)
    with pytest.raises(SystemExit):
        await lot_expiry.expire_due(AT, batch=3)
    monkeypatch.setattr(lot_expiry, "post_batch", real_post_batch)
    assert await CreditLot.filter(status=LotStatus.EXPIRED).count() == 3

    # when: the restarted process sweeps, later
    expired = await lot_expiry.expire_due(AT + dt.timedelta(minutes=5))

    # then: it expires the two left; every lot has exactly one EXPIRATION entry
    assert expired == 2
    for customer in customers:
        assert [e.amount for e in await _expirations(customer.id)] == [-300]


async def test_an_expiry_entry_is_published_fires_alerts_and_reaches_webhooks(
    published: list[DomainEvent], receiver: WebhookReceiver
) -> None:
    # given: a customer alerted below 5.00 whose 10.00 are one expiring lot, and a webhook endpoint
    admin = await make_catalog_admin()
    await create_endpoint(receiver.url, None, None, None)
    customer = await make_customer()
    await grant_lot(customer, 1000, AT, by=admin)
    await set_alert_threshold(customer.id, 500)
    published.clear()

    # when: the lot expires
    await lot_expiry.expire_due(AT)

    # then: the entry was published live, crossed the threshold (and zero: the balance is 0.00,
    # not below it, so only the threshold fires), and is recorded for the webhook endpoint
    [expiry] = await _expirations(customer.id)
    assert [e.transaction.id for e in published if isinstance(e, BalanceChanged)] == [expiry.id]
    alerts = await CreditAlert.filter(customer_id=customer.id)
    assert [(a.kind, a.balance) for a in alerts] == [(AlertKind.BELOW_THRESHOLD, 0)]
    sent = await WebhookDelivery.filter(event_type=WebhookEventType.CREDIT_TRANSACTION_CREATED.value)
    data = [json.loads(d.payload)["data"] for d in sent]
    expired = [d for d in data if d["kind"] == "EXPIRATION"]
    assert [(d["amount"], d["balanceAfter"]) for d in expired] == [("-10.00", "0.00")]


async def test_a_refund_after_the_sweep_expired_the_lot_expires_again_at_once() -> None:
    # given: a request that took 30.00 of a 50.00 lot expiring at AT, and the sweep expired the rest
    world = await make_world("shop", price="30.00", admins=0)
    customer, end_user = world.customer, world.end_user
    lot = await grant_lot(customer, 5000, AT, by=world.admin)
    made = await request_service(end_user.actor, customer.id, world.service.id, 1, None)
    await lot_expiry.expire_due(AT)

    # when: the request is cancelled
    await finish(end_user.actor, made.id, RequestStatus.CANCELLED)

    # then: the refund goes back into the expired lot and expires again in the same posting
    entries = await CreditTransaction.filter(customer_id=customer.id).order_by("sequence")
    assert [(e.kind, e.amount, e.balance_after) for e in entries] == [
        (TransactionKind.GRANT, 5000, 5000),
        (TransactionKind.SERVICE_CHARGE, -3000, 2000),
        (TransactionKind.EXPIRATION, -2000, 0),
        (TransactionKind.REFUND, 3000, 3000),
        (TransactionKind.EXPIRATION, -3000, 0),
    ]
    await lot.refresh_from_db()
    assert (lot.status, lot.remaining) == (LotStatus.EXPIRED, 0)


@requires_postgres
async def test_two_sweeps_racing_on_postgres_write_one_entry_per_lot() -> None:
    # given: 40 customers with three due lots each, some partly spent, some empty
    admin = await make_catalog_admin()
    customers = [await make_customer() for _ in range(40)]
    for n, customer in enumerate(customers):
        for k in range(3):
            await grant_lot(customer, 200, AT - dt.timedelta(seconds=k), by=admin, priority=10 * k)
        if n % 3:
            await _withdraw(customer.id, (n % 3) * 200, admin)

    # when: two sweeps (two processes' housekeeping) run at once over the same lots, in small
    # batches to interleave, without taking turns: only the ledger keeps them apart
    first, second = await asyncio.gather(
        lot_expiry.expire_due(AT, batch=7, take_turns=False),
        lot_expiry.expire_due(AT, batch=7, take_turns=False),
    )

    # then: both went through the lots, every lot is EXPIRED, each with credits left has one entry
    assert first >= 7 and second >= 7
    assert await CreditLot.filter(status=LotStatus.EXPIRED).count() == 120
    for n, customer in enumerate(customers):
        amounts = [e.amount for e in await _expirations(customer.id)]
        assert sorted(amounts) == [-200] * (3 - n % 3), customer.name


@requires_postgres
async def test_sweeps_of_several_processes_take_turns_on_postgres() -> None:
    # given: 30 customers with a due lot each
    admin = await make_catalog_admin()
    customers = [await make_customer() for _ in range(30)]
    for customer in customers:
        await grant_lot(customer, 100, AT, by=admin)

    # when: three sweeps start at once
    handled = await asyncio.gather(*(lot_expiry.expire_due(AT, batch=5) for _ in range(3)))

    # then: no lot was handled twice, and all expired once
    assert sum(handled) == 30
    for customer in customers:
        assert [e.amount for e in await _expirations(customer.id)] == [-100]
