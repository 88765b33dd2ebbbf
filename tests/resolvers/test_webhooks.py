"""Webhooks through the public API and a real HTTP receiver: events, signatures, retries, access."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from typing import Any

import pytest
from prometheus_client import REGISTRY
from standardwebhooks import Webhook

from models import webhook_outbox
from models.ledger import TransactionKind, post
from models.notification import AlertKind, Notification
from models.unit_of_work import unit_of_work
from models.user import Role
from models.webhook_outbox import DeliveryStatus, WebhookDelivery
from models.webhooks import WebhookEndpoint
from settings import Settings
from tests.client import GraphQLClient, error_codes
from tests.client import user_errors as errors
from tests.factories import Login, enable_credits, make_catalog_admin, make_customer, make_service, make_user
from tests.webhook_receiver import Received

ENDPOINT_FIELDS = "id url description enabled disabledReason eventTypes createdAt customer { id }"
CREATE = f"""
mutation ($input: CreateWebhookEndpointInput!) {{
  createWebhookEndpoint(input: $input) {{
    webhookEndpoint {{ {ENDPOINT_FIELDS} }} secret userErrors {{ code field message }}
  }}
}}"""
UPDATE = f"""
mutation ($id: ID!, $input: UpdateWebhookEndpointInput!) {{
  updateWebhookEndpoint(id: $id, input: $input) {{
    webhookEndpoint {{ {ENDPOINT_FIELDS} }} secret userErrors {{ code field message }}
  }}
}}"""
ROTATE = f"""
mutation ($id: ID!) {{
  rotateWebhookSecret(id: $id) {{
    webhookEndpoint {{ {ENDPOINT_FIELDS} }} secret userErrors {{ code field message }}
  }}
}}"""
DELETE = """
mutation ($id: ID!) { deleteWebhookEndpoint(id: $id) { deletedId userErrors { code field message } } }"""
DELIVERY_FIELDS = (
    "id eventType payload status attempts lastStatusCode lastError nextAttemptAt createdAt deliveredAt "
    "endpoint { id }"
)
SEND_TEST = f"""
mutation ($id: ID!) {{
  sendTestWebhook(id: $id) {{ webhookDelivery {{ {DELIVERY_FIELDS} }} userErrors {{ code field message }} }}
}}"""
REDELIVER = f"""
mutation ($id: ID!) {{
  redeliverWebhook(deliveryId: $id) {{
    webhookDelivery {{ {DELIVERY_FIELDS} }} userErrors {{ code field message }}
  }}
}}"""
ENDPOINTS = f"query ($customerId: ID) {{ webhookEndpoints(customerId: $customerId) {{ {ENDPOINT_FIELDS} }} }}"
DELIVERIES = f"""
query ($id: ID!, $status: WebhookDeliveryStatus, $first: Int, $after: String) {{
  webhookEndpoint(id: $id) {{
    deliveries(status: $status, first: $first, after: $after) {{
      nodes {{ {DELIVERY_FIELDS} }} edges {{ cursor }} pageInfo {{ hasNextPage endCursor }}
    }}
  }}
}}"""
GRANT = """
mutation ($input: BalanceChangeInput!) {
  grantCredits(input: $input) { transaction { id } userErrors { code } }
}"""
REQUEST = """
mutation ($input: RequestServiceInput!) {
  requestService(input: $input) { serviceRequest { id } userErrors { code } }
}"""
CANCEL = "mutation ($id: ID!) { cancelServiceRequest(id: $id) { serviceRequest { id } userErrors { code } } }"


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch, settings: Settings, runtime: Any) -> None:
    """Retries after milliseconds, and a dispatcher that polls often (the schedule's shape is unchanged)."""
    monkeypatch.setattr(settings, "webhook_backoff_scale", 0.0001)
    monkeypatch.setattr(settings, "webhook_poll_seconds", 0.05)
    runtime.webhooks.wake()


async def create_endpoint(gql: GraphQLClient, by: Login, url: str, **more: Any) -> dict[str, Any]:
    """Create an endpoint; returns the payload (endpoint and secret)."""
    payload = (await gql(CREATE, {"input": {"url": url, **more}}, token=by.token))["createWebhookEndpoint"]
    assert payload["userErrors"] == [], payload
    return payload


def verified(secret: str, request: Received) -> dict[str, Any]:
    """The request's body, after `standardwebhooks` verified its signature."""
    return Webhook(secret).verify(request.body, request.headers)


def types_of(requests: list[Received]) -> list[str]:
    return [json.loads(r.body)["type"] for r in requests]


async def test_every_event_type_arrives_signed_per_standard_webhooks(gql, receiver) -> None:
    # given: a catalog administrator's endpoint for every customer's events, and a customer with a service
    admin = await make_catalog_admin()
    created = await create_endpoint(gql, admin, receiver.url, description="all events")
    secret = created["secret"]
    assert secret.startswith("whsec_")
    await enable_credits()
    customer = await make_customer(by=admin)
    service = await make_service("30.00")
    cid = str(customer.id)

    # when: a grant, a request that takes the balance below zero, its cancellation (back above), a test
    await gql(GRANT, {"input": {"customerId": cid, "amount": "10.00"}}, token=admin.token)
    made = await gql(REQUEST, {"input": {"customerId": cid, "serviceId": str(service.id)}}, token=admin.token)
    request_id = made["requestService"]["serviceRequest"]["id"]
    await gql(CANCEL, {"id": request_id}, token=admin.token)
    await gql(SEND_TEST, {"id": created["webhookEndpoint"]["id"]}, token=admin.token)

    # then: every type arrives, each verified by the standardwebhooks library
    got = await receiver.wait_for(lambda r: len(r) >= 8)
    bodies = [verified(secret, r) for r in got]
    by_type: dict[str, list[dict[str, Any]]] = {}
    for body in bodies:
        by_type.setdefault(body["type"], []).append(body)
    assert sorted(by_type) == [
        "credit_alert.fired",
        "credit_alert.resolved",
        "credit_transaction.created",
        "service_request.updated",
        "webhook.test",
    ]
    entries = sorted((b["data"] for b in by_type["credit_transaction.created"]), key=lambda d: d["sequence"])
    assert [(e["kind"], e["amount"], e["balanceAfter"]) for e in entries] == [
        ("GRANT", "10.00", "10.00"),
        ("SERVICE_CHARGE", "-30.00", "-20.00"),
        ("REFUND", "30.00", "10.00"),
    ]
    assert entries[1]["serviceRequestId"] == request_id and entries[0]["customerId"] == cid
    # and: each entry's allocations: the grant's lot; the charge's 10.00 from it and 20.00 of debt;
    # the refund's 10.00 back to that lot and 20.00 into a new one, of which the debt takes 20.00 in
    # consumption order (the older lot first): net, the new lot keeps 10.00
    lot_id = entries[0]["allocations"][0]["lotId"]
    new_lot_id = entries[2]["allocations"][0]["lotId"]
    assert new_lot_id not in (lot_id, None)
    assert [e["allocations"] for e in entries] == [
        [{"lotId": lot_id, "amount": "10.00"}],
        [{"lotId": lot_id, "amount": "-10.00"}, {"lotId": None, "amount": "-20.00"}],
        [{"lotId": new_lot_id, "amount": "10.00"}, {"lotId": None, "amount": "20.00"}],
    ]
    fired = by_type["credit_alert.fired"][0]["data"]
    assert (fired["kind"], fired["balance"], fired["customerId"]) == ("BELOW_ZERO", "-20.00", cid)
    resolved = by_type["credit_alert.resolved"][0]["data"]
    assert (resolved["kind"], resolved["balance"], resolved["threshold"]) == ("BELOW_ZERO", "10.00", "0.00")
    statuses = [b["data"]["status"] for b in by_type["service_request.updated"]]
    assert sorted(statuses) == ["CANCELLED", "REQUESTED"]
    assert all(set(b) == {"type", "timestamp", "data"} for b in bodies)
    ids = [r.headers["webhook-id"] for r in got]
    assert len(set(ids)) == len(ids)


async def test_event_types_filter_what_an_endpoint_receives(gql, receiver) -> None:
    # given: an endpoint subscribed to alerts only
    admin = await make_catalog_admin()
    await create_endpoint(gql, admin, receiver.url, eventTypes=["CREDIT_ALERT_FIRED"])
    customer = await make_customer(by=admin)
    await enable_credits()

    # when: a withdrawal below zero (an entry and an alert)
    await gql(
        "mutation ($i: BalanceChangeInput!) { withdrawCredits(input: $i) { userErrors { code } } }",
        {"i": {"customerId": str(customer.id), "amount": "5.00"}},
        token=admin.token,
    )

    # then: only the alert is recorded and sent
    got = await receiver.wait_count(1)
    assert types_of(got) == ["credit_alert.fired"]
    assert await WebhookDelivery.all().count() == 1


async def test_a_receiver_failing_twice_gets_three_attempts_with_one_webhook_id(gql, receiver) -> None:
    # given: a receiver that answers 500 twice, then 200
    admin = await make_catalog_admin()
    created = await create_endpoint(gql, admin, receiver.url)
    receiver.statuses = [500, 500]
    before = {outcome: _attempts_metric(outcome) for outcome in ("retry", "delivered")}

    # when: a test webhook is sent
    await gql(SEND_TEST, {"id": created["webhookEndpoint"]["id"]}, token=admin.token)

    # then: three attempts with the same id, the last delivered
    got = await receiver.wait_count(3)
    assert len({r.headers["webhook-id"] for r in got}) == 1
    delivery = await _settled(got[0].headers["webhook-id"])
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
        DeliveryStatus.DELIVERED,
        3,
        200,
    )
    assert [verified(created["secret"], r)["type"] for r in got] == ["webhook.test"] * 3
    assert _attempts_metric("retry") - before["retry"] == 2
    assert _attempts_metric("delivered") - before["delivered"] == 1


