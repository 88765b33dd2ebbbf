"""Fan-out benchmarks: many `balanceChanged` subscribers, one hot customer, and delivery across processes.

Latency is measured from commit to client: the client's wall clock when the frame arrived minus the
event's `transaction.createdAt`, which the server stamps on the ledger entry just before its insert
and commit (customer administrators see `transaction`). Server and clients run on the same machine,
so both times come from one clock; the figure includes the commit itself, the bus round trip
(Redis), the GraphQL execution per subscriber and the socket write.

Subscribers are spread over several client processes (spawned, each an asyncio loop, uvloop when
present). Each socket is a small `asyncio.Protocol` over websockets' sans-I/O protocol, without a
task per connection, so a client process holds thousands of sockets cheaply and the client side is
not what is measured. Like browsers, the clients offer permessage-deflate (`deflate=False` does not);
`deflate_negotiated` says how many sockets the server accepted it on, since zlib state per socket
weighs on the server's memory. Every subscriber records (sequence, received, createdAt) per event; the
parent compares them with the sequences `grantCredits` reported committed for that customer:
lost = expected - received, duplicates and unexpected sequences are counted apart. A socket the
server closes (1013: subscriber too slow) counts as a failure and is reported.

Server memory per idle subscriber: VmRSS of the server process after a warm-up without
subscribers, then after every subscriber is connected, confirmed live (each got one change) and
idle for a moment; the difference divided by the subscribers connected.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import json
import math
import multiprocessing
import os
import resource
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import httpx
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.typing import Subprotocol
from websockets.uri import WebSocketURI, parse_uri

TRANSPORT_WS = "graphql-transport-ws"
TOO_SLOW = 1013
SUBSCRIPTION = (
    "subscription Fanout($c: ID!) { balanceChanged(customerId: $c) "
    "{ customerId sequence balance transaction { createdAt } } }"
)
GRANT = (
    "mutation Grant($input: BalanceChangeInput!) { grantCredits(input: $input) "
    "{ transaction { sequence createdAt } userErrors { code message } } }"
)
CONNECT_TIMEOUT = 60.0
CONNECT_ATTEMPTS = 3
DEFAULT_CLIENT_PROCESSES = 4
DEFAULT_CONCURRENCY = 32  # handshakes in flight per client process

# One subscriber's plan: (customer index, customer id, bearer token).
Plan = tuple[int, str, str]
# One received event: (sequence, received at, createdAt), both wall-clock epoch seconds.
Record = tuple[int, float, float]
# One subscriber's report: (customer index, records, close code or None, error or None).
Report = tuple[int, list[Record], int | None, str | None]


@dataclass(frozen=True)
class Audience:
    """A customer and the bearer token (JWT) of one of its CUSTOMER_ADMINs."""

    customer_id: str
    token: str


@dataclass
class _Commit:
    """One `grantCredits` call: when it was sent and answered, and what it committed."""

    customer: int
    sent: float
    lag: float
    done: float = 0.0
    sequence: int | None = None
    created: float | None = None
    error: str | None = None


def _raise_nofile_limit() -> None:
    """Raise this process's open-files soft limit to the hard limit (10,000 sockets need it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 1 << 20)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """uvloop's event loop when installed, asyncio's otherwise."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def _ws_url(base_url: str) -> str:
    """The /graphql websocket URL of a server's http(s) base URL."""
    parts = urlsplit(base_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + "/graphql", "", ""))


def _rss_bytes(pid: int) -> int:
    """Resident memory (VmRSS) of a process."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _percentile(ordered: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile of sorted values (None for none)."""
    if not ordered:
        return None
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def _mb(size: int) -> float:
    return round(size / 1_048_576, 1)


def _epoch(iso: str) -> float:
    return dt.datetime.fromisoformat(iso).timestamp()


