"""The ledger splits every entry across the customer's lots, in ledger order, inside its own posting."""

from __future__ import annotations

import datetime as dt
import uuid

from models.ledger import LOTS_READ_PER_CUSTOMER, CreditTransaction, Movement, TransactionKind, post_batch
from models.lots import CreditAllocation, CreditLot, LotStatus
from models.service import RequestStatus
from models.service_requests import finish, request_service
from models.unit_of_work import unit_of_work
from tests.conftest import IS_POSTGRES
from tests.factories import Login, make_catalog_admin, make_customer, make_world
from tests.query_counter import QueryCounter

SOON = dt.timedelta(days=3)


def _grant(
    cents: int, admin: Login, priority: int | None = None, expires_in: dt.timedelta | None = None
) -> Movement:
    expires_at = None if expires_in is None else dt.datetime.now(dt.UTC) + expires_in
    return Movement(cents, TransactionKind.GRANT, admin.actor, priority=priority, expires_at=expires_at)


def _charge(cents: int, admin: Login) -> Movement:
    return Movement(cents, TransactionKind.SERVICE_CHARGE, admin.actor)


async def _lots(customer_id: uuid.UUID) -> list[tuple[int, int, int, LotStatus]]:
    """(amount, remaining, priority, status) of each lot, oldest grant first."""
    lots = await CreditLot.filter(customer_id=customer_id).order_by("sequence")
    return [(lot.amount, lot.remaining, lot.priority, lot.status) for lot in lots]


async def _allocations(entry_id: uuid.UUID) -> list[tuple[int | None, int]]:
    """(sequence of the lot's creating entry or None for debt, amount) of an entry's allocations."""
    parts = await CreditAllocation.filter(transaction_id=entry_id).prefetch_related("lot")
    found = [((p.lot.sequence if p.lot else None), p.amount) for p in parts]
    return sorted(found, key=lambda part: (part[0] or 0, part[1]))


async def test_grants_make_lots_and_a_charge_takes_them_in_consumption_order() -> None:
    # given: three grants: no expiry, expiring soon, and a cheap priority
    admin = await make_catalog_admin()
    customer = await make_customer()
    async with unit_of_work() as uow:
        await post_batch(
            uow,
            [
                (
                    customer.id,
                    [_grant(1000, admin), _grant(1000, admin, expires_in=SOON), _grant(500, admin, 10)],
                )
            ],
        )

    # when: 20.00 is charged
    async with unit_of_work() as uow:
        [[posting]] = await post_batch(uow, [(customer.id, [_charge(2000, admin)])])

    # then: priority 10 first, then the lot that expires, then 5.00 of the lot that never expires
    assert await _allocations(posting.transaction.id) == [(1, -500), (2, -1000), (3, -500)]
    assert await _lots(customer.id) == [
        (1000, 500, 50, LotStatus.ACTIVE),
        (1000, 0, 50, LotStatus.DEPLETED),
        (500, 0, 10, LotStatus.DEPLETED),
    ]


async def test_a_batch_of_several_customers_allocates_each_entry_in_ledger_order() -> None:
    # given: Acme with a lot of 10.00, Globex without credits
    admin = await make_catalog_admin()
    acme, globex = await make_customer("Acme", balance=10, by=admin), await make_customer("Globex")

    # when: one posting charges Acme 6.00 twice and Globex 1.50
    async with unit_of_work() as uow:
        groups = await post_batch(
            uow,
            [(acme.id, [_charge(600, admin), _charge(600, admin)]), (globex.id, [_charge(150, admin)])],
        )

    # then: Acme's first charge empties nothing, its second takes the last 4.00 and owes 2.00
    [[first, second], [owing]] = groups
    assert await _allocations(first.transaction.id) == [(1, -600)]
    assert await _allocations(second.transaction.id) == [(None, -200), (1, -400)]
    assert await _lots(acme.id) == [(1000, 0, 50, LotStatus.DEPLETED)]
    # and: Globex's charge is all debt
    assert await _allocations(owing.transaction.id) == [(None, -150)]


async def test_a_grant_pays_the_debt_before_it_makes_a_lot() -> None:
    # given: a customer 3.00 in debt
    admin = await make_catalog_admin()
    customer = await make_customer()
    async with unit_of_work() as uow:
        await post_batch(uow, [(customer.id, [_charge(300, admin)])])

    # when: 10.00 is granted at priority 5
    async with unit_of_work() as uow:
        [[posting]] = await post_batch(uow, [(customer.id, [_grant(1000, admin, 5)])])

    # then: 3.00 pays the debt, the lot holds the rest
    assert await _allocations(posting.transaction.id) == [(None, 300), (2, 700)]
    assert await _lots(customer.id) == [(700, 700, 5, LotStatus.ACTIVE)]


