"""Fields added for the console: Customer.lastSequence, Customer.users and the root serviceRequests."""

from __future__ import annotations

from typing import Any

from models.credits import change_balance
from models.ledger import TransactionKind
from models.service_requests import request_service
from models.user import Role
from tests.client import GraphQLClient, error_codes
from tests.factories import make_user, make_world

OWN_POSITION = "query { customer { balance lastSequence } }"
USERS = """
query ($id: ID, $first: Int, $after: String) {
  customer(id: $id) { users(first: $first, after: $after) {
    nodes { email role active } pageInfo { hasNextPage endCursor } } }
}"""
ALL_REQUESTS = """
query ($status: ServiceRequestStatus, $customerId: ID, $first: Int, $after: String) {
  serviceRequests(status: $status, customerId: $customerId, first: $first, after: $after) {
    nodes { id status customer { id } } pageInfo { hasNextPage endCursor }
  }
}"""


def emails(data: dict[str, Any]) -> list[str]:
    """The emails of a `customer { users }` answer."""
    return [node["email"] for node in data["customer"]["users"]["nodes"]]


# --- Customer.lastSequence -------------------------------------------------------------------


async def test_last_sequence_is_zero_before_the_first_entry_and_follows_the_ledger(
    gql: GraphQLClient,
) -> None:
    # given a customer with no ledger, seen by its end user
    world = await make_world("Acme")
    reader = world.end_user.token
    assert (await gql(OWN_POSITION, token=reader))["customer"] == {"balance": "0.00", "lastSequence": 0}

    # when two entries are posted
    await change_balance(world.admin.actor, TransactionKind.GRANT, world.customer.id, 1000, None, None)
    await change_balance(world.admin.actor, TransactionKind.WITHDRAWAL, world.customer.id, 250, None, None)

    # then the end user (who sees no ledger) reads the balance with the sequence it stands at
    assert (await gql(OWN_POSITION, token=reader))["customer"] == {"balance": "7.50", "lastSequence": 2}


async def test_another_customers_last_sequence_is_not_there(gql: GraphQLClient) -> None:
    # given two customers, one with a ledger entry
    world = await make_world("Acme", balance=10)
    other = await world.add("Other")
    position = "query ($id: ID) { customer(id: $id) { lastSequence } }"

    # when the other customer's administrator asks for Acme's position
    data = await gql(position, {"id": world.cid}, token=other.admin.token)

    # then Acme is not there for it, while the catalog administrator reads it
    assert data["customer"] is None
    seen = await gql(position, {"id": world.cid}, token=world.admin.token)
    assert seen["customer"] == {"lastSequence": 1}


# --- Customer.users --------------------------------------------------------------------------


async def test_a_customer_administrator_lists_its_customers_users_by_email_page_by_page(
    gql: GraphQLClient,
) -> None:
    # given a customer with two administrators and three end users, and another customer
    world = await make_world("Acme", admins=2, end_users=3)
    stranger = await world.add("Other")
    mine = sorted(login.user.email_key for login in world.tenant.admins + world.tenant.end_users)

    # when its administrator walks its users two at a time
    seen: list[str] = []
    after = None
    while True:
        variables = {"first": 2, "after": after}
        page = (await gql(USERS, variables, token=world.customer_admin.token))["customer"]["users"]
        seen += [node["email"] for node in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]

    # then it sees each of its five users once, by email, and nobody of the other customer
    assert seen == mine
    assert stranger.admin.user.email not in seen


async def test_a_catalog_administrator_lists_any_customers_users_with_their_state(gql: GraphQLClient) -> None:
    # given a customer whose end user was deactivated
    world = await make_world("Acme", end_users=1)
    deactivate = "mutation ($id: ID!) { setUserActive(id: $id, active: false) { userErrors { code } } }"
    await gql(deactivate, {"id": str(world.end_user.user.id)}, token=world.admin.token)

    # when the catalog administrator lists the customer's users
    data = await gql(USERS, {"id": world.cid}, token=world.admin.token)

    # then both are there, the end user marked inactive
    nodes = {node["email"]: node for node in data["customer"]["users"]["nodes"]}
    assert nodes[world.end_user.user.email]["active"] is False
    assert nodes[world.customer_admin.user.email] == {
        "email": world.customer_admin.user.email,
        "role": "CUSTOMER_ADMIN",
        "active": True,
    }