class _Subscriber(asyncio.Protocol):
    """One graphql-transport-ws socket with one `balanceChanged` subscription, no task of its own."""

    def __init__(self, uri: WebSocketURI, deflate: bool, customer: int, customer_id: str, token: str) -> None:
        self.customer = customer
        self._customer_id = customer_id
        self._token = token
        # Browsers offer permessage-deflate; a server that accepts it keeps zlib state per socket.
        # (None, not []: an empty list sends an empty Sec-WebSocket-Extensions header, answered 400.)
        extensions = [ClientPerMessageDeflateFactory(compress_settings={"memLevel": 5})] if deflate else None
        self._ws = ClientProtocol(uri, extensions=extensions, subprotocols=[Subprotocol(TRANSPORT_WS)])
        self.deflate: bool | None = None
        self._transport: asyncio.Transport | None = None
        self._fragments: list[bytes] = []
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.records: list[Record] = []
        self.closed = False
        self.close_code: int | None = None
        self.error: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Send the opening handshake."""
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self._transport = cast(asyncio.Transport, transport)
        self._ws.send_request(self._ws.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        """Feed the sans-I/O protocol; handle the handshake response and every complete message."""
        now = time.time()
        self._ws.receive_data(data)
        for event in self._ws.events_received():
            if isinstance(event, Response):
                if self._ws.handshake_exc is not None:
                    self._fail(f"handshake: {self._ws.handshake_exc}")
                else:
                    self.deflate = bool(event.headers.get("Sec-WebSocket-Extensions"))
                    self._send(
                        {"type": "connection_init", "payload": {"Authorization": f"Bearer {self._token}"}}
                    )
            elif isinstance(event, Frame) and event.opcode in (Opcode.TEXT, Opcode.CONT):
                self._fragments.append(bytes(event.data))
                if event.fin:
                    message, self._fragments = b"".join(self._fragments), []
                    self._on_message(json.loads(message), now)
        self._flush()

    def eof_received(self) -> bool | None:
        """The server closed its side; let the transport close."""
        self._ws.receive_eof()
        self._flush()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        """Record how the socket ended (1006 when it ended without a close frame)."""
        self.closed = True
        self.close_code = self._ws.close_code if self._ws.close_code is not None else 1006
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(self.error or f"closed with {self.close_code}"))

    def close(self) -> None:
        """Close from our side."""
        if self._ws.state is State.OPEN:
            self._ws.send_close(1000)
            self._flush()
        if self._transport is not None:
            self._transport.close()

    def _on_message(self, message: dict[str, Any], now: float) -> None:
        kind = message.get("type")
        if kind == "next":
            payload = message.get("payload") or {}
            event = (payload.get("data") or {}).get("balanceChanged")
            if payload.get("errors") or not event:
                self.error = f"result errors: {json.dumps(payload.get('errors'))[:300]}"
                return
            transaction = event.get("transaction") or {}
            created = _epoch(transaction["createdAt"]) if transaction.get("createdAt") else math.nan
            self.records.append((event["sequence"], now, created))
        elif kind == "connection_ack":
            self._send(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": SUBSCRIPTION, "variables": {"c": self._customer_id}},
                }
            )
            if not self.ready.done():
                self.ready.set_result(None)
        elif kind == "ping":
            self._send({"type": "pong"})
        elif kind in ("error", "complete"):
            self.error = f"{kind}: {json.dumps(message.get('payload'))[:300]}"

    def _send(self, message: dict[str, Any]) -> None:
        if self._ws.state is State.OPEN:
            self._ws.send_text(json.dumps(message).encode())

    def _fail(self, error: str) -> None:
        self.error = error
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(error))
        if self._transport is not None:
            self._transport.close()

    def _flush(self) -> None:
        transport = self._transport
        if transport is None:
            return
        for chunk in self._ws.data_to_send():
            if chunk:
                transport.write(chunk)
            elif transport.can_write_eof():
                transport.write_eof()
        if self._ws.close_expected() or self._ws.state is State.CLOSED:
            transport.close()


class _Group:
    """Subscribers in one event loop: connect them, reset and wait on what they received, report."""

    def __init__(self, url: str, plan: Sequence[Plan], concurrency: int, deflate: bool) -> None:
        self.uri = parse_uri(url)
        self.deflate = deflate
        self.plan = list(plan)
        self.concurrency = concurrency
        self.subscribers: list[_Subscriber] = []

    async def connect(self) -> dict[str, Any]:
        """Open every socket with bounded concurrency; a failed handshake is retried twice."""
        started = time.monotonic()
        gate = asyncio.Semaphore(self.concurrency)
        retries = Counter[str]()
        errors = Counter[str]()

        async def open_one(plan: Plan) -> _Subscriber | None:
            async with gate:
                for attempt in range(CONNECT_ATTEMPTS):
                    subscriber: _Subscriber | None = None
                    try:
                        async with asyncio.timeout(CONNECT_TIMEOUT):
                            _, subscriber = await asyncio.get_running_loop().create_connection(
                                lambda: _Subscriber(self.uri, self.deflate, *plan),
                                self.uri.host,
                                self.uri.port,
                                ssl=True if self.uri.secure else None,
                            )
                            await subscriber.ready
                        return subscriber
                    except (OSError, TimeoutError) as exc:
                        reason = f"{type(exc).__name__}: {exc}"[:200]
                        if subscriber is not None:
                            subscriber.close()
                        if attempt + 1 == CONNECT_ATTEMPTS:
                            errors[reason] += 1
                            return None
                        retries[reason] += 1
                        await asyncio.sleep(0.2 * (attempt + 1))
            return None

        opened = await asyncio.gather(*(open_one(plan) for plan in self.plan))
        self.subscribers = [s for s in opened if s is not None]
        return {
            "connected": len(self.subscribers),
            "deflate": sum(1 for s in self.subscribers if s.deflate),
            "failed": len(self.plan) - len(self.subscribers),
            "retries": sum(retries.values()),
            "seconds": time.monotonic() - started,
            "errors": dict(errors.most_common(3)),
        }

    async def reset(self) -> None:
        """Forget what was received so far."""
        for subscriber in self.subscribers:
            subscriber.records = []

    async def wait(self, count: int, within: float) -> list[int]:
        """Wait until every open subscriber received `count` events; the customers of those short."""
        deadline = time.monotonic() + within
        while True:
            short = [s.customer for s in self.subscribers if len(s.records) < count and not s.closed]
            if not short or time.monotonic() >= deadline:
                return short
            await asyncio.sleep(0.005)

    def report(self) -> list[Report]:
        """Per subscriber: customer, records, close code (None while open), error."""
        return [(s.customer, s.records, s.close_code, s.error) for s in self.subscribers]

    async def close(self) -> None:
        """Close every socket and give the closing handshakes a moment."""
        for subscriber in self.subscribers:
            subscriber.close()
        await asyncio.sleep(0.2)


def _worker_main(conn: Connection, url: str, plan: list[Plan], concurrency: int, deflate: bool) -> None:
    """A client process: hold its share of subscribers and answer the parent's commands."""
    _raise_nofile_limit()
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(_serve(conn, _Group(url, plan, concurrency, deflate)))


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def _receive(conn: Connection) -> Any:
    """The parent's next command, without blocking the loop."""
    loop = asyncio.get_running_loop()
    while not conn.poll():
        readable: asyncio.Future[None] = loop.create_future()
        loop.add_reader(conn.fileno(), _resolve, readable)
        try:
            await readable
        finally:
            loop.remove_reader(conn.fileno())
    return conn.recv()


