"""DataLoaders: nested fields cost a constant number of queries, read fresh per request and event."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from api.context import Context
from api.schema import schema
from models.credits import change_balance
from models.customer import Customer
from models.ledger import TransactionKind
from models.notification import AlertKind, Notification
from models.service import RequestStatus
from models.service_requests import request_service, transition
from models.unit_of_work import unit_of_work
from models.user import Role
from schema.loaders import InsideTransactionError, Loaders
from tests.client import GraphQLClient
from tests.factories import Login, enable_credits, make_catalog_admin, make_customer, make_service, make_user
from tests.query_counter import QueryCounter

# Every nested field that reads a row of its own, at two levels, one list per document: within
# one list the loads of each level go out together, so the count does not depend on timing.
REQUESTS_PAGE = """
query ($id: ID!, $first: Int!) {
  customer(id: $id) {
    serviceRequests(first: $first) {
      nodes {
        id service { name } customer { name balance } requestedBy { name customer { name } }
        transactions { sequence }
      }
    }
  }
}"""
LEDGER_PAGE = """
query ($id: ID!, $first: Int!) {
  customer(id: $id) {
    transactions(first: $first) {
      nodes { id actor { name } serviceRequest { id service { name } customer { name } } }
    }
  }
}"""
NOTIFICATIONS_PAGE = """
query ($first: Int!) { notifications(first: $first) { nodes { id customer { name } } } }
"""
# A dashboard reading all three at once: their loads may meet in one batch or not, by timing.
DASHBOARD_PAGE = """
query ($id: ID!, $first: Int!) {
  customer(id: $id) {
    serviceRequests(first: $first) {
      nodes { id service { name } customer { name balance } requestedBy { name customer { name } } }
    }
    transactions(first: $first) {
      nodes { id actor { name } serviceRequest { id service { name } customer { name } } }
    }
  }
  notifications(first: $first) { nodes { id customer { name } } }
}"""
PAGE = 100


@dataclass
class World:
    """A customer with a page's worth of requests, ledger entries and notifications."""

    customer: Customer
    manager: Login
    end_user: Login


async def _world(size: int = PAGE) -> World:
    admin = await make_catalog_admin()
    customer = await make_customer(balance=10_000, by=admin)
    manager = await make_user(Role.CUSTOMER_ADMIN, customer)
    end_user = await make_user(Role.END_USER, customer)
    service = await make_service("1.00")
    await enable_credits()
    for _ in range(size):
        await request_service(end_user.actor, customer.id, service.id, 1, None)
    await change_balance(admin.actor, TransactionKind.GRANT, customer.id, 100, "top-up", None)
    now = dt.datetime.now(dt.UTC)
    await Notification.bulk_create(
        [
            Notification(
                user_id=manager.user.id,
                customer_id=customer.id,
                kind=AlertKind.BELOW_ZERO,
                balance=-100,
                message="Balance fell to -1.00",
                created_at=now - dt.timedelta(seconds=n),
            )
            for n in range(size)
        ]
    )
    return World(customer, manager, end_user)


