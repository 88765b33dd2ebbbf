"""Scale-out: two server processes sharing PostgreSQL and a Redis event bus, Redis restarted mid-stream."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from models.customer import Customer
from models.ledger import CreditTransaction
from models.money import to_decimal
from models.user import Role
from tests.client import GraphQLClient
from tests.conftest import IS_POSTGRES, IS_REDIS
from tests.documents import CUSTOMER_BALANCE
from tests.factories import Login, enable_credits, make_catalog_admin, make_customer, make_user
from tests.processes import HAS_REDIS_SERVER, RedisServer, ServerProcess, free_port
from tests.ws_client import TRANSPORT_WS, GraphQLSocket, SocketClosed

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (IS_POSTGRES and IS_REDIS and HAS_REDIS_SERVER),
        reason="needs PostgreSQL, Redis (CREDITS_TEST_REDIS_URL) and redis-server",
    ),
]

BALANCE_CHANGED = """
subscription ($customerId: ID, $afterSequence: Int) {
  balanceChanged(customerId: $customerId, afterSequence: $afterSequence) {
    customerId balance sequence
    transaction { id sequence kind amount balanceAfter }
  }
}"""
GRANT = """
mutation ($input: BalanceChangeInput!) {
  grantCredits(input: $input) {
    transaction { id sequence kind amount balanceAfter }
    userErrors { code field }
  }
}"""

HEARTBEAT_SECONDS = "0.3"
LIVENESS_SECONDS = "1.0"
AMOUNTS = ("1.25", "0.10", "3.00", "7.77", "0.01")


class Server(ServerProcess):
    """A server process whose log can be read from its own start on."""

    def start(self, timeout: float = 30) -> None:
        """Remember where this run's log begins, then start."""
        self.log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        super().start(timeout)

    def log_text(self) -> str:
        """What this process has logged so far."""
        with self.log_path.open("rb") as log:
            log.seek(self.log_offset)
            return log.read().decode(errors="replace")

    def bus_log(self) -> list[str]:
        """Its event bus's losses and reconnects, in order."""
        return [
            "lost" if " lost: " in line else "reconnected"
            for line in self.log_text().splitlines()
            if " credits.bus " in line
            and " event bus " in line
            and (" lost: " in line or line.endswith(" reconnected"))
        ]


class TcpProxy:
    """A TCP proxy to a local port, run in the test's event loop; `cut` drops every connection."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        """Listen (again, on the same port)."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def cut(self) -> None:
        """Stop listening and reset every open connection."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            target_reader, target_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_writer.transport.abort()
            return
        self._writers |= {client_writer, target_writer}
        await asyncio.gather(
            self._pipe(client_reader, target_writer), self._pipe(target_reader, client_writer)
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            writer.transport.abort()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A private redis-server on its own port, always stopped afterwards (never the machine's)."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def servers(server_env: dict[str, str], redis_server: RedisServer) -> Iterator[tuple[Server, Server]]:
    """Servers A and B on the shared PostgreSQL database and the private Redis bus."""
    env = {
        **server_env,
        "CREDITS_BROADCAST_URL": redis_server.url,
        "CREDITS_BUS_HEARTBEAT_SECONDS": HEARTBEAT_SECONDS,
        "CREDITS_BUS_LIVENESS_SECONDS": LIVENESS_SECONDS,
    }
    a, b = Server(env), Server(env)
    try:
        a.start()
        b.start()
        yield a, b
    finally:
        a.stop()
        b.stop()


@pytest.fixture
async def api_a(servers: tuple[Server, Server]) -> AsyncIterator[GraphQLClient]:
    """A GraphQL-over-HTTP client of server A."""
    async with httpx.AsyncClient(base_url=servers[0].base_url, timeout=10) as client:
        yield GraphQLClient(client)


async def readyz(server: ServerProcess) -> tuple[int, dict[str, Any]]:
    """The server's /readyz status code and body."""
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.get(f"{server.base_url}/readyz")
    return response.status_code, response.json()