async def _serve(conn: Connection, group: _Group) -> None:
    while True:
        command, *args = await _receive(conn)
        if command == "connect":
            conn.send(await group.connect())
        elif command == "reset":
            await group.reset()
            conn.send(None)
        elif command == "wait":
            conn.send(await group.wait(*args))
        elif command == "report":
            usage = resource.getrusage(resource.RUSAGE_SELF)
            conn.send((group.report(), usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024))
        elif command == "close":
            await group.close()
            conn.send(None)
            return


class _Fleet:
    """Subscribers spread round-robin over client processes; commands go to all of them."""

    def __init__(
        self, url: str, plan: Sequence[Plan], processes: int, concurrency: int, deflate: bool
    ) -> None:
        self.processes = max(1, min(processes, len(plan)))
        shares = [list(plan[i :: self.processes]) for i in range(self.processes)]
        context = multiprocessing.get_context("spawn")
        self._pipes: list[Connection] = []
        self._workers = []
        for share in shares:
            parent, child = context.Pipe()
            self._pipes.append(parent)
            self._workers.append(
                context.Process(
                    target=_worker_main, args=(child, url, share, concurrency, deflate), daemon=True
                )
            )

    async def __aenter__(self) -> _Fleet:
        for worker in self._workers:
            worker.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ask("close"), 30)
        for worker in self._workers:
            await asyncio.to_thread(worker.join, 5)
            if worker.is_alive():
                worker.kill()

    async def ask(self, *command: Any) -> list[Any]:
        """Send a command to every client process; their answers in process order."""
        for pipe in self._pipes:
            pipe.send(command)
        return list(await asyncio.gather(*(asyncio.to_thread(pipe.recv) for pipe in self._pipes)))

    async def connect(self) -> dict[str, Any]:
        """Open every socket; totals over the processes."""
        answers = await self.ask("connect")
        errors = Counter[str]()
        for answer in answers:
            errors.update(answer["errors"])
        return {
            "connected": sum(a["connected"] for a in answers),
            "deflate": sum(a["deflate"] for a in answers),
            "failed": sum(a["failed"] for a in answers),
            "retries": sum(a["retries"] for a in answers),
            "seconds": max(a["seconds"] for a in answers),
            "errors": dict(errors.most_common(3)),
        }

    async def wait(self, count: int, within: float) -> list[int]:
        """The customers of subscribers still short of `count` events after at most `within` seconds."""
        return [customer for short in await self.ask("wait", count, within) for customer in short]

    async def reset(self) -> None:
        await self.ask("reset")

    async def report(self) -> tuple[list[Report], float, int]:
        """Every subscriber's report, the client processes' CPU seconds and largest RSS."""
        answers = await self.ask("report")
        reports = [r for answer in answers for r in answer[0]]
        return reports, sum(a[1] for a in answers), max(a[2] for a in answers)