def _attempts_metric(outcome: str) -> float:
    return REGISTRY.get_sample_value("credits_webhook_attempts_total", {"outcome": outcome}) or 0.0


async def _settled(delivery_id: str, timeout: float = 10) -> WebhookDelivery:
    """The delivery once its outcome is recorded (the receiver answers before the dispatcher commits)."""
    async with asyncio.timeout(timeout):
        while True:
            delivery = await WebhookDelivery.get(id=delivery_id)
            if delivery.status != DeliveryStatus.PENDING:
                return delivery
            await asyncio.sleep(0.02)


async def test_a_receiver_down_keeps_deliveries_pending_with_a_next_attempt(gql, receiver) -> None:
    # given: an endpoint whose receiver is down for the whole test
    admin = await make_catalog_admin()
    created = await create_endpoint(gql, admin, receiver.url)
    await receiver.stop()
    endpoint_id = created["webhookEndpoint"]["id"]

    # when: a test webhook is queued and tried
    await gql(SEND_TEST, {"id": endpoint_id}, token=admin.token)
    async with asyncio.timeout(10):
        while (await WebhookDelivery.get(endpoint_id=endpoint_id)).attempts < 2:
            await asyncio.sleep(0.02)

    # then: it is still pending, with the error and the next attempt scheduled
    data = await gql(DELIVERIES, {"id": endpoint_id}, token=admin.token)
    (delivery,) = data["webhookEndpoint"]["deliveries"]["nodes"]
    assert delivery["status"] == "PENDING"
    assert delivery["nextAttemptAt"] is not None
    assert "Connect" in delivery["lastError"]
    assert delivery["lastStatusCode"] is None