async def wait_for_readyz(server: ServerProcess, status: int, timeout: float) -> dict[str, Any]:
    """Poll /readyz until it answers `status`; its body. Fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        code, body = await readyz(server)
        if code == status:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"{server.base_url}/readyz not {status} within {timeout}s: {code} {body}")
        await asyncio.sleep(0.05)


async def grant(api: GraphQLClient, admin: Login, customer: Customer, amount: str) -> dict[str, Any]:
    """grantCredits through a real server; the committed transaction."""
    input = {"customerId": str(customer.id), "amount": amount}
    payload = (await api(GRANT, {"input": input}, token=admin.token))["grantCredits"]
    assert payload["userErrors"] == []
    return payload["transaction"]


@dataclass
class Reader:
    """A balanceChanged subscriber on one server that resumes with afterSequence if its socket closes."""

    server: ServerProcess
    token: str
    customer_id: str
    events: list[dict[str, Any]] = field(default_factory=list)
    resumes: int = 0

    @property
    def last(self) -> int:
        """The last sequence seen (0 before the first)."""
        return self.events[-1]["sequence"] if self.events else 0

    async def run(self) -> None:
        """Read until cancelled, reconnecting after the last sequence seen."""
        while True:
            variables = {"customerId": self.customer_id, "afterSequence": self.last}
            async with GraphQLSocket(self.server.base_url, TRANSPORT_WS, self.token) as ws:
                subscription = await ws.subscribe(BALANCE_CHANGED, variables)
                try:
                    while True:
                        self.events.append((await subscription.next(timeout=3600))["balanceChanged"])
                except SocketClosed:
                    self.resumes += 1

    async def wait_for(self, sequence: int, timeout: float) -> None:
        """Wait until the event of `sequence` (or a later one) has arrived."""
        deadline = time.monotonic() + timeout
        while self.last < sequence:
            if time.monotonic() > deadline:
                raise AssertionError(f"got up to {self.last}, not {sequence}, within {timeout}s")
            await asyncio.sleep(0.05)


def as_event(entry: CreditTransaction) -> dict[str, Any]:
    """The balanceChanged result a catalog administrator must get for a ledger entry."""
    return {
        "customerId": str(entry.customer_id),
        "balance": str(to_decimal(entry.balance_after)),
        "sequence": entry.sequence,
        "transaction": {
            "id": str(entry.id),
            "sequence": entry.sequence,
            "kind": "GRANT",
            "amount": str(to_decimal(entry.amount)),
            "balanceAfter": str(to_decimal(entry.balance_after)),
        },
    }


async def test_mutation_on_one_server_reaches_a_subscriber_on_the_other(servers, api_a):
    """Grants committed through server A arrive live at a subscriber of server B."""
    # given: a subscriber on B, registered (it has replayed the first entry)
    a, b = servers
    admin = await make_catalog_admin()
    customer = await make_customer(balance=5)
    reader = Reader(b, admin.token, str(customer.id))
    task = asyncio.create_task(reader.run())
    try:
        await reader.wait_for(1, timeout=10)

        # when
        committed, latencies = [], []
        for sequence, amount in enumerate(("2.50", "0.25", "1.00"), start=2):
            committed.append(await grant(api_a, admin, customer, amount))
            started = time.monotonic()
            await reader.wait_for(sequence, timeout=10)
            latencies.append(time.monotonic() - started)

        # then: each arrived at once (through Redis, not a catch-up after a bus timeout)
        assert [event["balance"] for event in reader.events] == ["5.00", "7.50", "7.75", "8.75"]
        assert reader.events[1:] == [
            {
                "customerId": str(customer.id),
                "balance": t["balanceAfter"],
                "sequence": t["sequence"],
                "transaction": t,
            }
            for t in committed
        ]
        assert max(latencies) < 0.5, latencies
        await asyncio.sleep(0.5)
        assert len(reader.events) == 4
        assert reader.resumes == 0
        assert a.bus_log() == b.bus_log() == []
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_redis_restart_mid_stream_loses_and_duplicates_nothing(servers, api_a, redis_server):
    """Redis killed and restarted while A commits: B unready, then ready; its subscriber gets it all."""
    # given: servers A and B, a subscriber on B, grants flowing into A from two writers
    a, b = servers
    admin = await make_catalog_admin()
    customer = await make_customer()
    await enable_credits()
    reader = Reader(b, admin.token, str(customer.id))
    reading = asyncio.create_task(reader.run())
    committed: list[dict[str, Any]] = []
    failures: list[BaseException] = []
    outage = {"down": False, "commits_while_down": 0}
    stop_writing = asyncio.Event()

    async def write(amounts: Iterator[str]) -> None:
        while not stop_writing.is_set():
            try:
                transaction = await grant(api_a, admin, customer, next(amounts))
            except (httpx.HTTPError, AssertionError) as error:  # tolerated while Redis is down
                failures.append(error)
                await asyncio.sleep(0.05)
                continue
            committed.append(transaction)
            outage["commits_while_down"] += outage["down"]

    writers = [asyncio.create_task(write(itertools.cycle(AMOUNTS[i:] + AMOUNTS[:i]))) for i in (0, 2)]
    pids = (a.proc.pid, b.proc.pid)
    try:
        await asyncio.sleep(1.0)
        assert (await readyz(b))[0] == 200
        assert len(committed) > 5

        # when: Redis dies while the grants go on
        redis_server.stop()
        outage["down"] = True

        # then: both report the bus unreachable (the database still answers)
        for server in (b, a):
            body = await wait_for_readyz(server, 503, timeout=5)
            assert body == {"status": "unavailable", "database": "ok", "eventBus": "unreachable"}
        await asyncio.sleep(1.5)

        # when: Redis comes back on the same port; the grants stop once both servers are ready
        redis_server.start()
        outage["down"] = False
        assert await wait_for_readyz(b, 200, timeout=15) == {
            "status": "ready",
            "database": "ok",
            "eventBus": "ok",
        }
        await wait_for_readyz(a, 200, timeout=15)
        stop_writing.set()
        await asyncio.wait_for(asyncio.gather(*writers), 15)

        # then: the subscriber on B gets every committed entry exactly once, in order
        ledger = await CreditTransaction.filter(customer_id=customer.id).order_by("sequence")
        await reader.wait_for(len(ledger), timeout=20)
        await asyncio.sleep(0.5)
        assert [e["sequence"] for e in reader.events] == list(range(1, len(ledger) + 1))
        assert reader.events == [as_event(entry) for entry in ledger]

        # then: each server lost the bus and reconnected once, by itself; events flow live again
        for server in (a, b):
            bus_log = server.bus_log()
            assert bus_log[:1] == ["lost"] and bus_log[-1:] == ["reconnected"], server.log_text()[-3000:]
            assert bus_log.count("reconnected") == 1, bus_log
        started = time.monotonic()
        await grant(api_a, admin, customer, "0.50")
        await reader.wait_for(len(ledger) + 1, timeout=10)
        assert time.monotonic() - started < 0.5
        ledger = await CreditTransaction.filter(customer_id=customer.id).order_by("sequence")
        assert reader.events == [as_event(entry) for entry in ledger]
    finally:
        stop_writing.set()
        for task in (*writers, reading):
            task.cancel()
        await asyncio.gather(*writers, reading, return_exceptions=True)

    # then: every grant answered as successful is in the ledger; commits went on during the outage
    assert outage["commits_while_down"] > 0, failures
    assert {t["id"] for t in committed} <= {str(entry.id) for entry in ledger}
    # then: the balance equals the ledger sum and the last event's balance; no server restarted
    ledger_sum = sum(entry.amount for entry in ledger)
    balance = (await api_a(CUSTOMER_BALANCE, {"id": str(customer.id)}, token=admin.token))["customer"][
        "balance"
    ]
    assert balance == reader.events[-1]["balance"] == str(to_decimal(ledger_sum))
    assert (a.proc.pid, b.proc.pid) == pids
    assert a.proc.poll() is None and b.proc.poll() is None


async def test_commits_of_a_server_cut_off_from_redis_reach_the_others_after_it_reconnects(
    server_env, redis_server
):
    """Only A loses Redis: what it commits meanwhile reaches B's subscriber once A reconnects.

    B had no outage, so nothing tells its subscribers to catch up: A must send what it could not.
    """
    # given: A reaches Redis through a proxy, B directly; a subscriber on B has seen a live event
    proxy = TcpProxy(redis_server.port)
    await proxy.start()
    env = {
        **server_env,
        "CREDITS_BUS_HEARTBEAT_SECONDS": HEARTBEAT_SECONDS,
        "CREDITS_BUS_LIVENESS_SECONDS": LIVENESS_SECONDS,
    }
    a = Server({**env, "CREDITS_BROADCAST_URL": proxy.url})
    b = Server({**env, "CREDITS_BROADCAST_URL": redis_server.url})
    admin = await make_catalog_admin()
    customer = await make_customer(balance=5)
    reader = Reader(b, admin.token, str(customer.id))
    reading: asyncio.Task[None] | None = None
    try:
        # (started in threads: their readiness needs this event loop to run the proxy)
        await asyncio.gather(asyncio.to_thread(a.start), asyncio.to_thread(b.start))
        async with httpx.AsyncClient(base_url=a.base_url, timeout=10) as http:
            api = GraphQLClient(http)
            reading = asyncio.create_task(reader.run())
            await reader.wait_for(1, timeout=10)
            await grant(api, admin, customer, "1.00")
            await reader.wait_for(2, timeout=5)

            # when: A is cut off from Redis and commits three grants
            await proxy.cut()
            body = await wait_for_readyz(a, 503, timeout=5)
            assert body == {"status": "unavailable", "database": "ok", "eventBus": "unreachable"}
            committed = [await grant(api, admin, customer, amount) for amount in ("0.25", "0.50", "0.75")]
            await asyncio.sleep(0.5)

            # then: B, still connected, could not hear of them
            assert (await readyz(b))[0] == 200
            assert reader.last == 2

            # when: A can reach Redis again (and nothing else is committed)
            await proxy.start()
            await wait_for_readyz(a, 200, timeout=15)

            # then: B's subscriber gets the three, once, in order
            await reader.wait_for(5, timeout=5)
            await asyncio.sleep(0.5)
            assert [event["transaction"] for event in reader.events[2:]] == committed
            assert [event["balance"] for event in reader.events] == ["5.00", "6.00", "6.25", "6.75", "7.50"]
            assert b.bus_log() == []
            assert a.bus_log()[-1:] == ["reconnected"]
    finally:
        if reading is not None:
            reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)
        await asyncio.gather(asyncio.to_thread(a.stop), asyncio.to_thread(b.stop))
        await proxy.cut()


# --- one port, several processes: `python server.py --workers N` -----------------------------------


def worker_processes(pid: int) -> set[int]:
    """uvicorn's worker processes under a `--workers` server (not multiprocessing's resource tracker)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return {int(c) for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()}


