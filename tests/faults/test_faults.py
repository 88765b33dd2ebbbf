"""Failing parts never cost a credit: the server killed, PostgreSQL and Redis restarted, SMTP down,
all under a steady load of concurrent requests on PostgreSQL.

Afterwards balance = ledger sum with gap-free sequences for every customer, every request the
clients saw succeed is charged exactly once and refunded at most once, retried idempotency keys
answer one result, every alert email arrives exactly once, /readyz reported the outage and
recovered in the same process, and nobody's request hung: during the outage it was answered 503
SERVICE_UNAVAILABLE (or, with the server process itself gone, the connection was refused).

Run with `pytest -m faults tests/faults` (they are left out of the default run).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.conftest import TEST_ENV
from tests.documents import BALANCE_CHANGED, GRANT_CREDITS, SET_CREDIT_ALERT, WITHDRAW_CREDITS
from tests.faults.conftest import PrivatePostgres, PrivateRedis
from tests.faults.load import (
    REQUEST_TIMEOUT,
    Load,
    ReadinessProbe,
    assert_books_balance,
    call,
    make_customer_admin,
    make_world,
)
from tests.processes import ServerProcess
from tests.smtp import SmtpServer
from tests.ws_client import TRANSPORT_WS, GraphQLSocket, OperationCompleted, OperationError, SocketClosed

pytestmark = [pytest.mark.faults, pytest.mark.slow]

StartServer = Callable[..., Awaitable[ServerProcess]]


def ok_after(load: Load, moment: float, op: str = "requestService") -> int:
    """Successful attempts of `op` started after `moment`."""
    return sum(1 for a in load.attempts if a.op == op and a.outcome == "ok" and a.started > moment)


def in_order(seen: list[Any], *expected: Any) -> bool:
    """Whether `expected` occurs in `seen` as a subsequence."""
    remaining = iter(seen)
    return all(any(item == wanted for item in remaining) for wanted in expected)


# --- (1) the server process killed ---------------------------------------------------------------


async def test_server_killed_and_restarted_mid_load_loses_and_doubles_nothing(
    fault_env: dict[str, str], database_url: str, start_server: StartServer
) -> None:
    """SIGKILL mid-load: in-flight transactions roll back, retried keys answer their first result."""
    # given
    server = await start_server(fault_env)
    world = await make_world(server.base_url)

    # when
    async with Load(world) as load:
        await load.run_for(2)
        server.stop(signal.SIGKILL)
        await asyncio.sleep(0.5)
        await start_server(fault_env, port=server.port)
        restarted = time.monotonic()
        await load.run_for(2)

    # then
    load.assert_answered_clearly(transport_errors_allowed=True)
    load.assert_keys_answer_one_result()
    assert load.count("transport") > 0, load.summary()
    assert ok_after(load, restarted) > 0, load.summary()
    await assert_books_balance(database_url, load)


# --- (2) PostgreSQL restarted --------------------------------------------------------------------


async def test_database_restart_answers_503_then_recovers_without_a_server_restart(
    fault_env: dict[str, str],
    database_url: str,
    private_postgres: PrivatePostgres,
    start_server: StartServer,
) -> None:
    """PostgreSQL down: requests answer 503 at once, /readyz says so; back up: the same process serves."""
    # given
    server = await start_server(fault_env)
    assert server.proc is not None
    pid = server.proc.pid
    world = await make_world(server.base_url)

    # when
    async with ReadinessProbe(server.base_url) as probe, Load(world) as load:
        await load.run_for(2)
        await asyncio.to_thread(private_postgres.stop, "fast")
        try:
            await probe.wait_for(503)
            await load.run_for(1.5)
        finally:
            await asyncio.to_thread(private_postgres.start)
        await probe.wait_for(200)
        recovered = time.monotonic()
        await load.run_for(1)
        # A crash-like quick restart leaves the pool holding connections the old server closed.
        await asyncio.to_thread(private_postgres.restart, "immediate")
        restarted = time.monotonic()
        await load.run_for(2)

    # then
    assert server.proc.poll() is None and server.proc.pid == pid
    assert in_order(probe.statuses(), 200, 503, 200), probe.statuses()
    assert None not in probe.statuses() and probe.slowest() < REQUEST_TIMEOUT
    assert load.count("unavailable") > 0, load.summary()
    assert max(a.elapsed for a in load.attempts if a.outcome == "unavailable") < 5
    assert ok_after(load, recovered) > 0 and ok_after(load, restarted) > 0, load.summary()
    late = [a for a in load.attempts if a.outcome != "ok" and a.started > restarted + 1]
    assert [a for a in late if a.outcome != "user_error"] == [], load.summary()
    load.assert_answered_clearly()
    load.assert_keys_answer_one_result()
    await assert_books_balance(database_url, load)


# --- (3) Redis restarted with a subscriber connected ---------------------------------------------


class BalanceWatcher:
    """A subscriber to one customer's balanceChanged that resumes with afterSequence on reconnect."""

    def __init__(self, base_url: str, token: str, customer_id: str) -> None:
        self.base_url = base_url
        self.token = token
        self.customer_id = customer_id
        self.events: list[dict[str, Any]] = []
        self.reconnects = 0
        self.subscribed = asyncio.Event()

    @property
    def last(self) -> int:
        """The last sequence received (0: none)."""
        return self.events[-1]["sequence"] if self.events else 0

    async def run(self) -> None:
        """Receive until cancelled; a closed socket is reopened after the last sequence seen."""
        while True:
            try:
                async with GraphQLSocket(self.base_url, TRANSPORT_WS, self.token) as socket:
                    variables = {"customerId": self.customer_id, "afterSequence": self.last}
                    subscription = await socket.subscribe(BALANCE_CHANGED, variables)
                    self.subscribed.set()
                    while True:
                        try:
                            self.events.append((await subscription.next(timeout=30))["balanceChanged"])
                        except TimeoutError:
                            continue
            except (SocketClosed, OperationError, OperationCompleted, OSError):
                self.reconnects += 1
                await asyncio.sleep(0.2)

    async def wait_for(self, sequence: int, within: float = 20) -> None:
        """Until the event with `sequence` (or a later one) arrived."""
        deadline = time.monotonic() + within
        while self.last < sequence:
            assert time.monotonic() < deadline, f"got up to {self.last} of {sequence}"
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def watching(watcher: BalanceWatcher) -> AsyncIterator[BalanceWatcher]:
    """Run the watcher in the background while the block runs."""
    task = asyncio.create_task(watcher.run())
    try:
        await asyncio.wait_for(watcher.subscribed.wait(), 10)
        yield watcher
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_redis_restart_leaves_a_subscriber_with_every_change_exactly_once(
    fault_env: dict[str, str],
    database_url: str,
    private_redis: PrivateRedis,
    start_server: StartServer,
) -> None:
    """The event bus restarts mid-load: the subscriber ends with sequences 1..n, each once, in order."""
    # given
    env = {
        **fault_env,
        "CREDITS_BROADCAST_URL": private_redis.url,
        "CREDITS_BUS_HEARTBEAT_SECONDS": "0.3",
        "CREDITS_BUS_LIVENESS_SECONDS": "1.0",
    }
    server = await start_server(env)
    assert server.proc is not None
    pid = server.proc.pid
    world = await make_world(server.base_url)
    customer = world.customers[0]
    watcher = BalanceWatcher(server.base_url, world.token, customer)

    # when
    async with watching(watcher), ReadinessProbe(server.base_url) as probe:
        async with Load(world) as load:
            await load.run_for(2)
            private_redis.stop()
            await probe.wait_for(503)
            await load.run_for(1.5)
            private_redis.start()
            await probe.wait_for(200)
            await load.run_for(2)
        last = await assert_books_balance(database_url, load)
        await watcher.wait_for(last[customer])
        await asyncio.sleep(0.5)  # room for a late duplicate to show up

    # then
    sequences = [e["sequence"] for e in watcher.events]
    assert sequences == list(range(1, last[customer] + 1)), sequences
    assert all(e["balance"] == e["transaction"]["balanceAfter"] for e in watcher.events)
    await _assert_balances_match_ledger(database_url, watcher.events)
    assert in_order(probe.statuses(), 200, 503, 200), probe.statuses()
    assert server.proc.poll() is None and server.proc.pid == pid
    load.assert_answered_clearly()
    load.assert_keys_answer_one_result()
    assert load.count("unavailable") == 0, load.summary()