async def test_a_rotated_secret_signs_beside_the_old_one_during_the_overlap(gql, receiver) -> None:
    # given: an endpoint whose secret was rotated
    admin = await make_catalog_admin()
    created = await create_endpoint(gql, admin, receiver.url)
    endpoint_id = created["webhookEndpoint"]["id"]
    rotated = (await gql(ROTATE, {"id": endpoint_id}, token=admin.token))["rotateWebhookSecret"]
    assert rotated["secret"] != created["secret"]

    # when: a webhook is sent
    await gql(SEND_TEST, {"id": endpoint_id}, token=admin.token)

    # then: two signatures, each verifying with its own secret
    (request,) = await receiver.wait_count(1)
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    assert verified(created["secret"], request)["type"] == "webhook.test"
    assert verified(rotated["secret"], request)["type"] == "webhook.test"


async def test_after_the_overlap_only_the_new_secret_signs(gql, receiver) -> None:
    # given: a rotation whose 24 hours are over
    admin = await make_catalog_admin()
    created = await create_endpoint(gql, admin, receiver.url)
    endpoint_id = created["webhookEndpoint"]["id"]
    rotated = (await gql(ROTATE, {"id": endpoint_id}, token=admin.token))["rotateWebhookSecret"]
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    await WebhookEndpoint.filter(id=endpoint_id).update(previous_secret_until=past)

    # when: a webhook is sent
    await gql(SEND_TEST, {"id": endpoint_id}, token=admin.token)

    # then: one signature, by the new secret
    (request,) = await receiver.wait_count(1)
    assert len(request.headers["webhook-signature"].split(" ")) == 1
    assert verified(rotated["secret"], request)
    with pytest.raises(Exception, match="No matching signature"):
        verified(created["secret"], request)


