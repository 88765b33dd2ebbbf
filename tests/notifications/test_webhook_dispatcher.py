"""The webhook dispatcher's claim: a backlog costs one batch; a disabled endpoint's deliveries wait."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from tortoise import connections

from models.credits import change_balance
from models.ledger import TransactionKind
from models.unit_of_work import UnitOfWork, unit_of_work
from models.webhook_outbox import DeliveryStatus, WebhookDelivery
from models.webhooks import WebhookEndpoint, create_endpoint, update_endpoint
from notifications.dispatch import hold_claims_for
from notifications.webhooks import CLAIM_SETTINGS, Claim, WebhookDispatcher
from settings import Settings
from tests.conftest import requires_postgres
from tests.factories import enable_credits, make_catalog_admin, make_customer
from tests.webhook_receiver import WebhookReceiver


@pytest.fixture
def dispatcher(no_local_webhook_dispatcher: None, settings: Settings) -> WebhookDispatcher:
    """A dispatcher the test drives itself (`dispatch_once`); the process's own is stopped meanwhile."""
    return WebhookDispatcher(settings)


async def pending_deliveries(receiver: WebhookReceiver, n: int) -> WebhookEndpoint:
    """An endpoint for every event and `n` grants to report: `n` deliveries due now."""
    admin = await make_catalog_admin()
    created = await create_endpoint(receiver.url, None, None, None)
    customer = await make_customer(by=admin)
    await enable_credits()
    for _ in range(n):
        await change_balance(admin.actor, TransactionKind.GRANT, customer.id, 100, None, None)
    assert await WebhookDelivery.filter(status=DeliveryStatus.PENDING).count() == n
    return created.endpoint


@requires_postgres
async def test_a_backlog_is_claimed_in_due_order_without_sorting_it(
    receiver: WebhookReceiver, dispatcher: WebhookDispatcher
) -> None:
    """The claim reads a batch from the due index and stops: no sort of every pending delivery.

    Before the index was partial and the claim joined the enabled endpoints, PostgreSQL sorted the
    whole backlog for every batch (54 ms for 20,000 pending deliveries, per batch of 20). Skipping
    the endpoints whose send slots are full keeps the same ordered scan.
    """
    # given: 3,000 deliveries pending, more than the planner's statistics know of (as a backlog grows)
    endpoint = await pending_deliveries(receiver, 1)
    conn = connections.get("default")
    await conn.execute_query(
        "INSERT INTO webhook_delivery (id, endpoint_id, event_type, payload, status, attempts, "
        "schedule_start, next_attempt_at, created_at) "
        "SELECT gen_random_uuid(), $1, 'webhook.test', '{}', 'PENDING', 0, 0, "
        "now() - n * interval '1 millisecond', now() FROM generate_series(1, 2999) AS n",
        [str(endpoint.id)],
    )

    # when: PostgreSQL plans the claim, in a transaction set up as the dispatcher sets up its own
    full = {uuid.uuid4(), uuid.uuid4()}
    due = dispatcher._due(dt.datetime.now(dt.UTC), full).select_for_update(skip_locked=True)
    async with unit_of_work() as uow:
        await hold_claims_for(uow.conn, 1.0, **CLAIM_SETTINGS)
        (row,) = (await uow.conn.execute_query(f"EXPLAIN (FORMAT JSON) {due.sql(params_inline=True)}"))[1]
    plan = row["QUERY PLAN"] if isinstance(row["QUERY PLAN"], str) else json.dumps(row["QUERY PLAN"])

    # then: an ordered scan of the due index, limited to the batch
    assert '"Index Name": "webhook_delivery_due"' in plan
    assert '"Node Type": "Sort"' not in plan and '"Node Type": "Incremental Sort"' not in plan


