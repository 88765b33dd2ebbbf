"""Webhook endpoints are bounded per customer, and their URLs are stored in the ASCII form that is sent."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import pytest

from models.user import Role
from models.webhook_outbox import DeliveryStatus, WebhookDelivery
from models.webhooks import WebhookEndpoint
from settings import Settings
from tests.client import GraphQLClient
from tests.client import user_errors as errors
from tests.factories import Login, make_catalog_admin, make_customer, make_user

CREATE = """
mutation ($input: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) {
    webhookEndpoint { id url customer { id } } secret userErrors { code field message }
  }
}"""
UPDATE = """
mutation ($id: ID!, $input: UpdateWebhookEndpointInput!) {
  updateWebhookEndpoint(id: $id, input: $input) {
    webhookEndpoint { id url } userErrors { code field message }
  }
}"""
DELETE = "mutation ($id: ID!) { deleteWebhookEndpoint(id: $id) { deletedId userErrors { code } } }"
SEND_TEST = "mutation ($id: ID!) { sendTestWebhook(id: $id) { webhookDelivery { id } userErrors { code } } }"


@pytest.fixture
def cap_of_three(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> int:
    """CREDITS_MAX_WEBHOOK_ENDPOINTS_PER_CUSTOMER=3, so a test reaches the cap in a few creates."""
    monkeypatch.setattr(settings, "max_webhook_endpoints_per_customer", 3)
    return 3


async def create(gql: GraphQLClient, by: Login, url: str, **more: Any) -> dict[str, Any]:
    """createWebhookEndpoint's payload."""
    return (await gql(CREATE, {"input": {"url": url, **more}}, token=by.token))["createWebhookEndpoint"]


# --- endpoints per customer ---------------------------------------------------------------------


def test_the_endpoint_cap_defaults_to_twenty() -> None:
    # given / when / then
    assert Settings().max_webhook_endpoints_per_customer == 20


async def test_a_customer_administrator_cannot_create_more_endpoints_than_the_cap(
    gql, receiver, cap_of_three
) -> None:
    # given: a customer administrator whose customer has as many endpoints as the cap allows
    customer = await make_customer()
    admin = await make_user(Role.CUSTOMER_ADMIN, customer)
    for _ in range(cap_of_three):
        assert errors(await create(gql, admin, receiver.url)) == []

    # when: it creates one more
    refused = await create(gql, admin, receiver.url)

    # then: refused with a clear message, and nothing was stored
    assert errors(refused) == [("INVALID_STATE", ["input", "customerId"])]
    assert refused["webhookEndpoint"] is None and refused["secret"] is None
    assert "3 webhook endpoints, the most allowed" in refused["userErrors"][0]["message"]
    assert await WebhookEndpoint.filter(customer_id=customer.id).count() == cap_of_three


async def test_deleting_an_endpoint_makes_room_for_another(gql, receiver, cap_of_three) -> None:
    # given: a customer at the cap
    customer = await make_customer()
    admin = await make_user(Role.CUSTOMER_ADMIN, customer)
    made = [await create(gql, admin, receiver.url) for _ in range(cap_of_three)]

    # when: one endpoint is deleted and another created
    await gql(DELETE, {"id": made[0]["webhookEndpoint"]["id"]}, token=admin.token)
    again = await create(gql, admin, receiver.url)

    # then
    assert errors(again) == []


async def test_the_cap_counts_each_customer_and_every_customer_endpoints_apart(
    gql, receiver, cap_of_three
) -> None:
    # given: one customer at the cap
    full, other = await make_customer(), await make_customer()
    catalog = await make_catalog_admin()
    for _ in range(cap_of_three):
        assert errors(await create(gql, catalog, receiver.url, customerId=str(full.id))) == []

    # when: endpoints are created for another customer and for every customer (no customerId)
    for_other = [await create(gql, catalog, receiver.url, customerId=str(other.id)) for _ in range(3)]
    for_all = [await create(gql, catalog, receiver.url) for _ in range(4)]

    # then: the other customer has its own room; endpoints for every customer are capped as a group
    assert [errors(p) for p in for_other] == [[], [], []]
    assert [errors(p) for p in for_all] == [[], [], [], [("INVALID_STATE", ["input", "customerId"])]]
    assert "endpoints for every customer have 3" in for_all[3]["userErrors"][0]["message"]


async def test_concurrent_creates_at_the_cap_make_exactly_one_endpoint(
    gql, receiver, cap_of_three, monkeypatch
) -> None:
    # given: a customer one endpoint below the cap, and every insert a little slow, so that racing
    # creates all count before any of them commits unless something serialises them
    customer = await make_customer()
    admin = await make_user(Role.CUSTOMER_ADMIN, customer)
    for _ in range(cap_of_three - 1):
        assert errors(await create(gql, admin, receiver.url)) == []
    insert = WebhookEndpoint.create

    async def slow_insert(*args: Any, **kwargs: Any) -> WebhookEndpoint:
        await asyncio.sleep(0.3)
        return await insert(*args, **kwargs)

    monkeypatch.setattr(WebhookEndpoint, "create", slow_insert)

    # when: twenty creates race (concurrent transactions on PostgreSQL)
    raced = await asyncio.gather(*(create(gql, admin, receiver.url) for _ in range(20)))

    # then: one won, every other one was refused, and the customer has exactly the cap
    outcomes = sorted(str(errors(p)) for p in raced)
    assert outcomes.count("[]") == 1
    assert outcomes.count(str([("INVALID_STATE", ["input", "customerId"])])) == 19
    assert await WebhookEndpoint.filter(customer_id=customer.id).count() == cap_of_three