async def _assert_balances_match_ledger(database_url: str, events: list[dict[str, Any]]) -> None:
    """Each event carries its ledger entry's id and balance after."""
    conn = await asyncpg.connect(database_url, timeout=10)
    try:
        rows = await conn.fetch("SELECT id, sequence, balance_after FROM credit_transaction")
    finally:
        await conn.close()
    ledger = {str(r["id"]): (r["sequence"], f"{r['balance_after'] / 100:.2f}") for r in rows}
    for event in events:
        entry = event["transaction"]
        assert ledger[entry["id"]] == (event["sequence"], event["balance"])


# --- (4) the SMTP server stopped and started -----------------------------------------------------


async def test_alert_emails_queued_while_smtp_is_down_arrive_exactly_once(
    fault_env: dict[str, str],
    database_url: str,
    smtp: SmtpServer,
    start_server: StartServer,
) -> None:
    """Alerts fire while SMTP is down: each email is retried and arrives once after it is back."""
    # given
    env = {
        **fault_env,
        "CREDITS_SMTP_HOST": "127.0.0.1",
        "CREDITS_SMTP_PORT": str(smtp.port),
        "CREDITS_SMTP_STARTTLS": "false",
        "CREDITS_MAIL_BACKOFF_SECONDS": "0.2",
        "CREDITS_MAIL_BACKOFF_MAX_SECONDS": "1",
        "CREDITS_MAIL_MAX_ATTEMPTS": "100",
        "CREDITS_MAIL_POLL_SECONDS": "0.5",
        "CREDITS_MAIL_TIMEOUT_SECONDS": "3",
    }
    server = await start_server(env)
    world = await make_world(server.base_url, customers=3, grant="10.00")
    alerted, *loaded = world.customers
    await make_customer_admin(world, alerted, "first@acme.test")
    await make_customer_admin(world, alerted, "second@acme.test")
    threshold = {"customerId": alerted, "threshold": "5.00"}
    await call(server.base_url, SET_CREDIT_ALERT, threshold, world.token)
    world.customers = loaded  # the load works on the others
    smtp.stop()

    # when: three crossings of zero and of the threshold, under load, with SMTP down
    async with Load(world) as load:
        for n in range(3):
            down = {"input": {"customerId": alerted, "amount": "25", "idempotencyKey": f"down-{n}"}}
            up = {"input": {"customerId": alerted, "amount": "25", "idempotencyKey": f"up-{n}"}}
            await call(server.base_url, WITHDRAW_CREDITS, down, world.token)
            await call(server.base_url, GRANT_CREDITS, up, world.token)
        await _eventually(lambda: _outbox_tried(database_url, 12), "every email tried while SMTP is down")
        await load.run_for(1)
        smtp.start()
        await _eventually(lambda: _outbox_sent(database_url, 12), "every email sent")
        await asyncio.sleep(1.5)  # room for a duplicate send to show up

    # then
    rows = await _outbox(database_url)
    assert len(smtp.handler.envelopes) == 12
    assert smtp.per_message_id() == {row["message_id"]: 1 for row in rows}
    assert sorted(str(m["To"]) for m in smtp.messages) == ["first@acme.test"] * 6 + ["second@acme.test"] * 6
    assert all(row["attempts"] >= 2 for row in rows)
    load.assert_answered_clearly()
    await assert_books_balance(database_url, load)