def _nodes(data: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """The node lists of a page's connections."""
    customer = data.get("customer") or {}
    connections = [customer.get("serviceRequests"), customer.get("transactions"), data.get("notifications")]
    return [c["nodes"] for c in connections if c is not None]


@pytest.mark.parametrize("document", [REQUESTS_PAGE, LEDGER_PAGE, NOTIFICATIONS_PAGE])
async def test_a_nested_page_costs_the_same_queries_for_10_rows_as_for_100(
    gql: GraphQLClient, queries: QueryCounter, document: str
) -> None:
    # given
    world = await _world()

    # when
    with queries.counting() as ten:
        small = await gql(document, {"id": str(world.customer.id), "first": 10}, token=world.manager.token)
    with queries.counting() as hundred:
        large = await gql(document, {"id": str(world.customer.id), "first": PAGE}, token=world.manager.token)

    # then
    assert [len(nodes) for nodes in _nodes(small) + _nodes(large)] == [10, PAGE]
    assert len(hundred) == len(ten), hundred
    assert len(hundred) <= 7, hundred  # viewer, customer, page, and one query per kind of row


async def test_a_dashboard_of_three_nested_lists_stays_within_ten_queries(
    gql: GraphQLClient, queries: QueryCounter
) -> None:
    # given
    world = await _world()

    # when
    with queries.counting() as sent:
        data = await gql(
            DASHBOARD_PAGE, {"id": str(world.customer.id), "first": PAGE}, token=world.manager.token
        )

    # then: 1 viewer, 1 customer, 3 pages, and one query per kind of row (users may take two)
    assert len(sent) <= 10, sent
    assert [len(nodes) for nodes in _nodes(data)] == [PAGE, PAGE, PAGE]
    request = data["customer"]["serviceRequests"]["nodes"][0]
    assert request["requestedBy"] == {
        "name": world.end_user.user.name,
        "customer": {"name": world.customer.name},
    }
    assert request["customer"]["name"] == world.customer.name
    charge = data["customer"]["transactions"]["nodes"][1]
    assert charge["actor"]["name"] == world.end_user.user.name
    assert charge["serviceRequest"]["customer"]["name"] == world.customer.name


# Each event names its request; its status changes between the two events.
REQUEST_STATUS_EVENTS = """
subscription ($customerId: ID) {
  balanceChanged(customerId: $customerId) { sequence transaction { kind serviceRequest { id status } } }
}"""


async def _consume(stream: Any, into: asyncio.Queue[Any]) -> None:
    """Read a subscription in one task, as a socket's operation does."""
    async for result in stream:
        await into.put(result)


async def test_a_subscription_reads_nested_rows_afresh_for_every_event(runtime: Any) -> None:
    # given: a subscription on a customer whose request is charged, then cancelled
    admin = await make_catalog_admin()
    customer = await make_customer(balance=10, by=admin)
    end_user = await make_user(Role.END_USER, customer)
    service = await make_service("1.00")
    context = Context(request=None, response=None, actor=admin.actor, bus=runtime.bus)
    stream = await schema.subscribe(
        REQUEST_STATUS_EVENTS, variable_values={"customerId": str(customer.id)}, context_value=context
    )
    results: asyncio.Queue[Any] = asyncio.Queue()
    before = runtime.bus.subscriber_count()
    reader = asyncio.create_task(_consume(stream, results))
    try:
        async with asyncio.timeout(5):
            while runtime.bus.subscriber_count() <= before:
                await asyncio.sleep(0.01)

        # when
        request = await request_service(end_user.actor, customer.id, service.id, 1, None)
        charged = await asyncio.wait_for(results.get(), 5)
        await transition(end_user.actor, request.id, RequestStatus.CANCELLED)
        refunded = await asyncio.wait_for(results.get(), 5)
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        await stream.aclose()

    # then: the second event does not reuse the request read for the first
    assert charged.errors is None and refunded.errors is None
    assert charged.data["balanceChanged"]["transaction"] == {
        "kind": "SERVICE_CHARGE",
        "serviceRequest": {"id": str(request.id), "status": "REQUESTED"},
    }
    assert refunded.data["balanceChanged"]["transaction"] == {
        "kind": "REFUND",
        "serviceRequest": {"id": str(request.id), "status": "CANCELLED"},
    }


async def test_a_loader_awaited_inside_a_transaction_is_refused(runtime: Any) -> None:
    # given: a customer, and an execution's loaders
    customer = await make_customer()
    found = Loaders()

    # when: a loader is awaited inside a transaction (on SQLite its batch task would deadlock)
    async with asyncio.timeout(5):
        with pytest.raises(InsideTransactionError):
            async with unit_of_work():
                await found.customers.load(customer.id)

    # then: outside one it loads
    assert (await found.customers.load(customer.id)).name == customer.name


async def test_a_primed_row_is_served_without_a_query_and_replaces_one_loaded_before(
    runtime: Any, queries: QueryCounter
) -> None:
    # given: a customer loaded through an execution's loaders, then changed elsewhere
    customer = await make_customer()
    found = Loaders()
    loaded = await found.customers.load(customer.id)
    changed = await Customer.get(id=customer.id)
    changed.name = "as the mutation left it"

    # when: the changed row is primed, and loaded again
    found.customers.prime(changed)
    with queries.counting() as sent:
        again = await found.customers.load(customer.id)

    # then: the primed row, without a query
    assert again is changed and loaded is not changed
    assert sent == []


def test_an_execution_that_reads_no_rows_makes_no_dataloader(monkeypatch: pytest.MonkeyPatch) -> None:
    # given: DataLoaders counted as they are made
    import schema.loaders

    made: list[object] = []
    real = schema.loaders.DataLoader

    def counted(*args: Any, **kwargs: Any) -> Any:
        made.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(schema.loaders, "DataLoader", counted)

    # when: an execution's loaders only prime rows (a mutation's payload)
    found = Loaders()
    found.customers.prime(Customer(id=uuid.uuid4(), name="primed"))

    # then: no DataLoader was made (it is several objects; most executions never load)
    assert made == []


async def test_administrators_see_who_acted_and_end_users_no_ledger_on_a_nested_page(
    gql: GraphQLClient,
) -> None:
    # given: a customer's ledger entries made by its end user
    world = await _world(size=3)
    document = "query ($id: ID!) { customer(id: $id) { transactions { nodes { actor { id } } } } }"

    # when: its customer administrator, then its end user, read them with `actor`
    manager = await gql(document, {"id": str(world.customer.id)}, token=world.manager.token)
    end_user = await gql(document, {"id": str(world.customer.id)}, token=world.end_user.token)

    # then: the administrator sees who acted; the end user sees no ledger at all
    actors = [n["actor"] for n in manager["customer"]["transactions"]["nodes"]]
    assert len(actors) == 5 and all(a is not None for a in actors)
    assert end_user["customer"]["transactions"]["nodes"] == []
