"""The delivery log is kept for CREDITS_WEBHOOK_RETENTION_DAYS; housekeeping prunes what is older."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from prometheus_client import REGISTRY

from models import webhooks
from models.webhook_outbox import DeliveryStatus, WebhookDelivery
from models.webhooks import WebhookEndpoint
from settings import Settings

pytestmark = pytest.mark.usefixtures("no_local_webhook_dispatcher")


async def an_endpoint() -> WebhookEndpoint:
    """An endpoint for every customer's events (nobody listens there: the dispatcher is stopped)."""
    return (await webhooks.create_endpoint("http://127.0.0.1:9/hooks", None, None, None)).endpoint


async def a_delivery(endpoint: WebhookEndpoint, status: DeliveryStatus, days_old: float) -> uuid.UUID:
    """A delivery of `status` recorded `days_old` days ago."""
    created = dt.datetime.now(dt.UTC) - dt.timedelta(days=days_old)
    delivery = await WebhookDelivery.create(
        endpoint_id=endpoint.id,
        event_type="webhook.test",
        payload="{}",
        status=status,
        next_attempt_at=created if status == DeliveryStatus.PENDING else None,
        delivered_at=created if status == DeliveryStatus.DELIVERED else None,
    )
    await WebhookDelivery.filter(id=delivery.id).update(created_at=created)
    return delivery.id


def pruned_so_far() -> float:
    return REGISTRY.get_sample_value("credits_webhook_deliveries_pruned_total") or 0.0


def test_the_delivery_log_is_kept_thirty_days_by_default() -> None:
    # given / when / then
    assert Settings().webhook_retention_days == 30


async def test_housekeeping_prunes_finished_deliveries_past_retention_and_keeps_the_rest(runtime) -> None:
    # given: finished deliveries older than 30 days, a pending one as old, and finished ones younger
    endpoint = await an_endpoint()
    await a_delivery(endpoint, DeliveryStatus.DELIVERED, 31)
    await a_delivery(endpoint, DeliveryStatus.FAILED, 45)
    kept = {
        await a_delivery(endpoint, DeliveryStatus.PENDING, 60),
        await a_delivery(endpoint, DeliveryStatus.DELIVERED, 29),
        await a_delivery(endpoint, DeliveryStatus.FAILED, 1),
    }
    before = pruned_so_far()

    # when: the runtime keeps house (as every serving and dispatch process does periodically)
    await runtime.housekeeping.keep_house()

    # then: only the two old finished ones went, and the metric counted them
    assert set(await WebhookDelivery.all().values_list("id", flat=True)) == kept
    assert pruned_so_far() - before == 2


async def test_pruning_goes_in_small_transactions_over_groups_of_endpoints(monkeypatch) -> None:
    # given: three endpoints with three old finished deliveries and one old pending delivery each,
    # two endpoints per statement and two rows per transaction
    monkeypatch.setattr(webhooks, "PRUNE_ENDPOINTS_AT_ONCE", 2)
    pending = set()
    for _ in range(3):
        endpoint = await an_endpoint()
        for status in (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED, DeliveryStatus.DELIVERED):
            await a_delivery(endpoint, status, 40)
        pending.add(await a_delivery(endpoint, DeliveryStatus.PENDING, 40))

    # when
    pruned = await webhooks.prune_deliveries(dt.datetime.now(dt.UTC) - dt.timedelta(days=30), chunk=2)

    # then: every finished one went, no pending one
    assert pruned == 9
    assert set(await WebhookDelivery.all().values_list("id", flat=True)) == pending