async def test_a_refund_puts_the_charge_back_into_its_lots() -> None:
    # given: a customer with 40.00 in one lot, whose request took all of it and 10.00 of debt
    world = await make_world("shop", price="50.00", balance=40, admins=0)
    customer, end_user = world.customer, world.end_user
    made = await request_service(end_user.actor, customer.id, world.service.id, 1, None)
    assert await _lots(customer.id) == [(4000, 0, 50, LotStatus.DEPLETED)]

    # when: the request is cancelled
    await finish(end_user.actor, made.id, RequestStatus.CANCELLED)

    # then: the lot is ACTIVE again, the debt part is a new lot (priority 50, no expiry), and the
    # debt the charge made is paid from the lots in consumption order (the older lot first)
    refund = await CreditTransaction.get(service_request_id=made.id, kind=TransactionKind.REFUND)
    assert refund.sequence == 3
    assert await _allocations(refund.id) == [(None, 1000), (1, 3000), (3, 1000)]
    assert await _lots(customer.id) == [
        (4000, 3000, 50, LotStatus.ACTIVE),
        (1000, 1000, 50, LotStatus.ACTIVE),
    ]
    new_lot = await CreditLot.get(sequence=3, customer_id=customer.id)
    assert new_lot.expires_at is None


def _expire(lot: CreditLot) -> Movement:
    return Movement(0, TransactionKind.EXPIRATION, None, lot_id=lot.id)


async def test_expiring_a_lot_takes_what_is_left_once() -> None:
    # given: a lot of 10.00 expiring soon, 4.00 of it charged
    admin = await make_catalog_admin()
    customer = await make_customer()
    async with unit_of_work() as uow:
        await post_batch(uow, [(customer.id, [_grant(1000, admin, expires_in=SOON), _charge(400, admin)])])
    lot = await CreditLot.get(customer_id=customer.id)

    # when: it expires, twice (two processes racing for it)
    async with unit_of_work() as uow:
        [[expiry]] = await post_batch(uow, [(customer.id, [_expire(lot)])])
    async with unit_of_work() as uow:
        assert await post_batch(uow, [(customer.id, [_expire(lot)])]) == [[]]

    # then: one EXPIRATION entry of -6.00 with one allocation to the lot, which is EXPIRED
    assert (expiry.transaction.kind, expiry.transaction.amount, expiry.new_balance) == (
        TransactionKind.EXPIRATION,
        -600,
        0,
    )
    assert await _allocations(expiry.transaction.id) == [(1, -600)]
    assert await _lots(customer.id) == [(1000, 0, 50, LotStatus.EXPIRED)]
    assert await CreditTransaction.filter(customer_id=customer.id).count() == 3


async def test_a_lot_with_nothing_left_expires_without_an_entry() -> None:
    # given: a lot charged to the last cent
    admin = await make_catalog_admin()
    customer = await make_customer()
    async with unit_of_work() as uow:
        await post_batch(uow, [(customer.id, [_grant(1000, admin, expires_in=SOON), _charge(1000, admin)])])
    lot = await CreditLot.get(customer_id=customer.id)

    # when: it expires
    async with unit_of_work() as uow:
        assert await post_batch(uow, [(customer.id, [_expire(lot)])]) == [[]]

    # then: EXPIRED, and no entry
    assert await _lots(customer.id) == [(1000, 0, 50, LotStatus.EXPIRED)]
    assert await CreditTransaction.filter(customer_id=customer.id).count() == 2