class _Committer:
    """Commits balance changes with `grantCredits` over a few keep-alive HTTP connections."""

    def __init__(self, base_url: str, admin_token: str, connections: int = 8) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {admin_token}"},
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
            timeout=httpx.Timeout(60.0),
        )

    async def __aenter__(self) -> _Committer:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._client.aclose()

    async def grant(self, customer: int, customer_id: str, lag: float = 0.0) -> _Commit:
        """Grant 1.00 credit; the committed sequence and createdAt, or the error."""
        commit = _Commit(customer, time.time(), lag)
        variables = {"input": {"customerId": customer_id, "amount": "1.00"}}
        try:
            response = await self._client.post("/graphql", json={"query": GRANT, "variables": variables})
            body = response.json()
            payload = (body.get("data") or {}).get("grantCredits") or {}
            transaction = payload.get("transaction")
            if (
                response.status_code != 200
                or body.get("errors")
                or payload.get("userErrors")
                or not transaction
            ):
                commit.error = f"{response.status_code}: {json.dumps(body)[:300]}"
            else:
                commit.sequence = transaction["sequence"]
                commit.created = _epoch(transaction["createdAt"])
        except (httpx.HTTPError, ValueError) as exc:
            commit.error = f"{type(exc).__name__}: {exc}"[:300]
        commit.done = time.time()
        return commit

    async def schedule(
        self, customer_ids: Sequence[str], rate: float, count: int, customers: Sequence[int] | None = None
    ) -> list[_Commit]:
        """`count` grants evenly spaced at `rate` per second, round-robin over the customers.

        `customers` are the indices the commits are recorded under (default: their position).
        """
        indices = range(len(customer_ids)) if customers is None else customers
        start = time.monotonic()
        tasks: list[asyncio.Task[_Commit]] = []
        for n, position in zip(range(count), itertools.cycle(range(len(customer_ids))), strict=False):
            due = start + n / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            lag = max(0.0, time.monotonic() - due)
            tasks.append(asyncio.create_task(self.grant(indices[position], customer_ids[position], lag)))
        return list(await asyncio.gather(*tasks))


