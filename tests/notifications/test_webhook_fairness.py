"""One tenant's slow receiver against everyone else: send slots, and no row lock held over a send."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from models.credits import change_balance
from models.ledger import TransactionKind
from models.webhook_outbox import DeliveryStatus, WebhookDelivery, WebhookEventType
from models.webhooks import create_endpoint
from settings import Settings
from tests.client import GraphQLClient
from tests.factories import enable_credits, make_catalog_admin, make_customer
from tests.polling import eventually
from tests.webhook_receiver import WebhookReceiver

UPDATE = """
mutation ($id: ID!, $input: UpdateWebhookEndpointInput!) {
  updateWebhookEndpoint(id: $id, input: $input) { webhookEndpoint { enabled } userErrors { code message } }
}"""
DELETE = "mutation ($id: ID!) { deleteWebhookEndpoint(id: $id) { deletedId userErrors { code message } } }"
SEND_TEST = """
mutation ($id: ID!) { sendTestWebhook(id: $id) { webhookDelivery { id } userErrors { code message } } }"""
REDELIVER = """
mutation ($id: ID!) {
  redeliverWebhook(deliveryId: $id) { webhookDelivery { id } userErrors { code message } }
}"""


@pytest.fixture
async def slow_receiver() -> AsyncIterator[WebhookReceiver]:
    """A receiver that holds every answer until its gate opens (at the end of the test)."""
    server = WebhookReceiver(gate=asyncio.Event())
    await server.start()
    yield server
    assert server.gate is not None
    server.gate.set()
    await server.stop()


@pytest.fixture(autouse=True)
def patient_sender(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    """Attempts that would wait a minute for a held answer (the test opens the gate long before)."""
    monkeypatch.setattr(settings, "webhook_timeout_seconds", 60.0)


async def test_a_slow_receivers_backlog_does_not_hold_back_another_customers_delivery(
    receiver: WebhookReceiver, slow_receiver: WebhookReceiver, settings: Settings, runtime: Any
) -> None:
    # given: customer A's endpoint at a receiver that holds its answers, with 30 deliveries queued
    admin = await make_catalog_admin()
    await enable_credits()
    a, b = await make_customer(by=admin), await make_customer(by=admin)
    ledger = [WebhookEventType.CREDIT_TRANSACTION_CREATED]
    await create_endpoint(slow_receiver.url, a.id, ledger, None)
    await create_endpoint(receiver.url, b.id, ledger, None)
    for _ in range(30):
        await change_balance(admin.actor, TransactionKind.GRANT, a.id, 100, None, None)

    # when: once A's first attempts are out, customer B's change is queued behind A's backlog
    await slow_receiver.wait_count(1)
    await change_balance(admin.actor, TransactionKind.GRANT, b.id, 100, None, None)
    runtime.webhooks.wake()

    # then: B's delivery arrives while every one of A's is still outstanding, A holding only its share
    (got,) = await receiver.wait_count(1)
    assert json.loads(got.body)["data"]["customerId"] == str(b.id)
    assert len(slow_receiver.requests) == settings.webhook_max_in_flight_per_endpoint
    assert slow_receiver.abandoned == []

    # when: A's receiver answers at last
    assert slow_receiver.gate is not None
    slow_receiver.gate.set()

    # then: A's backlog drains too
    async def all_delivered() -> bool:
        return await WebhookDelivery.filter(status=DeliveryStatus.DELIVERED).count() == 31

    await eventually(all_delivered, within=30, what="every delivery DELIVERED")


async def test_redeliver_disable_and_delete_answer_while_a_slow_attempt_is_out(
    gql: GraphQLClient, slow_receiver: WebhookReceiver
) -> None:
    # given: a test webhook whose attempt the receiver holds open
    admin = await make_catalog_admin()
    created = await create_endpoint(slow_receiver.url, None, None, None)
    endpoint_id = str(created.endpoint.id)
    sent = await gql(SEND_TEST, {"id": endpoint_id}, token=admin.token)
    delivery_id = sent["sendTestWebhook"]["webhookDelivery"]["id"]
    (held,) = await slow_receiver.wait_count(1)
    assert held.headers["webhook-id"] == delivery_id

    # when: the administrator redelivers it, disables the endpoint and deletes it
    redelivered = await gql(REDELIVER, {"id": delivery_id}, token=admin.token)
    disabled = await gql(UPDATE, {"id": endpoint_id, "input": {"enabled": False}}, token=admin.token)
    deleted = await gql(DELETE, {"id": endpoint_id}, token=admin.token)

    # then: each answered while the first attempt is still held open by the receiver
    assert redelivered["redeliverWebhook"]["userErrors"] == []
    assert disabled["updateWebhookEndpoint"] == {"webhookEndpoint": {"enabled": False}, "userErrors": []}
    assert deleted["deleteWebhookEndpoint"] == {"deletedId": endpoint_id, "userErrors": []}
    assert slow_receiver.abandoned == []
    assert await WebhookDelivery.all().count() == 0