async def test_secrets_are_shown_by_create_and_rotate_only_and_stored_encrypted(gql, receiver) -> None:
    # given: a new endpoint and its secret
    admin = await make_catalog_admin()
    created = await create_endpoint(gql, admin, receiver.url)
    endpoint_id = created["webhookEndpoint"]["id"]

    # when: it is updated, and its row is read
    updated = (await gql(UPDATE, {"id": endpoint_id, "input": {"description": "x"}}, token=admin.token))[
        "updateWebhookEndpoint"
    ]
    row = await WebhookEndpoint.get(id=endpoint_id)

    # then: no secret in the update, none in the clear at rest
    assert updated["secret"] is None
    key = created["secret"].removeprefix("whsec_")
    assert key not in row.secret_sealed and created["secret"] not in row.secret_sealed


async def test_a_410_disables_the_endpoint_at_once(gql, receiver) -> None:
    # given: a receiver that answers 410 Gone
    admin = await make_catalog_admin()
    created = await create_endpoint(gql, admin, receiver.url)
    endpoint_id = created["webhookEndpoint"]["id"]
    receiver.statuses = [410]

    # when: a webhook is sent
    await gql(SEND_TEST, {"id": endpoint_id}, token=admin.token)
    (request,) = await receiver.wait_count(1)
    delivery = await _settled(request.headers["webhook-id"])

    # then: one attempt, FAILED, and the endpoint disabled with a reason
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (DeliveryStatus.FAILED, 1, 410)
    (endpoint,) = (await gql(ENDPOINTS, {}, token=admin.token))["webhookEndpoints"]
    assert endpoint["enabled"] is False and "410" in endpoint["disabledReason"]


async def test_five_days_of_failures_disable_and_notify_the_customer_administrators(gql, receiver) -> None:
    # given: a customer's endpoint whose deliveries have all failed for five days
    customer = await make_customer()
    owner = await make_user(Role.CUSTOMER_ADMIN, customer)
    created = await create_endpoint(gql, owner, receiver.url)
    endpoint_id = created["webhookEndpoint"]["id"]
    five_days = dt.timedelta(days=5) * 0.0001
    since = dt.datetime.now(dt.UTC) - five_days - dt.timedelta(seconds=1)
    await WebhookEndpoint.filter(id=endpoint_id).update(failing_since=since)
    receiver.default_status = 503

    # when: another attempt fails
    await gql(SEND_TEST, {"id": endpoint_id}, token=owner.token)
    await receiver.wait_count(1)
    async with asyncio.timeout(10):
        while (await WebhookEndpoint.get(id=endpoint_id)).enabled:
            await asyncio.sleep(0.02)

    # then: the endpoint is disabled with a reason, and its administrator has a notification
    (endpoint,) = (await gql(ENDPOINTS, {}, token=owner.token))["webhookEndpoints"]
    assert endpoint["enabled"] is False and "5 days" in endpoint["disabledReason"]
    (note,) = await Notification.filter(user_id=owner.user.id)
    assert note.kind == AlertKind.WEBHOOK_DISABLED and receiver.url in note.message


async def test_redelivery_sends_the_same_id_and_body_again(gql, receiver) -> None:
    # given: a delivered test webhook
    admin = await make_catalog_admin()
    created = await create_endpoint(gql, admin, receiver.url)
    sent = (await gql(SEND_TEST, {"id": created["webhookEndpoint"]["id"]}, token=admin.token))[
        "sendTestWebhook"
    ]
    delivery_id = sent["webhookDelivery"]["id"]
    await receiver.wait_count(1)
    await _settled(delivery_id)

    # when: it is redelivered
    again = (await gql(REDELIVER, {"id": delivery_id}, token=admin.token))["redeliverWebhook"]

    # then: the same id and the same body arrive once more
    assert again["userErrors"] == [] and again["webhookDelivery"]["id"] == delivery_id
    first, second = await receiver.wait_count(2)
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == delivery_id
    assert first.body == second.body == sent["webhookDelivery"]["payload"].encode()