@dataclass
class _Score:
    """Deliveries compared with commits."""

    expected: int = 0
    delivered: int = 0
    lost: int = 0
    duplicates: int = 0
    unexpected: int = 0
    subscribers_missing: int = 0
    closes: Counter[int | None] | None = None
    errors: Counter[str] | None = None
    latencies: list[float] | None = None  # seconds, sorted


def _score(reports: Sequence[Report], commits: Sequence[_Commit]) -> _Score:
    """Compare every subscriber's events with the sequences committed for its customer."""
    committed: dict[int, set[int]] = {}
    for commit in commits:
        if commit.sequence is not None:
            committed.setdefault(commit.customer, set()).add(commit.sequence)
    score = _Score(closes=Counter(), errors=Counter(), latencies=[])
    assert score.closes is not None and score.errors is not None and score.latencies is not None
    for customer, records, close_code, error in reports:
        expected = committed.get(customer, set())
        first: dict[int, Record] = {}
        for record in records:
            if record[0] in first:
                score.duplicates += 1
            else:
                first[record[0]] = record
        got = expected & first.keys()
        score.expected += len(expected)
        score.delivered += len(got)
        score.lost += len(expected) - len(got)
        score.subscribers_missing += len(got) < len(expected)
        score.unexpected += len(first.keys() - expected)
        for sequence in got:
            _, received, created = first[sequence]
            score.latencies.append(received - created)
        if close_code is not None:
            score.closes[close_code] += 1
        if error is not None:
            score.errors[error[:120]] += 1
    score.latencies.sort()
    return score


def _rounds(reports: Sequence[Report], commits: Sequence[_Commit]) -> tuple[list[float], list[float]]:
    """Per committed change: when its last subscriber had it, after createdAt and after the request."""
    last: dict[int, float] = {}
    for _, records, _, _ in reports:
        for sequence, received, _ in records:
            last[sequence] = max(last.get(sequence, 0.0), received)
    lasts, since_request = [], []
    for commit in commits:
        if commit.sequence in last and commit.created is not None:
            lasts.append(last[commit.sequence] - commit.created)
            since_request.append(last[commit.sequence] - commit.sent)
    return lasts, since_request


def _figures(score: _Score, commits: Sequence[_Commit]) -> dict[str, Any]:
    """The flat figures shared by every benchmark here."""
    assert score.closes is not None and score.errors is not None and score.latencies is not None
    answered = sorted(c.done - c.sent for c in commits)
    failed = [c for c in commits if c.error is not None]
    first = min((c.sent for c in commits), default=0.0)
    sending = max((c.sent for c in commits), default=0.0) - first
    finishing = max((c.done for c in commits), default=0.0) - first
    return {
        "changes": len(commits),
        "committed": len(commits) - len(failed),
        # Offered: how fast the driver sent; committed: how fast the server got through them.
        "offered_rate": round((len(commits) - 1) / sending, 1) if sending > 0 else None,
        "committed_rate": round((len(commits) - len(failed)) / finishing, 1) if finishing > 0 else None,
        "commit_errors": len(failed),
        "commit_error_sample": failed[0].error if failed else None,
        "commit_p50_ms": _ms(_percentile(answered, 50)),
        "commit_p99_ms": _ms(_percentile(answered, 99)),
        "schedule_lag_max_ms": _ms(max((c.lag for c in commits), default=0.0)),
        "expected_deliveries": score.expected,
        "delivered": score.delivered,
        "lost": score.lost,
        "subscribers_missing_events": score.subscribers_missing,
        "duplicates": score.duplicates,
        "unexpected": score.unexpected,
        "p50_ms": _ms(_percentile(score.latencies, 50)),
        "p99_ms": _ms(_percentile(score.latencies, 99)),
        "max_ms": _ms(score.latencies[-1] if score.latencies else None),
        "closed_1013": score.closes.get(TOO_SLOW, 0),
        "closed_other": sum(n for code, n in score.closes.items() if code != TOO_SLOW),
        "close_codes": {str(code): n for code, n in score.closes.items()},
        "subscription_errors": sum(score.errors.values()),
        "subscription_error_sample": next(iter(score.errors), None),
    }


