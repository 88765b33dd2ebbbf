"""Shared fixtures: one database per run (SQLite file, or PostgreSQL when
CREDITS_TEST_DATABASE_URL is set), emptied after each test, with the ledger
invariant checked after every test that moved money."""

from __future__ import annotations

import os
import sys
import tempfile
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

_DATA_DIR = Path(tempfile.mkdtemp(prefix="credits-test-"))
_PG_URL = os.environ.get("CREDITS_TEST_DATABASE_URL")
_PG_TEST_DB = f"credits_test_{uuid.uuid4().hex[:10]}"


def _test_database_url() -> str:
    if not _PG_URL:
        return f"sqlite:///{_DATA_DIR / 'test.sqlite3'}"
    parts = urlsplit(_PG_URL)
    return urlunsplit(parts._replace(path=f"/{_PG_TEST_DB}"))


# The environment every in-process and spawned server of this run shares.
TEST_ENV = {
    "CREDITS_ENV": "development",
    "CREDITS_DATA_DIR": str(_DATA_DIR),
    "CREDITS_DATABASE_URL": _test_database_url(),
    "CREDITS_JWT_SECRET": "test-secret-" + uuid.uuid4().hex,
    "CREDITS_ADMIN_EMAIL": "root@example.com",
    "CREDITS_ADMIN_PASSWORD": "root-password",
    "CREDITS_ARGON2_TIME_COST": "1",
    "CREDITS_ARGON2_MEMORY_KIB": "64",
    "CREDITS_DB_POOL_MAX": "10",  # several servers share PostgreSQL's 100 connections
    "CREDITS_BROADCAST_URL": os.environ.get("CREDITS_TEST_REDIS_URL", "memory://"),
    # Runs that share one Redis (parallel worktrees, a bench beside CI) never hear each other.
    "CREDITS_BUS_CHANNEL": f"credits.test.{_PG_TEST_DB}",
    "CREDITS_WS_AUTH_RECHECK_SECONDS": "0.5",
    "CREDITS_HOUSEKEEPING_SECONDS": "86400",  # at start only: tests call keep_house themselves
    "CREDITS_LOT_SWEEP_SECONDS": "86400",  # likewise: tests sweep at the times they choose
    "CREDITS_RUNWAY_SWEEP_SECONDS": "86400",  # likewise
}
os.environ.update(TEST_ENV)

from infra import db  # noqa: E402
from models.customer import Customer  # noqa: E402
from models.ledger import CreditTransaction  # noqa: E402
from models.lots import CreditAllocation, CreditLot, LotStatus  # noqa: E402
from models.unit_of_work import is_retryable  # noqa: E402
from notifications.bus import EventBus  # noqa: E402
from settings import Settings, get_settings  # noqa: E402
from tests.smtp import SmtpServer  # noqa: E402
from tests.webhook_receiver import WebhookReceiver  # noqa: E402

if TYPE_CHECKING:
    from tests.client import GraphQLClient
    from tests.processes import ServerProcess

get_settings.cache_clear()

IS_POSTGRES = bool(_PG_URL)
IS_REDIS = bool(os.environ.get("CREDITS_TEST_REDIS_URL"))
requires_postgres = pytest.mark.skipif(not IS_POSTGRES, reason="needs CREDITS_TEST_DATABASE_URL (PostgreSQL)")

# Children first, so SQLite's foreign keys never object.
_TABLES = (
    "webhook_manual_send",
    "webhook_delivery",
    "webhook_endpoint",
    "login_failure",
    "email_outbox",
    "credit_alert",
    "notification",
    "idempotency_record",
    "credit_allocation",
    "credit_lot",
    "credit_transaction",
    "service_request",
    "api_token",
    "console_session",
    "app_user",
    "service",
    "customer",
    "platform_settings",
)


async def _create_pg_database() -> None:
    import asyncpg

    conn = await asyncpg.connect(_PG_URL)
    try:
        await conn.execute(f'CREATE DATABASE "{_PG_TEST_DB}"')
    finally:
        await conn.close()