async def test_test_sends_and_redeliveries_are_rate_limited_per_endpoint(
    gql, receiver, monkeypatch, settings
) -> None:
    # given: an endpoint that had its three manual sends of the window (two tests, one redelivery)
    monkeypatch.setattr(settings, "webhook_manual_sends_per_window", 3)
    admin = await make_catalog_admin()
    endpoint_id = (await create_endpoint(gql, admin, receiver.url))["webhookEndpoint"]["id"]
    sent = (await gql(SEND_TEST, {"id": endpoint_id}, token=admin.token))["sendTestWebhook"]
    delivery_id = sent["webhookDelivery"]["id"]
    await gql(SEND_TEST, {"id": endpoint_id}, token=admin.token)
    assert (await gql(REDELIVER, {"id": delivery_id}, token=admin.token))["redeliverWebhook"][
        "userErrors"
    ] == []
    other_id = (await create_endpoint(gql, admin, receiver.url))["webhookEndpoint"]["id"]

    # when: one more test send and one more redelivery
    test = (await gql(SEND_TEST, {"id": endpoint_id}, token=admin.token))["sendTestWebhook"]
    again = (await gql(REDELIVER, {"id": delivery_id}, token=admin.token))["redeliverWebhook"]

    # then: both are refused, saying when to retry, and queue nothing; another endpoint still may
    assert errors(test) == [("RATE_LIMITED", ["id"])] and test["webhookDelivery"] is None
    assert errors(again) == [("RATE_LIMITED", ["deliveryId"])] and again["webhookDelivery"] is None
    assert "retry in" in test["userErrors"][0]["message"]
    assert await WebhookDelivery.filter(endpoint_id=endpoint_id).count() == 2
    assert errors((await gql(SEND_TEST, {"id": other_id}, token=admin.token))["sendTestWebhook"]) == []


async def test_the_delivery_log_filters_by_status_and_pages(gql, receiver) -> None:
    # given: three delivered webhooks and one failed
    admin = await make_catalog_admin()
    created = await create_endpoint(gql, admin, receiver.url)
    endpoint_id = created["webhookEndpoint"]["id"]
    for _ in range(3):
        await gql(SEND_TEST, {"id": endpoint_id}, token=admin.token)
    await receiver.wait_count(3)
    async with asyncio.timeout(10):
        while await WebhookDelivery.filter(status=DeliveryStatus.DELIVERED).count() < 3:
            await asyncio.sleep(0.02)
    one = await WebhookDelivery.filter(endpoint_id=endpoint_id).first()
    assert one is not None
    await WebhookDelivery.filter(id=one.id).update(status=DeliveryStatus.FAILED)

    # when: the log is read by status, and page by page
    failed = await gql(DELIVERIES, {"id": endpoint_id, "status": "FAILED"}, token=admin.token)
    page1 = await gql(DELIVERIES, {"id": endpoint_id, "first": 2}, token=admin.token)
    cursor = page1["webhookEndpoint"]["deliveries"]["pageInfo"]["endCursor"]
    page2 = await gql(DELIVERIES, {"id": endpoint_id, "first": 2, "after": cursor}, token=admin.token)
    bad = await gql.raw(DELIVERIES, {"id": endpoint_id, "first": 0}, token=admin.token)

    # then
    assert len(failed["webhookEndpoint"]["deliveries"]["nodes"]) == 1
    assert len(page1["webhookEndpoint"]["deliveries"]["nodes"]) == 2
    assert page1["webhookEndpoint"]["deliveries"]["pageInfo"]["hasNextPage"] is True
    assert len(page2["webhookEndpoint"]["deliveries"]["nodes"]) == 1
    assert error_codes(bad) == ["INVALID_INPUT"]


