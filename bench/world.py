"""The bench database: check PostgreSQL and Redis, recreate the database, seed it via the domain."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import urllib.parse
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from infra import db
from models.accounts import create_user, ensure_first_admin, issue_jwt, normalise_email
from models.actor import Actor
from models.catalog import create_customer, create_service
from models.credits import change_balance
from models.ledger import Movement, TransactionKind, post_batch
from models.platform import set_credit_management
from models.unit_of_work import UnitOfWork, run_in_transaction
from models.user import Role, User
from settings import Settings

PRICE_CENTS = 100  # the service costs 1.00 credit per request
# Every customer starts with 1,000,000,000.00 credits, granted through the ledger: no run can
# spend that, so no balance crosses zero and no alert fires. An alert would add notification,
# outbox and mail work to some requests and not others, and measure that instead of the charge.
FLOAT_CENTS = 10**9 * 100
PASSWORD = "bench-password-not-secret"


class ServiceDown(RuntimeError):
    """PostgreSQL or Redis does not answer: the bench refuses to run."""


@dataclass(frozen=True)
class Seat:
    """A customer with its end user and its customer administrator, and their bearer tokens."""

    customer_id: str
    user_id: str
    user_token: str
    admin_token: str


@dataclass(frozen=True)
class LotTerms:
    """One more grant a seat gets after its float: its own lot with this priority and expiry."""

    amount_cents: int
    priority: int
    expires_at: dt.datetime | None


@dataclass(frozen=True)
class World:
    """What the scenarios act on: one priced service, the catalog admin, N customers and a hot one."""

    service_id: str
    price_cents: int
    admin_token: str
    seats: tuple[Seat, ...]
    hot: Seat


def _with_database(url: str, name: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))


def database_name(url: str) -> str:
    """The database a postgres:// URL names."""
    return urllib.parse.urlsplit(url).path.lstrip("/")


_REPORTED_SETTINGS = (
    "server_version",
    "max_connections",
    "shared_buffers",
    "synchronous_commit",
    "fsync",
    "autovacuum",
)