def running(pid: int) -> bool:
    """Whether process `pid` exists."""
    return os.path.exists(f"/proc/{pid}")


def serving_process(pids: set[int], server_port: int, client_port: int) -> int | None:
    """Which of `pids` holds the server side of the TCP connection from `client_port` (Linux /proc)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = int(fields[1].split(":")[1], 16), int(fields[2].split(":")[1], 16)
        if (local, remote) == (server_port, client_port):
            inodes.add(f"socket:[{fields[9]}]")
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                if os.readlink(fd) in inodes:
                    return pid
    return None


@contextlib.contextmanager
def paused(pid: int) -> Iterator[None]:
    """SIGSTOP a worker for the block: meanwhile new connections go to the other one."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


async def test_a_server_with_two_workers_serves_one_port_and_delivers_across_them(server_env, redis_server):
    """`--workers 2`: both answer on one port; a grant committed by one reaches the other's sockets."""
    # given: a server with two workers on the shared PostgreSQL and a private Redis
    admin = await make_catalog_admin()
    customer = await make_customer(balance=5)
    server = Server({**server_env, "CREDITS_BROADCAST_URL": redis_server.url}, "--workers", "2")
    await asyncio.to_thread(server.start)
    try:
        assert server.proc is not None
        workers = worker_processes(server.proc.pid)
        assert len(workers) == 2, workers
        first, second = sorted(workers)
        async with contextlib.AsyncExitStack() as stack:
            # given: a registered subscriber (it replayed the opening entry) on each worker
            subscriptions = {}
            for worker, other in ((first, second), (second, first)):
                with paused(other):
                    ws = await stack.enter_async_context(
                        GraphQLSocket(server.base_url, TRANSPORT_WS, admin.token)
                    )
                    variables = {"customerId": str(customer.id), "afterSequence": 0}
                    subscription = await ws.subscribe(BALANCE_CHANGED, variables)
                    assert (await subscription.next(timeout=10))["balanceChanged"]["sequence"] == 1
                assert ws.ws is not None
                assert serving_process(workers, server.port, ws.ws.local_address[1]) == worker
                subscriptions[worker] = subscription

            # when: a grant over HTTP, answered by the first worker (the second paused meanwhile)
            with paused(second):
                async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
                    committed = await grant(GraphQLClient(http), admin, customer, "2.50")

            # then: it arrives live at both subscribers, the second worker's through Redis
            for subscription in subscriptions.values():
                event = (await subscription.next(timeout=10))["balanceChanged"]
                assert event == {
                    "customerId": str(customer.id),
                    "balance": "7.50",
                    "sequence": 2,
                    "transaction": committed,
                }
    finally:
        await asyncio.to_thread(server.stop)
    assert server.proc.returncode == 0
    assert not any(map(running, workers))