async def test_a_refund_of_a_part_whose_lot_expired_meanwhile_is_followed_by_its_expiration() -> None:
    # given: a request that took 30.00 from a lot expiring soon and 10.00 from one that never does
    world = await make_world("shop", price="40.00", admins=0)
    customer, end_user, admin = world.customer, world.end_user, world.admin
    async with unit_of_work() as uow:
        await post_batch(uow, [(customer.id, [_grant(3000, admin, expires_in=SOON), _grant(5000, admin)])])
    made = await request_service(end_user.actor, customer.id, world.service.id, 1, None)
    # and: the first lot expired since (nothing was left in it)
    expiring = await CreditLot.get(customer_id=customer.id, sequence=1)
    async with unit_of_work() as uow:
        await post_batch(uow, [(customer.id, [_expire(expiring)])])

    # when: the request is cancelled
    await finish(end_user.actor, made.id, RequestStatus.CANCELLED)

    # then: the refund puts 30.00 back into the expired lot and 10.00 into the other, and the
    # next entry, in the same posting, expires the 30.00 again
    entries = await CreditTransaction.filter(customer_id=customer.id).order_by("sequence")
    assert [(e.kind, e.amount, e.balance_after) for e in entries[-2:]] == [
        (TransactionKind.REFUND, 4000, 8000),
        (TransactionKind.EXPIRATION, -3000, 5000),
    ]
    refund, expiration = entries[-2:]
    assert await _allocations(refund.id) == [(1, 3000), (2, 1000)]
    assert await _allocations(expiration.id) == [(1, -3000)]
    assert await _lots(customer.id) == [(3000, 0, 50, LotStatus.EXPIRED), (5000, 5000, 50, LotStatus.ACTIVE)]


async def test_a_batch_of_many_customers_takes_as_many_statements_as_a_batch_of_one(
    queries: QueryCounter,
) -> None:
    # given: six customers with two lots each
    admin = await make_catalog_admin()
    customers = [await make_customer() for _ in range(6)]
    async with unit_of_work() as uow:
        await post_batch(uow, [(c.id, [_grant(500, admin, 10), _grant(500, admin)]) for c in customers])

    # when: one customer's charge is posted, then five customers' charges in one batch
    with queries.counting() as one:
        async with unit_of_work() as uow:
            await post_batch(uow, [(customers[0].id, [_charge(700, admin)])])
    with queries.counting() as five:
        async with unit_of_work() as uow:
            await post_batch(uow, [(c.id, [_charge(700, admin), _charge(100, admin)]) for c in customers[1:]])

    # then: the same statements, however many customers and entries (SQLite writes row by row)
    if IS_POSTGRES:
        assert len(five) == len(one)
    assert await _lots(customers[5].id) == [
        (500, 0, 10, LotStatus.DEPLETED),
        (500, 200, 50, LotStatus.ACTIVE),
    ]


async def test_a_charge_spanning_more_lots_than_are_read_at_first_still_takes_them_in_order() -> None:
    # given: more lots than a debit reads at first, each of 1.00, the oldest at the lowest priority
    admin = await make_catalog_admin()
    customer = await make_customer()
    count = LOTS_READ_PER_CUSTOMER + 4
    async with unit_of_work() as uow:
        await post_batch(uow, [(customer.id, [_grant(100, admin, priority=n) for n in range(count)])])

    # when: a charge needs all but the last two of them, and 1.00 more in the same batch after it
    async with unit_of_work() as uow:
        [[big, small]] = await post_batch(
            uow, [(customer.id, [_charge(100 * (count - 2), admin), _charge(100, admin)])]
        )

    # then: no debt: the first charge emptied the lots in priority order, the second took the next
    assert await _allocations(big.transaction.id) == [(n, -100) for n in range(1, count - 1)]
    assert await _allocations(small.transaction.id) == [(count - 1, -100)]
    assert (small.new_balance, [lot[3] for lot in await _lots(customer.id)][-1]) == (100, LotStatus.ACTIVE)


async def test_a_charge_past_the_lots_read_without_expiry_still_takes_them_before_a_later_priority() -> None:
    # given: more lots without expiry at priority 0 than a debit reads at first, and one expiring
    # lot at priority 50 (found by the Hypothesis model of lots, tests/models/test_lots_model.py)
    admin = await make_catalog_admin()
    customer = await make_customer()
    count = LOTS_READ_PER_CUSTOMER + 1
    async with unit_of_work() as uow:
        grants = [_grant(100, admin, priority=0) for _ in range(count)]
        grants.append(_grant(10_000, admin, priority=50, expires_in=SOON))
        await post_batch(uow, [(customer.id, grants)])

    # when: a charge needs exactly the priority-0 lots
    async with unit_of_work() as uow:
        [[charge]] = await post_batch(uow, [(customer.id, [_charge(100 * count, admin)])])

    # then: it took every priority-0 lot, the 17th too, and nothing of the priority-50 lot
    assert await _allocations(charge.transaction.id) == [(n, -100) for n in range(1, count + 1)]
    assert (await _lots(customer.id))[-1] == (10_000, 10_000, 50, LotStatus.ACTIVE)