async def test_a_customer_administrator_neither_sees_nor_receives_another_customers_events(
    gql, receiver
) -> None:
    # given: two customers, each with an administrator; one has an endpoint
    admin = await make_catalog_admin()
    ours, theirs = await make_customer(by=admin), await make_customer(by=admin)
    owner = await make_user(Role.CUSTOMER_ADMIN, ours)
    other = await make_user(Role.CUSTOMER_ADMIN, theirs)
    created = await create_endpoint(gql, owner, receiver.url)
    endpoint_id = created["webhookEndpoint"]["id"]
    assert created["webhookEndpoint"]["customer"]["id"] == str(ours.id)
    await enable_credits()

    # when: the other customer's balance moves, then ours
    for customer in (theirs, ours):
        await gql(GRANT, {"input": {"customerId": str(customer.id), "amount": "1.00"}}, token=admin.token)

    # then: only our event arrives
    (request,) = await receiver.wait_count(1)
    assert verified(created["secret"], request)["data"]["customerId"] == str(ours.id)
    # and the other administrator can neither see nor touch the endpoint
    assert (await gql(ENDPOINTS, {}, token=other.token))["webhookEndpoints"] == []
    assert (await gql(ENDPOINTS, {"customerId": str(ours.id)}, token=other.token))["webhookEndpoints"] == []
    one = await gql(
        "query ($id: ID!) { webhookEndpoint(id: $id) { id } }", {"id": endpoint_id}, token=other.token
    )
    assert one["webhookEndpoint"] is None
    for document, name in ((ROTATE, "rotateWebhookSecret"), (DELETE, "deleteWebhookEndpoint")):
        answer = (await gql(document, {"id": endpoint_id}, token=other.token))[name]
        assert errors(answer) == [("NOT_FOUND", ["id"])]
    creating = await gql(
        CREATE, {"input": {"url": receiver.url, "customerId": str(ours.id)}}, token=other.token
    )
    assert errors(creating["createWebhookEndpoint"]) == [("NOT_FOUND", ["input", "customerId"])]
    (only,) = (await gql(ENDPOINTS, {}, token=owner.token))["webhookEndpoints"]
    assert only["id"] == endpoint_id


async def test_end_users_may_not_manage_webhooks(gql, receiver) -> None:
    # given: an end user
    customer = await make_customer()
    user = await make_user(Role.END_USER, customer)

    # when: it lists or creates endpoints
    listing = await gql.raw(ENDPOINTS, {}, token=user.token)
    creating = await gql.raw(CREATE, {"input": {"url": receiver.url}}, token=user.token)

    # then
    assert error_codes(listing) == ["FORBIDDEN"] and error_codes(creating) == ["FORBIDDEN"]


async def test_a_catalog_administrator_manages_every_customers_endpoints(gql, receiver) -> None:
    # given: a customer administrator's endpoint
    customer = await make_customer()
    owner = await make_user(Role.CUSTOMER_ADMIN, customer)
    created = await create_endpoint(gql, owner, receiver.url)
    admin = await make_catalog_admin()

    # when: the catalog administrator lists that customer's endpoints and disables it, then deletes it
    listed = (await gql(ENDPOINTS, {"customerId": str(customer.id)}, token=admin.token))["webhookEndpoints"]
    endpoint_id = created["webhookEndpoint"]["id"]
    disabled = await gql(UPDATE, {"id": endpoint_id, "input": {"enabled": False}}, token=admin.token)
    deleted = (await gql(DELETE, {"id": endpoint_id}, token=admin.token))["deleteWebhookEndpoint"]

    # then
    assert [e["id"] for e in listed] == [endpoint_id]
    assert disabled["updateWebhookEndpoint"]["webhookEndpoint"]["enabled"] is False
    assert deleted == {"deletedId": endpoint_id, "userErrors": []}
    assert await WebhookEndpoint.all().count() == 0


async def test_a_rolled_back_change_records_no_delivery(gql, receiver) -> None:
    # given: an endpoint for every customer's events
    admin = await make_catalog_admin()
    await create_endpoint(gql, admin, receiver.url)
    customer = await make_customer(by=admin)

    # when: a posting's transaction fails after the posting
    with pytest.raises(RuntimeError):
        async with unit_of_work() as uow:
            await post(uow, customer.id, 100, TransactionKind.GRANT, actor=admin.actor)
            raise RuntimeError("rolled back")

    # then: no delivery was recorded
    assert await WebhookDelivery.all().count() == 0


async def test_deliveries_of_a_batch_cost_one_lookup_and_one_insert(gql, receiver, queries) -> None:
    # given: three endpoints, and a unit of work with several entries of two customers
    admin = await make_catalog_admin()
    for _ in range(3):
        await create_endpoint(gql, admin, receiver.url, eventTypes=["CREDIT_TRANSACTION_CREATED"])
    one, two = await make_customer(by=admin), await make_customer(by=admin)

    # when: the entries are posted
    with queries.counting() as sent:
        async with unit_of_work() as uow:
            for customer in (one, two, one):
                await post(uow, customer.id, 100, TransactionKind.GRANT, actor=admin.actor)

    # then: one query found the endpoints and one statement inserted 3 × 3 deliveries
    webhook_statements = [q for q in sent if "webhook_" in q]
    assert len(webhook_statements) == 2, webhook_statements
    assert await WebhookDelivery.all().count() == 9


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x",
        "http://127.1/x",
        "http://2130706433/x",
        "http://0x7f.1/x",
        "http://017700000001/x",
        "http://[::ffff:127.0.0.1]/x",
        "http://[::1]/x",
        "http://169.254.169.254/latest/meta-data",
        "http://localhost/x",
        "http://10.0.0.1/x",
        "http://192.168.1.1/x",
        "http://0.0.0.0/x",
        "http://224.0.0.1/x",
    ],
)
async def test_destinations_on_internal_addresses_are_refused_when_saved(
    gql, monkeypatch, settings, url
) -> None:
    # given: private networks not allowed (the production default)
    monkeypatch.setattr(settings, "webhook_allow_private_networks", False)
    admin = await make_catalog_admin()

    # when: an endpoint is created with an internal destination
    payload = (await gql(CREATE, {"input": {"url": url}}, token=admin.token))["createWebhookEndpoint"]

    # then
    assert errors(payload) == [("INVALID_INPUT", ["input", "url"])]
    assert payload["webhookEndpoint"] is None


