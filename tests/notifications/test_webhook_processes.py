"""Webhooks across real server processes: a server killed mid-send, racing charges across zero."""

from __future__ import annotations

import asyncio
import json
import signal
from collections import Counter

import pytest

from models.credits import change_balance
from models.ledger import TransactionKind
from models.service_requests import request_service
from models.webhook_outbox import DeliveryStatus, WebhookDelivery, WebhookEventType
from models.webhooks import create_endpoint
from notifications.webhooks import WebhookDispatcher
from tests.conftest import IS_POSTGRES, IS_REDIS, requires_postgres
from tests.factories import enable_credits, make_catalog_admin, make_customer, make_service
from tests.polling import eventually
from tests.processes import ServerProcess


@pytest.mark.slow
@pytest.mark.parametrize("command", ["serve", "dispatch"])
async def test_deliveries_claimed_by_a_killed_server_arrive_after_restart(
    receiver, server_env, no_local_webhook_dispatcher, settings, command: str
) -> None:
    """Killed mid-send with a long timeout: the restart sends every delivery within seconds.

    PostgreSQL: the claim is a lease the dead process no longer renews, due again within a lease
    (CREDITS_WEBHOOK_LEASE_SECONDS, 10 s), however long the send could have taken. SQLite (one
    process): the start takes back the leases of the run before. The same for a serving process
    and for a `server.py dispatch` process (PostgreSQL and Redis only).
    """
    if command == "dispatch" and not (IS_POSTGRES and IS_REDIS):
        pytest.skip("a dispatch process needs PostgreSQL and Redis")
    # given: five deliveries recorded with their ledger entries, and a receiver that hangs
    admin = await make_catalog_admin()
    await create_endpoint(receiver.url, None, None, None)
    customer = await make_customer(by=admin)
    await enable_credits()
    for _ in range(5):
        await change_balance(admin.actor, TransactionKind.GRANT, customer.id, 100, None, None)
    assert await WebhookDelivery.filter(status=DeliveryStatus.PENDING).count() == 5
    receiver.hang = True
    env = {
        **server_env,
        "CREDITS_WEBHOOK_TIMEOUT_SECONDS": "120",
        "CREDITS_WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT": "5",
        "CREDITS_WEBHOOK_POLL_SECONDS": "0.2",
    }

    # when: a server claims them, starts sending, and is killed
    crashed = ServerProcess(env, command)
    crashed.start()
    try:
        await receiver.wait_count(5, timeout=20)
    finally:
        crashed.stop(signal.SIGKILL)
    assert crashed.proc is not None and crashed.proc.returncode == -signal.SIGKILL
    assert await WebhookDelivery.filter(status=DeliveryStatus.DELIVERED).count() == 0
    receiver.hang = False

    # when: a server starts again
    with ServerProcess(env, command):

        async def delivered() -> bool:
            return await WebhookDelivery.filter(status=DeliveryStatus.DELIVERED).count() == 5

        # then: all five arrive and are DELIVERED, long before their attempts would have timed out
        await eventually(delivered, within=20, what="five deliveries DELIVERED")
    ids = {str(d.id) for d in await WebhookDelivery.all()}
    answered = {r.headers["webhook-id"] for r in receiver.requests[5:]}
    assert answered == ids


async def test_fifty_racing_charges_across_zero_fire_one_alert_per_endpoint(gql, receiver) -> None:
    # given: a customer with 5.00 credits, a service at 1.00, and three endpoints for alerts
    admin = await make_catalog_admin()
    for _ in range(3):
        await create_endpoint(receiver.url, None, [WebhookEventType.CREDIT_ALERT_FIRED], None)
    customer = await make_customer(balance=5, by=admin)
    service = await make_service("1.00")

    # when: fifty charges race (concurrent transactions on PostgreSQL)
    await asyncio.gather(*(request_service(admin.actor, customer.id, service.id, 1, None) for _ in range(50)))

    # then: the balance crossed zero once: one credit_alert.fired per endpoint
    per_endpoint = Counter(d.endpoint_id for d in await WebhookDelivery.all())
    assert sorted(per_endpoint.values()) == [1, 1, 1]
    got = await receiver.wait_count(3)
    assert {json.loads(r.body)["type"] for r in got} == {"credit_alert.fired"}


@requires_postgres
async def test_two_dispatchers_never_send_one_delivery_twice(
    receiver, no_local_webhook_dispatcher, settings, monkeypatch
) -> None:
    # given: ten deliveries due, and a receiver slow enough for two dispatchers' batches to overlap
    admin = await make_catalog_admin()
    await create_endpoint(receiver.url, None, None, None)
    customer = await make_customer(by=admin)
    await enable_credits()
    for _ in range(10):
        await change_balance(admin.actor, TransactionKind.GRANT, customer.id, 100, None, None)
    receiver.delay_seconds = 0.3
    monkeypatch.setattr(settings, "webhook_batch_size", 5)
    monkeypatch.setattr(settings, "webhook_max_in_flight_per_endpoint", 5)
    first, second = WebhookDispatcher(settings), WebhookDispatcher(settings)

    # when: both claim and send at the same time, as two server processes would
    claimed = await asyncio.gather(first.dispatch_once(), second.dispatch_once())

    # then: between them they sent each delivery once
    assert claimed == [5, 5]
    ids = [r.headers["webhook-id"] for r in receiver.requests]
    assert sorted(ids) == sorted({str(d.id) for d in await WebhookDelivery.all()})
    assert await WebhookDelivery.filter(status=DeliveryStatus.DELIVERED).count() == 10
