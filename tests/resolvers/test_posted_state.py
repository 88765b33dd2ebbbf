"""Mutation payloads show the state the ledger posted, and cost no queries beyond the mutation's."""

from __future__ import annotations

import asyncio
from typing import Any

from models.ledger import CreditTransaction
from models.service_requests import request_service
from tests.client import GraphQLClient
from tests.factories import make_catalog_admin, make_customer, make_world
from tests.query_counter import QueryCounter

GRANT = """
mutation ($input: BalanceChangeInput!) {
  grantCredits(input: $input) { transaction { id balanceAfter } customer { balance } userErrors { code } }
}"""
WITHDRAW = """
mutation ($input: BalanceChangeInput!) {
  withdrawCredits(input: $input) { transaction { id balanceAfter } customer { balance } userErrors { code } }
}"""
# What a top menu selects after a charge.
REQUEST_FOR_TOP_MENU = """
mutation ($input: RequestServiceInput!) {
  requestService(input: $input) {
    serviceRequest { id amount status service { name } customer { balance } }
    userErrors { code }
  }
}"""
REQUEST_BARE = """
mutation ($input: RequestServiceInput!) {
  requestService(input: $input) { serviceRequest { id status } userErrors { code } }
}"""
# A charge of one request, then the refund of another, of the same customer in one document.
REQUEST_THEN_CANCEL = """
mutation ($input: RequestServiceInput!, $cancel: ID!) {
  charge: requestService(input: $input) { serviceRequest { customer { balance } } userErrors { code } }
  refund: cancelServiceRequest(id: $cancel) { serviceRequest { customer { balance } } userErrors { code } }
}"""


async def _balance_after(request_id: str) -> str:
    entry = await CreditTransaction.get(service_request_id=request_id)
    return f"{entry.balance_after / 100:.2f}"


async def test_concurrent_grants_and_withdrawals_show_the_balance_their_entry_left(
    gql: GraphQLClient,
) -> None:
    # given
    admin = await make_catalog_admin()
    customer = await make_customer(balance=1000, by=admin)
    changes = [(GRANT, "grantCredits", "3.00"), (WITHDRAW, "withdrawCredits", "2.00")] * 15

    # when: 30 changes of one customer race
    results = await asyncio.gather(
        *(
            gql(document, {"input": {"customerId": str(customer.id), "amount": amount}}, token=admin.token)
            for document, _, amount in changes
        )
    )

    # then: each payload's customer is as its own entry left it
    payloads = [result[name] for result, (_, name, _) in zip(results, changes, strict=True)]
    assert all(p["userErrors"] == [] for p in payloads), payloads
    disagreeing = [p for p in payloads if p["customer"]["balance"] != p["transaction"]["balanceAfter"]]
    assert disagreeing == []


async def test_concurrent_requests_show_the_balance_their_charge_left(gql: GraphQLClient) -> None:
    # given: one customer whose requests are charged together in batches
    world = await make_world("shop", price="1.50", service_name="Scan", balance=1000, admins=0)
    end_user, service = world.end_user, world.service
    variables = {"input": {"serviceId": str(service.id)}}

    # when
    results = await asyncio.gather(
        *(gql(REQUEST_FOR_TOP_MENU, variables, token=end_user.token) for _ in range(20))
    )

    # then: each shows the balance after its own charge
    made = [r["requestService"]["serviceRequest"] for r in results]
    for request in made:
        assert request["customer"]["balance"] == await _balance_after(request["id"])
        assert request["service"] == {"name": "Scan"}
    assert len({r["customer"]["balance"] for r in made}) == 20


async def test_a_top_menu_selection_after_a_charge_costs_no_extra_queries(
    gql: GraphQLClient, queries: QueryCounter
) -> None:
    # given
    world = await make_world("shop", price="1.00", balance=100, admins=0)
    end_user, service = world.end_user, world.service
    variables = {"input": {"serviceId": str(service.id)}}
    await gql(REQUEST_BARE, variables, token=end_user.token)  # warm: first-use work is not counted

    # when
    with queries.counting() as bare:
        await gql(REQUEST_BARE, variables, token=end_user.token)
    with queries.counting() as top_menu:
        data = await gql(REQUEST_FOR_TOP_MENU, variables, token=end_user.token)

    # then
    assert len(top_menu) == len(bare), top_menu
    request = data["requestService"]["serviceRequest"]
    assert request["customer"] == {"balance": "97.00"}
    assert request["customer"]["balance"] == await _balance_after(request["id"])