@pytest.mark.parametrize(
    "url", ["ftp://example.com/x", "/relative", "example.com", "https://", "http://u:p@h.example/"]
)
async def test_a_url_must_be_absolute_http_or_https(gql, url) -> None:
    # given: a catalog administrator
    admin = await make_catalog_admin()

    # when: it saves a URL that is not an absolute http(s) URL
    payload = (await gql(CREATE, {"input": {"url": url}}, token=admin.token))["createWebhookEndpoint"]

    # then
    assert errors(payload) == [("INVALID_INPUT", ["input", "url"])]


async def test_production_refuses_plain_http(gql, monkeypatch, settings) -> None:
    # given: production rules
    monkeypatch.setattr(settings, "env", "production")
    admin = await make_catalog_admin()

    # when: an http URL is saved
    payload = (await gql(CREATE, {"input": {"url": "http://example.com/x"}}, token=admin.token))[
        "createWebhookEndpoint"
    ]

    # then
    assert errors(payload) == [("INVALID_INPUT", ["input", "url"])]


async def test_a_destination_is_checked_again_before_every_attempt(
    gql, receiver, monkeypatch, settings
) -> None:
    # given: an endpoint saved while private networks were allowed, and the rule then tightened
    admin = await make_catalog_admin()
    created = await create_endpoint(gql, admin, receiver.url)
    monkeypatch.setattr(settings, "webhook_allow_private_networks", False)

    # when: a webhook is due
    sent = (await gql(SEND_TEST, {"id": created["webhookEndpoint"]["id"]}, token=admin.token))[
        "sendTestWebhook"
    ]
    delivery = await _first_attempt(sent["webhookDelivery"]["endpoint"]["id"])

    # then: nothing was sent, and the log says why
    assert receiver.requests == []
    assert delivery.last_error is not None and "destination refused" in delivery.last_error


async def test_a_disabled_endpoint_gets_no_deliveries(gql, receiver) -> None:
    # given: a disabled endpoint
    admin = await make_catalog_admin()
    created = await create_endpoint(gql, admin, receiver.url)
    endpoint_id = created["webhookEndpoint"]["id"]
    await gql(UPDATE, {"id": endpoint_id, "input": {"enabled": False}}, token=admin.token)
    customer = await make_customer(by=admin)
    await enable_credits()

    # when: a balance moves, and a test is asked for
    await gql(GRANT, {"input": {"customerId": str(customer.id), "amount": "1.00"}}, token=admin.token)
    test = (await gql(SEND_TEST, {"id": endpoint_id}, token=admin.token))["sendTestWebhook"]

    # then
    assert await WebhookDelivery.all().count() == 0
    assert errors(test) == [("INVALID_STATE", ["id"])]


def test_event_wire_names_match_the_contract() -> None:
    # given / when / then: the GraphQL names map to the wire names of API.md
    assert {t.name: t.value for t in webhook_outbox.WebhookEventType} == {
        "CREDIT_TRANSACTION_CREATED": "credit_transaction.created",
        "CREDIT_ALERT_FIRED": "credit_alert.fired",
        "CREDIT_ALERT_RESOLVED": "credit_alert.resolved",
        "SERVICE_REQUEST_UPDATED": "service_request.updated",
        "WEBHOOK_TEST": "webhook.test",
    }


