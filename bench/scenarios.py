"""The scenarios: ceilings, GraphQL operations against real server processes, fan-out, scale-out, SQLite."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import os
import random
import secrets
import statistics
import sys
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import checks, controls, lots, runway
from bench.ceilings import SqlSpec, run_asyncpg, run_pgbench
from bench.config import Config
from bench.load import LoadGenerator, LoadResult, Mode, graphql_request, percentile
from bench.processes import PROJECT_DIR, MachineCpu, ServerProcess
from bench.receiver import Receiver
from bench.report import Row
from bench.world import (
    LotTerms,
    Seat,
    World,
    add_pgbench_map,
    grant_lots,
    recreate_database,
    seed,
    seed_elsewhere,
    seed_seats,
    seed_seats_elsewhere,
    vacuum,
)
from models.passwords import reset_hasher
from settings import Settings, get_settings

log = logging.getLogger("bench")

# What real clients select: a top menu after a charge shows the request and the new balance.
REQUEST = (
    "mutation Request($i: RequestServiceInput!) { requestService(input: $i) "
    "{ serviceRequest { id amount status service { name } customer { balance } } "
    "userErrors { code message } } }"
)
# Issue 19's reference document: the smallest useful answer, so the figure is the charge's own cost.
REQUEST_LEAN = (
    "mutation Request($i: RequestServiceInput!) { requestService(input: $i) "
    "{ serviceRequest { id status } userErrors { code message } } }"
)
GRANT = (
    "mutation Grant($i: BalanceChangeInput!) { grantCredits(input: $i) "
    "{ transaction { id amount balanceAfter } customer { id balance } userErrors { code message } } }"
)
CANCEL = (
    "mutation Cancel($id: ID!) { cancelServiceRequest(id: $id) "
    "{ serviceRequest { id status customer { balance } } userErrors { code message } } }"
)
# The top-menu badge: the balance is on Customer, the unread count on the viewer (User).
TOP_MENU = "query TopMenu { customer { balance } viewer { unreadNotificationCount } }"
# A dashboard's page: a customer's requests and ledger with every nested object they show.
NESTED_PAGE = (
    "query Page($id: ID!, $first: Int!) { customer(id: $id) { "
    "serviceRequests(first: $first) { nodes { id amount status "
    "service { name } customer { name balance } requestedBy { name } } } "
    "transactions(first: $first) { nodes { id amount balanceAfter "
    "actor { name } serviceRequest { id status service { name } } } } } }"
)
NESTED_PAGE_SIZE = 100
NESTED_PAGE_CUSTOMERS = 5
# A page costs tens of milliseconds: 32 clients would queue for seconds, past a smoke run's window.
NESTED_PAGE_CLIENTS = 4
ADMIN_EMAIL = "bench-admin@bench.example"
ADMIN_PASSWORD = "bench-admin-password"


@dataclass(frozen=True)
class Side:
    """Whose code the servers run: this checkout (seeded in this process), or a baseline's tree."""

    name: str = "current"
    tree: Path = PROJECT_DIR
    python: str = sys.executable

    @property
    def here(self) -> bool:
        """This checkout with this interpreter: its domain can seed in this process."""
        return self.tree == PROJECT_DIR and self.python == sys.executable


