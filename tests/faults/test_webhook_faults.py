"""Webhooks across a PostgreSQL outage: every committed change's delivery arrives, nothing else does.

Run with `pytest -m faults tests/faults -k webhook` (left out of the default run).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest

from tests.faults.conftest import PrivatePostgres
from tests.faults.load import Load, ReadinessProbe, assert_books_balance, call, login, make_world
from tests.polling import eventually
from tests.processes import ServerProcess
from tests.webhook_receiver import Received, WebhookReceiver

pytestmark = [pytest.mark.faults, pytest.mark.slow]

StartServer = Callable[..., Awaitable[ServerProcess]]

CREATE_ENDPOINT = """
mutation ($input: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) { webhookEndpoint { id } userErrors { code message } }
}"""


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    """A receiver whose answers wait for its gate (open until a test closes it)."""
    server = WebhookReceiver(gate=asyncio.Event())
    assert server.gate is not None
    server.gate.set()
    await server.start()
    yield server
    server.gate.set()
    await server.stop()


async def _fetch(database_url: str, query: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url, timeout=10)
    try:
        return await conn.fetch(query)
    finally:
        await conn.close()


def _entry_ids(requests: list[Received]) -> dict[str, set[str]]:
    """Ledger entry id -> the webhook-ids that carried it."""
    carried: dict[str, set[str]] = defaultdict(set)
    for request in requests:
        carried[json.loads(request.body)["data"]["id"]].add(request.headers["webhook-id"])
    return carried


async def test_webhooks_of_committed_changes_arrive_once_each_across_a_database_restart(
    fault_env: dict[str, str],
    database_url: str,
    private_postgres: PrivatePostgres,
    start_server: StartServer,
    receiver: WebhookReceiver,
) -> None:
    """PostgreSQL stops mid-load and mid-send: afterwards the same process delivers every ledger entry.

    Outcomes that came back while nothing could be recorded are kept and saved once PostgreSQL is
    back (a claim lost meanwhile would only mean a resend under the same webhook-id).
    """
    # given: a server whose endpoint takes every customer's ledger entries, and a receiver holding answers
    env = {
        **fault_env,
        "CREDITS_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
        "CREDITS_WEBHOOK_POLL_SECONDS": "0.2",
        "CREDITS_WEBHOOK_BACKOFF_SCALE": "0.01",
        "CREDITS_WEBHOOK_TIMEOUT_SECONDS": "20",
        "CREDITS_WEBHOOK_BATCH_SIZE": "5",
    }
    server = await start_server(env)
    assert server.proc is not None
    pid = server.proc.pid
    token = await login(server.base_url)
    endpoint = {"url": receiver.url, "eventTypes": ["CREDIT_TRANSACTION_CREATED"]}
    await call(server.base_url, CREATE_ENDPOINT, {"input": endpoint}, token)
    world = await make_world(server.base_url)
    await receiver.wait_count(len(world.customers))
    assert receiver.gate is not None
    receiver.gate.clear()
    held_from = len(receiver.requests)

    # when: a batch is mid-send and more deliveries are pending as PostgreSQL stops; it starts again
    async with ReadinessProbe(server.base_url) as probe, Load(world) as load:
        held = (await receiver.wait_count(held_from + 1))[held_from:]
        await load.run_for(1)
        await asyncio.to_thread(private_postgres.stop, "fast")
        try:
            await probe.wait_for(503)
            await load.run_for(1.5)
            receiver.gate.set()  # the held answers come back while nothing can be recorded
            await load.run_for(0.5)
        finally:
            await asyncio.to_thread(private_postgres.start)
        await probe.wait_for(200)
        restarted = time.monotonic()
        await load.run_for(1.5)

    # then: every ledger entry arrived (and nothing else), each under one webhook-id, the held ones again
    ledger = {str(r["id"]) for r in await _fetch(database_url, "SELECT id FROM credit_transaction")}
    got = await receiver.wait_for(lambda requests: set(_entry_ids(requests)) >= ledger, timeout=60)
    carried = _entry_ids(got)
    assert set(carried) == ledger
    assert all(len(ids) == 1 for ids in carried.values()), {e: i for e, i in carried.items() if len(i) > 1}
    bodies: dict[str, set[bytes]] = defaultdict(set)
    for request in got:
        bodies[request.headers["webhook-id"]].add(request.body)
    assert all(len(b) == 1 for b in bodies.values())
    # the held answers came back while nothing could be recorded: saved once it was back, else sent again
    held_ids = {r.headers["webhook-id"] for r in held}

    async def held_delivered() -> bool:
        rows = await _fetch(
            database_url, "SELECT id::text AS id FROM webhook_delivery WHERE status = 'DELIVERED'"
        )
        return held_ids <= {r["id"] for r in rows}

    await eventually(held_delivered, within=30, what="the held deliveries DELIVERED")
    deliveries = await _fetch(database_url, "SELECT id::text AS id, status FROM webhook_delivery")
    assert {r["id"] for r in deliveries} == set(bodies)
    assert load.count("unavailable") > 0, load.summary()
    assert any(a.outcome == "ok" and a.started > restarted for a in load.attempts), load.summary()
    assert server.proc.poll() is None and server.proc.pid == pid
    load.assert_answered_clearly()
    load.assert_keys_answer_one_result()
    await assert_books_balance(database_url, load)
