"""A real server's memory stays flat under streams of events and refused documents (RSS from /proc)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest

from tests.client import GraphQLClient
from tests.factories import Login, enable_credits, make_catalog_admin, make_customer
from tests.processes import ServerProcess
from tests.resolvers.test_subscriptions import grant_many, rss_kib
from tests.sse_client import subscribe as sse_subscribe
from tests.ws_client import LEGACY_WS, TRANSPORT_WS, GraphQLSocket, until_subscribed, ws_url

pytestmark = pytest.mark.slow

MIB = 1024  # KiB
SUBSCRIBERS = 8
WARM_UP_EVENTS = 500
EVENTS = 2500
# The leak was 1.1 KB or more per event per open operation: 8 × 2,500 of these events grew the
# server by 55–58 MiB on every kind; fixed, 0.3–4 MiB (the most on the module's first test).
SUBSCRIPTION_TOLERANCE = 12 * MIB
REFUSED_DOCUMENTS = 200
# The leak was ~1.7 MB per 900 KB request: 200 requests grew the server by 344 MiB; fixed, 2.5 MiB.
DOCUMENT_TOLERANCE = 40 * MIB

# NAME makes each document's text distinct: shared feeds are one per document, so eight feeds.
_FIELDS = "{ customerId sequence balance transaction { id kind amount note } }"
SHARED = "subscription NAME($customerId: ID) { balanceChanged(customerId: $customerId) " + _FIELDS + " }"
# An inline fragment takes a subscription out of the shared feeds: it runs per operation.
PER_OPERATION = (
    "subscription NAME($customerId: ID) {"
    " ... on Subscription { balanceChanged(customerId: $customerId) " + _FIELDS + " } }"
)
REPLAY = (
    "subscription NAME($customerId: ID, $after: Int) {"
    " balanceChanged(customerId: $customerId, afterSequence: $after) " + _FIELDS + " }"
)

# kind → (transport, document); SSE and the legacy protocol always run per operation.
KINDS = {
    "shared feed": ("ws", TRANSPORT_WS, SHARED),
    "per-operation graphql-transport-ws": ("ws", TRANSPORT_WS, PER_OPERATION),
    "afterSequence replay": ("ws", TRANSPORT_WS, REPLAY),
    "legacy graphql-ws": ("ws", LEGACY_WS, SHARED),
    "SSE": ("sse", None, SHARED),
}

Next = Callable[[], Awaitable[dict[str, Any]]]


@pytest.fixture(scope="module")
def server(server_env: dict[str, str]) -> Iterator[ServerProcess]:
    """One real server for the module."""
    with ServerProcess(server_env) as process:
        yield process


async def open_subscribers(
    stack: AsyncExitStack, server: ServerProcess, kind: str, admin: Login, customer_id: str
) -> list[Next]:
    """SUBSCRIBERS subscriptions of `kind` to the customer's balance; a reader of each."""
    transport, protocol, document = KINDS[kind]
    readers: list[Next] = []
    variables: dict[str, Any] = {"customerId": customer_id}
    if document is REPLAY:
        variables["after"] = 0
    for i in range(SUBSCRIBERS):
        query = document.replace("NAME", f"S{i}")
        if transport == "sse":
            http = await stack.enter_async_context(httpx.AsyncClient(base_url=server.base_url, timeout=60))
            stream = await stack.enter_async_context(sse_subscribe(http, query, variables, admin.token))
            readers.append(stream.next)
        else:
            socket = await stack.enter_async_context(GraphQLSocket(server.base_url, protocol, admin.token))
            readers.append((await socket.subscribe(query, variables)).next)
    if transport == "ws":
        await until_subscribed(ws_url(server.base_url), "balanceChanged", SUBSCRIBERS)
    return readers


async def deliver(api: GraphQLClient, admin: Login, customer: Any, readers: list[Next], count: int) -> None:
    """`count` grants, each received by every reader."""

    async def read_all(next_event: Next) -> None:
        for _ in range(count):
            await next_event()

    reading = asyncio.gather(*(read_all(reader) for reader in readers))
    await grant_many(api, admin, customer, count, note="x" * 200)
    await asyncio.wait_for(reading, 120)


@pytest.fixture
async def server_api(server: ServerProcess) -> AsyncIterator[GraphQLClient]:
    """GraphQL over HTTP to the module's server."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as client:
        yield GraphQLClient(client)


@pytest.mark.parametrize("kind", list(KINDS))
async def test_open_subscriptions_keep_memory_flat_over_thousands_of_events(server, server_api, kind):
    """Eight open subscriptions of each kind receive 2,500 events; the server's memory does not grow."""
    # given: eight subscribers, warmed up
    admin = await make_catalog_admin()
    customer = await make_customer()
    await enable_credits()
    async with AsyncExitStack() as stack:
        readers = await open_subscribers(stack, server, kind, admin, str(customer.id))
        await deliver(server_api, admin, customer, readers, WARM_UP_EVENTS)
        before = rss_kib(server.proc.pid)

        # when
        await deliver(server_api, admin, customer, readers, EVENTS)

        # then
        grown = rss_kib(server.proc.pid) - before
        assert grown < SUBSCRIPTION_TOLERANCE, f"{kind}: +{grown} KiB after {EVENTS} events"


async def test_refused_over_long_documents_keep_memory_flat(server):
    """Unauthenticated requests with a 900 KB document (refused by length) or 900 KB of extensions
    (executed) leave nothing behind: the server's memory does not grow over hundreds of them."""
    # given
    padding = "#" + "x" * 900_000

    async def hostile(http: httpx.AsyncClient, i: int) -> None:
        if i % 2:
            body: dict[str, Any] = {"query": f"query {{ __typename }} {padding}{i}"}
        else:
            body = {"query": "query { __typename }", "extensions": {"padding": f"{padding}{i}"}}
        response = await http.post("/graphql", json=body)
        assert response.status_code == 200
        if i % 2:
            assert "more than" in response.json()["errors"][0]["message"]

    async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as http:
        for i in range(20):
            await hostile(http, i)
        before = rss_kib(server.proc.pid)

        # when
        for i in range(REFUSED_DOCUMENTS):
            await hostile(http, i)

        # then
        grown = rss_kib(server.proc.pid) - before
        assert grown < DOCUMENT_TOLERANCE, f"+{grown} KiB after {REFUSED_DOCUMENTS} requests"