async def test_deliveries_of_an_endpoint_disabled_after_they_were_scheduled_wait_untried(
    receiver: WebhookReceiver, dispatcher: WebhookDispatcher
) -> None:
    # given: two deliveries due, and their endpoint disabled behind the dispatcher's back
    endpoint = await pending_deliveries(receiver, 2)
    await WebhookEndpoint.filter(id=endpoint.id).update(enabled=False)

    # when: the dispatcher claims them
    claimed = await dispatcher.dispatch_once()

    # then: nothing was sent or counted as an attempt, and they wait with no next attempt
    assert claimed == 2
    assert receiver.requests == []
    waiting = await WebhookDelivery.all()
    assert [(d.status, d.attempts, d.next_attempt_at) for d in waiting] == [
        (DeliveryStatus.PENDING, 0, None)
    ] * 2
    assert await dispatcher.dispatch_once() == 0


async def test_a_410_leaves_the_endpoints_other_deliveries_of_the_batch_waiting(
    receiver: WebhookReceiver, dispatcher: WebhookDispatcher
) -> None:
    # given: two deliveries in one batch; the receiver answers 410 to one and 503 to the other
    await pending_deliveries(receiver, 2)
    receiver.statuses = [410, 503]

    # when: the batch is sent
    assert await dispatcher.dispatch_once() == 2

    # then: the 410 failed it and disabled the endpoint; the other is not rescheduled
    outcomes = sorted((d.last_status_code, d.status, d.next_attempt_at) for d in await WebhookDelivery.all())
    assert outcomes == [(410, DeliveryStatus.FAILED, None), (503, DeliveryStatus.PENDING, None)]
    assert (await WebhookEndpoint.get()).enabled is False


async def test_disabling_an_endpoint_unschedules_its_deliveries_and_enabling_sends_them(
    receiver: WebhookReceiver, dispatcher: WebhookDispatcher
) -> None:
    # given: a delivery the receiver refused once, waiting for its retry
    endpoint = await pending_deliveries(receiver, 1)
    receiver.statuses = [503]
    await dispatcher.dispatch_once()
    assert (await WebhookDelivery.get()).next_attempt_at is not None

    # when: the endpoint is disabled
    await update_endpoint(endpoint.id, enabled=False)

    # then: the delivery waits, unscheduled
    delivery = await WebhookDelivery.get()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == (DeliveryStatus.PENDING, 1, None)

    # when: it is enabled again
    before = dt.datetime.now(dt.UTC)
    await update_endpoint(endpoint.id, enabled=True)

    # then: the delivery is due at once, and the next batch delivers it
    assert (await WebhookDelivery.get()).next_attempt_at >= before
    assert await dispatcher.dispatch_once() == 1
    delivered = await WebhookDelivery.get()
    assert (delivered.status, delivered.attempts) == (DeliveryStatus.DELIVERED, 2)
    assert len(receiver.requests) == 2


async def test_a_wake_up_during_a_claim_that_found_nothing_is_not_lost(
    dispatcher: WebhookDispatcher,
    receiver: WebhookReceiver,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A commit woke the dispatcher while its claim read (before that commit): it claims again at once.

    On PostgreSQL another process's commit lands between a claim's read and its end; simulated here by
    a first claim that reads nothing and is woken meanwhile, with the next poll a minute away.
    """
    # given: a delivery due now, a dispatcher polling once a minute whose first claim sees nothing
    monkeypatch.setattr(settings, "webhook_poll_seconds", 60.0)
    await pending_deliveries(receiver, 1)
    claim = dispatcher._claim
    claims = 0

    async def claim_woken_meanwhile(uow: UnitOfWork, room: int) -> list[Claim]:
        nonlocal claims
        claims += 1
        if claims == 1:
            dispatcher.wake()  # the commit's wake-up arrives while this read is out
            return []
        return await claim(uow, room)

    monkeypatch.setattr(dispatcher, "_claim", claim_woken_meanwhile)

    # when: the dispatcher runs
    dispatcher.start()
    try:
        # then: the delivery goes out long before the next poll
        await receiver.wait_count(1, timeout=10)
    finally:
        await dispatcher.stop()
    assert claims >= 2