async def _confirm(
    clients: _Group | _Fleet, committer: _Committer, customer_ids: Sequence[str], rate: float, rounds: int = 5
) -> dict[str, Any]:
    """Make sure every subscription is live: each subscriber must receive a change of its customer.

    A subscription the server had not registered yet when the change committed never sees it
    (no `afterSequence`), so customers with a subscriber still short get another change.
    """
    started = time.monotonic()
    await clients.reset()
    pending = list(range(len(customer_ids)))
    short: list[int] = []
    for attempt in range(rounds):
        await committer.schedule([customer_ids[c] for c in pending], rate, len(pending), customers=pending)
        short = await clients.wait(1, 30.0 if attempt == 0 else 10.0)
        if not short:
            break
        pending = sorted(set(short))
    await clients.reset()
    return {
        "warmup_missing": len(short),
        "warmup_rounds": attempt + 1,
        "warmup_seconds": time.monotonic() - started,
    }


async def _warm_up(
    url: str, audience: Audience, committer: _Committer, deflate: bool, sockets: int = 20
) -> None:
    """Exercise the server's socket, subscription and commit paths once, then close the sockets."""
    group = _Group(url, [(0, audience.customer_id, audience.token)] * sockets, sockets, deflate)
    await group.connect()
    await asyncio.sleep(0.3)
    await committer.grant(0, audience.customer_id)
    await group.wait(1, 10.0)
    await group.close()


def _client_processes(requested: int | None) -> int:
    return requested if requested is not None else DEFAULT_CLIENT_PROCESSES


async def run_fanout(
    base_url: str,
    server_pid: int,
    audiences: list[Audience],
    admin_token: str,
    *,
    per_customer: int,
    rate: float,
    seconds: float,
    client_processes: int | None = None,
    grace_seconds: float = 2.0,
    deflate: bool = True,
) -> dict[str, Any]:
    """`per_customer` subscribers for every audience, `rate` changes a second for `seconds`."""
    _raise_nofile_limit()
    url = _ws_url(base_url)
    plan = [(i, a.customer_id, a.token) for i, a in enumerate(audiences) for _ in range(per_customer)]
    customer_ids = [a.customer_id for a in audiences]
    processes = _client_processes(client_processes)
    async with _Committer(base_url, admin_token) as committer:
        await _warm_up(url, audiences[0], committer, deflate)
        await asyncio.sleep(1.0)
        rss_before = _rss_bytes(server_pid)
        async with _Fleet(url, plan, processes, DEFAULT_CONCURRENCY, deflate) as fleet:
            connect = await fleet.connect()
            await asyncio.sleep(2.0)
            rss_subscribed = _rss_bytes(server_pid)
            warmup = await _confirm(fleet, committer, customer_ids, rate)
            await asyncio.sleep(2.0)
            rss_idle = _rss_bytes(server_pid)
            cpu_before, started = _cpu_seconds(server_pid), time.monotonic()
            commits = await committer.schedule(customer_ids, rate, max(1, round(rate * seconds)))
            window = time.monotonic() - started
            await asyncio.sleep(grace_seconds)
            cpu_used = _cpu_seconds(server_pid) - cpu_before
            rss_end = _rss_bytes(server_pid)
            reports, client_cpu, client_rss = await fleet.report()
    connected = connect["connected"]
    return {
        "subscribers": len(plan),
        "customers": len(audiences),
        "per_customer": per_customer,
        "connected": connected,
        "connect_failed": connect["failed"],
        "deflate_negotiated": connect["deflate"],
        "connect_retries": connect["retries"],
        "connect_errors": connect["errors"],
        "connect_seconds": round(connect["seconds"], 1),
        "client_processes": min(processes, len(plan)),
        **warmup,
        "warmup_seconds": round(warmup["warmup_seconds"], 1),
        "rate": rate,
        "seconds": seconds,
        **_figures(_score(reports, commits), commits),
        "rss_before_mb": _mb(rss_before),
        "rss_subscribed_mb": _mb(rss_subscribed),
        "rss_after_mb": _mb(rss_idle),
        "rss_end_mb": _mb(rss_end),
        "bytes_per_subscriber": round((rss_idle - rss_before) / connected) if connected else None,
        "server_cpu_percent": round(100 * cpu_used / (window + grace_seconds), 1),
        "client_cpu_seconds": round(client_cpu, 1),
        "client_max_rss_mb": _mb(client_rss),
    }


