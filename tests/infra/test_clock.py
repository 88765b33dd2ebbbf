"""The injectable clock: a set time holds inside its block and nests; the real time comes back after."""

from __future__ import annotations

import datetime as dt

import pytest

from infra import clock
from models.transaction import CreditTransaction
from tests.factories import grant_lot, make_catalog_admin, make_customer


def test_a_set_time_holds_inside_its_block_and_the_real_time_returns_after() -> None:
    # given a moment far from now
    moment = dt.datetime(2030, 1, 31, 23, 59, 59, tzinfo=dt.UTC)
    # when the clock is set to it, then it answers it (nested blocks too), and the real time after
    with clock.set_to(moment):
        assert clock.now() == moment
        with clock.set_to(moment + dt.timedelta(seconds=1)):
            assert clock.now() == dt.datetime(2030, 2, 1, tzinfo=dt.UTC)
        assert clock.now() == moment
    assert abs(clock.now() - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError):
        with clock.set_to(dt.datetime(2030, 1, 1)):
            pass


async def test_the_ledger_dates_its_entries_by_the_clock() -> None:
    # given a customer and a clock set just before a UTC midnight
    customer = await make_customer()
    moment = dt.datetime(2031, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
    # when credits are granted
    with clock.set_to(moment):
        lot = await grant_lot(customer, 500, None, by=await make_catalog_admin())
    # then the entry is dated at that moment
    entry = await CreditTransaction.get(id=lot.transaction_id)
    assert entry.created_at == moment
