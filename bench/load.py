"""Load generator: N keep-alive HTTP/1.1 connections for a fixed time, run in a process of its own.

Deliberately light (raw asyncio streams, uvloop, pre-encoded requests) so that the server, not
the client, is what a run measures; each run reports its own CPU time for that reason.
"""

from __future__ import annotations

import asyncio
import json
import random
import resource
import time
from array import array
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

T = TypeVar("T")

Mode = Literal["random", "once"]
MAX_ERROR_SAMPLES = 5


@dataclass(frozen=True)
class LoadSpec:
    """One load run: where, what (pre-encoded requests), how many connections, how long."""

    targets: tuple[tuple[str, int], ...]
    requests: tuple[bytes, ...]
    connections: int
    seconds: float
    start_at: float  # time.time() when every process starts sending, after connecting
    warmup: float = 0.0  # seconds at the start whose operations are not measured (still counted)
    mode: Mode = "random"  # random: any request, repeatedly; once: each request exactly once
    id_path: tuple[str, ...] | None = None  # where a success's id sits under `data`
    seed: int = 0
    # Paced (open loop): each connection sends at this many requests a second, on a schedule, and
    # latency counts from the scheduled time (a late answer delays no later request's clock).
    # None: closed loop, the next request as soon as the last answer came.
    rate_per_connection: float | None = None


@dataclass
class LoadResult:
    """What one process saw: measured operations, their latencies, errors, its own CPU time."""

    ok: int = 0  # successes completed in the measured window
    warmup_ok: int = 0
    errors: int = 0
    answered: int = 0  # every response, measured or not (for CPU per operation)
    latencies: array = field(default_factory=lambda: array("d"))  # seconds, measured window
    ids: list[str] = field(default_factory=list)  # every success's id (warm-up included)
    error_samples: list[str] = field(default_factory=list)
    window: float = 0.0  # seconds of the measured window actually used
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    exhausted: bool = False  # `once` mode ran out of requests before the time was up

    def merge(self, other: LoadResult) -> None:
        """Add another process's figures to these."""
        self.ok += other.ok
        self.warmup_ok += other.warmup_ok
        self.errors += other.errors
        self.answered += other.answered
        self.latencies.extend(other.latencies)
        self.ids.extend(other.ids)
        self.error_samples.extend(other.error_samples[: MAX_ERROR_SAMPLES - len(self.error_samples)])
        self.window = max(self.window, other.window)
        self.cpu_seconds += other.cpu_seconds
        self.wall_seconds = max(self.wall_seconds, other.wall_seconds)
        self.exhausted = self.exhausted or other.exhausted


def http_post(path: str, body: dict[str, Any], token: str | None = None, host: str = "bench") -> bytes:
    """One pre-encoded HTTP/1.1 keep-alive POST of a JSON body."""
    payload = json.dumps(body, separators=(",", ":")).encode()
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n{auth}"
        f"Content-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


def graphql_request(query: str, variables: dict[str, Any], token: str | None) -> bytes:
    """A GraphQL operation as a pre-encoded POST to /graphql."""
    return http_post("/graphql", {"query": query, "variables": variables}, token)


