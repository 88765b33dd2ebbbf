"""Paging backward: `last` and `before` on every connection, with Relay's pageInfo semantics."""

from __future__ import annotations

from typing import Any

import pytest

from models.credits import change_balance
from models.customer import Customer
from models.ledger import TransactionKind
from tests.client import GraphQLClient, error_codes
from tests.factories import Login, grant_lot, make_catalog_admin, make_customer

PAGE_INFO = "pageInfo { hasPreviousPage hasNextPage startCursor endCursor }"
TRANSACTIONS = f"""
query ($id: ID!, $first: Int, $after: String, $last: Int, $before: String) {{
  customer(id: $id) {{
    transactions(first: $first, after: $after, last: $last, before: $before) {{
      nodes {{ sequence }} edges {{ cursor node {{ sequence }} }} {PAGE_INFO}
    }}
  }}
}}"""
CUSTOMERS = f"""
query ($first: Int, $after: String, $last: Int, $before: String, $search: String) {{
  customers(first: $first, after: $after, last: $last, before: $before, search: $search) {{
    nodes {{ name }} edges {{ cursor node {{ name }} }} {PAGE_INFO}
  }}
}}"""
LOTS = f"""
query ($id: ID!, $last: Int, $before: String) {{
  customer(id: $id) {{
    lots(last: $last, before: $before) {{ nodes {{ priority }} edges {{ cursor }} {PAGE_INFO} }}
  }}
}}"""
# Every other connection, asked for its last item: each takes `last` (users of the customer,
# its requests and alerts, every request, the viewer's notifications, an endpoint's deliveries).
EVERY_CONNECTION = f"""
query ($id: ID!) {{
  customer(id: $id) {{
    users(last: 1) {{ {PAGE_INFO} }}
    serviceRequests(last: 1) {{ {PAGE_INFO} }}
    alerts(last: 1) {{ {PAGE_INFO} }}
  }}
  serviceRequests(last: 1) {{ {PAGE_INFO} }}
  notifications(last: 1) {{ {PAGE_INFO} }}
  webhookEndpoints {{ deliveries(last: 1) {{ {PAGE_INFO} }} }}
}}"""
EMPTY = {"hasPreviousPage": False, "hasNextPage": False, "startCursor": None, "endCursor": None}


async def ledger_of(size: int) -> tuple[Login, Customer]:
    """A customer whose ledger has entries 1 to `size`."""
    admin = await make_catalog_admin()
    customer = await make_customer(balance=1, by=admin)
    for _ in range(size - 1):
        await change_balance(admin.actor, TransactionKind.GRANT, customer.id, 100, None, None)
    return admin, customer


async def transactions(gql: GraphQLClient, admin: Login, customer: Customer, **args: Any) -> dict[str, Any]:
    data = await gql(TRANSACTIONS, {"id": str(customer.id), **args}, token=admin.token)
    return data["customer"]["transactions"]


def sequences(connection: dict[str, Any]) -> list[int]:
    assert connection["nodes"] == [e["node"] for e in connection["edges"]]
    return [n["sequence"] for n in connection["nodes"]]


def cursors_match(connection: dict[str, Any]) -> bool:
    info, edges = connection["pageInfo"], connection["edges"]
    return info["startCursor"] == edges[0]["cursor"] and info["endCursor"] == edges[-1]["cursor"]


async def test_last_alone_is_the_end_of_the_list_in_list_order(gql: GraphQLClient) -> None:
    # given: entries 1-7, newest first
    admin, customer = await ledger_of(7)

    # when: `first` left out, so its default (50) gives way
    page = await transactions(gql, admin, customer, last=3)

    # then: the three oldest, still newest first, with earlier rows before them
    assert sequences(page) == [3, 2, 1]
    assert cursors_match(page)
    assert page["pageInfo"]["hasPreviousPage"] is True
    assert page["pageInfo"]["hasNextPage"] is False


async def test_walking_backward_gives_the_forward_list_and_ends_without_previous_page(
    gql: GraphQLClient,
) -> None:
    # given
    admin, customer = await ledger_of(7)
    forward = sequences(await transactions(gql, admin, customer, first=50))

    # when: from the end, page by page of 3, following startCursor
    pages: list[list[int]] = []
    before: str | None = None
    while True:
        page = await transactions(gql, admin, customer, last=3, before=before)
        pages.insert(0, sequences(page))
        if not page["pageInfo"]["hasPreviousPage"]:
            break
        assert page["pageInfo"]["hasNextPage"] is (before is not None)
        before = page["pageInfo"]["startCursor"]

    # then
    assert forward == [7, 6, 5, 4, 3, 2, 1]
    assert pages == [[7], [6, 5, 4], [3, 2, 1]]


async def test_a_backward_page_before_a_forward_page_is_the_forward_page_before_it(
    gql: GraphQLClient,
) -> None:
    # given: the first two forward pages of 3
    admin, customer = await ledger_of(8)
    one = await transactions(gql, admin, customer, first=3)
    two = await transactions(gql, admin, customer, first=3, after=one["pageInfo"]["endCursor"])

    # when: back from the second page's start, and forward again from the result's end
    back = await transactions(gql, admin, customer, last=3, before=two["pageInfo"]["startCursor"])
    again = await transactions(gql, admin, customer, first=3, after=back["pageInfo"]["endCursor"])

    # then: the same pages and cursors, both ways
    assert sequences(back) == sequences(one) == [8, 7, 6]
    assert back["edges"] == one["edges"]
    assert back["pageInfo"]["hasPreviousPage"] is False  # exact when paging backward
    assert back["pageInfo"]["hasNextPage"] is True
    assert again == two


