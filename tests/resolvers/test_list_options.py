"""The console's list options: customers sorted by balance with a total count, and service requests
by the date they were made (the same [since, until) rule as the ledger)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from infra import clock
from tests.documents import REQUEST_SERVICE
from tests.factories import make_customer, make_world

CUSTOMERS = """
query ($order: CustomerOrder!, $first: Int, $after: String, $search: String) {
  customers(orderBy: $order, first: $first, after: $after, search: $search) {
    totalCount nodes { name balance } pageInfo { hasNextPage endCursor }
  }
}"""
REQUESTS = """
query ($since: DateTime, $until: DateTime) {
  serviceRequests(since: $since, until: $until) { nodes { createdAt customer { name } } }
}"""
DAY = dt.datetime(2026, 3, 10, tzinfo=dt.UTC)


async def test_customers_by_balance_lowest_first_page_by_page_with_a_total_count(gql: Any) -> None:
    # given four customers with balances 30, 5, 12 and 0 (and a catalog administrator)
    world = await make_world()
    for name, balance in (("Ada", 30), ("Bo", 5), ("Cy", 12), ("Di", 0)):
        await make_customer(f"Sort {name}", balance=balance)

    # when the catalog administrator lists them lowest balance first, two at a time
    first = (
        await gql(
            CUSTOMERS, {"order": "BALANCE_ASCENDING", "first": 2, "search": "Sort "}, token=world.admin.token
        )
    )["customers"]
    after = first["pageInfo"]["endCursor"]
    second = (
        await gql(
            CUSTOMERS,
            {"order": "BALANCE_ASCENDING", "first": 2, "after": after, "search": "Sort "},
            token=world.admin.token,
        )
    )["customers"]

    # then the pages follow the balance, and each says how many match in all
    names = [c["name"] for c in first["nodes"] + second["nodes"]]
    assert names == ["Sort Di", "Sort Bo", "Sort Cy", "Sort Ada"]
    assert first["totalCount"] == second["totalCount"] == 4
    assert not second["pageInfo"]["hasNextPage"]

    # and highest first is the reverse; by name stays the default order
    down = (
        await gql(CUSTOMERS, {"order": "BALANCE_DESCENDING", "search": "Sort "}, token=world.admin.token)
    )["customers"]
    assert [c["name"] for c in down["nodes"]] == ["Sort Ada", "Sort Cy", "Sort Bo", "Sort Di"]
    by_name = (await gql(CUSTOMERS, {"order": "NAME", "search": "Sort "}, token=world.admin.token))[
        "customers"
    ]
    assert [c["name"] for c in by_name["nodes"]] == ["Sort Ada", "Sort Bo", "Sort Cy", "Sort Di"]


async def test_service_requests_between_two_moments(gql: Any) -> None:
    # given requests made on three days
    world = await make_world("Range Oy", balance=1000)
    for day in (0, 1, 2):
        with clock.set_to(DAY + dt.timedelta(days=day, hours=12)):
            made = await gql(
                REQUEST_SERVICE, {"input": {"serviceId": world.service_id}}, token=world.end_user.token
            )
            assert made["requestService"]["userErrors"] == []

    # when the catalog administrator asks for the second day only
    window = {
        "since": (DAY + dt.timedelta(days=1)).isoformat(),
        "until": (DAY + dt.timedelta(days=2)).isoformat(),
    }
    nodes = (await gql(REQUESTS, window, token=world.admin.token))["serviceRequests"]["nodes"]

    # then it gets the request of that day, and an open end gets the rest
    assert [dt.datetime.fromisoformat(n["createdAt"]).day for n in nodes] == [11]
    since = {"since": (DAY + dt.timedelta(days=1)).isoformat()}
    nodes = (await gql(REQUESTS, since, token=world.admin.token))["serviceRequests"]["nodes"]
    assert [dt.datetime.fromisoformat(n["createdAt"]).day for n in nodes] == [12, 11]


async def test_until_before_since_is_invalid_input(gql: Any) -> None:
    # given a catalog administrator
    world = await make_world()

    # when it asks for requests until a moment before since
    window = {"since": DAY.isoformat(), "until": (DAY - dt.timedelta(seconds=1)).isoformat()}
    answer = await gql.raw(REQUESTS, window, token=world.admin.token)

    # then a top-level INVALID_INPUT, as for the ledger
    assert [e["extensions"]["code"] for e in answer["errors"]] == ["INVALID_INPUT"]
