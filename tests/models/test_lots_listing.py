"""`Customer.lots` pages (models/lots.py `lots_page`): ACTIVE lots in consumption order, then spent
ones newest first, forward and backward at every page size, across the boundary between them."""

from __future__ import annotations

import datetime as dt

import pytest

from models.credits import change_balance
from models.lot_expiry import expire_due
from models.lots import CreditLot, LotStatus, listing_key, lots_page
from models.transaction import TransactionKind
from tests.factories import Login, enable_credits, grant_lot, make_catalog_admin, make_customer

NOW = dt.datetime.now(dt.UTC)


async def _customer_with_every_kind_of_lot() -> tuple[object, list[CreditLot]]:
    """Five ACTIVE lots (priorities, expiries, none), three DEPLETED and two EXPIRED ones."""
    await enable_credits()
    admin: Login = await make_catalog_admin()
    customer = await make_customer()
    for cents, days, priority in [(100, None, 10), (200, 5, 10), (300, 2, 10), (400, None, 60), (500, 9, 0)]:
        expires = None if days is None else NOW + dt.timedelta(days=days)
        await grant_lot(customer, cents, expires, by=admin, priority=priority)
    for cents in (11, 12, 13):  # consumed first (priority 0, soonest), then withdrawn whole
        await grant_lot(customer, cents, NOW + dt.timedelta(hours=1), by=admin, priority=0)
    await change_balance(admin.actor, TransactionKind.WITHDRAWAL, customer.id, 36, None, None)
    for cents in (21, 22):  # expired unused
        await grant_lot(customer, cents, NOW - dt.timedelta(minutes=1), by=admin, priority=100)
    await expire_due(NOW)
    return customer, await CreditLot.filter(customer_id=customer.id)


def _expected(lots: list[CreditLot], status: LotStatus | None) -> list[int]:
    wanted = [lot for lot in lots if status is None or lot.status == status]
    return [lot.amount for lot in sorted(wanted, key=listing_key)]


@pytest.mark.parametrize("status", [None, LotStatus.ACTIVE, LotStatus.DEPLETED, LotStatus.EXPIRED])
async def test_every_page_size_walks_the_whole_order_forward_and_backward(status: LotStatus | None) -> None:
    # given: a customer with lots of every status
    customer, lots = await _customer_with_every_kind_of_lot()
    assert sorted({lot.status for lot in lots}) == sorted(LotStatus)
    expected = _expected(lots, status)

    for size in range(1, len(expected) + 2):
        # when: the lots are read `size` at a time, from the start and from the end
        forward: list[int] = []
        after = None
        for _ in range(len(expected) + 2):  # a cursor that does not move fails, not loops
            page = await lots_page(customer.id, status, size, after)
            forward += [lot.amount for _, lot in page.rows]
            if not page.has_next:
                break
            after = page.rows[-1][0]
        backward: list[int] = []
        before = None
        for _ in range(len(expected) + 2):
            page = await lots_page(customer.id, status, None, None, size, before)
            backward = [lot.amount for _, lot in page.rows] + backward
            if not page.has_previous:
                break
            before = page.rows[0][0]

        # then: both walks give the whole order, once each
        assert forward == expected, size
        assert backward == expected, size
