"""A graceful shutdown (SIGTERM) ends open event streams, as uvicorn closes websockets with 1012."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Iterator

import httpx
import pytest

from api.sse import SHUTDOWN_WORDS
from tests.documents import BALANCE_SEQUENCES
from tests.factories import make_catalog_admin, make_customer
from tests.processes import ServerProcess
from tests.sse_client import Event, subscribe
from tests.ws_client import until_subscribed

pytestmark = pytest.mark.slow

HEARTBEAT_SECONDS = 0.2
EXIT_TIMEOUT = 20  # a bound for a hang, not a measure: the process exits long before it


@pytest.fixture
def server(server_env: dict[str, str]) -> Iterator[ServerProcess]:
    """A real server of its own (the test stops it), with frequent heartbeats."""
    with ServerProcess({**server_env, "CREDITS_SSE_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS)}) as process:
        yield process


async def test_sigterm_ends_an_open_event_stream_and_the_process_exits(server):
    """SIGTERM with a subscriber's stream open: the stream gets a last comment and ends without
    `complete` (the client reconnects and resumes), and the process exits instead of waiting for it."""
    # given
    admin = await make_catalog_admin()
    customer = await make_customer(balance=10)
    variables = {"customerId": str(customer.id)}
    async with (
        httpx.AsyncClient(base_url=server.base_url, timeout=EXIT_TIMEOUT) as http,
        subscribe(http, BALANCE_SEQUENCES, variables, admin.token) as stream,
    ):
        await until_subscribed(server.base_url, "balanceChanged")
        assert server.proc is not None

        # when
        os.kill(server.proc.pid, signal.SIGTERM)

        # then
        events = await stream.rest(timeout=EXIT_TIMEOUT)
    assert events[-1] == Event("comment", SHUTDOWN_WORDS.removeprefix(":").strip())
    assert Event("complete", None) not in events
    assert {event.kind for event in events} == {"comment"}  # heartbeats, then the last words
    await asyncio.to_thread(server.proc.wait, EXIT_TIMEOUT)


async def test_event_stream_lines_end_with_lf_on_the_wire(server):
    """The raw bytes of a live stream (heartbeats, then the last words at shutdown): no CR anywhere."""
    # given
    admin = await make_catalog_admin()
    customer = await make_customer(balance=10)
    body = {"query": BALANCE_SEQUENCES, "variables": {"customerId": str(customer.id), "afterSequence": 0}}
    headers = {"Accept": "text/event-stream", "Authorization": f"Bearer {admin.token}"}
    async with (
        httpx.AsyncClient(base_url=server.base_url, timeout=EXIT_TIMEOUT) as http,
        http.stream("POST", "/graphql", json=body, headers=headers) as response,
    ):
        chunks = response.aiter_raw()
        received = b""
        async with asyncio.timeout(EXIT_TIMEOUT):
            while b": ping\n\n" not in received:
                received += await anext(chunks)
        assert server.proc is not None

        # when
        os.kill(server.proc.pid, signal.SIGTERM)

        # then
        async with asyncio.timeout(EXIT_TIMEOUT):
            received += b"".join([chunk async for chunk in chunks])
    first = {"data": {"balanceChanged": {"customerId": str(customer.id), "sequence": 1, "balance": "10.00"}}}
    replayed = f"event: next\ndata: {json.dumps(first, separators=(',', ':'))}\n\n".encode()
    assert received.startswith(replayed)
    heartbeats = received.removeprefix(replayed).removesuffix(SHUTDOWN_WORDS.encode())
    assert heartbeats and heartbeats == b": ping\n\n" * (len(heartbeats) // len(b": ping\n\n"))
    assert b"\r" not in received