# --- URLs outside ASCII -------------------------------------------------------------------------


async def test_a_url_outside_latin_1_is_stored_percent_encoded_and_delivered_to_that_path(
    gql, receiver
) -> None:
    # given: an endpoint whose path and query hold characters outside Latin-1 (and one inside it)
    admin = await make_catalog_admin()
    url = receiver.url + "/日本/café?event=€&x=%41"
    created = await create(gql, admin, url)
    assert errors(created) == []

    # when: a test webhook is sent
    endpoint = created["webhookEndpoint"]
    await gql(SEND_TEST, {"id": endpoint["id"]}, token=admin.token)
    got = await receiver.wait_count(1)

    # then: what is stored and shown is the ASCII form (UTF-8, percent-encoded; escapes kept), and it
    # is what arrived
    encoded = "/hooks/%E6%97%A5%E6%9C%AC/caf%C3%A9?event=%E2%82%AC&x=%41"
    assert endpoint["url"] == f"http://127.0.0.1:{receiver.port}{encoded}"
    assert (await WebhookEndpoint.get(id=endpoint["id"])).url == endpoint["url"]
    assert got[0].path == encoded


async def test_an_updated_url_is_stored_percent_encoded(gql, receiver) -> None:
    # given: an endpoint
    admin = await make_catalog_admin()
    created = await create(gql, admin, receiver.url)

    # when: its URL is changed to one with a character outside Latin-1
    changes = {"id": created["webhookEndpoint"]["id"], "input": {"url": receiver.url + "/ω"}}
    updated = (await gql(UPDATE, changes, token=admin.token))["updateWebhookEndpoint"]

    # then
    assert errors(updated) == []
    assert updated["webhookEndpoint"]["url"] == receiver.url + "/%CF%89"


async def test_a_host_that_has_no_idna_form_is_refused_on_the_url_field(gql) -> None:
    # given: a catalog administrator
    admin = await make_catalog_admin()

    # when: it saves a URL whose host IDNA cannot encode (a symbol IDNA 2008 disallows)
    refused = await create(gql, admin, "https://☃.example/hooks")

    # then
    assert errors(refused) == [("INVALID_INPUT", ["input", "url"])]
    assert await WebhookEndpoint.all().count() == 0


# --- each endpoint's backlog --------------------------------------------------------------------

BACKLOG = "{ webhookEndpoints { id pendingDeliveries oldestPendingAt } }"


async def a_delivery(endpoint_id: str, status: DeliveryStatus, minutes_old: float) -> None:
    """A delivery of `status` recorded `minutes_old` minutes ago."""
    created = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes_old)
    delivery = await WebhookDelivery.create(
        endpoint_id=uuid.UUID(endpoint_id), event_type="webhook.test", payload="{}", status=status
    )
    await WebhookDelivery.filter(id=delivery.id).update(created_at=created)


@pytest.mark.usefixtures("no_local_webhook_dispatcher")
async def test_each_endpoint_shows_its_pending_deliveries_and_when_the_oldest_was_recorded(
    gql, receiver
) -> None:
    # given: one endpoint owing two deliveries (5 and 1 minutes old) beside older finished ones,
    # and one that owes nothing
    admin = await make_catalog_admin()
    behind = (await create(gql, admin, receiver.url))["webhookEndpoint"]["id"]
    idle = (await create(gql, admin, receiver.url))["webhookEndpoint"]["id"]
    await a_delivery(behind, DeliveryStatus.PENDING, 5)
    await a_delivery(behind, DeliveryStatus.PENDING, 1)
    await a_delivery(behind, DeliveryStatus.DELIVERED, 60)
    await a_delivery(idle, DeliveryStatus.FAILED, 60)

    # when
    listed = {e["id"]: e for e in (await gql(BACKLOG, token=admin.token))["webhookEndpoints"]}

    # then
    assert listed[behind]["pendingDeliveries"] == 2
    oldest = dt.datetime.fromisoformat(listed[behind]["oldestPendingAt"])
    assert dt.timedelta(minutes=5) <= dt.datetime.now(dt.UTC) - oldest < dt.timedelta(minutes=6)
    assert listed[idle] == {"id": idle, "pendingDeliveries": 0, "oldestPendingAt": None}


@pytest.mark.usefixtures("no_local_webhook_dispatcher")
async def test_the_backlogs_of_a_list_of_endpoints_cost_one_query_whatever_its_length(
    gql, receiver, queries
) -> None:
    # given: two endpoints, then twelve, each owing a delivery
    admin = await make_catalog_admin()

    async def endpoints_owing(n: int) -> None:
        for _ in range(n):
            endpoint = (await create(gql, admin, receiver.url))["webhookEndpoint"]["id"]
            await a_delivery(endpoint, DeliveryStatus.PENDING, 1)

    await endpoints_owing(2)
    with queries.counting() as two:
        few = (await gql(BACKLOG, token=admin.token))["webhookEndpoints"]
    await endpoints_owing(10)

    # when
    with queries.counting() as twelve:
        many = (await gql(BACKLOG, token=admin.token))["webhookEndpoints"]

    # then
    assert [e["pendingDeliveries"] for e in few + many] == [1] * 14
    assert len(twelve) == len(two), twelve
