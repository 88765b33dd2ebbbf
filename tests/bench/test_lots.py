"""The credit-lots scenarios: the hot customer's target, the seats' lots, the lots' invariants in SQL."""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg

from bench import checks, lots
from bench.config import SCENARIOS, Config
from bench.report import Row
from bench.world import FLOAT_CENTS, Seat
from models.ledger import Movement, TransactionKind, post_batch
from models.lot_expiry import expire_due
from models.unit_of_work import unit_of_work
from settings import get_settings
from tests.conftest import requires_postgres
from tests.factories import grant_lot, make_catalog_admin, make_customer


def test_the_hot_customer_is_judged_against_the_asyncpg_ceiling_and_pgbench_is_reported():
    # given: the hot customer with five lots above asyncpg's ceiling, below pgbench's; another below both
    above = Row("requestService lots", "hot, 5 lots", vs_asyncpg=1.2, vs_pgbench=0.95)
    below = Row("requestService lots", "hot, 5 lots", vs_asyncpg=0.9, vs_pgbench=0.8)
    # when
    lots.hot_against_ceiling(above, strict=True)
    lots.hot_against_ceiling(below, strict=True)
    # then
    assert above.ok and above.notes == ", 1.20× asyncpg, 0.95× pgbench"
    assert not below.ok
    assert below.problems == ["hot customer with five lots at 0.90× the asyncpg ceiling (want ≥ 1.0×)"]


def test_the_five_lot_seats_get_four_more_lots_of_mixed_priority_expiring_in_the_future():
    # given
    now = dt.datetime.now(dt.UTC)
    # when
    terms = lots.four_more_lots(now)
    # then: beside the float (50, never) the priorities and expiries differ, and no lot runs out
    assert len(terms) == 4
    assert sorted(t.priority for t in terms) == [10, 30, 50, 70]
    assert len({t.expires_at for t in terms}) == 4
    assert all(t.expires_at is not None and t.expires_at > now for t in terms)
    assert all(t.amount_cents == FLOAT_CENTS for t in terms)


def test_the_new_scenarios_run_after_the_ceilings_and_a_smoke_run_expires_few_lots():
    # given / when
    smoke, full = Config.smoke_sized(), Config()
    # then: in the canonical order after the ceilings (their ratios need them); smoke sizes are small
    assert SCENARIOS.index("ceilings") < SCENARIOS.index("lots") < SCENARIOS.index("expiry")
    assert full.expiring_lots == 10_000 and smoke.expiring_lots == 200
    assert lots.expiry_lead(10_000) > lots.expiry_lead(200) > lots.CHARGING_BEFORE
    assert lots.expiry_window(smoke=False) > lots.EXPIRY_TARGET_SECONDS


# -- the checks in SQL, on PostgreSQL ------------------------------------------------------------------


async def _bench_db() -> checks.Postgres:
    """The checks' own connection to this run's test database, as the bench opens its own."""
    return checks.Postgres(await asyncpg.connect(get_settings().database_url))


def _seat(customer_id: uuid.UUID) -> Seat:
    return Seat(str(customer_id), str(uuid.uuid4()), "", "")


@requires_postgres
async def test_lots_hold_finds_a_lot_whose_remaining_disagrees_with_its_allocations():
    # given: a customer with a float and a lot, one charge taken
    admin = await make_catalog_admin()
    customer = await make_customer(balance=100, by=admin)
    lot = await grant_lot(customer, 5_000, None, by=admin, priority=10)
    async with unit_of_work() as uow:
        await post_batch(uow, [(customer.id, [Movement(100, TransactionKind.WITHDRAWAL, admin.actor)])])
    db = await _bench_db()
    try:
        assert await lots.lots_hold(db, [_seat(customer.id)]) == []
        # when: a lot's remaining moves behind the ledger's back
        await db.conn.execute("UPDATE credit_lot SET remaining = remaining + 1 WHERE id = $1", lot.id)
        problems = await lots.lots_hold(db, [_seat(customer.id)])
        await db.conn.execute("UPDATE credit_lot SET remaining = remaining - 1 WHERE id = $1", lot.id)
    finally:
        await db.close()
    # then: the lot and the customer's balance are named
    assert any(p.startswith(f"lot {lot.id} (ACTIVE): amount 5000, remaining 4901") for p in problems)
    assert any(p.startswith(f"customer {customer.id}: balance") for p in problems)


@requires_postgres
async def test_expired_once_and_wait_expired_follow_the_sweep():
    # given: three lots due at the same second (past now: the ledger does not check), not swept
    # yet, the first used up by a withdrawal (it comes first: priority 0)
    admin = await make_catalog_admin()
    customer = await make_customer(balance=10, by=admin)
    due = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(seconds=2)
    await grant_lot(customer, 1_000, due, by=admin, priority=0)
    for _ in range(2):
        await grant_lot(customer, 1_000, due, by=admin)
    async with unit_of_work() as uow:
        await post_batch(uow, [(customer.id, [Movement(1_000, TransactionKind.WITHDRAWAL, admin.actor)])])
    customers = [str(customer.id)]
    db = await _bench_db()
    try:
        before = await lots.expired_once(db, customers, due, 3)
        waited = await lots.wait_expired(db, customers, due, 3, deadline=0)
        # when: the sweep runs (two EXPIRATION entries; the used-up lot expires without one)
        await expire_due(dt.datetime.now(dt.UTC))
        after = await lots.expired_once(db, customers, due, 3)
        seen = await lots.wait_expired(db, customers, due, 3, deadline=5)
        wrong_count = await lots.expired_once(db, customers, due, 4)
        # and when: an EXPIRATION entry's allocation is moved onto the used-up lot
        [moved] = await db.conn.fetch(
            "SELECT a.id, a.lot_id FROM credit_allocation a JOIN credit_transaction t "
            "ON t.id = a.transaction_id WHERE t.kind = 'EXPIRATION' AND t.customer_id = $1 LIMIT 1",
            customer.id,
        )
        depleted = await db.conn.fetchval(
            "SELECT id FROM credit_lot WHERE customer_id = $1 AND priority = 0", customer.id
        )
        move = "UPDATE credit_allocation SET lot_id = $1 WHERE id = $2"
        await db.conn.execute(move, depleted, moved["id"])
        tampered = await lots.expired_once(db, customers, due, 3)
        await db.conn.execute(move, moved["lot_id"], moved["id"])
    finally:
        await db.close()
    # then
    assert len(before) == 3 and all(" with 0 EXPIRATION entries" in p for p in before)
    assert waited is None
    assert after == []
    assert seen is not None and seen >= due.timestamp()
    assert wrong_count == ["3 lots due, 4 granted"]
    assert len(tampered) == 2 and all("EXPIRED with" in p for p in tampered)
