"""Python's `gql` client against a real server: subscriptions over both websocket protocols, HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from gql.transport.httpx import HTTPXAsyncTransport
from gql.transport.websockets import WebsocketsTransport

from models.user import Role
from tests.client import GraphQLClient
from tests.documents import BALANCE_SEQUENCES, GRANT_CREDITS
from tests.factories import enable_credits, make_catalog_admin, make_customer, make_user
from tests.processes import ServerProcess
from tests.ws_client import PROTOCOLS, until_subscribed, ws_url

VIEWER_AND_BALANCE = "query { viewer { role } customer { id balance } }"
CUSTOMERS = "query { customers { nodes { id } } }"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(server_env: dict[str, str]) -> Iterator[ServerProcess]:
    """One real server for the module (the database is emptied between tests)."""
    with ServerProcess(server_env) as process:
        yield process


def bearer(token: str) -> dict[str, str]:
    """The Authorization header (and `connection_init` payload) of a token."""
    return {"Authorization": f"Bearer {token}"}


async def first_event(transport: WebsocketsTransport, request: GraphQLRequest) -> dict[str, Any]:
    """The `data` of the first result of a subscription through gql."""
    async with Client(transport=transport) as session:
        async for data in session.subscribe(request):
            return data
    raise AssertionError("the subscription ended without a result")


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_gql_receives_a_balance_event_over_each_websocket_protocol(
    protocol: str, server: ServerProcess, api: GraphQLClient
) -> None:
    # given a customer administrator subscribed to its balance with gql's websockets transport
    await enable_credits()
    admin = await make_catalog_admin()
    customer = await make_customer(by=admin)
    owner = await make_user(Role.CUSTOMER_ADMIN, customer)
    transport = WebsocketsTransport(
        url=ws_url(server.base_url), init_payload=bearer(owner.token), subprotocols=[protocol]
    )
    request = GraphQLRequest(BALANCE_SEQUENCES, variable_values={"customerId": str(customer.id)})
    event = asyncio.ensure_future(first_event(transport, request))
    await until_subscribed(server.base_url, "balanceChanged")

    # when the catalog administrator grants 12.50
    input = {"customerId": str(customer.id), "amount": "12.50"}
    assert (await api(GRANT_CREDITS, {"input": input}, token=admin.token))["grantCredits"]["userErrors"] == []

    # then gql delivers the event, having spoken the protocol it asked for
    async with asyncio.timeout(30):
        data = await event
    assert transport.subprotocol == protocol
    assert data == {"balanceChanged": {"customerId": str(customer.id), "sequence": 1, "balance": "12.50"}}


async def test_gql_queries_over_http_and_sees_error_codes(server: ServerProcess) -> None:
    # given a customer administrator of a customer with 40 credits
    customer = await make_customer(balance=40)
    owner = await make_user(Role.CUSTOMER_ADMIN, customer)
    transport = HTTPXAsyncTransport(url=f"{server.base_url}/graphql", headers=bearer(owner.token))

    async with Client(transport=transport) as session:
        # when it queries its balance, and then a list only catalog administrators may read
        data = await session.execute(GraphQLRequest(VIEWER_AND_BALANCE))
        with pytest.raises(TransportQueryError) as denied:
            await session.execute(GraphQLRequest(CUSTOMERS))

    # then the data comes back as the API spells it, and the refusal carries its code
    assert data == {
        "viewer": {"role": "CUSTOMER_ADMIN"},
        "customer": {"id": str(customer.id), "balance": "40.00"},
    }
    assert [error["extensions"]["code"] for error in denied.value.errors or []] == ["FORBIDDEN"]