SET_USER_ACTIVE = """
mutation ($id: ID!, $active: Boolean!) { setUserActive(id: $id, active: $active) { userErrors { code } } }
"""


async def test_a_deactivation_on_one_server_closes_the_users_socket_on_the_other(server_env, redis_server):
    """Deactivated through A: B closes the user's socket (4403) at once, its recheck an hour away."""
    # given: servers whose periodic recheck would not notice within the test, a socket on B
    env = {**server_env, "CREDITS_BROADCAST_URL": redis_server.url, "CREDITS_WS_AUTH_RECHECK_SECONDS": "3600"}
    admin = await make_catalog_admin()
    user = await make_user(Role.END_USER, await make_customer(balance=1))
    with Server(env) as a, Server(env) as b:
        async with GraphQLSocket(b.base_url, TRANSPORT_WS, user.token) as ws:
            sub = await ws.subscribe(BALANCE_CHANGED, {"afterSequence": 0})
            assert (await sub.next())["balanceChanged"]["sequence"] == 1

            # when
            async with httpx.AsyncClient(base_url=a.base_url, timeout=10) as http:
                payload = await GraphQLClient(http)(
                    SET_USER_ACTIVE, {"id": str(user.user.id), "active": False}, token=admin.token
                )
            assert payload["setUserActive"]["userErrors"] == []

            # then
            assert await ws.closed(timeout=10) == 4403