async def run_hot_fanout(
    base_url: str,
    server_pid: int,
    audience: Audience,
    admin_token: str,
    *,
    subscribers: int,
    changes: int = 5,
    client_processes: int | None = None,
    timeout_seconds: float = 10.0,
    deflate: bool = True,
) -> dict[str, Any]:
    """`subscribers` sockets on one customer, one change: time until the last subscriber has it.

    The change is repeated `changes` times, one at a time a second apart (a single sample says
    little when a garbage collection may or may not fall into it); `last_ms` is the worst round.
    """
    _raise_nofile_limit()
    url = _ws_url(base_url)
    plan = [(0, audience.customer_id, audience.token)] * subscribers
    processes = _client_processes(client_processes)
    async with _Committer(base_url, admin_token) as committer:
        await _warm_up(url, audience, committer, deflate)
        await asyncio.sleep(1.0)
        rss_before = _rss_bytes(server_pid)
        async with _Fleet(url, plan, processes, DEFAULT_CONCURRENCY, deflate) as fleet:
            connect = await fleet.connect()
            await asyncio.sleep(1.0)
            warmup = await _confirm(fleet, committer, [audience.customer_id], 1.0)
            await asyncio.sleep(1.0)
            rss_idle = _rss_bytes(server_pid)
            commits: list[_Commit] = []
            for round_ in range(1, changes + 1):
                commits.append(await committer.grant(0, audience.customer_id))
                await fleet.wait(round_, timeout_seconds)
                await asyncio.sleep(1.0)  # duplicates, if any, and a quiet server for the next round
            reports, client_cpu, _ = await fleet.report()
    score = _score(reports, commits)
    lasts, since_request = _rounds(reports, commits)
    connected = connect["connected"]
    return {
        "subscribers": subscribers,
        "connected": connected,
        "connect_failed": connect["failed"],
        "deflate_negotiated": connect["deflate"],
        "connect_seconds": round(connect["seconds"], 1),
        "client_processes": min(processes, len(plan)),
        **warmup,
        "warmup_seconds": round(warmup["warmup_seconds"], 1),
        **_figures(score, commits),
        "last_ms": _ms(max(lasts, default=None)),
        "last_median_ms": _ms(_percentile(sorted(lasts), 50)),
        "last_per_change_ms": [_ms(last) for last in lasts],
        "last_since_request_ms": _ms(max(since_request, default=None)),
        # After another benchmark the server reuses freed memory: per-subscriber memory is run_fanout's.
        "rss_before_mb": _mb(rss_before),
        "rss_after_mb": _mb(rss_idle),
        "client_cpu_seconds": round(client_cpu, 1),
    }


async def run_cross_process(
    publish_url: str,
    subscribe_url: str,
    audience: Audience,
    admin_token: str,
    *,
    changes: int,
    subscribers: int = 5,
    rate: float = 10.0,
    grace_seconds: float = 2.0,
    deflate: bool = True,
) -> dict[str, Any]:
    """Subscribers on one server process, changes committed through another: delivery latency."""
    _raise_nofile_limit()
    url = _ws_url(subscribe_url)
    group = _Group(url, [(0, audience.customer_id, audience.token)] * subscribers, subscribers, deflate)
    async with _Committer(publish_url, admin_token) as committer:
        connect = await group.connect()
        try:
            await asyncio.sleep(0.5)
            warmup = await _confirm(group, committer, [audience.customer_id], 1.0)
            commits = await committer.schedule([audience.customer_id], rate, changes)
            await group.wait(len(commits), grace_seconds)
            await asyncio.sleep(min(grace_seconds, 0.5))
            reports = group.report()
        finally:
            await group.close()
    return {
        "subscribers": subscribers,
        "connected": connect["connected"],
        "connect_failed": connect["failed"],
        "deflate_negotiated": connect["deflate"],
        **warmup,
        "warmup_seconds": round(warmup["warmup_seconds"], 1),
        "rate": rate,
        **_figures(_score(reports, commits), commits),
    }