def percentile(sorted_values: Sequence[float], fraction: float) -> float | None:
    """The nearest-rank percentile of already sorted values (None for none)."""
    if not sorted_values:
        return None
    rank = max(1, min(len(sorted_values), round(fraction * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def use_uvloop() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory when it is installed (it comes with uvicorn[standard])."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run_in_process(main: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine on uvloop if available, else the default loop."""
    with asyncio.Runner(loop_factory=use_uvloop()) as runner:
        return runner.run(main())


def run_load(spec: LoadSpec) -> LoadResult:
    """Entry point in the child process: run `spec` and return what it measured."""
    return run_in_process(lambda: _Run(spec).run())


def warm() -> bool:
    """A no-op the parent submits so its worker processes are started before the first run."""
    return use_uvloop() is not None


class _Run:
    """One process's share of a load run."""

    def __init__(self, spec: LoadSpec) -> None:
        self.spec = spec
        self.result = LoadResult()
        self.rng = random.Random(spec.seed)
        self.queue: Iterator[bytes] = iter(spec.requests)
        self.window_start = 0.0
        self.end = 0.0
        self.last_done = 0.0

    def next_request(self) -> bytes | None:
        if self.spec.mode == "random":
            return self.rng.choice(self.spec.requests)
        request = next(self.queue, None)
        if request is None:
            self.result.exhausted = True
        return request

    async def run(self) -> LoadResult:
        spec = self.spec
        streams = await asyncio.gather(
            *(asyncio.open_connection(*spec.targets[i % len(spec.targets)]) for i in range(spec.connections))
        )
        await asyncio.sleep(max(0.0, spec.start_at - time.time()))
        usage = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        self.window_start = started + spec.warmup
        self.end = started + spec.seconds
        workers = [asyncio.create_task(self.worker(i, *pair)) for i, pair in enumerate(streams)]
        try:
            await asyncio.wait_for(asyncio.gather(*workers), spec.seconds + 60)
        except TimeoutError:
            self.sample(f"run did not finish within {spec.seconds + 60:.0f}s")
            self.result.errors += 1
        finished = time.perf_counter()
        after = resource.getrusage(resource.RUSAGE_SELF)
        result = self.result
        result.cpu_seconds = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
        result.wall_seconds = finished - started
        stop = self.last_done if result.exhausted else min(finished, self.end)
        result.window = max(0.0, stop - self.window_start)
        return result

    def sample(self, text: str) -> None:
        if len(self.result.error_samples) < MAX_ERROR_SAMPLES:
            self.result.error_samples.append(text[:500])

    async def worker(self, index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        target = self.spec.targets[index % len(self.spec.targets)]
        result = self.result
        rate = self.spec.rate_per_connection
        # Paced connections start at random phases, so their requests do not arrive in bursts.
        due = time.perf_counter() + (self.rng.random() / rate if rate else 0.0)
        try:
            while time.perf_counter() < self.end:
                request = self.next_request()
                if request is None:
                    return
                if rate:
                    await asyncio.sleep(max(0.0, due - time.perf_counter()))
                    sent, due = due, due + 1 / rate
                else:
                    sent = time.perf_counter()
                writer.write(request)
                try:
                    status, body, keep_alive = await _read_response(reader)
                except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                    result.errors += 1
                    self.sample(f"connection: {type(exc).__name__}: {exc}")
                    writer.close()
                    reader, writer = await asyncio.open_connection(*target)
                    continue
                done = time.perf_counter()
                self.last_done = max(self.last_done, done)
                result.answered += 1
                problem, ident = self.judge(status, body)
                if problem is not None:
                    result.errors += 1
                    self.sample(problem)
                else:
                    if ident is not None:
                        result.ids.append(ident)
                    if sent < self.window_start:
                        result.warmup_ok += 1
                    elif done <= self.end:  # answered after the end: charged, not measured
                        result.ok += 1
                        result.latencies.append(done - sent)
                if not keep_alive:
                    writer.close()
                    reader, writer = await asyncio.open_connection(*target)
        finally:
            writer.close()

    def judge(self, status: int, body: bytes) -> tuple[str | None, str | None]:
        """(problem, id): a success is HTTP 200, no `errors`, no `userErrors`."""
        if status != 200:
            return f"HTTP {status}: {body[:300]!r}", None
        try:
            document = json.loads(body)
        except ValueError:
            return f"unreadable body: {body[:300]!r}", None
        if document.get("errors"):
            return f"errors: {json.dumps(document['errors'])[:300]}", None
        data = document.get("data")
        if not isinstance(data, dict) or not data:
            return f"no data: {body[:300]!r}", None
        for payload in data.values():
            if isinstance(payload, dict) and payload.get("userErrors"):
                return f"userErrors: {json.dumps(payload['userErrors'])[:300]}", None
        if self.spec.id_path is None:
            return None, None
        node: Any = data
        for key in self.spec.id_path:
            node = node.get(key) if isinstance(node, dict) else None
        if not isinstance(node, str):
            return f"no {'.'.join(self.spec.id_path)} in {body[:300]!r}", None
        return None, node


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """Status, body and whether the connection stays open, of one HTTP/1.1 response."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    keep_alive = b"connection: close" not in lower
    at = lower.find(b"content-length:")
    if at >= 0:
        length = int(lower[at + 15 : lower.index(b"\r\n", at)])
        return status, await reader.readexactly(length), keep_alive
    if b"transfer-encoding: chunked" in lower:
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n"))[:-2].split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                return status, b"".join(chunks), keep_alive
            chunks.append(chunk[:-2])
    raise ValueError(f"response without length: {head[:200]!r}")


class LoadGenerator:
    """A warm pool of load processes reused by every scenario (spawned: no state from the parent)."""

    def __init__(self, processes: int = 1) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.processes = processes
        self.pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"))

    async def start(self) -> bool:
        """Start the worker processes now; True when they run on uvloop."""
        runs = [asyncio.wrap_future(self.pool.submit(warm)) for _ in range(self.processes)]
        return all(await asyncio.gather(*runs))

    async def call(self, function: Callable[[T], Any], specs: Sequence[T]) -> list[Any]:
        """Run `function(spec)` for each spec, each in one of the load processes, concurrently."""
        futures = [asyncio.wrap_future(self.pool.submit(function, spec)) for spec in specs]
        return list(await asyncio.gather(*futures))

    async def run(
        self,
        targets: Sequence[tuple[str, int]],
        requests: Sequence[bytes],
        *,
        connections: int,
        seconds: float,
        warmup: float = 0.0,
        mode: Mode = "random",
        id_path: tuple[str, ...] | None = None,
        processes: int | None = None,
        rate: float | None = None,
    ) -> LoadResult:
        """Drive `targets` with `connections` connections split across the processes; merge the results.

        `rate` (requests a second in all) paces the connections instead of a closed loop.
        """
        count = max(1, min(processes or self.processes, self.processes, connections))
        targets = tuple(targets)
        start_at = time.time() + 0.3 + connections / 2000
        specs = []
        for p in range(count):
            share = connections // count + (1 if p < connections % count else 0)
            mine = tuple(requests[p::count]) if mode == "once" else tuple(requests)
            specs.append(
                LoadSpec(
                    targets=tuple(targets[p:] + targets[:p]),
                    requests=mine,
                    connections=share,
                    seconds=seconds,
                    start_at=start_at,
                    warmup=warmup,
                    mode=mode,
                    id_path=id_path,
                    seed=random.getrandbits(32),
                    rate_per_connection=rate / connections if rate else None,
                )
            )
        merged = LoadResult()
        for part in await self.call(run_load, specs):
            merged.merge(part)
        return merged

    def close(self) -> None:
        """Stop the worker processes."""
        self.pool.shutdown(wait=True, cancel_futures=True)
