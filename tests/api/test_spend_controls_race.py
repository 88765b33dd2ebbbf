"""Spend controls against real concurrent clients: two server processes on one PostgreSQL database."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from models import spend_settings
from models.ledger import CreditTransaction, TransactionKind
from models.service import ServiceRequest
from models.spend_settings import TopUpRule
from models.user import SpendLimitPeriod
from tests.client import GraphQLClient
from tests.conftest import requires_postgres
from tests.documents import REQUEST_SERVICE
from tests.factories import Login, World, make_world
from tests.processes import ServerProcess

pytestmark = [requires_postgres, pytest.mark.slow]


@pytest.fixture(scope="module")
def servers(server_env: dict[str, str]) -> Iterator[list[str]]:
    """Two server processes sharing the test database; their base URLs."""
    with ServerProcess(server_env) as first, ServerProcess(server_env) as second:
        yield [first.base_url, second.base_url]


@pytest.fixture
async def clients(servers: list[str]) -> AsyncIterator[list[GraphQLClient]]:
    """A GraphQL client per server, each allowing 100 simultaneous connections."""
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with (
        httpx.AsyncClient(base_url=servers[0], limits=limits, timeout=120) as a,
        httpx.AsyncClient(base_url=servers[1], limits=limits, timeout=120) as b,
    ):
        yield [GraphQLClient(a), GraphQLClient(b)]


async def race(
    clients: list[GraphQLClient], by: Login, customer_ids: list[str], service_id: str, n: int
) -> Counter[str]:
    """`n` requestService calls of 1 unit at once, alternating servers and customers; outcomes by code."""
    pairs = zip(range(n), itertools.cycle(clients), itertools.cycle(customer_ids), strict=False)
    bodies = await asyncio.gather(
        *(
            client(
                REQUEST_SERVICE,
                {"input": {"customerId": cid, "serviceId": service_id, "quantity": 1}},
                token=by.token,
            )
            for _, client, cid in pairs
        )
    )
    payloads = [body["requestService"] for body in bodies]
    return Counter(p["userErrors"][0]["code"] if p["userErrors"] else "OK" for p in payloads)


async def test_50_racing_requests_never_pass_the_floor(clients: list[GraphQLClient]) -> None:
    # given: 30.00, a floor of 0.00 and a 1.00 service
    world = await make_world("shop", price="1.00", balance=30)
    await spend_settings.set_minimum_balance(world.customer.id, 0)

    # when: 50 requests race through both servers
    outcomes = await race(clients, world.end_user, [world.cid], world.service_id, 50)

    # then: 30 charged, 20 refused, none below the floor
    assert outcomes == {"OK": 30, "INSUFFICIENT_CREDITS": 20}
    assert await ServiceRequest.filter(customer_id=world.customer.id).count() == 30
    entries = await CreditTransaction.filter(customer_id=world.customer.id)
    assert min(e.balance_after for e in entries) == 0


async def test_50_racing_requests_across_the_threshold_make_one_top_up(clients: list[GraphQLClient]) -> None:
    # given: 60.00 and a top-up of 100.00 below 50.00, up to 24 a day
    world = await make_world("shop", price="1.00", balance=60)
    await spend_settings.set_auto_top_up(world.customer.id, TopUpRule(5000, 10000, max_per_day=24))

    # when: 50 requests race through both servers
    outcomes = await race(clients, world.end_user, [world.cid], world.service_id, 50)

    # then: all charged, one top-up
    assert outcomes == {"OK": 50}
    kinds = Counter(e.kind for e in await CreditTransaction.filter(customer_id=world.customer.id))
    assert kinds[TransactionKind.AUTO_TOP_UP] == 1


async def world_with_limit(limited: str, customers: int) -> World:
    """`customers` customers with 100.00 each, and a limit of 10.00 a day on `limited`."""
    world = await make_world(*(f"c{i}" for i in range(customers)), price="1.00", balance=100)
    user = world.admin if limited == "catalog_admin" else world.end_user
    await spend_settings.set_spend_limit(user.user, 1000, SpendLimitPeriod.DAY)
    return world


@pytest.mark.parametrize(("limited", "customers"), [("end_user", 1), ("catalog_admin", 3)])
async def test_30_racing_requests_never_pass_a_spend_limit(
    clients: list[GraphQLClient], limited: str, customers: int
) -> None:
    # given: a limit of 10.00 a day on an end user, or on a catalog administrator of three customers
    world = await world_with_limit(limited, customers)
    user = world.admin if limited == "catalog_admin" else world.end_user
    customer_ids = [tenant.id for tenant in world.tenants.values()]

    # when: it fires 30 requests of 1.00 at once through both servers
    outcomes = await race(clients, user, customer_ids, world.service_id, 30)

    # then: exactly 10 went through
    assert outcomes == {"OK": 10, "SPEND_LIMIT_EXCEEDED": 20}
    assert await ServiceRequest.filter(requested_by_id=user.user.id).count() == 10
