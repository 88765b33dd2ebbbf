"""Migrations 0008 (balances become lots, or debt) and 0009 (expiry warnings) on an existing database."""

from __future__ import annotations

import datetime as dt
import importlib
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.migrations.executor import MigrationExecutor, MigrationTarget

from infra import sql
from infra.db import APP, tortoise_config
from settings import Settings
from tests.conftest import _DATA_DIR, _PG_URL, IS_POSTGRES

_BEFORE_LOTS = MigrationTarget(app_label=APP, name="0007_webhook_delivery_pending")
_LOTS = MigrationTarget(app_label=APP, name="0008_lots")
_CUSTOMER = (
    'INSERT INTO "customer" ("id", "name", "balance", "last_sequence", "below_zero_fired", '
    '"below_threshold_fired", "created_at") VALUES ({0}, {1}, {2}, {3}, FALSE, FALSE, {4})'
)
_ENTRY = (
    'INSERT INTO "credit_transaction" ("id", "customer_id", "sequence", "kind", "amount", '
    '"balance_after", "created_at") VALUES ({0}, {1}, {2}, {3}, {4}, {5}, {6})'
)


@pytest.fixture
async def old_database() -> AsyncIterator[BaseDBAsyncClient]:
    """A database of its own beside the run's, migrated up to 0007 only."""
    name = f"lots_migration_{uuid.uuid4().hex[:8]}"
    if IS_POSTGRES:
        admin = await asyncpg.connect(_PG_URL)
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = urlunsplit(urlsplit(_PG_URL)._replace(path=f"/{name}"))
    else:
        url = f"sqlite:///{_DATA_DIR / (name + '.sqlite3')}"
    info = expand_db_url(url)
    client_class = importlib.import_module(info["engine"]).client_class
    conn = client_class(connection_name=name, **info["credentials"])
    await conn.create_connection(with_db=True)
    token = connections.set(name, conn)  # the executor's transactions look the connection up by name
    try:
        yield conn
    finally:
        connections.reset(token)
        await conn.close()
        if IS_POSTGRES:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()


async def _customer_with_entries(conn: BaseDBAsyncClient, name: str, amounts: list[int]) -> uuid.UUID:
    customer_id = uuid.uuid4()
    at = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    await sql.fetch(conn, _CUSTOMER, customer_id, name, sum(amounts), len(amounts), at)
    running = 0
    for n, amount in enumerate(amounts, start=1):
        running += amount
        kind = "GRANT" if amount > 0 else "SERVICE_CHARGE"
        await sql.fetch(
            conn, _ENTRY, uuid.uuid4(), customer_id, n, kind, amount, running, at + dt.timedelta(n)
        )
    return customer_id


async def test_upgrading_turns_positive_balances_into_one_lot_each_and_leaves_debt_without_one(
    settings: Settings, old_database: BaseDBAsyncClient
) -> None:
    # given: a database at 0007 with a positive, a zero and a negative balance, and no entries at all
    apps = {APP: tortoise_config(settings)["apps"][APP]}
    await MigrationExecutor(old_database, apps).migrate([_BEFORE_LOTS])
    rich = await _customer_with_entries(old_database, "rich", [10_000, -2_550])
    await _customer_with_entries(old_database, "even", [500, -500])
    await _customer_with_entries(old_database, "owing", [1_000, -2_500])
    await _customer_with_entries(old_database, "new", [])

    # when: the remaining migrations run
    await MigrationExecutor(old_database, apps).migrate()

    # then: only the positive balance became a lot, of all of it, without expiry, at priority 50,
    # created by the customer's newest entry
    lots = await sql.fetch(
        old_database,
        'SELECT l.*, t."sequence" AS entry_sequence FROM "credit_lot" l '
        'JOIN "credit_transaction" t ON t."id" = l."transaction_id"',
    )
    assert [
        (
            sql.as_uuid(lot["customer_id"]),
            lot["amount"],
            lot["remaining"],
            lot["priority"],
            lot["expires_at"],
            lot["status"],
            lot["sequence"],
            lot["entry_sequence"],
        )
        for lot in lots
    ] == [(rich, 7_450, 7_450, 50, None, "ACTIVE", 2, 2)]
    # and: no allocations (entries written before lots have none), the balances untouched
    assert await sql.fetch(old_database, 'SELECT * FROM "credit_allocation"') == []
    balances = await sql.fetch(old_database, 'SELECT "name", "balance" FROM "customer"')
    assert {row["name"]: row["balance"] for row in balances} == {
        "rich": 7_450,
        "even": 0,
        "owing": -1_500,
        "new": 0,
    }


async def test_upgrading_from_0008_leaves_lots_unwarned_and_alerts_without_a_lot(
    settings: Settings, old_database: BaseDBAsyncClient
) -> None:
    # given: a database at 0008 with a customer's lot expiring in two days and an alert
    apps = {APP: tortoise_config(settings)["apps"][APP]}
    await MigrationExecutor(old_database, apps).migrate([_BEFORE_LOTS])
    customer_id = await _customer_with_entries(old_database, "rich", [10_000])
    await MigrationExecutor(old_database, apps).migrate([_LOTS])
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    await sql.fetch(old_database, 'UPDATE "credit_lot" SET "expires_at" = {0}', soon)
    alert_id = uuid.uuid4()
    await sql.fetch(
        old_database,
        'INSERT INTO "credit_alert" ("id", "customer_id", "kind", "balance", "created_at") '
        "VALUES ({0}, {1}, 'BELOW_ZERO', -100, {2})",
        alert_id,
        customer_id,
        soon,
    )

    # when: 0009 runs
    await MigrationExecutor(old_database, apps).migrate()

    # then: the lot is not warned yet (the first sweep warns it), the alert names no lot
    [lot] = await sql.fetch(old_database, 'SELECT "id", "expiring_warned" FROM "credit_lot"')
    assert not lot["expiring_warned"]
    [alert] = await sql.fetch(old_database, 'SELECT "lot_id" FROM "credit_alert"')
    assert alert["lot_id"] is None
    # and: an alert and a notification can name the lot
    await sql.fetch(
        old_database,
        'INSERT INTO "credit_alert" ("id", "customer_id", "kind", "balance", "created_at", "lot_id") '
        "VALUES ({0}, {1}, 'CREDITS_EXPIRING', 10000, {2}, {3})",
        uuid.uuid4(),
        customer_id,
        soon,
        sql.as_uuid(lot["id"]),
    )
    named = 'SELECT count(*) AS n FROM "credit_alert" WHERE "lot_id" IS NOT NULL'
    assert (await sql.fetch(old_database, named))[0]["n"] == 1
    assert await sql.fetch(old_database, 'SELECT "lot_id" FROM "notification"') == []