async def test_an_end_user_gets_an_empty_list_of_users(gql: GraphQLClient) -> None:
    # given a customer with an administrator and two end users
    world = await make_world("Acme", end_users=2)

    # when an end user asks for its customer's users
    data = await gql(USERS, {}, token=world.end_user.token)

    # then what its role may not see is empty, not an error
    assert data["customer"]["users"] == {"nodes": [], "pageInfo": {"hasNextPage": False, "endCursor": None}}


async def test_another_customers_users_are_not_there_for_a_customer_administrator(gql: GraphQLClient) -> None:
    # given two customers
    world = await make_world("Acme")
    other = await world.add("Other")

    # when Acme's administrator asks for the other customer's users
    data = await gql(USERS, {"id": other.id}, token=world.customer_admin.token)

    # then the customer is not there at all
    assert data["customer"] is None


async def test_a_bad_users_page_size_is_a_top_level_invalid_input(gql: GraphQLClient) -> None:
    # given a customer administrator
    world = await make_world("Acme")

    # when it asks for 101 users at once
    body = await gql.raw(USERS, {"first": 101}, token=world.customer_admin.token)

    # then the query is refused with INVALID_INPUT
    assert error_codes(body) == ["INVALID_INPUT"]


# --- Query.serviceRequests -------------------------------------------------------------------


async def test_a_catalog_administrator_lists_requests_across_customers_by_status_and_customer(
    gql: GraphQLClient,
) -> None:
    # given requests of two customers, one of them cancelled
    world = await make_world("Acme", balance=100)
    other = await world.add("Other", balance=100)
    acme = await request_service(world.customer_admin.actor, world.customer.id, world.service.id, 1, None)
    theirs = await request_service(other.admin.actor, other.customer.id, world.service.id, 1, None)
    gone = await request_service(other.admin.actor, other.customer.id, world.service.id, 1, None)
    cancel = "mutation ($id: ID!) { cancelServiceRequest(id: $id) { userErrors { code } } }"
    await gql(cancel, {"id": str(gone.id)}, token=other.admin.token)
    token = world.admin.token

    # when the catalog administrator lists them, all, REQUESTED only, and one customer's
    everything = (await gql(ALL_REQUESTS, {}, token=token))["serviceRequests"]["nodes"]
    waiting = (await gql(ALL_REQUESTS, {"status": "REQUESTED"}, token=token))["serviceRequests"]["nodes"]
    acme_only = (await gql(ALL_REQUESTS, {"customerId": world.cid}, token=token))["serviceRequests"]["nodes"]

    # then each answer holds exactly its requests, newest first
    assert [n["id"] for n in everything] == [str(gone.id), str(theirs.id), str(acme.id)]
    assert [n["id"] for n in waiting] == [str(theirs.id), str(acme.id)]
    assert [(n["id"], n["customer"]["id"]) for n in acme_only] == [(str(acme.id), world.cid)]


async def test_requests_across_customers_are_forbidden_to_customer_roles(gql: GraphQLClient) -> None:
    # given a customer with a request
    world = await make_world("Acme", balance=100)
    await request_service(world.customer_admin.actor, world.customer.id, world.service.id, 1, None)

    for login in (world.customer_admin, world.end_user):
        # when a customer administrator or an end user asks for requests across customers
        body = await gql.raw(ALL_REQUESTS, {"customerId": world.cid}, token=login.token)

        # then its role may never do it
        assert error_codes(body) == ["FORBIDDEN"], login.user.role
        assert body["data"] is None


async def test_requests_of_a_malformed_or_unknown_customer_are_an_empty_list(gql: GraphQLClient) -> None:
    # given a request of a customer
    world = await make_world("Acme", balance=100)
    await request_service(world.customer_admin.actor, world.customer.id, world.service.id, 1, None)
    unknown = await make_user(Role.CATALOG_ADMIN)

    # when the catalog administrator filters by an id that is no customer's
    for customer_id in ("not-an-id", "00000000-0000-0000-0000-000000000000"):
        data = await gql(ALL_REQUESTS, {"customerId": customer_id}, token=unknown.token)

        # then nothing is listed
        assert data["serviceRequests"]["nodes"] == []
