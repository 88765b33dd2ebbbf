"""`BalanceEvent.customer`: the customer as the event left it, so that a normalized cache updates itself."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from api.context import Context
from api.feeds import Feeds, _Member, feed_key
from api.schema import schema
from models.credits import change_balance
from models.ledger import TransactionKind
from models.user import Role
from tests.client import GraphQLClient
from tests.documents import GRANT_CREDITS
from tests.factories import Login, make_catalog_admin, make_customer, make_user
from tests.processes import ServerProcess
from tests.query_counter import QueryCounter
from tests.ws_client import PROTOCOLS, GraphQLSocket, until_subscribed

BALANCE_WITH_CUSTOMER = """
subscription ($customerId: ID, $afterSequence: Int) {
  balanceChanged(customerId: $customerId, afterSequence: $afterSequence) {
    customerId balance sequence customer { __typename id name balance lastSequence alertThreshold }
  }
}"""
CUSTOMER = "query ($id: ID) { customer(id: $id) { __typename id name balance lastSequence alertThreshold } }"
SET_CREDIT_ALERT = """
mutation ($input: SetCreditAlertInput!) { setCreditAlert(input: $input) { userErrors { code } } }"""


@pytest.fixture(scope="module")
def server(server_env: dict[str, str]) -> Iterator[ServerProcess]:
    """One real server for the module (the database is emptied between tests)."""
    with ServerProcess(server_env) as process:
        yield process


async def grant(api: GraphQLClient, admin: Login, customer_id: object, amount: str) -> None:
    input = {"customerId": str(customer_id), "amount": amount}
    assert (await api(GRANT_CREDITS, {"input": input}, token=admin.token))["grantCredits"]["userErrors"] == []


@pytest.mark.slow
@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("role", [Role.CUSTOMER_ADMIN, Role.END_USER])
async def test_each_event_carries_the_customer_at_the_events_balance_as_the_customer_query_returns_it(
    api: GraphQLClient, url: str, protocol: str, role: Role
) -> None:
    # given: a subscriber of a customer with a threshold
    admin = await make_catalog_admin()
    customer = await make_customer("Acme", balance=10, by=admin)
    viewer = await make_user(role, customer)
    threshold = {"input": {"customerId": str(customer.id), "threshold": "5.00"}}
    assert (await api(SET_CREDIT_ALERT, threshold, token=admin.token))["setCreditAlert"]["userErrors"] == []
    async with GraphQLSocket(url, protocol, viewer.token) as ws:
        sub = await ws.subscribe(BALANCE_WITH_CUSTOMER)
        await until_subscribed(url, "balanceChanged")

        # when: two grants
        await grant(api, admin, customer.id, "2.50")
        await grant(api, admin, customer.id, "1.00")
        events = [(await sub.next())["balanceChanged"] for _ in range(2)]

    # then: each event's customer has the event's balance and sequence, and is the one `customer` returns
    for event in events:
        assert event["customer"]["id"] == event["customerId"] == str(customer.id)
        assert event["customer"]["balance"] == event["balance"]
        assert event["customer"]["lastSequence"] == event["sequence"]
    assert [e["balance"] for e in events] == ["12.50", "13.50"]
    assert {e["customer"]["alertThreshold"] for e in events} == {"5.00"}
    now = (await api(CUSTOMER, {"id": str(customer.id)}, token=viewer.token))["customer"]
    assert events[-1]["customer"] == now


@pytest.mark.slow
async def test_replayed_events_carry_the_customer_at_each_events_balance(
    api: GraphQLClient, url: str
) -> None:
    # given: entries 1 to 3
    admin = await make_catalog_admin()
    customer = await make_customer("Replayed", balance=10, by=admin)
    await grant(api, admin, customer.id, "1.00")
    await grant(api, admin, customer.id, "2.00")
    variables = {"customerId": str(customer.id), "afterSequence": 0}

    # when
    async with GraphQLSocket(url, PROTOCOLS[0], admin.token) as ws:
        sub = await ws.subscribe(BALANCE_WITH_CUSTOMER, variables)
        events = [(await sub.next())["balanceChanged"] for _ in range(3)]

    # then
    assert [(e["customer"]["balance"], e["customer"]["lastSequence"]) for e in events] == [
        ("10.00", 1),
        ("11.00", 2),
        ("13.00", 3),
    ]
    assert {e["customer"]["name"] for e in events} == {"Replayed"}


# --- the shared feed, in process ---------------------------------------------------------------


async def test_a_shared_feed_reads_nothing_per_event_for_the_customer(
    runtime: Any, queries: QueryCounter
) -> None:
    # given: a feed of a customer's balance with its customer, started while its statements are counted
    admin = await make_catalog_admin()
    customer = await make_customer("Fed", balance=10, by=admin)
    watch = SimpleNamespace(
        query=BALANCE_WITH_CUSTOMER, variables={"customerId": str(customer.id)}, operation_name=None
    )
    handler = SimpleNamespace(
        schema=schema, context=Context(request=None, response=None, actor=admin.actor, bus=runtime.bus)
    )
    feeds = Feeds()
    before = runtime.bus.subscriber_count()
    with queries.counting() as statements:  # the feed's task inherits the count; this task leaves it
        feed, member = feeds.join(feed_key(watch, admin.actor), handler, watch)
    try:
        async with asyncio.timeout(5):
            while runtime.bus.subscriber_count() <= before:
                await asyncio.sleep(0.01)
        started = len(statements)

        # when: five entries are committed (by this task, not counted)
        for _ in range(5):
            await change_balance(admin.actor, TransactionKind.GRANT, customer.id, 100, None, None)
        events = [await next_event(member) for _ in range(5)]

        # then: every event has its customer, and the feed sent no statement for any of them
        assert [e["customer"]["balance"] for e in events] == ["11.00", "12.00", "13.00", "14.00", "15.00"]
        assert {e["customer"]["name"] for e in events} == {"Fed"}
        assert statements[started:] == []
    finally:
        feed.leave(member)
        if feed.task is not None:
            await asyncio.gather(feed.task, return_exceptions=True)


async def next_event(member: _Member) -> dict[str, Any]:
    """The next balanceChanged a feed handed its member."""
    async with asyncio.timeout(5):
        while (item := member.take()) is None:
            await member.arrival()
    kind, payload = item
    assert kind == "next", item
    return json.loads(payload)["data"]["balanceChanged"]
