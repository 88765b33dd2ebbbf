"""Ceilings: requestService's transaction in raw SQL, over asyncpg and with `pgbench -M prepared`.

The same work as the domain, in its leanest correct form, in one transaction: insert the request,
update the customer's balance and sequence (which takes the row lock and returns both), append the
ledger entry. What the server adds on top (GraphQL, authentication, checks, the ORM) is the gap.
"""

from __future__ import annotations

import asyncio
import glob
import os
import random
import re
import resource
import tempfile
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from bench.load import MAX_ERROR_SAMPLES, LoadResult, run_in_process

INSERT_REQUEST = """INSERT INTO service_request
    (id, service_id, customer_id, requested_by_id, quantity, amount, status, created_at, updated_at)
    VALUES ($1, $2, $3, $4, 1, $5, 'REQUESTED', now(), now())"""
UPDATE_CUSTOMER = """UPDATE customer SET balance = balance - $1, last_sequence = last_sequence + 1
    WHERE id = $2 RETURNING balance, last_sequence"""
INSERT_ENTRY = """INSERT INTO credit_transaction
    (id, customer_id, sequence, kind, amount, balance_after, service_request_id, actor_id, created_at)
    VALUES (gen_random_uuid(), $1, $2, 'SERVICE_CHARGE', $3, $4, $5, $6, now())"""

# pgbench: `n` picks the customer through bench_customer (0 is the hot one); \gset keeps results.
PGBENCH_SCRIPT = """\\set n {pick}
BEGIN;
INSERT INTO service_request
    (id, service_id, customer_id, requested_by_id, quantity, amount, status, created_at, updated_at)
    SELECT gen_random_uuid(), '{service}', id, user_id, 1, {price}, 'REQUESTED', now(), now()
    FROM bench_customer WHERE n = :n
    RETURNING id AS r, customer_id AS c, requested_by_id AS u \\gset
UPDATE customer SET balance = balance - {price}, last_sequence = last_sequence + 1 WHERE id = :c
    RETURNING balance AS b, last_sequence AS s \\gset
INSERT INTO credit_transaction
    (id, customer_id, sequence, kind, amount, balance_after, service_request_id, actor_id, created_at)
    VALUES (gen_random_uuid(), :c, :s, 'SERVICE_CHARGE', -{price}, :b, :r, :u, now());
END;
"""


@dataclass(frozen=True)
class SqlSpec:
    """One asyncpg ceiling run: which customers (with their end user), how many connections, how long."""

    database_url: str
    customers: tuple[tuple[str, str], ...]
    service_id: str
    price: int
    connections: int
    seconds: float
    start_at: float
    warmup: float


def run_asyncpg(spec: SqlSpec) -> LoadResult:
    """Entry point in a load process: `connections` connections doing the transaction in a loop."""
    return run_in_process(lambda: _asyncpg(spec))


async def _asyncpg(spec: SqlSpec) -> LoadResult:
    result = LoadResult()
    customers = [(uuid.UUID(c), uuid.UUID(u)) for c, u in spec.customers]
    service = uuid.UUID(spec.service_id)
    rng = random.Random()
    conns = await asyncio.gather(*(asyncpg.connect(spec.database_url) for _ in range(spec.connections)))
    await asyncio.sleep(max(0.0, spec.start_at - time.time()))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    window_start, end = started + spec.warmup, started + spec.seconds

    async def worker(conn: asyncpg.Connection) -> None:
        while time.perf_counter() < end:
            customer, user = rng.choice(customers)
            request = uuid.uuid4()
            sent = time.perf_counter()
            try:
                async with conn.transaction():
                    await conn.execute(INSERT_REQUEST, request, service, customer, user, spec.price)
                    balance, sequence = await conn.fetchrow(UPDATE_CUSTOMER, spec.price, customer)
                    await conn.execute(INSERT_ENTRY, customer, sequence, -spec.price, balance, request, user)
            except asyncpg.PostgresError as exc:
                result.errors += 1
                if len(result.error_samples) < MAX_ERROR_SAMPLES:
                    result.error_samples.append(f"{type(exc).__name__}: {exc}")
                continue
            done = time.perf_counter()
            result.ids.append(str(request))
            if sent < window_start:
                result.warmup_ok += 1
            elif done <= end:
                result.ok += 1
                result.latencies.append(done - sent)

    try:
        await asyncio.gather(*(worker(c) for c in conns))
    finally:
        await asyncio.gather(*(c.close() for c in conns))
    after = resource.getrusage(resource.RUSAGE_SELF)
    result.cpu_seconds = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
    result.wall_seconds = time.perf_counter() - started
    result.window = max(0.0, min(time.perf_counter(), end) - window_start)
    return result