class Suite:
    """Runs the chosen scenarios in order against one seeded world; collects rows."""

    def __init__(
        self, config: Config, loadgen: LoadGenerator, workdir: Path, side: Side | None = None
    ) -> None:
        self.config = config
        self.loadgen = loadgen
        self.workdir = workdir
        self.side = side or Side()
        self.secret = secrets.token_urlsafe(32)
        # Runs sharing one Redis (the two sides of a baseline run, parallel benches) never hear each other.
        self.bus_channel = f"credits.bench.{self.side.name}.{secrets.token_hex(4)}"
        self.rows: list[Row] = []
        self.ceiling: dict[tuple[str, str], float] = {}  # (asyncpg|pgbench, shape) -> ops/s
        self.single: dict[str, float] = {}  # shape -> requestService ops/s on one server
        self.requested: list[tuple[str, str]] = []  # (request id, customer id) still REQUESTED
        self.world: World | None = None
        self.server: ServerProcess | None = None
        self.servers: list[ServerProcess] = []
        self.db: checks.Postgres | None = None
        self.setup_failed: str | None = None
        if self.side.here:
            self._configure_this_process()

    def _configure_this_process(self) -> None:
        """Seeding runs the domain here: same JWT secret as the servers, cheap argon2 for speed.

        Nobody logs in with these passwords (tokens are minted directly); with the default cost
        every user would take a quarter of a second to create.
        """
        os.environ.update(
            CREDITS_ENV="production",
            CREDITS_JWT_SECRET=self.secret,
            CREDITS_ADMIN_EMAIL=ADMIN_EMAIL,
            CREDITS_ADMIN_PASSWORD=ADMIN_PASSWORD,
            CREDITS_DATA_DIR=str(self.workdir / "data-bench"),
            CREDITS_ARGON2_TIME_COST="1",
            CREDITS_ARGON2_MEMORY_KIB="64",
        )
        get_settings.cache_clear()
        reset_hasher()

    # -- processes and the world --------------------------------------------------------------

    def settings(self, database_url: str, label: str) -> Settings:
        """The settings a server (and the seeding) uses for `database_url`."""
        return Settings(
            env="production",
            database_url=database_url,
            data_dir=self.workdir / f"data-{label}",
            db_pool_max=self.config.db_pool_max,
            jwt_secret=self.secret,
            admin_email=ADMIN_EMAIL,
            admin_password=ADMIN_PASSWORD,
        )

    def start_server(
        self,
        database_url: str,
        broadcast_url: str,
        label: str,
        *,
        workers: int = 1,
        extra_env: dict[str, str] | None = None,
        command: str = "serve",
    ) -> ServerProcess:
        """`python server.py [COMMAND] --port P [--workers N]` as a user would; logs in bench/results/logs."""
        env = self.server_env(database_url, broadcast_url, label)
        env.update(extra_env or {})
        args = (command, *(("--workers", str(workers)) if workers > 1 else ()))
        server = ServerProcess(
            env,
            self.config.logs / f"server-{label}.log",
            args=args,
            python=self.side.python,
            tree=self.side.tree,
        )
        self.servers.append(server)
        server.start()
        return server

    def server_env(self, database_url: str, broadcast_url: str, label: str) -> dict[str, str]:
        """The environment of a server (and of a baseline's seeding): this process's, CREDITS_* replaced."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("CREDITS_")}
        env.update(
            CREDITS_ENV="production",
            CREDITS_DATABASE_URL=database_url,
            CREDITS_BROADCAST_URL=broadcast_url,
            CREDITS_BUS_CHANNEL=self.bus_channel,
            CREDITS_JWT_SECRET=self.secret,
            CREDITS_ADMIN_EMAIL=ADMIN_EMAIL,
            CREDITS_ADMIN_PASSWORD=ADMIN_PASSWORD,
            CREDITS_DATA_DIR=str(self.workdir / f"data-{label}"),
            CREDITS_DB_POOL_MAX=str(self.config.db_pool_max),
            # The fan-out plays thousands of tabs with one token per customer: no per-user or
            # per-customer stream cap may get in its way (the process cap still applies).
            CREDITS_MAX_STREAMS_PER_USER="1000000",
            CREDITS_MAX_STREAMS_PER_CUSTOMER="1000000",
        )
        return env

    async def seed(self, database_url: str, label: str) -> World:
        """The world on a fresh database, seeded by this side's own domain code."""
        if self.side.here:
            return await seed(self.settings(database_url, label), self.config.customers)
        # Cheap argon2 as in `_configure_this_process`, in the baseline's seeding process only.
        env = self.server_env(database_url, "memory://", label) | {
            "CREDITS_ARGON2_TIME_COST": "1",
            "CREDITS_ARGON2_MEMORY_KIB": "64",
        }
        return await seed_elsewhere(self.side.python, self.side.tree, env, self.config.customers)

    async def seed_seats(self, first: int, count: int, terms: Sequence[LotTerms]) -> tuple[Seat, ...]:
        """More seats on the PostgreSQL world, numbered from `first`, each with a lot per term."""
        url = self.config.database_url
        started = time.perf_counter()
        if self.side.here:
            seats = await seed_seats(self.settings(url, "postgres"), first, count, terms)
        else:
            env = self.server_env(url, "memory://", "postgres") | {
                "CREDITS_ARGON2_TIME_COST": "1",
                "CREDITS_ARGON2_MEMORY_KIB": "64",
            }
            seats = await seed_seats_elsewhere(self.side.python, self.side.tree, env, first, count, terms)
        log.info(
            "seeded %d customers with %d more lot(s) each in %.1fs (%s)",
            count,
            len(terms),
            time.perf_counter() - started,
            self.side.name,
        )
        return seats

    async def grant_lots(self, seats: Sequence[Seat], terms: Sequence[LotTerms]) -> float:
        """One lot per term for each seat, through this tree's ledger batch (a baseline's: n/a); seconds."""
        if not self.side.here:
            raise RuntimeError("granting lots in a batch needs this tree's ledger; not run on a baseline")
        started = time.perf_counter()
        await grant_lots(self.settings(self.config.database_url, "postgres"), seats, terms)
        seconds = time.perf_counter() - started
        log.info("granted %d lots in %.1fs", len(seats) * len(terms), seconds)
        return seconds

    async def setup_postgres(self) -> None:
        """Fresh bench database, seeded via the domain; one server on it."""
        if self.world is not None:
            return
        if self.setup_failed:  # once per run: a baseline that cannot seed is not retried per scenario
            raise RuntimeError(self.setup_failed)
        url = self.config.database_url
        started = time.perf_counter()
        try:
            await recreate_database(url)
            world = await self.seed(url, "postgres")
            await add_pgbench_map(url, world)
            log.info(
                "seeded %d customers in %.1fs (%s)",
                self.config.customers,
                time.perf_counter() - started,
                self.side.name,
            )
            self.server = self.start_server(url, self.config.redis_url, "postgres")
            self.db = await checks.Postgres.connect(url)
        except Exception as exc:
            tail = traceback.format_exception_only(exc)[-1].strip()
            self.setup_failed = f"setting up {self.side.name}: {tail}"
            raise
        self.world = world

    async def close(self) -> None:
        """Stop every server started; close the check connection."""
        for server in self.servers:
            server.stop()
        if self.db is not None:
            await self.db.close()

    # -- running --------------------------------------------------------------------------------

    async def run(self) -> list[Row]:
        """Every chosen scenario in the canonical order; a failing one is recorded, the rest go on."""
        for name in self.config.scenarios:
            await self.run_one(name)
        return self.rows

    async def run_one(self, name: str) -> list[Row]:
        """One scenario; the rows it added (a failure is one row of its own, and the run goes on)."""
        first = len(self.rows)
        log.info("scenario %s%s", name, "" if self.side.name == "current" else f" ({self.side.name})")
        try:
            if name != "sqlite":
                await self.setup_postgres()
            await getattr(self, f"scenario_{name}")()
        except Exception as exc:
            log.exception("scenario %s failed (%s)", name, self.side.name)
            tail = traceback.format_exception_only(exc)[-1].strip()
            self.rows.append(Row(name, "-", ok=False, problems=[tail]))
        return self.rows[first:]

    async def measure(
        self,
        scenario: str,
        shape: str,
        servers: Sequence[ServerProcess],
        requests: Sequence[bytes],
        *,
        mode: Mode = "random",
        id_path: tuple[str, ...] | None = None,
        rate: float | None = None,
        clients: int | None = None,
        seconds: float | None = None,
    ) -> tuple[Row, LoadResult]:
        """Drive `servers` with the configured clients; one row with throughput, latency and CPU.

        With `rate` the clients are paced to that many requests a second in all (open loop);
        `clients` overrides how many there are, `seconds` how long they run.
        """
        config = self.config
        clients = clients or config.clients
        before = [s.cpu_seconds() for s in servers]
        box = MachineCpu()
        result = await self.loadgen.run(
            [s.address for s in servers],
            requests,
            connections=clients,
            seconds=seconds or config.seconds,
            warmup=config.warmup,
            mode=mode,
            id_path=id_path,
            rate=rate,
        )
        wall = max(result.wall_seconds, 1e-6)
        server_cpu = sum(s.cpu_seconds() - b for s, b in zip(servers, before, strict=True))
        row = _row(scenario, shape, clients, result)
        row.figures.update(
            server_cpu_percent=round(100 * server_cpu / wall, 1),
            server_cpu_ms_per_op=round(1000 * server_cpu / max(result.answered, 1), 2),
            machine_cpu_percent=round(box.percent(), 1),
            server_rss_mb=[round(s.rss_mb(), 1) for s in servers],
            servers=len(servers),
        )
        row.notes = (
            f"load-gen CPU {row.figures['load_cpu_percent']:.0f}%, server CPU "
            f"{row.figures['server_cpu_percent']:.0f}% ({row.figures['server_cpu_ms_per_op']:.1f} ms/op), "
            f"box {row.figures['machine_cpu_percent']:.0f}%"
        )
        if result.exhausted:
            row.notes += ", ran out of prepared operations"
        return row, result

    async def settle(self, db: checks.Database) -> dict[str, int]:
        """Before a run: vacuum PostgreSQL's tables (see `vacuum`), then count rows to compare after."""
        if isinstance(db, checks.Postgres):
            await vacuum(self.config.database_url)
        return await checks.counts(db)

    def add(self, row: Row, problems: Sequence[str] = ()) -> Row:
        """Record a row; any problem (a failed check) fails it."""
        row.problems.extend(problems)
        row.ok = row.ok and not row.problems
        self.rows.append(row)
        return row

    def ratios(self, row: Row, shape: str) -> None:
        """Set the row's ratio to both ceilings of the same shape measured in this run."""
        if row.ops_per_s is None:
            return
        for kind in ("asyncpg", "pgbench"):
            ceiling = self.ceiling.get((kind, shape))
            if ceiling:
                setattr(row, f"vs_{kind}", row.ops_per_s / ceiling)

    # -- 1. ceilings ----------------------------------------------------------------------------

    async def scenario_ceilings(self) -> None:
        """requestService's transaction in raw SQL: asyncpg, then pgbench; distinct and hot."""
        world, db, config = self._pg()
        for shape, seats in (("distinct", world.seats), ("hot", (world.hot,))):
            before = await self.settle(db)
            spec = SqlSpec(
                database_url=config.database_url,
                customers=tuple((s.customer_id, s.user_id) for s in seats),
                service_id=world.service_id,
                price=world.price_cents,
                connections=config.clients,
                seconds=config.seconds,
                start_at=time.time() + 0.5,
                warmup=config.warmup,
            )
            box = MachineCpu()
            (result,) = await self.loadgen.call(run_asyncpg, [spec])
            row = _row("ceiling asyncpg", shape, config.clients, result)
            row.figures["machine_cpu_percent"] = round(box.percent(), 1)
            row.notes = f"load-gen CPU {row.figures['load_cpu_percent']:.0f}%, box {box.percent():.0f}%"
            self.add(row, await checks.charged(db, result.ids, world.price_cents, before))
            if row.ok and row.ops_per_s:
                self.ceiling[("asyncpg", shape)] = row.ops_per_s
        for shape in ("distinct", "hot"):
            before = await self.settle(db)
            box = MachineCpu()
            run = await run_pgbench(
                config.database_url,
                customers=len(world.seats),
                hot=shape == "hot",
                service_id=world.service_id,
                price=world.price_cents,
                clients=config.clients,
                seconds=max(1, math.ceil(config.seconds)),
                warmup=config.warmup,
            )
            row = _row("ceiling pgbench", shape, config.clients, run.result)
            row.figures.update(
                pgbench_tps=run.tps,
                processed=run.processed,
                failed=run.failed,
                command=run.command,
                machine_cpu_percent=round(box.percent(), 1),
            )
            row.notes = f"pgbench CPU {row.figures['load_cpu_percent']:.0f}%, box {box.percent():.0f}%"
            problems = [f"pgbench: {run.failed} failed transactions"] if run.failed else []
            problems += await checks.counted(db, before, requests=run.processed, charges=run.processed)
            self.add(row, problems)
            if row.ok and row.ops_per_s:
                self.ceiling[("pgbench", shape)] = row.ops_per_s

    # -- 2. requestService ------------------------------------------------------------------------

    async def scenario_request(self) -> None:
        """requestService as END_USER on one server: distinct customers, then one hot customer."""
        world, db, _ = self._pg()
        assert self.server is not None
        for shape, seats in (("distinct", world.seats), ("hot", (world.hot,))):
            row = await self._request_run("requestService", shape, [self.server], seats, db)
            self.ratios(row, shape)
            if row.ok and row.ops_per_s:
                self.single[shape] = row.ops_per_s

    async def scenario_lean(self) -> None:
        """requestService for distinct customers selecting only `serviceRequest { id status }` (issue 19)."""
        world, db, _ = self._pg()
        assert self.server is not None
        row = await self._request_run(
            "requestService lean", "distinct", [self.server], world.seats, db, document=REQUEST_LEAN
        )
        self.ratios(row, "distinct")

    async def _request_run(
        self,
        scenario: str,
        shape: str,
        servers: Sequence[ServerProcess],
        seats: Sequence[Seat],
        db: checks.Database,
        *,
        document: str = REQUEST,
    ) -> Row:
        world = self.world
        assert world is not None
        requests = [
            graphql_request(
                document,
                {"i": {"serviceId": world.service_id, "customerId": s.customer_id, "quantity": 1}},
                s.user_token,
            )
            for s in seats
        ]
        before = await self.settle(db)
        row, result = await self.measure(
            scenario, shape, servers, requests, id_path=("requestService", "serviceRequest", "id")
        )
        row = self.add(row, await checks.charged(db, result.ids, world.price_cents, before))
        if shape == "distinct" and isinstance(db, checks.Postgres) and row.ok:
            self.requested += await _requested(db)
        return row

    # -- 2b. credit lots ----------------------------------------------------------------------------

    async def scenario_lots(self) -> None:
        """requestService for customers with one lot and with five, alternating; the hot one with five.

        Two groups of fresh seats seeded alike (the world's own seats gain lots in later scenarios:
        grants, refunds), one with the float only, one with four more lots of mixed priority and
        expiry (bench/lots.py). The rounds alternate which group goes first, and the ratio five /
        one is the median of the rounds' pairs. The hot customer with five lots is set against the
        ceilings of the same run. Outside a smoke run both targets are checked.
        """
        _, db, config = self._pg()
        assert self.server is not None
        count = config.customers
        one = await self.seed_seats(lots.FIRST_LOTS_SEAT, count, [])
        five = await self.seed_seats(
            lots.FIRST_LOTS_SEAT + count, count + 1, lots.four_more_lots(dt.datetime.now(dt.UTC))
        )
        hot, five = five[0], five[1:]
        runs: dict[int, list[Row]] = {1: [], 5: []}
        rounds = 1 if config.smoke else lots.LOTS_ROUNDS
        for n in range(rounds):
            for held, seats in ((1, one), (5, five)) if n % 2 == 0 else ((5, five), (1, one)):
                shape = f"distinct, {held} lot{'s' if held > 1 else ''}"
                row = await self._request_run("requestService lots", shape, [self.server], seats, db)
                self.ratios(row, "distinct")
                self._also(row, await lots.lots_hold(db, seats))
                runs[held].append(row)
        self.add(lots.five_against_one(runs[1], runs[5], strict=not config.smoke))
        row = await self._request_run("requestService lots", "hot, 5 lots", [self.server], (hot,), db)
        self.ratios(row, "hot")
        lots.hot_against_ceiling(row, strict=not config.smoke)
        self._also(row, await lots.lots_hold(db, (hot,)))

    async def scenario_expiry(self) -> None:
        """Lots of many customers expiring in the same second while requestService charges them.

        Fresh seats each get `EXPIRING_PER_CUSTOMER` lots of 100.00 credits expiring at one whole
        second, granted through the ledger's batch far enough ahead for the granting to finish
        (they come first in the consumption order, so the charges take from them until they
        expire). The charges start `CHARGING_BEFORE` seconds earlier and go on `expiry_window`
        seconds after; meanwhile the database is polled until every lot is EXPIRED. What expires
        them is the serving process's own lot sweep (every `CREDITS_LOT_SWEEP_SECONDS`, left at its
        default), as in a deployment. The row gives the time from `expiresAt` until the last was
        EXPIRED, and the charges' rate from the ledger before and during the expiries; no charge
        may be refused, each lot expires once.
        """
        world, db, config = self._pg()
        assert self.server is not None
        count = max(1, config.expiring_lots // lots.EXPIRING_PER_CUSTOMER)
        total = count * lots.EXPIRING_PER_CUSTOMER
        seats = await self.seed_seats(lots.FIRST_EXPIRY_SEAT, count, [])
        now = dt.datetime.now(dt.UTC)
        expires_at = (now + dt.timedelta(seconds=lots.expiry_lead(total))).replace(microsecond=0)
        granting = await self.grant_lots(seats, lots.expiring_lots(expires_at))
        customers = [s.customer_id for s in seats]
        requests = [
            graphql_request(
                REQUEST,
                {"i": {"serviceId": world.service_id, "customerId": s.customer_id, "quantity": 1}},
                s.user_token,
            )
            for s in seats
        ]
        before = await self.settle(db)
        start = expires_at.timestamp() - lots.CHARGING_BEFORE
        if time.time() > start:
            raise RuntimeError(
                f"granting {total} lots ended {time.time() - start:.1f}s after the charges were due to "
                "start: raise EXPIRY_LEAD_PER_LOT in bench/lots.py"
            )
        await asyncio.sleep(start - time.time())
        window = lots.expiry_window(config.smoke)
        shape = f"{total:,} lots due in one second, {count:,} customers"
        charging = asyncio.create_task(
            self.measure(
                "requestService expiry",
                shape,
                [self.server],
                requests,
                id_path=("requestService", "serviceRequest", "id"),
                seconds=lots.CHARGING_BEFORE + window,
            )
        )
        expired = await lots.wait_expired(db, customers, expires_at, total, deadline=window + 20)
        row, result = await charging
        problems = await checks.charged(db, result.ids, world.price_cents, before)
        problems += await lots.expired_once(db, customers, expires_at, total)
        problems += await lots.lots_hold(db, seats)
        row.figures["granting_s"] = round(granting, 1)
        row.figures["sweep_period_s"] = Settings.model_fields["lot_sweep_seconds"].default
        await lots.expiry_figures(db, row, customers, expires_at, expired, strict=not config.smoke)
        self.add(row, problems)

    # -- 2b'. spend controls --------------------------------------------------------------------------

    async def scenario_controls(self) -> None:
        """requestService for customers with every spend control set and with none, alternating.

        Two groups of fresh seats seeded alike; one gets a floor, an auto top-up rule and its user's
        monthly spend limit (bench/controls.py), none of which acts. The rounds alternate which group
        goes first; the ratio controls / none is the median of the rounds' pairs, checked outside a
        smoke run.
        """
        _, db, config = self._pg()
        assert self.server is not None
        if not self.side.here:
            raise RuntimeError("the spend controls need this tree's domain; not run on a baseline")
        count = config.customers
        plain = await self.seed_seats(controls.FIRST_CONTROLS_SEAT, count, [])
        controlled = await self.seed_seats(controls.FIRST_CONTROLS_SEAT + count, count, [])
        await controls.set_controls(self.settings(config.database_url, "postgres"), controlled)
        runs: dict[bool, list[Row]] = {False: [], True: []}
        rounds = 1 if config.smoke else controls.CONTROLS_ROUNDS
        for n in range(rounds):
            for held, seats in (
                ((False, plain), (True, controlled)) if n % 2 == 0 else ((True, controlled), (False, plain))
            ):
                shape = "distinct, controls" if held else "distinct, none"
                row = await self._request_run("requestService controls", shape, [self.server], seats, db)
                self.ratios(row, "distinct")
                runs[held].append(row)
        self.add(controls.controlled_against_plain(runs[False], runs[True], strict=not config.smoke))

    # -- 2c. the runway --------------------------------------------------------------------------------

    async def scenario_runway(self) -> None:
        """`Customer.runway` of a customer with a year of daily usage (bench/runway.py), as its end user.

        A fresh seat gets the year through this tree's ledger (a baseline has no runway), the
        domain's reads are timed in this process, then one client asks the server for the runway
        over and over: p50/p99 of a request, not of a queue. Target: p99 under 5 ms.
        """
        _, db, config = self._pg()
        assert self.server is not None
        if not self.side.here:
            raise RuntimeError("the runway needs this tree's ledger and schema; not run on a baseline")
        [seat] = await self.seed_seats(runway.FIRST_RUNWAY_SEAT, 1, [])
        days = runway.SMOKE_DAYS if config.smoke else runway.DAYS
        started = time.perf_counter()
        settings = self.settings(config.database_url, "postgres")
        domain = await runway.year_of_usage(settings, seat, days, dt.datetime.now(dt.UTC))
        log.info("wrote %d days of usage in %.1fs", days, time.perf_counter() - started)
        shape = f"{days} days of usage"
        assert isinstance(db, checks.Postgres)
        if not await runway.swept(db, seat.customer_id):
            raise RuntimeError("the server's lot sweep left lots of the year past their expiry for 30 s")
        before = await self.settle(db)
        # The same request asking only the balance, beside it: what the box gives any request now.
        balance = [graphql_request(runway.BALANCE, {"id": seat.customer_id}, seat.user_token)]
        plain, _ = await self.measure("Customer.balance", shape, [self.server], balance, clients=1)
        self.add(plain, await checks.unchanged(db, before))
        requests = [graphql_request(runway.RUNWAY, {"id": seat.customer_id}, seat.user_token)]
        row, _ = await self.measure("Customer.runway", shape, [self.server], requests, clients=1)
        row = runway.judged(row, domain, days, strict=not config.smoke)
        self.add(row, await checks.unchanged(db, before))

    @staticmethod
    def _also(row: Row, problems: Sequence[str]) -> None:
        """More problems for a row already recorded."""
        row.problems.extend(problems)
        row.ok = row.ok and not row.problems

    # -- 3. grantCredits and cancelServiceRequest ---------------------------------------------------

    async def scenario_grant(self) -> None:
        """grantCredits by the catalog administrator, each to a random customer."""
        world, db, _ = self._pg()
        assert self.server is not None
        requests = [
            graphql_request(GRANT, {"i": {"customerId": s.customer_id, "amount": "1.00"}}, world.admin_token)
            for s in world.seats
        ]
        before = await self.settle(db)
        row, result = await self.measure(
            "grantCredits", "distinct", [self.server], requests, id_path=("grantCredits", "transaction", "id")
        )
        self.add(row, await checks.granted(db, result.ids, 100, before))

    async def scenario_cancel(self) -> None:
        """cancelServiceRequest by the requesting end user, with its refund, on requests made earlier."""
        world, db, config = self._pg()
        assert self.server is not None
        # Enough requests for the run at the rate requestService managed (or a guess), made beforehand.
        needed = int((self.single.get("distinct") or 300.0) * config.seconds * 1.5) + 50
        if len(self.requested) < needed:
            await self._make_requests(needed - len(self.requested))
        pool, self.requested = self.requested[:needed], self.requested[needed:]
        random.shuffle(pool)
        token = {s.customer_id: s.user_token for s in world.seats}
        requests = [graphql_request(CANCEL, {"id": rid}, token[cid]) for rid, cid in pool]
        before = await self.settle(db)
        row, result = await self.measure(
            "cancelServiceRequest",
            "distinct",
            [self.server],
            requests,
            mode="once",
            id_path=("cancelServiceRequest", "serviceRequest", "id"),
        )
        row.figures["prepared_requests"] = len(pool)
        self.add(row, await checks.refunded(db, result.ids, world.price_cents, before))

    async def _make_requests(self, count: int) -> None:
        """Create `count` REQUESTED requests of random customers through the API (not measured)."""
        world, db, _ = self._pg()
        await self._charge([random.choice(world.seats) for _ in range(count)], "requests")
        self.requested += await _requested(db)

    async def _charge(self, seats: Sequence[Seat], what: str) -> None:
        """One charged request per seat (repeat a seat for more) through the API, not measured."""
        world, db, config = self._pg()
        assert self.server is not None
        requests = [
            graphql_request(
                REQUEST, {"i": {"serviceId": world.service_id, "customerId": s.customer_id}}, s.user_token
            )
            for s in seats
        ]
        before = await self.settle(db)
        result = await self.loadgen.run(
            [self.server.address],
            requests,
            connections=config.clients,
            seconds=3600,
            mode="once",
            id_path=("requestService", "serviceRequest", "id"),
        )
        problems = await checks.charged(db, result.ids, world.price_cents, before)
        if result.errors or problems:
            raise RuntimeError(f"preparing {what} failed: {result.error_samples + problems}")

    # -- 4. the top menu ------------------------------------------------------------------------------

    async def scenario_topmenu(self) -> None:
        """The top-menu badge query as END_USER of a random customer."""
        world, db, _ = self._pg()
        assert self.server is not None
        requests = [graphql_request(TOP_MENU, {}, s.user_token) for s in world.seats]
        before = await self.settle(db)
        row, _ = await self.measure("topMenu", "distinct", [self.server], requests)
        self.add(row, await checks.unchanged(db, before))
        # Closed-loop clients measure the queue at saturation (p50 ≈ clients / throughput); the same
        # clients paced at half that throughput show what a page load waits at a busy hour.
        if row.ops_per_s:
            rate = round(row.ops_per_s / 2)
            paced, _ = await self.measure("topMenu", f"paced {rate}/s", [self.server], requests, rate=rate)
            paced.figures["offered_per_s"] = rate
            self.add(paced, await checks.unchanged(db, before))

    # -- 4b. a nested page ------------------------------------------------------------------------------

    async def scenario_nested(self) -> None:
        """A dashboard page as CUSTOMER_ADMIN: 100 requests and 100 ledger entries, every nested object."""
        world, db, _ = self._pg()
        assert self.server is not None
        seats = world.seats[:NESTED_PAGE_CUSTOMERS]
        size = 10 if self.config.smoke else NESTED_PAGE_SIZE  # a smoke run checks that pages work
        await self._fill_pages(seats, size)
        requests = [
            graphql_request(NESTED_PAGE, {"id": s.customer_id, "first": size}, s.admin_token) for s in seats
        ]
        before = await self.settle(db)
        row, _ = await self.measure(
            "nested page", f"{size} rows", [self.server], requests, clients=NESTED_PAGE_CLIENTS
        )
        self.add(row, await checks.unchanged(db, before))

    async def _fill_pages(self, seats: Sequence[Seat], per_seat: int) -> None:
        """Give each seat's customer `per_seat` charged requests through the API (not measured)."""
        await self._charge([s for s in seats for _ in range(per_seat)], "pages")

    # -- 5. fan-out ------------------------------------------------------------------------------------

    async def scenario_fanout(self) -> None:
        """balanceChanged fan-out to many subscribers, and to many subscribers of one hot customer."""
        fanout = _fanout()
        world, db, config = self._pg()
        assert self.server is not None
        if fanout is None:
            self.add(Row("fanout", "-", notes="skipped: bench/fanout.py is not there yet"))
            return
        audiences = [
            fanout.Audience(s.customer_id, s.admin_token) for s in world.seats[: config.fanout_customers]
        ]
        shape = f"{len(audiences)} customers × {config.fanout_per_customer}"
        await self._fanout_row(
            "fanout",
            shape,
            len(audiences) * config.fanout_per_customer,
            db,
            lambda: fanout.run_fanout(
                self.server.base_url,
                self.server.pid,
                audiences,
                world.admin_token,
                per_customer=config.fanout_per_customer,
                rate=config.fanout_rate,
                seconds=config.seconds,
            ),
        )
        hot = fanout.Audience(world.hot.customer_id, world.hot.admin_token)
        await self._fanout_row(
            "fanout hot",
            f"1 customer × {config.hot_subscribers}",
            config.hot_subscribers,
            db,
            lambda: fanout.run_hot_fanout(
                self.server.base_url,
                self.server.pid,
                hot,
                world.admin_token,
                subscribers=config.hot_subscribers,
            ),
        )

    async def _fanout_row(
        self,
        scenario: str,
        shape: str,
        clients: int,
        db: checks.Database,
        run: Callable[[], Awaitable[dict[str, Any]]],
    ) -> Row:
        box = MachineCpu()
        figures = await run()
        row = _figures_row(scenario, shape, clients, figures)
        row.figures["machine_cpu_percent"] = round(box.percent(), 1)
        return self.add(row, _figure_problems(figures) + await checks.ledger(db))

    # -- 6. scale-out ----------------------------------------------------------------------------------

    async def scenario_scaleout(self) -> None:
        """`server.py --workers 2` on the same PostgreSQL and Redis: throughput, delivery across workers."""
        world, db, config = self._pg()
        workers = self.start_server(config.database_url, config.redis_url, "postgres-workers", workers=2)
        try:
            name = "requestService --workers 2"
            row = await self._request_run(name, "distinct", [workers], world.seats, db)
            self.ratios(row, "distinct")
            one = self.single.get("distinct")
            if one and row.ops_per_s:
                row.figures["vs_one_server"] = round(row.ops_per_s / one, 2)
                row.notes = f"{row.ops_per_s / one:.2f}× one server; {row.notes}"
            fanout = _fanout()
            if fanout is None:
                self.add(Row("cross-worker", "-", notes="skipped: bench/fanout.py is not there yet"))
                return
            seat = world.seats[-1]
            box = MachineCpu()
            # Subscribers and commits land on either worker: most deliveries cross processes via Redis.
            figures = await fanout.run_cross_process(
                workers.base_url,
                workers.base_url,
                fanout.Audience(seat.customer_id, seat.admin_token),
                world.admin_token,
                changes=config.cross_changes,
            )
            cross = _figures_row("cross-worker", "commit → subscribe, --workers 2", 1, figures)
            cross.figures["machine_cpu_percent"] = round(box.percent(), 1)
            self.add(cross, _figure_problems(figures) + await checks.ledger(db))
        finally:
            workers.stop()
            self.servers.remove(workers)

    # -- 7. webhooks -------------------------------------------------------------------------------------

    async def scenario_webhooks(self) -> None:
        """requestService with no webhook endpoint against three subscribed; deliveries/s to a local receiver.

        Three endpoints subscribed to every event make six deliveries per charge. First as the
        embedded default runs them (CREDITS_OUTBOX_DISPATCH=inline): the charging process sends them
        itself, which costs it CPU; reported, not checked. Then as a deployment that cares about
        charges runs them (=separate): the serving process records the deliveries in the charges'
        transactions and a `server.py dispatch` process sends them, at idle CPU priority
        (SCHED_IDLE) as background work sharing a box with the service should run. There the
        target is checked: with three endpoints, charges within 10% of none. Identical runs on this
        box differ by up to ±15%, so the separate phase alternates none / alerts / every event for
        `WEBHOOK_ROUNDS` rounds and takes the median of each round's ratio; each run starts with
        nothing pending. The receiver (bench/receiver.py) runs at idle priority too.

        The receiver is on 127.0.0.1 over http, which production refuses: this scenario's servers
        run with CREDITS_ENV=development and private networks allowed (the others are stopped, so
        no production dispatcher refuses the deliveries meanwhile).
        """
        config = self.config
        for server in list(self.servers):
            self._stop(server)
        self.server = None
        receiver = Receiver()
        await receiver.start()
        env = {"CREDITS_ENV": "development", "CREDITS_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true"}
        try:
            server = self.start_server(config.database_url, config.redis_url, "webhooks", extra_env=env)
            inline = WebhookRuns(self, server, server, receiver, "sent by the charging process")
            none = await inline.run(None)
            await inline.run(["CREDIT_ALERT_FIRED"], none)
            await inline.run([], none, drain=True)
            self._stop(server)

            separate = {**env, "CREDITS_OUTBOX_DISPATCH": "separate"}
            server = self.start_server(
                config.database_url, config.redis_url, "webhooks-separate", extra_env=separate
            )
            dispatcher = self.start_server(
                config.database_url, config.redis_url, "webhooks-dispatch", extra_env=env, command="dispatch"
            )
            # As background work on a box shared with the service should run (README, "Scale-out").
            os.sched_setscheduler(dispatcher.pid, os.SCHED_IDLE, os.sched_param(0))
            runs = WebhookRuns(self, server, dispatcher, receiver, "a dispatch process sends")
            rounds = 1 if config.smoke else WEBHOOK_ROUNDS
            for n in range(rounds):
                last = n == rounds - 1
                none = await runs.run(None)
                await runs.run(["CREDIT_ALERT_FIRED"], none)
                await runs.run([], none, drain=last)
            for subscribed in ("alerts", "every event"):
                self.add(runs.summary(subscribed, strict=not config.smoke))
        finally:
            await receiver.stop()
            for server in list(self.servers):
                self._stop(server)

    def _stop(self, server: ServerProcess) -> None:
        server.stop()
        if server in self.servers:
            self.servers.remove(server)

    # -- 8. the embedded default ------------------------------------------------------------------------

    async def scenario_sqlite(self) -> None:
        """requestService on the embedded default: SQLite file, in-process bus (for the record)."""
        for server in list(self.servers):  # nothing else competes for the two cores
            server.stop()
        path = (self.workdir / "sqlite" / "credits.sqlite3").resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{path}"
        world = await self.seed(url, "sqlite")
        server = self.start_server(url, "memory://", "sqlite")
        db = checks.Sqlite(path)
        saved, self.world = self.world, world
        try:
            await self._request_run("requestService SQLite", "distinct", [server], world.seats, db)
        finally:
            self.world = saved
            await db.close()
            server.stop()

    def _pg(self) -> tuple[World, checks.Postgres, Config]:
        assert self.world is not None and self.db is not None, "PostgreSQL world not set up"
        return self.world, self.db, self.config


WEBHOOK_ROUNDS = 5
_SUBSCRIBED = {
    None: "no endpoint",
    "alerts": "3 endpoints (alerts)",
    "every event": "3 endpoints (every event)",
}


class WebhookRuns:
    """requestService runs on one server with 0 or 3 endpoints subscribed, and who sends the deliveries."""

    def __init__(
        self, suite: Suite, server: ServerProcess, sender: ServerProcess, receiver: Receiver, how: str
    ) -> None:
        self.suite, self.server, self.sender, self.receiver, self.how = suite, server, sender, receiver, how
        self.rows: dict[str | None, list[Row]] = {}

    async def run(
        self, event_types: list[str] | None, none: Row | None = None, *, drain: bool = False
    ) -> Row:
        """One run: endpoints for `event_types` (None: no endpoint; []: every event), nothing pending."""
        world, db, config = self.suite._pg()
        await db.conn.execute("DELETE FROM webhook_delivery; DELETE FROM webhook_endpoint")
        for n in range(3 if event_types is not None else 0):
            await _create_endpoint(self.server.address, world.admin_token, self.receiver.url, n, event_types)
        subscribed = None if event_types is None else "every event" if not event_types else "alerts"
        received, sender_cpu = self.receiver.count, self.sender.cpu_seconds()
        started = time.time()  # the receiver's clock: it runs in a process of its own
        row = await self.suite._request_run(
            "requestService webhooks",
            f"{_SUBSCRIBED[subscribed]}, {self.how}",
            [self.server],
            world.seats,
            db,
        )
        drained = (self.sender.cpu_seconds(), self.receiver.count)  # after the run: only sending is left
        if self.sender is not self.server:
            row.notes += f", dispatch process CPU {self.sender.cpu_seconds() - sender_cpu:.1f} s"
        if none is not None:
            _compare(row, none, strict=False)
        self.rows.setdefault(subscribed, []).append(row)
        deliveries = await _deliveries_row(db, self.receiver, started, received, config.seconds * 6 + 30)
        if subscribed == "every event" and not drain:
            row.notes += f", {deliveries.notes.split(',')[0]}"
        if drain:
            deliveries.shape += f", {self.how}"
            sent = self.receiver.count - drained[1]
            if sent:
                per_delivery = (self.sender.cpu_seconds() - drained[0]) / sent * 1000
                deliveries.figures["drain_cpu_ms_per_delivery"] = round(per_delivery, 3)
                deliveries.notes += (
                    f", sender CPU {per_delivery:.2f} ms per delivery after the run ({sent} sent)"
                )
        if drain or not deliveries.ok:
            self.suite.add(deliveries)
        return row

    def summary(self, subscribed: str, *, strict: bool) -> Row:
        """The median over rounds of the run with `subscribed` endpoints against that round's with none.

        Paired by round: this box's speed drifts by ±15% between identical runs (the server's CPU
        per operation moves with it), so a ratio of runs made side by side says more than one of
        medians taken apart.
        """
        with_endpoints, without = self.rows.get(subscribed, []), self.rows.get(None, [])
        row = Row("requestService webhooks", f"{len(with_endpoints)} rounds: {_SUBSCRIBED[subscribed]}")
        pairs = zip(with_endpoints, without, strict=False)
        ratios = [(r.ops_per_s or 0) / n.ops_per_s for r, n in pairs if n.ops_per_s]
        if not ratios:
            return row
        ratio = statistics.median(ratios)
        row.ops_per_s = statistics.median(r.ops_per_s or 0 for r in with_endpoints)
        row.figures["vs_no_endpoint"] = round(ratio, 3)
        row.figures["vs_no_endpoint_by_round"] = [round(r, 3) for r in ratios]
        by_round = ", ".join(f"{r:.0%}" for r in ratios)
        row.notes = f"{self.how}; median {ratio:.0%} of no endpoint in the same round ({by_round})"
        if ratio < 0.9 and strict:
            row.ok = False
            row.problems.append(f"median {ratio:.0%} of requestService without endpoints (want ≥ 90%)")
        return row


def _compare(row: Row, baseline: Row, *, strict: bool) -> None:
    """The row's throughput as a share of `baseline`'s; below 90% is a problem (outside a smoke run)."""
    if not (row.ops_per_s and baseline.ops_per_s):
        return
    ratio = row.ops_per_s / baseline.ops_per_s
    row.figures["vs_no_endpoint"] = round(ratio, 3)
    row.notes += f", {ratio:.0%} of no endpoint"
    if ratio < 0.9 and strict:
        row.ok = False
        row.problems.append(f"{ratio:.0%} of requestService without endpoints (want ≥ 90%)")


async def _create_endpoint(
    address: tuple[str, int], token: str, url: str, n: int, event_types: list[str] | None
) -> None:
    """An endpoint for every customer's events, through the API (its checks included)."""
    import httpx

    document = (
        "mutation ($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) "
        "{ webhookEndpoint { id } userErrors { code message } } }"
    )
    async with httpx.AsyncClient(base_url=f"http://{address[0]}:{address[1]}", timeout=30) as client:
        response = await client.post(
            "/graphql",
            json={
                "query": document,
                "variables": {"i": {"url": url, "description": f"bench {n}", "eventTypes": event_types}},
            },
            headers={"Authorization": f"Bearer {token}"},
        )
    payload = response.json()["data"]["createWebhookEndpoint"]
    if payload["userErrors"]:
        raise RuntimeError(f"createWebhookEndpoint: {payload['userErrors']}")


async def _deliveries_row(
    db: checks.Postgres, receiver: Receiver, started: float, received_before: int, within: float
) -> Row:
    """Deliveries per second: from the start of the 3-endpoint run until none is pending."""
    deadline = time.perf_counter() + within
    while True:
        ((pending, delivered, failed),) = await db.rows(
            "SELECT count(*) FILTER (WHERE status = 'PENDING'), "
            "count(*) FILTER (WHERE status = 'DELIVERED'), "
            "count(*) FILTER (WHERE status = 'FAILED') FROM webhook_delivery"
        )
        if pending == 0 or time.perf_counter() > deadline:
            break
        await asyncio.sleep(0.2)
    seconds = max((receiver.last or time.time()) - started, 1e-6)
    received = receiver.count - received_before
    row = Row(
        "webhooks",
        "deliveries to a local receiver",
        ops=delivered,
        ops_per_s=round(received / seconds, 1),
        figures={"delivered": delivered, "pending": pending, "failed": failed, "received": received},
    )
    row.notes = f"received {received} (at least once) in {seconds:.1f}s, {pending} still pending"
    if pending or failed:
        row.ok = False
        row.problems.append(f"{pending} pending and {failed} failed deliveries after {within:.0f}s")
    return row


def _row(scenario: str, shape: str, clients: int, result: LoadResult) -> Row:
    """Throughput over the measured window, nearest-rank p50/p99, errors and the client's CPU."""
    latencies = sorted(result.latencies)
    p50, p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
    row = Row(
        scenario,
        shape,
        clients=clients,
        ops=result.ok,
        ops_per_s=round(result.ok / result.window, 1) if result.window > 0 else None,
        p50_ms=round(p50 * 1000, 3) if p50 is not None else None,
        p99_ms=round(p99 * 1000, 3) if p99 is not None else None,
    )
    row.figures.update(
        successes_checked=len(result.ids),
        errors=result.errors,
        warmup_ops=result.warmup_ok,
        window_s=round(result.window, 3),
        load_cpu_percent=round(100 * result.cpu_seconds / max(result.wall_seconds, 1e-6), 1),
        error_samples=result.error_samples,
    )
    if result.errors:
        row.problems.append(f"{result.errors} errors, e.g. {result.error_samples[:2]}")
    if not result.ok:
        row.problems.append("no successful operation measured")
    return row


async def _requested(db: checks.Postgres) -> list[tuple[str, str]]:
    """(request id, customer id) of the ids just checked (still in `bench_ids`)."""
    rows = await db.rows(
        "SELECT r.id::text, r.customer_id::text FROM bench_ids i JOIN service_request r ON r.id = i.id "
        "WHERE r.status = 'REQUESTED'"
    )
    return [(r[0], r[1]) for r in rows]


def _fanout() -> Any:
    """The fan-out module when it exists (written beside this one), else None."""
    try:
        from bench import fanout
    except ModuleNotFoundError as exc:
        if exc.name != "bench.fanout":
            raise
        return None
    return fanout


_FANOUT_NOTES = (
    ("lost", "lost"),
    ("duplicates", "dup"),
    ("closed_1013", "closed 1013"),
    ("committed_rate", "changes/s"),
    ("commit_p50_ms", "commit p50 ms"),
    ("last_ms", "last ms"),
    ("bytes_per_subscriber", "B/subscriber"),
    ("server_cpu_percent", "server CPU %"),
    ("client_cpu_seconds", "client CPU s"),
)


def _figures_row(scenario: str, shape: str, clients: int, figures: dict[str, Any]) -> Row:
    """A row from the fan-out module's flat figures: deliveries, their latency, the notable rest."""
    delivered = figures.get("delivered")
    seconds = figures.get("seconds")
    row = Row(
        scenario,
        shape,
        clients=figures.get("subscribers", clients),
        ops=delivered,
        ops_per_s=delivered / seconds if delivered is not None and seconds else None,
        p50_ms=figures.get("p50_ms"),
        p99_ms=figures.get("p99_ms"),
        figures=dict(figures),
    )
    notes = [f"{label} {figures[key]}" for key, label in _FANOUT_NOTES if figures.get(key) is not None]
    row.notes = "deliveries; " + ", ".join(notes)
    return row


def _figure_problems(figures: dict[str, Any]) -> list[str]:
    """Fan-out figures that mean something went wrong: losses, duplicates, errors, closed sockets."""
    if figures.get("ok") is False:
        return [f"fan-out reported not ok: {figures}"]
    bad = ("lost", "duplicate", "error", "failed", "unexpected", "closed", "subscribers_missing")
    return [
        f"{key} = {value}"
        for key, value in figures.items()
        if any(b in key for b in bad)
        and isinstance(value, int | float)
        and not isinstance(value, bool)
        and value
    ]