async def test_replays_read_nested_objects_as_they_are_now(gql: GraphQLClient) -> None:
    # given: a grant and a request made under keys, then the balance moved by another grant
    world = await make_world("shop", price="1.00", balance=10, admins=0)
    admin, customer, end_user, service = world.admin, world.customer, world.end_user, world.service
    grant = {"input": {"customerId": str(customer.id), "amount": "5", "idempotencyKey": "g"}}
    request = {"input": {"serviceId": str(service.id), "idempotencyKey": "r"}}
    first_grant = (await gql(GRANT, grant, token=admin.token))["grantCredits"]
    first_request = (await gql(REQUEST_FOR_TOP_MENU, request, token=end_user.token))["requestService"]
    await gql(GRANT, {"input": {"customerId": str(customer.id), "amount": "100"}}, token=admin.token)

    # when
    grant_again = (await gql(GRANT, grant, token=admin.token))["grantCredits"]
    request_again = (await gql(REQUEST_FOR_TOP_MENU, request, token=end_user.token))["requestService"]

    # then: first executions showed the posted state; replays the same entry, the customer as now
    assert first_grant["customer"]["balance"] == first_grant["transaction"]["balanceAfter"] == "15.00"
    assert first_request["serviceRequest"]["customer"]["balance"] == "14.00"
    assert grant_again["transaction"] == first_grant["transaction"]
    assert grant_again["customer"]["balance"] == "114.00"
    assert request_again["serviceRequest"]["id"] == first_request["serviceRequest"]["id"]
    assert request_again["serviceRequest"]["customer"]["balance"] == "114.00"


async def test_a_mutation_field_reads_what_an_earlier_field_of_the_document_changed(
    gql: GraphQLClient,
) -> None:
    # given: a charged request to cancel
    world = await make_world("shop", price="1.00", balance=10, admins=0)
    customer, end_user, service = world.customer, world.end_user, world.service
    earlier = await request_service(end_user.actor, customer.id, service.id, 1, None)
    variables: dict[str, Any] = {"input": {"serviceId": str(service.id)}, "cancel": str(earlier.id)}

    # when: one document charges, then refunds
    data = await gql(REQUEST_THEN_CANCEL, variables, token=end_user.token)

    # then: the refund's customer is read after the refund, not served from the charge's
    assert data["charge"]["serviceRequest"]["customer"] == {"balance": "8.00"}
    assert data["refund"]["serviceRequest"]["customer"] == {"balance": "9.00"}


CANCEL = """
mutation ($id: ID!) {
  cancelServiceRequest(id: $id) { serviceRequest { id status customer { balance } } userErrors { code } }
}"""


async def test_concurrent_cancels_show_the_balance_their_refund_left(
    gql: GraphQLClient, queries: QueryCounter
) -> None:
    # given: ten charged requests of one customer
    world = await make_world("shop", price="1.00", balance=100, admins=0)
    customer, end_user, service = world.customer, world.end_user, world.service
    made = [await request_service(end_user.actor, customer.id, service.id, 1, None) for _ in range(10)]

    # when: all are cancelled at once
    with queries.counting() as sent:
        results = await asyncio.gather(*(gql(CANCEL, {"id": str(r.id)}, token=end_user.token) for r in made))

    # then: each shows the balance after its own refund, with no read of the customer after it
    # (the posting's own locking read, FOR NO KEY UPDATE, is the refund, not a read after it)
    for result in results:
        request = result["cancelServiceRequest"]["serviceRequest"]
        refund = await CreditTransaction.get(service_request_id=request["id"], kind="REFUND")
        assert request["customer"]["balance"] == f"{refund.balance_after / 100:.2f}"
    reads = [s for s in sent if s.startswith("SELECT") and 'FROM "customer"' in s]
    assert [s for s in reads if "FOR NO KEY UPDATE" not in s] == []
