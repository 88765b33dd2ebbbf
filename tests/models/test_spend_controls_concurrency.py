"""Spend controls under racing transactions (PostgreSQL): no race passes the floor or repeats a top-up."""

from __future__ import annotations

import asyncio
import itertools

from models import spend_settings
from models.errors import DomainError, ErrorCode
from models.ledger import CreditTransaction, Movement, TransactionKind, post_batch
from models.lots import CreditLot
from models.spend_settings import TopUpRule
from models.unit_of_work import UnitOfWork, run_in_transaction
from tests.conftest import requires_postgres
from tests.factories import World, make_world

HUGE = 1_000_000  # 10,000.00: more than all the race's grants and top-ups together


async def race(
    world: World, amounts: list[int], kind: TransactionKind = TransactionKind.SERVICE_CHARGE
) -> list:
    """Post each amount as its own debit, each in its own transaction (its own pooled connection)."""

    def debit(cents: int):
        async def work(uow: UnitOfWork) -> None:
            await post_batch(uow, [(world.customer.id, [Movement(cents, kind, world.end_user.actor)])])

        return work

    return await asyncio.gather(*(run_in_transaction(debit(c)) for c in amounts), return_exceptions=True)


def refusals(outcomes: list) -> list[ErrorCode]:
    """The codes of the refused debits; anything else unexpected fails the test."""
    codes = []
    for outcome in outcomes:
        if isinstance(outcome, DomainError):
            codes.append(outcome.code)
        elif outcome is not None:
            raise AssertionError(outcome)
    return codes


async def ledger(world: World) -> list[CreditTransaction]:
    """The customer's entries in ledger order."""
    return await CreditTransaction.filter(customer_id=world.customer.id).order_by("sequence")


@requires_postgres
async def test_50_racing_charges_never_pass_the_floor() -> None:
    # given: 30.00 and a floor of 0.00
    world = await make_world("shop", balance=30, admins=0)
    await spend_settings.set_minimum_balance(world.customer.id, 0)

    # when: 50 charges of 1.00 race
    outcomes = await race(world, [100] * 50)

    # then: 30 went through, 20 were refused; no entry's balance is below the floor
    assert refusals(outcomes) == [ErrorCode.INSUFFICIENT_CREDITS] * 20
    entries = await ledger(world)
    assert min(e.balance_after for e in entries) == 0
    assert [e.kind for e in entries].count(TransactionKind.SERVICE_CHARGE) == 30


@requires_postgres
async def test_50_racing_charges_across_the_threshold_make_one_top_up() -> None:
    # given: 60.00 and a top-up of 100.00 below 50.00, up to 24 a day
    world = await make_world("shop", balance=60, admins=0)
    await spend_settings.set_auto_top_up(world.customer.id, TopUpRule(5000, 10000, max_per_day=24))

    # when: 50 charges of 1.00 race (the 11th crosses the threshold)
    outcomes = await race(world, [100] * 50)

    # then: one top-up, right before the charge that crossed from 50.00
    assert refusals(outcomes) == []
    entries = await ledger(world)
    top_ups = [e for e in entries if e.kind is TransactionKind.AUTO_TOP_UP]
    assert [(e.amount, e.balance_after) for e in top_ups] == [(10000, 15000)]
    assert entries[-1].balance_after == 6000 + 10000 - 5000
    await world.customer.refresh_from_db()
    assert world.customer.top_up_count == 1


@requires_postgres
async def test_the_top_up_and_the_floor_roll_back_as_one() -> None:
    # given: 60.00, a floor of 0.00, a top-up of 40.00 below 50.00 up to 24 a day
    world = await make_world("shop", balance=60, admins=0)
    await spend_settings.set_minimum_balance(world.customer.id, 0)
    await spend_settings.set_auto_top_up(world.customer.id, TopUpRule(5000, 4000, max_per_day=24))

    # when: charges and withdrawals of 5, 30 and 10,000 race with grants that re-arm the rule
    amounts = list(itertools.islice(itertools.cycle([500, 3000, HUGE]), 45))
    grants = [
        run_in_transaction(
            lambda uow: post_batch(
                uow, [(world.customer.id, [Movement(4000, TransactionKind.GRANT, world.admin.actor)])]
            )
        )
        for _ in range(5)
    ]
    outcomes, _ = await asyncio.gather(
        race(world, amounts[:30]),
        asyncio.gather(race(world, amounts[30:], TransactionKind.WITHDRAWAL), *grants),
    )

    # then: every 10,000.00 was refused, with the top-up it would have brought; each top-up is
    # followed by the debit that crossed the threshold
    assert set(refusals(outcomes)) <= {ErrorCode.INSUFFICIENT_CREDITS}
    entries = await ledger(world)
    assert all(e.balance_after >= 0 for e in entries)
    assert not [e for e in entries if e.amount == -HUGE]
    for entry, following in itertools.pairwise(entries):
        if entry.kind is TransactionKind.AUTO_TOP_UP:
            assert following.kind in (TransactionKind.SERVICE_CHARGE, TransactionKind.WITHDRAWAL)
            before = entry.balance_after - entry.amount
            assert before + following.amount < 5000 <= before
    top_ups = [e for e in entries if e.kind is TransactionKind.AUTO_TOP_UP]
    assert top_ups, "the race crossed the threshold at least once"
    assert await CreditLot.filter(customer_id=world.customer.id).count() == 1 + 5 + len(top_ups)
