"""Lots under concurrency (PostgreSQL): racing charges and racing expiries keep every lot exact."""

from __future__ import annotations

import asyncio
import datetime as dt

from infra import clock
from models.ledger import CreditTransaction, Movement, TransactionKind, post_batch
from models.lots import CreditAllocation, CreditLot, LotStatus
from models.unit_of_work import UnitOfWork, run_in_transaction, unit_of_work
from tests.conftest import requires_postgres
from tests.factories import make_world

SOON = dt.timedelta(days=2)


@requires_postgres
async def test_50_racing_charges_take_three_lots_in_consumption_order_then_owe() -> None:
    # given: 30.00 in three lots (priority 10; expiring; no expiry) and a 1.00 service
    world = await make_world("shop", price="1.00", admins=0)
    customer, end_user, admin = world.customer, world.end_user, world.admin
    expires_at = dt.datetime.now(dt.UTC) + SOON
    grants = [
        Movement(1000, TransactionKind.GRANT, admin.actor),
        Movement(1000, TransactionKind.GRANT, admin.actor, expires_at=expires_at),
        Movement(1000, TransactionKind.GRANT, admin.actor, priority=10),
    ]
    async with unit_of_work() as uow:
        await post_batch(uow, [(customer.id, grants)])
    lots = {lot.sequence: lot.id for lot in await CreditLot.filter(customer_id=customer.id)}

    # when: 50 charges race, each in its own transaction (on its own pooled connection)
    async def charge(uow: UnitOfWork) -> None:
        await post_batch(
            uow, [(customer.id, [Movement(100, TransactionKind.SERVICE_CHARGE, end_user.actor)])]
        )

    await asyncio.gather(*(run_in_transaction(charge) for _ in range(50)))

    # then: in ledger order, the charges emptied the priority-10 lot, then the expiring one, then
    # the one without expiry, and the last 20 are debt: each charge one allocation of -1.00
    charges = await CreditTransaction.filter(
        customer_id=customer.id, kind=TransactionKind.SERVICE_CHARGE
    ).order_by("sequence")
    parts = {p.transaction_id: p for p in await CreditAllocation.filter(transaction__customer_id=customer.id)}
    taken = [(parts[c.id].lot_id, parts[c.id].amount) for c in charges]
    assert (
        taken
        == [(lots[3], -100)] * 10 + [(lots[2], -100)] * 10 + [(lots[1], -100)] * 10 + [(None, -100)] * 20
    )
    assert {lot.status for lot in await CreditLot.filter(customer_id=customer.id)} == {LotStatus.DEPLETED}
    await customer.refresh_from_db()
    assert customer.balance == -2000


@requires_postgres
async def test_two_racing_expiries_of_one_lot_write_one_entry() -> None:
    # given: a lot of 10.00 that is due
    world = await make_world("shop", admins=0)
    customer, admin = world.customer, world.admin
    async with unit_of_work() as uow:
        await post_batch(
            uow,
            [
                (
                    customer.id,
                    [
                        Movement(
                            1000,
                            TransactionKind.GRANT,
                            admin.actor,
                            expires_at=dt.datetime.now(dt.UTC) + SOON,
                        )
                    ],
                )
            ],
        )
    lot = await CreditLot.get(customer_id=customer.id)

    async def expire() -> int:
        async def work(uow: UnitOfWork) -> int:
            groups = await post_batch(
                uow, [(customer.id, [Movement(0, TransactionKind.EXPIRATION, None, lot_id=lot.id)])]
            )
            return len(groups[0])

        return await run_in_transaction(work)

    # when: two expire it at once (two processes' sweeps)
    written = await asyncio.gather(expire(), expire())

    # then: one of them wrote the EXPIRATION entry, the other nothing
    assert sorted(written) == [0, 1]
    expirations = await CreditTransaction.filter(customer_id=customer.id, kind=TransactionKind.EXPIRATION)
    assert [e.amount for e in expirations] == [-1000]
    await lot.refresh_from_db()
    assert (lot.status, lot.remaining) == (LotStatus.EXPIRED, 0)


@requires_postgres
async def test_a_posting_that_waited_for_the_lock_is_dated_after_the_one_it_waited_for() -> None:
    # given a customer, and a grant holding its lock at 12:00:02, not yet committed
    world = await make_world("shop", admins=0)
    customer, admin = world.customer, world.admin
    noon = dt.datetime(2031, 3, 1, 12, tzinfo=dt.UTC)
    grant = [(customer.id, [Movement(1000, TransactionKind.GRANT, admin.actor)])]
    holding, release = asyncio.Event(), asyncio.Event()

    async def first(uow: UnitOfWork) -> None:
        await post_batch(uow, grant)
        holding.set()
        await release.wait()

    with clock.set_to(noon + dt.timedelta(seconds=2)):
        held = asyncio.create_task(run_in_transaction(first))
        await holding.wait()

    # when a second grant starts at 12:00:01 (before it), waits for the lock, and the first
    # commits at 12:00:03
    with clock.set_to(noon + dt.timedelta(seconds=1)):
        waiting = asyncio.create_task(run_in_transaction(lambda uow: post_batch(uow, grant)))
        await asyncio.sleep(0.2)
    with clock.set_to(noon + dt.timedelta(seconds=3)):
        release.set()
        await held
        await waiting

    # then the entries run in time as they do in sequence
    entries = await CreditTransaction.filter(customer_id=customer.id).order_by("sequence")
    assert [e.created_at for e in entries] == [noon + dt.timedelta(seconds=2), noon + dt.timedelta(seconds=3)]