async def _drop_pg_database() -> None:
    import asyncpg

    conn = await asyncpg.connect(_PG_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{_PG_TEST_DB}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def settings() -> Settings:
    """The settings of this test run."""
    return get_settings()


@pytest.fixture(scope="session")
def app(settings: Settings):
    """The ASGI app; its runtime (database, bus) is started by the `runtime` fixture."""
    from api.app import create_app

    return create_app(settings)


@pytest.fixture(scope="session", autouse=True)
async def runtime(app, settings: Settings) -> AsyncIterator[object]:
    """Create and migrate the run's database, start the event bus; finally drop the database."""
    if IS_POSTGRES:
        await _create_pg_database()
    await app.state.runtime.start()
    yield app.state.runtime
    await app.state.runtime.stop()
    if IS_POSTGRES:
        await _drop_pg_database()


async def _cut_off_lock_holders(conn: Any) -> None:
    """Terminate the other sessions of the test database that hold a transaction open, saying which."""
    _, rows = await conn.execute_query(
        "SELECT pid, state, now() - xact_start AS open_for, left(query, 300) AS query FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
    )
    for row in rows:
        warnings.warn(f"TRUNCATE waited on another session; terminating it: {dict(row)}", stacklevel=1)
        await conn.execute_query("SELECT pg_terminate_backend($1)", [row["pid"]])


async def empty_database() -> None:
    """Delete every row, keeping the schema."""
    conn = db.connections.get("default")
    if IS_POSTGRES:
        # The running webhook dispatcher's short transactions take tables in another order than
        # TRUNCATE does: a deadlock between them aborts one, so try again.
        # A server process of a test may still hold a transaction on them: after a while it is
        # named (so that a transaction left open by the service shows) and cut off.
        for attempt in range(5):
            try:
                # One implicit transaction (simple protocol): SET LOCAL ends with it.
                truncate = f"TRUNCATE {', '.join(_TABLES)} CASCADE"
                await conn.execute_script(f"SET LOCAL lock_timeout = '5s'; {truncate}")
                return
            except Exception as error:
                if attempt == 4:
                    raise
                if isinstance(error, TimeoutError) or "lock timeout" in str(error):
                    await _cut_off_lock_holders(conn)
                elif not is_retryable(error):
                    raise
    else:
        for table in _TABLES:
            await conn.execute_script(f"DELETE FROM {table}")


async def assert_ledger_consistent() -> None:
    """Every customer's balance equals its ledger sum, and sequences run 1..n without gaps."""
    for customer in await Customer.all():
        entries = await CreditTransaction.filter(customer_id=customer.id).order_by("sequence")
        assert customer.balance == sum(e.amount for e in entries), customer.name
        assert [e.sequence for e in entries] == list(range(1, len(entries) + 1)), customer.name
        assert customer.last_sequence == len(entries)
        running = 0
        for entry in entries:
            running += entry.amount
            assert entry.balance_after == running
        await assert_lots_consistent(customer, entries)


async def assert_lots_consistent(customer: Customer, entries: list[CreditTransaction]) -> None:
    """The invariants of "Credit lots" (API.md) for one customer's lots and allocations."""
    allocations = await CreditAllocation.filter(transaction__customer_id=customer.id)
    by_entry: dict[uuid.UUID, list[CreditAllocation]] = {}
    by_lot: dict[uuid.UUID | None, list[CreditAllocation]] = {}
    for part in allocations:
        by_entry.setdefault(part.transaction_id, []).append(part)
        by_lot.setdefault(part.lot_id, []).append(part)
    for entry in entries:
        parts = by_entry.get(entry.id, [])
        assert sum(p.amount for p in parts) == entry.amount, (customer.name, entry.kind, entry.sequence)
        assert len({p.lot_id for p in parts}) == len(parts), "one allocation per lot per entry"
    active = 0
    for lot in await CreditLot.filter(customer_id=customer.id):
        later = sum(p.amount for p in by_lot.get(lot.id, []) if p.transaction_id != lot.transaction_id)
        assert lot.remaining == lot.amount + later, (customer.name, lot.amount, lot.remaining)
        assert lot.remaining > 0 if lot.status == LotStatus.ACTIVE else lot.remaining == 0, lot.status
        active += lot.remaining if lot.status == LotStatus.ACTIVE else 0
    # the balance is what the ACTIVE lots hold, or minus the debt (and then no lot holds credits)
    assert active == max(customer.balance, 0), customer.name


@pytest.fixture(autouse=True)
async def clean_ledger() -> AsyncIterator[None]:
    """Each test starts empty and must leave balance = ledger sum behind it."""
    await empty_database()
    yield
    await assert_ledger_consistent()


@pytest.fixture
async def http(app) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process HTTP client for the app."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def gql(http: httpx.AsyncClient):
    """Run a GraphQL document in-process: `await gql(QUERY, variables, token=...)`."""
    from tests.client import GraphQLClient

    return GraphQLClient(http)


@pytest.fixture(scope="session")
def server_env() -> dict[str, str]:
    """The environment for spawned server processes."""
    return {**os.environ, **TEST_ENV}


@pytest.fixture
def live_server(server_env: dict[str, str]) -> Iterator[str]:
    """A real uvicorn process (`python server.py`) on a free port; yields its base URL."""
    from tests.processes import ServerProcess

    with ServerProcess(server_env) as server:
        yield server.base_url


@pytest.fixture
async def api(server: ServerProcess) -> AsyncIterator[GraphQLClient]:
    """GraphQL over HTTP to the module's real `server` fixture, so that its bus publishes the events."""
    from tests.client import GraphQLClient

    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        yield GraphQLClient(client)


@pytest.fixture
def url(server: ServerProcess) -> str:
    """The websocket URL of the module's real `server` fixture."""
    from tests.ws_client import ws_url

    return ws_url(server.base_url)


@pytest.fixture
async def own_bus() -> AsyncIterator[EventBus]:
    """A memory event bus of the test's own: the app's commits are published on another one."""
    bus = EventBus("memory://")
    await bus.start()
    yield bus
    await bus.stop()


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    """A running webhook receiver on a free port (tests/webhook_receiver.py): 200 unless told otherwise."""
    server = WebhookReceiver()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def no_local_webhook_dispatcher(runtime: object) -> AsyncIterator[None]:
    """This process's webhook dispatcher stopped: only what the test drives or starts sends."""
    await runtime.webhooks.stop()  # type: ignore[attr-defined]
    yield
    runtime.webhooks.start()  # type: ignore[attr-defined]


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A running SMTP server (aiosmtpd) that records what it receives."""
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def mail_settings(settings: Settings, smtp: SmtpServer) -> Settings:
    """The test settings pointed at the SMTP server."""
    return settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp.port,
            "smtp_starttls": False,
            "mail_from": "alerts@credits.test",
            "mail_timeout_seconds": 5.0,
        }
    )


@pytest.fixture
def queries() -> Iterator[object]:
    """Counts SQL statements: `with queries.counting() as sent: …; len(sent)` (tests/query_counter.py)."""
    from tests.query_counter import QueryCounter, patched

    with patched():
        yield QueryCounter()
