"""`node` and `nodes`: every object by its id alone, under the access rules of the fields that return it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest

from models.user import Role
from tests.client import GraphQLClient, error_codes
from tests.documents import CREATE_API_TOKEN, REQUEST_SERVICE
from tests.factories import Login, World, make_user, make_world
from tests.query_counter import QueryCounter

NODE = "query ($id: ID!) { node(id: $id) { __typename id } }"
NODES = "query ($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }"
CUSTOMER_NODE = """
query ($id: ID!) { node(id: $id) { id ... on Customer { name balance } } }"""
LEDGER = """
query ($id: ID!) {
  customer(id: $id) {
    transactions(first: 1) { nodes { id } }
    lots(first: 1) { nodes { id } }
    alerts(first: 1) { nodes { id } }
    serviceRequests(first: 1) { nodes { id } }
    users(first: 100) { nodes { id role } }
  }
}"""
OWN_NOTIFICATIONS = "query { notifications(first: 1) { nodes { id } } }"
CREATE_ENDPOINT = """
mutation ($url: String!) {
  createWebhookEndpoint(input: {url: $url}) { webhookEndpoint { id } userErrors { code } }
}"""
SEND_TEST = "mutation ($id: ID!) { sendTestWebhook(id: $id) { webhookDelivery { id } userErrors { code } } }"


@dataclass
class Objects:
    """One object of every type, all of customer "mine" (the service is the catalog's)."""

    world: World
    stranger: Login  # a customer administrator of another customer
    ids: dict[str, str]


@pytest.fixture
async def objects(gql: GraphQLClient, no_local_webhook_dispatcher: None) -> Objects:
    """A customer whose end user's charges crossed zero, with an API token and a webhook endpoint."""
    world = await make_world("mine", "theirs", price="40.00", balance=50)
    mine, admin = world.tenant, world.customer_admin
    charge = {"input": {"serviceId": world.service_id}}
    request = (await gql(REQUEST_SERVICE, charge, token=world.end_user.token))["requestService"]
    await gql(REQUEST_SERVICE, charge, token=world.end_user.token)  # 10.00 -> -30.00: BELOW_ZERO
    ledger = (await gql(LEDGER, {"id": mine.id}, token=admin.token))["customer"]
    token = (await gql(CREATE_API_TOKEN, {"name": "ci"}, token=admin.token))["createApiToken"]
    endpoint = (await gql(CREATE_ENDPOINT, {"url": "http://127.0.0.1:9/hook"}, token=admin.token))[
        "createWebhookEndpoint"
    ]["webhookEndpoint"]
    delivery = (await gql(SEND_TEST, {"id": endpoint["id"]}, token=admin.token))["sendTestWebhook"]
    notifications = (await gql(OWN_NOTIFICATIONS, token=admin.token))["notifications"]["nodes"]
    ids = {
        "Customer": mine.id,
        "User": str(world.end_user.user.id),
        "ApiToken": token["apiToken"]["id"],
        "Service": world.service_id,
        "ServiceRequest": request["serviceRequest"]["id"],
        "CreditTransaction": ledger["transactions"]["nodes"][0]["id"],
        "CreditLot": ledger["lots"]["nodes"][0]["id"],
        "CreditAlert": ledger["alerts"]["nodes"][0]["id"],
        "Notification": notifications[0]["id"],
        "WebhookEndpoint": endpoint["id"],
        "WebhookDelivery": delivery["webhookDelivery"]["id"],
    }
    return Objects(world, world.tenants["theirs"].admin, ids)


# Who sees each type where other fields return it: the catalog administrator, the owning
# customer's administrator (who holds the token and the notification), its end user (who made
# the request), and another customer's administrator.
VISIBLE = {
    "Customer": ("catalog", "admin", "end_user"),
    "User": ("catalog", "admin", "end_user"),
    "ApiToken": ("admin",),
    "Service": ("catalog", "admin", "end_user", "stranger"),
    "ServiceRequest": ("catalog", "admin", "end_user"),
    "CreditTransaction": ("catalog", "admin"),
    "CreditLot": ("catalog", "admin"),
    "CreditAlert": ("catalog", "admin"),
    "Notification": ("admin",),
    "WebhookEndpoint": ("catalog", "admin"),
    "WebhookDelivery": ("catalog", "admin"),
}
VIEWERS = ("catalog", "admin", "end_user", "stranger")


def viewer(objects: Objects, name: str) -> Login:
    world = objects.world
    return {
        "catalog": world.admin,
        "admin": world.customer_admin,
        "end_user": world.end_user,
        "stranger": objects.stranger,
    }[name]


@pytest.mark.parametrize("typename", sorted(VISIBLE))
async def test_node_returns_each_type_to_whoever_may_see_it_and_null_to_everyone_else(
    gql: GraphQLClient, objects: Objects, typename: str
) -> None:
    # given
    id = objects.ids[typename]

    # when
    found = {
        name: (await gql(NODE, {"id": id}, token=viewer(objects, name).token))["node"] for name in VIEWERS
    }

    # then
    assert found == {
        name: {"__typename": typename, "id": id} if name in VISIBLE[typename] else None for name in VIEWERS
    }


async def test_nodes_answers_in_order_with_null_for_hidden_unknown_and_malformed_ids(
    gql: GraphQLClient, objects: Objects
) -> None:
    # given: every object, an unknown id and two that are no ids at all
    ids = [*objects.ids.values(), str(uuid.uuid4()), "not-an-id", ""]

    # when
    as_end_user = (await gql(NODES, {"ids": ids}, token=objects.world.end_user.token))["nodes"]
    as_stranger = (await gql(NODES, {"ids": ids}, token=objects.stranger.token))["nodes"]

    # then
    typenames = list(objects.ids)
    assert [n and n["__typename"] for n in as_end_user] == [
        t if "end_user" in VISIBLE[t] else None for t in typenames
    ] + [None] * 3
    assert [n and n["__typename"] for n in as_stranger] == [
        "Service" if t == "Service" else None for t in typenames
    ] + [None] * 3


async def test_an_unknown_or_malformed_id_is_null_not_an_error(gql: GraphQLClient, objects: Objects) -> None:
    # when
    bodies = [
        await gql.raw(NODE, {"id": id}, token=objects.world.admin.token)
        for id in (str(uuid.uuid4()), "nope", "0" * 40)
    ]

    # then
    assert bodies == [{"data": {"node": None}}] * 3


async def test_the_customer_from_node_is_the_one_other_fields_return(
    gql: GraphQLClient, objects: Objects
) -> None:
    # when
    node = (await gql(CUSTOMER_NODE, {"id": objects.ids["Customer"]}, token=objects.world.end_user.token))[
        "node"
    ]

    # then: same id, same fields (a normalized cache merges them)
    assert node == {"id": objects.ids["Customer"], "name": "mine", "balance": "-30.00"}


async def test_more_than_100_ids_is_invalid_input_and_100_are_fine(
    gql: GraphQLClient, objects: Objects
) -> None:
    # given
    token = objects.world.admin.token
    hundred = [str(uuid.uuid4()) for _ in range(100)]

    # when
    fine = await gql(NODES, {"ids": hundred}, token=token)
    refused = await gql.raw(NODES, {"ids": [*hundred, objects.ids["Customer"]]}, token=token)

    # then
    assert fine == {"nodes": [None] * 100}
    assert error_codes(refused) == ["INVALID_INPUT"]
    assert refused["data"] is None


async def test_anonymous_callers_get_unauthenticated(gql: GraphQLClient, objects: Objects) -> None:
    # when
    body = await gql.raw(NODE, {"id": objects.ids["Customer"]})

    # then
    assert error_codes(body) == ["UNAUTHENTICATED"]


async def test_nodes_of_every_type_cost_one_query_to_find_them_and_one_per_type(
    gql: GraphQLClient, objects: Objects, queries: QueryCounter
) -> None:
    # given: every object, three times over, and unknown ids
    ids = [*objects.ids.values()] * 3 + [str(uuid.uuid4()) for _ in range(20)]

    # when
    with queries.counting() as sent:
        found = (await gql(NODES, {"ids": ids}, token=objects.world.admin.token))["nodes"]

    # then: the viewer, one UNION ALL for the tables, one per type (the delivery's endpoint is read)
    assert [n and n["id"] for n in found[:11]] == [
        i if "catalog" in VISIBLE[t] else None for t, i in objects.ids.items()
    ]
    unions = [s for s in sent if "UNION ALL" in s]
    assert len(unions) == 1, sent
    assert len(sent) <= 1 + 1 + len(objects.ids), sent


async def test_another_customers_user_and_a_catalog_administrator_are_hidden_from_customer_users(
    gql: GraphQLClient, objects: Objects
) -> None:
    # given: another customer's end user, and the catalog administrator
    theirs = objects.world.tenants["theirs"]
    other_user = await make_user(Role.END_USER, theirs.customer)
    ids = [str(other_user.user.id), str(objects.world.admin.user.id)]

    # when
    as_admin = (await gql(NODES, {"ids": ids}, token=objects.world.customer_admin.token))["nodes"]
    as_catalog = (await gql(NODES, {"ids": ids}, token=objects.world.admin.token))["nodes"]

    # then
    assert as_admin == [None, None]
    assert [n["id"] for n in as_catalog] == ids