async def test_unknown_ids_are_not_found(gql) -> None:
    # given: a catalog administrator
    admin = await make_catalog_admin()

    # when: it names endpoints and deliveries that do not exist
    rotate = (await gql(ROTATE, {"id": str(uuid.uuid4())}, token=admin.token))["rotateWebhookSecret"]
    again = (await gql(REDELIVER, {"id": "nope"}, token=admin.token))["redeliverWebhook"]

    # then
    assert errors(rotate) == [("NOT_FOUND", ["id"])]
    assert errors(again) == [("NOT_FOUND", ["deliveryId"])]


async def _first_attempt(endpoint_id: str) -> WebhookDelivery:
    """The endpoint's only delivery once its first attempt is recorded."""
    async with asyncio.timeout(10):
        while True:
            delivery = await WebhookDelivery.get(endpoint_id=endpoint_id)
            if delivery.attempts >= 1 and (delivery.last_error or delivery.status != DeliveryStatus.PENDING):
                return delivery
            await asyncio.sleep(0.02)


async def test_redirects_are_not_followed(gql, receiver) -> None:
    # given: a receiver that answers 302 with a Location on an internal address
    admin = await make_catalog_admin()
    created = await create_endpoint(gql, admin, receiver.url)
    endpoint_id = created["webhookEndpoint"]["id"]
    receiver.statuses = [302]
    receiver.default_status = 500

    # when: a webhook is sent
    await gql(SEND_TEST, {"id": endpoint_id}, token=admin.token)
    delivery = await _first_attempt(endpoint_id)

    # then: the 302 is a failed attempt, and nothing followed it
    assert delivery.last_status_code in (302, 500) and delivery.status == DeliveryStatus.PENDING
    assert all(r.path == "/hooks" for r in receiver.requests)
    first = await WebhookDelivery.get(endpoint_id=endpoint_id)
    assert first.delivered_at is None


async def test_at_most_4_kb_of_an_answer_is_read(gql, receiver) -> None:
    # given: a receiver that fails with a 1 MB body
    admin = await make_catalog_admin()
    created = await create_endpoint(gql, admin, receiver.url)
    endpoint_id = created["webhookEndpoint"]["id"]
    receiver.default_status = 500
    receiver.answer_body = b"x" * 1_000_000

    # when: a webhook is sent
    await gql(SEND_TEST, {"id": endpoint_id}, token=admin.token)
    delivery = await _first_attempt(endpoint_id)

    # then: lastError holds the start of it, no more than 4 KB
    assert delivery.last_status_code == 500
    assert delivery.last_error is not None and delivery.last_error.startswith("HTTP 500: xxx")
    assert len(delivery.last_error) <= 4096


async def test_an_attempt_is_bounded_by_the_timeout(gql, receiver, monkeypatch, settings) -> None:
    # given: a receiver that never answers, and a short timeout
    monkeypatch.setattr(settings, "webhook_timeout_seconds", 0.3)
    admin = await make_catalog_admin()
    created = await create_endpoint(gql, admin, receiver.url)
    endpoint_id = created["webhookEndpoint"]["id"]
    receiver.hang = True

    # when: a webhook is sent
    await gql(SEND_TEST, {"id": endpoint_id}, token=admin.token)
    delivery = await _first_attempt(endpoint_id)

    # then: the attempt ended as a timeout and another is scheduled
    assert delivery.last_error is not None and "Timeout" in delivery.last_error
    assert delivery.status == DeliveryStatus.PENDING and delivery.next_attempt_at is not None


async def test_an_unknown_customer_or_a_bad_url_changes_nothing(gql, receiver, monkeypatch, settings) -> None:
    # given: a catalog administrator's endpoint
    admin = await make_catalog_admin()
    created = await create_endpoint(gql, admin, receiver.url)
    endpoint_id = created["webhookEndpoint"]["id"]
    monkeypatch.setattr(settings, "webhook_allow_private_networks", False)

    # when: it names a customer that does not exist, and moves the endpoint to an internal address
    creating = await gql(
        CREATE,
        {"input": {"url": "https://93.184.215.14/x", "customerId": str(uuid.uuid4())}},
        token=admin.token,
    )
    moving = await gql(UPDATE, {"id": endpoint_id, "input": {"url": "http://10.0.0.1/x"}}, token=admin.token)

    # then
    assert errors(creating["createWebhookEndpoint"]) == [("NOT_FOUND", ["input", "customerId"])]
    assert errors(moving["updateWebhookEndpoint"]) == [("INVALID_INPUT", ["input", "url"])]
    assert (await WebhookEndpoint.get(id=endpoint_id)).url == receiver.url
    assert await WebhookEndpoint.all().count() == 1