async def _outbox(database_url: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url, timeout=10)
    try:
        return await conn.fetch("SELECT message_id, status, attempts, last_error FROM email_outbox")
    finally:
        await conn.close()


async def _outbox_tried(database_url: str, count: int) -> bool:
    rows = await _outbox(database_url)
    return len(rows) == count and all(r["attempts"] >= 1 and r["last_error"] for r in rows)


async def _outbox_sent(database_url: str, count: int) -> bool:
    rows = await _outbox(database_url)
    return len(rows) == count and all(r["status"] == "SENT" for r in rows)


async def _eventually(check: Callable[[], Awaitable[bool]], what: str, within: float = 20) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


# --- (5) the server killed while an alert email is mid-send --------------------------------------

MAIL_BOUND = 20.0  # seconds: far below the 120 s lease a crash used to cost


@pytest.mark.parametrize("smtp_down", ["hung", "refused"])
@pytest.mark.parametrize("database", ["sqlite", "postgres"])
async def test_mail_of_a_server_killed_mid_send_arrives_seconds_after_restart(
    database: str,
    smtp_down: str,
    smtp: SmtpServer,
    start_server: StartServer,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    """SMTP down, an alert fires, SIGKILL, SMTP back, restart: the email arrives once, in seconds.

    `hung`: the SMTP server accepts and never answers, and the kill lands while the dispatcher
    holds the row; `refused`: the SMTP server is stopped and the kill follows the answer at once.
    """
    # given: a server on its own database whose SMTP is down, and a customer with one administrator
    env = {
        **os.environ,
        **TEST_ENV,
        "CREDITS_DATA_DIR": str(tmp_path),
        "CREDITS_DATABASE_URL": await _mail_database(database, request, tmp_path),
        "CREDITS_BROADCAST_URL": "memory://",
        "CREDITS_LOG_FORMAT": "text",
        "CREDITS_SMTP_HOST": "127.0.0.1",
        "CREDITS_SMTP_PORT": str(smtp.port),
        "CREDITS_SMTP_STARTTLS": "false",
    }
    black_hole, clients = socket.socket(), []
    black_hole.bind(("127.0.0.1", 0))
    black_hole.listen(16)
    black_hole.setblocking(False)
    smtp.stop()
    down = {**env, "CREDITS_SMTP_PORT": str(black_hole.getsockname()[1])} if smtp_down == "hung" else env
    server = await start_server(down)
    world = await make_world(server.base_url, customers=1, grant="10.00")
    await make_customer_admin(world, world.customers[0], "admin@acme.test")

    # when: a withdrawal crosses zero and the server is killed (mid-send, or right after answering)
    variables = {"input": {"customerId": world.customers[0], "amount": "25", "idempotencyKey": "cross"}}
    await call(server.base_url, WITHDRAW_CREDITS, variables, world.token)
    try:
        if smtp_down == "hung":
            await _eventually(lambda: _accepted(black_hole, clients), "the dispatcher's SMTP connection")
        server.stop(signal.SIGKILL)
    finally:
        for client in clients:
            client.close()
        black_hole.close()
    smtp.start()
    restarted = time.monotonic()
    await start_server(env, port=server.port)
    ready = time.monotonic()
    await _eventually(lambda: _received(smtp, 1), "the alert email", within=MAIL_BOUND)
    arrived = time.monotonic()
    await asyncio.sleep(1)  # room for a duplicate send to show up

    # then: the one email arrived once, seconds after the restart
    print(
        f"\nmail delay after SIGKILL ({database}, SMTP {smtp_down}): {arrived - restarted:.2f}s "
        f"from restart, {arrived - ready:.2f}s from ready"
    )
    assert [str(m["To"]) for m in smtp.messages] == ["admin@acme.test"]
    assert list(smtp.per_message_id().values()) == [1]


async def _mail_database(database: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database of the kind asked for: a SQLite file, or one on the private PostgreSQL."""
    if database == "sqlite":
        return f"sqlite:///{tmp_path / 'credits.sqlite3'}"
    cluster: PrivatePostgres = request.getfixturevalue("private_postgres")
    cluster.ensure_running()
    return await cluster.create_database()


async def _accepted(listener: socket.socket, clients: list[socket.socket]) -> bool:
    """Whether a client connected to the (non-blocking) listener; kept open in `clients`."""
    with contextlib.suppress(BlockingIOError):
        clients.append(listener.accept()[0])
    return bool(clients)


async def _received(smtp: SmtpServer, count: int) -> bool:
    return len(smtp.handler.envelopes) >= count