async def test_before_the_first_item_is_an_empty_page(gql: GraphQLClient) -> None:
    # given
    admin, customer = await ledger_of(3)
    top = await transactions(gql, admin, customer, first=1)

    # when
    page = await transactions(gql, admin, customer, last=2, before=top["pageInfo"]["startCursor"])

    # then
    assert page["edges"] == [] and page["pageInfo"] == {**EMPTY, "hasNextPage": True}


async def test_after_and_before_together_bound_the_page_from_both_sides(gql: GraphQLClient) -> None:
    # given: cursors of entries 6 and 2
    admin, customer = await ledger_of(7)
    every = (await transactions(gql, admin, customer, first=7))["edges"]
    after, before = every[1]["cursor"], every[5]["cursor"]

    # when
    forward = await transactions(gql, admin, customer, first=2, after=after, before=before)
    backward = await transactions(gql, admin, customer, last=2, after=after, before=before)

    # then: 5, 4, 3 lie between them
    assert sequences(forward) == [5, 4] and forward["pageInfo"]["hasNextPage"] is True
    assert sequences(backward) == [4, 3] and backward["pageInfo"]["hasPreviousPage"] is True


async def test_customers_page_backward_by_name(gql: GraphQLClient) -> None:
    # given
    admin = await make_catalog_admin()
    for name in ("Ant", "Bee", "Cat", "Dog", "Eel"):
        await make_customer(name)

    # when
    last = (await gql(CUSTOMERS, {"last": 2}, token=admin.token))["customers"]
    before = last["pageInfo"]["startCursor"]
    earlier = (await gql(CUSTOMERS, {"last": 2, "before": before}, token=admin.token))["customers"]
    first = (
        await gql(CUSTOMERS, {"last": 2, "before": earlier["pageInfo"]["startCursor"]}, token=admin.token)
    )["customers"]
    forward = (
        await gql(CUSTOMERS, {"first": 2, "after": first["pageInfo"]["endCursor"]}, token=admin.token)
    )["customers"]

    # then
    assert [n["name"] for n in last["nodes"]] == ["Dog", "Eel"]
    assert [n["name"] for n in earlier["nodes"]] == ["Bee", "Cat"]
    assert [n["name"] for n in first["nodes"]] == ["Ant"]
    assert (last["pageInfo"]["hasPreviousPage"], earlier["pageInfo"]["hasPreviousPage"]) == (True, True)
    assert first["pageInfo"]["hasPreviousPage"] is False and first["pageInfo"]["hasNextPage"] is True
    assert forward["edges"] == earlier["edges"]


async def test_lots_page_backward_in_consumption_order(gql: GraphQLClient) -> None:
    # given: lots at priorities 10, 20, 30 (consumed in that order)
    admin = await make_catalog_admin()
    customer = await make_customer()
    for priority in (30, 10, 20):
        await grant_lot(customer, 100, None, by=admin, priority=priority)
    args = {"id": str(customer.id)}

    # when
    end = (await gql(LOTS, {**args, "last": 2}, token=admin.token))["customer"]["lots"]
    start = (
        await gql(LOTS, {**args, "last": 2, "before": end["pageInfo"]["startCursor"]}, token=admin.token)
    )["customer"]["lots"]

    # then
    assert [n["priority"] for n in end["nodes"]] == [20, 30] and end["pageInfo"]["hasPreviousPage"] is True
    assert [n["priority"] for n in start["nodes"]] == [10] and start["pageInfo"]["hasPreviousPage"] is False
    assert start["pageInfo"]["hasNextPage"] is True


async def test_every_connection_takes_last(gql: GraphQLClient) -> None:
    # given
    admin, customer = await ledger_of(1)

    # when
    data = await gql(EVERY_CONNECTION, {"id": str(customer.id)}, token=admin.token)

    # then: each answers (empty here), none with an error
    assert data["customer"] == {
        "users": {"pageInfo": EMPTY},
        "serviceRequests": {"pageInfo": EMPTY},
        "alerts": {"pageInfo": EMPTY},
    }
    assert data["serviceRequests"] == data["notifications"] == {"pageInfo": EMPTY}


@pytest.mark.parametrize(
    ("args", "argument"),
    [
        ({"first": 2, "last": 2}, "last"),  # Relay discourages both; we refuse it
        ({"first": 50, "last": 2}, "last"),  # even when `first` is written as its default
        ({"last": 0}, "last"),
        ({"last": 101}, "last"),
        ({"last": 2, "before": "not-a-cursor"}, "before"),
        ({"first": 2, "before": "bm90IGEgY3Vyc29y"}, "before"),
    ],
)
async def test_bad_backward_arguments_are_invalid_input(
    gql: GraphQLClient, args: dict[str, Any], argument: str
) -> None:
    # given
    admin, customer = await ledger_of(2)

    # when
    body = await gql.raw(TRANSACTIONS, {"id": str(customer.id), **args}, token=admin.token)

    # then
    assert error_codes(body) == ["INVALID_INPUT"], body
    assert argument in body["errors"][0]["message"]


async def test_a_literal_first_with_last_is_invalid_but_a_first_variable_left_unsent_is_not(
    gql: GraphQLClient,
) -> None:
    # given
    admin, customer = await ledger_of(3)
    literal = (
        "query ($id: ID!) { customer(id: $id) { transactions(first: 2, last: 1) { nodes { sequence } } } }"
    )

    # when
    both = await gql.raw(literal, {"id": str(customer.id)}, token=admin.token)
    relay_style = await transactions(gql, admin, customer, last=1)  # $first declared, not sent

    # then
    assert error_codes(both) == ["INVALID_INPUT"]
    assert sequences(relay_style) == [1]