async def postgres_info(url: str) -> dict[str, str]:
    """PostgreSQL's version and the settings that move the numbers, or ServiceDown naming the URL."""
    try:
        conn = await asyncpg.connect(_with_database(url, "postgres"), timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        raise ServiceDown(f"PostgreSQL at {_safe(url)} does not answer: {exc}") from exc
    try:
        return {name: await conn.fetchval(f"SHOW {name}") for name in _REPORTED_SETTINGS}
    finally:
        await conn.close()


async def redis_version(url: str) -> str:
    """Redis's version, or ServiceDown naming the URL."""
    from redis import asyncio as aioredis
    from redis.exceptions import RedisError

    client = aioredis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    try:
        await client.ping()
        return str((await client.info("server"))["redis_version"])
    except (OSError, RedisError) as exc:
        raise ServiceDown(f"Redis at {_safe(url)} does not answer: {exc}") from exc
    finally:
        await client.aclose()


def _safe(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.password:
        parts = parts._replace(netloc=f"{parts.username}:***@{parts.hostname}:{parts.port}")
    return urllib.parse.urlunsplit(parts)


async def recreate_database(url: str) -> None:
    """Drop and create the bench database through the maintenance database (names with "bench" only)."""
    name = database_name(url)
    if "bench" not in name:
        raise ServiceDown(f"refusing to drop {name!r}: the bench database's name must contain 'bench'")
    conn = await asyncpg.connect(_with_database(url, "postgres"), timeout=5)
    try:
        quoted = '"' + name.replace('"', '""') + '"'
        await conn.execute(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {quoted}")
    finally:
        await conn.close()


async def seed(settings: Settings, customers: int, *, concurrency: int = 16) -> World:
    """Migrate, then create the catalog admin, a priced service and customers via the domain."""
    assert settings.admin_email and settings.admin_password
    await db.init_db(settings)
    try:
        await db.migrate(settings)
        # The server would create the same administrator at start; it finds this one and keeps it.
        await ensure_first_admin(settings.admin_email, settings.admin_password, development=False)
        admin = await User.get(email_key=normalise_email(settings.admin_email))
        await set_credit_management(True)
        service = await create_service("Bench service", PRICE_CENTS)
        gate = asyncio.Semaphore(1 if settings.is_sqlite else concurrency)

        async def one(n: int) -> Seat:
            async with gate:
                return await _seat(Actor(admin), n)

        seats = await asyncio.gather(*(one(n) for n in range(customers + 1)))
        return World(
            service_id=str(service.id),
            price_cents=PRICE_CENTS,
            admin_token=issue_jwt(admin).token,
            seats=tuple(seats[1:]),
            hot=seats[0],
        )
    finally:
        await db.close_db()


async def seed_seats(
    settings: Settings, first: int, count: int, lots: Sequence[LotTerms], *, concurrency: int = 16
) -> tuple[Seat, ...]:
    """`count` more customers numbered from `first` on a seeded database: float, then one lot per term.

    They have no customer administrator (empty `admin_token`): nobody to notify, so a lot granted
    within 7 days of its expiry warns nobody by mail, and the charges measured are charges only.
    """
    await db.init_db(settings)
    try:
        assert settings.admin_email
        admin = Actor(await User.get(email_key=normalise_email(settings.admin_email)))
        gate = asyncio.Semaphore(1 if settings.is_sqlite else concurrency)

        async def one(n: int) -> Seat:
            async with gate:
                return await _seat(admin, n, lots, manager=False)

        return tuple(await asyncio.gather(*(one(n) for n in range(first, first + count))))
    finally:
        await db.close_db()


async def grant_lots(
    settings: Settings, seats: Sequence[Seat], lots: Sequence[LotTerms], *, per_transaction: int = 100
) -> None:
    """Grant each seat one lot per term through the ledger's batch, `per_transaction` customers at a time.

    Seconds for 10,000 lots where `change_balance` one by one takes a minute on a busy box: lots
    that must expire soon after can then be granted with a short, predictable lead.
    """
    await db.init_db(settings)
    try:
        assert settings.admin_email
        admin = Actor(await User.get(email_key=normalise_email(settings.admin_email)))
        for at in range(0, len(seats), per_transaction):
            groups = [
                (
                    uuid.UUID(seat.customer_id),
                    [
                        Movement(
                            lot.amount_cents,
                            TransactionKind.GRANT,
                            admin,
                            "bench lot",
                            priority=lot.priority,
                            expires_at=lot.expires_at,
                        )
                        for lot in lots
                    ],
                )
                for seat in seats[at : at + per_transaction]
            ]

            async def work(uow: UnitOfWork, groups: list[tuple[uuid.UUID, list[Movement]]] = groups) -> None:
                await post_batch(uow, groups)

            await run_in_transaction(work)
    finally:
        await db.close_db()


async def _seat(admin: Actor, n: int, lots: Sequence[LotTerms] = (), *, manager: bool = True) -> Seat:
    """Customer n, its END_USER (and CUSTOMER_ADMIN), its opening grant and then one grant per lot."""
    customer = await create_customer(f"Bench customer {n:05d}")
    user = await create_user(
        email=f"user{n}@bench.example",
        name=f"User {n}",
        role=Role.END_USER,
        customer_id=customer.id,
        password=PASSWORD,
    )
    admin_token = ""
    if manager:
        created = await create_user(
            email=f"admin{n}@bench.example",
            name=f"Admin {n}",
            role=Role.CUSTOMER_ADMIN,
            customer_id=customer.id,
            password=PASSWORD,
        )
        admin_token = issue_jwt(created).token
    await change_balance(admin, TransactionKind.GRANT, customer.id, FLOAT_CENTS, "bench float", None)
    for lot in lots:
        await change_balance(
            admin,
            TransactionKind.GRANT,
            customer.id,
            lot.amount_cents,
            "bench lot",
            None,
            priority=lot.priority,
            expires_at=lot.expires_at,
        )
    return Seat(str(customer.id), str(user.id), issue_jwt(user).token, admin_token)


async def add_pgbench_map(url: str, world: World) -> None:
    """`bench_customer(n, id, user_id)`: pgbench maps random(1, N) to a customer (0 is the hot one)."""
    conn = await asyncpg.connect(url, timeout=5)
    try:
        await conn.execute(
            "CREATE TABLE bench_customer (n int PRIMARY KEY, id uuid NOT NULL, user_id uuid NOT NULL)"
        )
        seats = (world.hot, *world.seats)
        rows = [(n, uuid.UUID(s.customer_id), uuid.UUID(s.user_id)) for n, s in enumerate(seats)]
        await conn.copy_records_to_table("bench_customer", records=rows)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def vacuum(url: str) -> None:
    """VACUUM ANALYZE the tables the scenarios write, so each starts from the same state.

    Without it (autovacuum may be off, as on the reference machine, or not have run yet) the hot
    customer's row collects dead versions and index entries run after run, and every later
    scenario touching it gets slower for reasons that have nothing to do with the code measured.
    """
    conn = await asyncpg.connect(url, timeout=5)
    try:
        # An older revision's schema (a baseline) may lack a table: vacuum those that exist.
        tables = await conn.fetchval(
            "SELECT string_agg(quote_ident(t), ', ') FROM unnest($1::text[]) t "
            "WHERE to_regclass(t) IS NOT NULL",
            list(_VACUUMED),
        )
        await conn.execute(f"VACUUM (ANALYZE) {tables}")
    finally:
        await conn.close()


_VACUUMED = (
    "customer",
    "service_request",
    "credit_transaction",
    "webhook_delivery",
    "credit_lot",
    "credit_allocation",
)

# Run in another revision's tree by its interpreter: that revision's own seeding, its World as JSON.
_SEED_ELSEWHERE = """
import asyncio, dataclasses, json, sys
from bench.world import seed
from settings import Settings
world = asyncio.run(seed(Settings(), int(sys.argv[1])))
print("WORLD " + json.dumps(dataclasses.asdict(world)))
"""


async def seed_elsewhere(python: str, tree: Path, env: dict[str, str], customers: int) -> World:
    """Seed through another revision's domain (`python` in `tree`, settings from `env`): its schema, its rows.

    A baseline's tables and domain functions are its own; only its bench's `seed` knows them.
    """
    proc = await asyncio.create_subprocess_exec(
        python,
        "-c",
        _SEED_ELSEWHERE,
        str(customers),
        cwd=tree,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    lines = [line for line in out.decode(errors="replace").splitlines() if line.startswith("WORLD ")]
    if proc.returncode != 0 or not lines:
        tail = err.decode(errors="replace").strip()[-1500:]
        raise RuntimeError(f"seeding in {tree} failed ({proc.returncode}): {tail}")
    data = json.loads(lines[-1].removeprefix("WORLD "))
    return World(
        service_id=data["service_id"],
        price_cents=data["price_cents"],
        admin_token=data["admin_token"],
        seats=tuple(Seat(**s) for s in data["seats"]),
        hot=Seat(**data["hot"]),
    )


# The same for `seed_seats`: lots as JSON [amount, priority, ISO expiry or null], seats back as JSON.
_SEED_SEATS_ELSEWHERE = """
import asyncio, dataclasses, datetime as dt, json, sys
from bench.world import LotTerms, seed_seats
from settings import Settings
terms = [LotTerms(a, p, e and dt.datetime.fromisoformat(e)) for a, p, e in json.loads(sys.argv[3])]
seats = asyncio.run(seed_seats(Settings(), int(sys.argv[1]), int(sys.argv[2]), terms))
print("SEATS " + json.dumps([dataclasses.asdict(s) for s in seats]))
"""


async def seed_seats_elsewhere(
    python: str, tree: Path, env: dict[str, str], first: int, count: int, lots: Sequence[LotTerms]
) -> tuple[Seat, ...]:
    """`seed_seats` through another revision's domain; fails where that revision has no lots."""
    terms = json.dumps(
        [[t.amount_cents, t.priority, t.expires_at and t.expires_at.isoformat()] for t in lots]
    )
    proc = await asyncio.create_subprocess_exec(
        python,
        "-c",
        _SEED_SEATS_ELSEWHERE,
        str(first),
        str(count),
        terms,
        cwd=tree,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    lines = [line for line in out.decode(errors="replace").splitlines() if line.startswith("SEATS ")]
    if proc.returncode != 0 or not lines:
        tail = err.decode(errors="replace").strip()[-1500:]
        raise RuntimeError(f"seeding seats with lots in {tree} failed ({proc.returncode}): {tail}")
    return tuple(Seat(**s) for s in json.loads(lines[-1].removeprefix("SEATS ")))