@dataclass(frozen=True)
class PgbenchRun:
    """pgbench's own figures plus latencies read from its per-transaction log."""

    result: LoadResult
    processed: int  # every committed transaction, warm-up included (what the ledger must show)
    failed: int
    tps: float  # pgbench's own figure over the whole run
    command: str


async def run_pgbench(
    database_url: str,
    *,
    customers: int,
    hot: bool,
    service_id: str,
    price: int,
    clients: int,
    seconds: int,
    warmup: float,
    threads: int = 2,
) -> PgbenchRun:
    """`pgbench -M prepared` with the transaction as a custom script; latencies from `-l`."""
    parts = urllib.parse.urlsplit(database_url)
    script = PGBENCH_SCRIPT.format(
        pick="0" if hot else f"random(1, {customers})", service=service_id, price=price
    )
    with tempfile.TemporaryDirectory(prefix="credits-pgbench-") as tmp:
        script_path = Path(tmp) / "request_service.sql"
        script_path.write_text(script)
        args = [
            "pgbench",
            "-n",
            "-M",
            "prepared",
            "-c",
            str(clients),
            "-j",
            str(min(threads, clients)),
            "-T",
            str(seconds),
            "-f",
            str(script_path),
            "-l",
            f"--log-prefix={tmp}/tx",
            "-h",
            parts.hostname or "127.0.0.1",
            "-p",
            str(parts.port or 5432),
            "-U",
            urllib.parse.unquote(parts.username or "postgres"),
            parts.path.lstrip("/"),
        ]
        env = None
        if parts.password:
            env = {**os.environ, "PGPASSWORD": urllib.parse.unquote(parts.password)}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = await asyncio.create_subprocess_exec(
            *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        output, _ = await proc.communicate()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        text = output.decode(errors="replace")
        if proc.returncode != 0:
            raise RuntimeError(f"pgbench failed ({proc.returncode}):\n{text[-2000:]}")
        ends = _read_logs(tmp)
    result = LoadResult()
    result.cpu_seconds = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if ends:
        first = min(e for e, _ in ends)
        last = max(e for e, _ in ends)
        window_start = first + warmup
        measured = [lat for e, lat in ends if e - lat >= window_start]
        result.ok = len(measured)
        result.warmup_ok = len(ends) - len(measured)
        result.latencies.extend(measured)
        result.window = max(0.0, last - window_start)
        result.wall_seconds = last - first
    failed = _number(r"number of failed transactions: (\d+)", text)
    result.errors = int(failed or 0)
    return PgbenchRun(
        result=result,
        processed=int(_number(r"number of transactions actually processed: (\d+)", text) or 0),
        failed=int(failed or 0),
        tps=_number(r"tps = ([\d.]+)", text) or 0.0,
        command=" ".join(args).replace(tmp, "$TMP"),
    )


def _read_logs(folder: str) -> list[tuple[float, float]]:
    """(completion time, latency) in seconds of every transaction in pgbench's `-l` logs."""
    ends = []
    for path in glob.glob(f"{folder}/tx.*"):
        for line in Path(path).read_text().splitlines():
            # client_id transaction_no time_us script_no epoch_s epoch_us
            f = line.split()
            ends.append((int(f[4]) + int(f[5]) / 1e6, int(f[2]) / 1e6))
    return ends


def _number(pattern: str, text: str) -> float | None:
    match = re.search(pattern, text)
    return float(match.group(1)) if match else None
