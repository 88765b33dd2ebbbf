"""Allocation arithmetic: which lots a debit takes from, what credits pay, refunds and expiry."""

from __future__ import annotations

import datetime as dt
import uuid

from models.lot_allocation import Allocation, Book, LotState, NewLot, debit, expire, grant, refund
from models.lots import LotStatus

NOW = dt.datetime(2026, 12, 6, tzinfo=dt.UTC)


def _lot(
    remaining: int, priority: int = 50, expires_in_days: int | None = None, sequence: int = 1
) -> LotState:
    expires_at = None if expires_in_days is None else NOW + dt.timedelta(days=expires_in_days)
    return LotState(uuid.uuid4(), remaining, remaining, priority, expires_at, sequence)


def _new(sequence: int = 99, **terms: object) -> NewLot:
    return NewLot(uuid.uuid4(), sequence, **terms)  # type: ignore[arg-type]


def test_a_debit_takes_lowest_priority_then_soonest_expiry_then_oldest_grant() -> None:
    # given: lots that differ in each key of the order, listed out of order
    never = _lot(100, priority=10, sequence=1)
    later = _lot(100, priority=10, expires_in_days=9, sequence=2)
    sooner_newer = _lot(100, priority=10, expires_in_days=3, sequence=4)
    sooner_older = _lot(100, priority=10, expires_in_days=3, sequence=3)
    low = _lot(100, priority=0, sequence=5)
    book = Book.of(500, [never, later, sooner_newer, sooner_older, low])

    # when: a debit needs all but the last 50
    parts = debit(book, 450)

    # then: priority 0 first, then expiry soonest (older grant first on a tie), no expiry last
    assert parts == [
        Allocation(low.id, -100),
        Allocation(sooner_older.id, -100),
        Allocation(sooner_newer.id, -100),
        Allocation(later.id, -100),
        Allocation(never.id, -50),
    ]
    assert (never.remaining, never.status, low.status) == (50, LotStatus.ACTIVE, LotStatus.DEPLETED)
    assert book.balance == 50


def test_what_no_lot_covers_is_debt() -> None:
    # given: 30 in one lot
    lot = _lot(30)
    book = Book.of(30, [lot])

    # when: 100 is charged
    parts = debit(book, 100)

    # then: the lot gives 30, the debt takes 70, the balance is -70
    assert parts == [Allocation(lot.id, -30), Allocation(None, -70)]
    assert (book.balance, book.debt, lot.status) == (-70, 70, LotStatus.DEPLETED)


def test_a_grant_pays_the_debt_first_and_keeps_the_rest_in_a_new_lot() -> None:
    # given: a customer owing 70
    book = Book.of(-70, [])
    terms = _new(priority=10, expires_at=NOW + dt.timedelta(days=1))

    # when: 100 is granted
    parts = grant(book, 100, terms)

    # then: 70 pays the debt, the new lot holds (and was created with) 30 on the grant's terms
    assert parts == [Allocation(terms.id, 30), Allocation(None, 70)]
    lot = book.lots[terms.id]
    assert (lot.amount, lot.remaining, lot.priority, lot.expires_at) == (30, 30, 10, terms.expires_at)
    assert book.balance == 30


def test_a_grant_smaller_than_the_debt_creates_no_lot() -> None:
    # given: a customer owing 70
    book = Book.of(-70, [])

    # when: 50 is granted
    parts = grant(book, 50, _new())

    # then: all of it pays debt
    assert parts == [Allocation(None, 50)]
    assert (book.lots, book.balance) == ({}, -20)


def test_a_refund_puts_each_part_back_and_a_depleted_lot_becomes_active() -> None:
    # given: a charge that took 30 from a lot (emptying it), 20 from another, and 10 as debt;
    # then a grant of 10 that paid that debt
    first, second = _lot(30, priority=1), _lot(20, priority=2, expires_in_days=5)
    book = Book.of(50, [first, second])
    charge = debit(book, 60)
    grant(book, 10, _new())
    assert book.balance == 0

    # when: it is refunded
    terms = _new()
    parts, expiring = refund(book, 60, charge, terms)

    # then: the lots get their parts back, the debt part becomes a new lot (no expiry, priority 50)
    assert parts == [Allocation(first.id, 30), Allocation(second.id, 20), Allocation(terms.id, 10)]
    assert expiring == []
    assert (first.remaining, first.status, second.remaining) == (30, LotStatus.ACTIVE, 20)
    new = book.lots[terms.id]
    assert (new.amount, new.remaining, new.priority, new.expires_at) == (10, 10, 50, None)
    assert book.balance == 60


def test_a_refund_while_in_debt_pays_it_from_the_lots_in_consumption_order_net_per_lot() -> None:
    # given: a charge of 50 from two lots, then a withdrawal that put the customer 40 in debt
    cheap, dear = _lot(20, priority=1), _lot(30, priority=9)
    book = Book.of(50, [cheap, dear])
    charge = debit(book, 50)
    debit(book, 40)

    # when: the charge is refunded
    parts, _ = refund(book, 50, charge, _new())

    # then: 40 pays the debt, taken from the priority-1 lot first; only the net per lot shows
    assert parts == [Allocation(dear.id, 10), Allocation(None, 40)]
    assert (cheap.remaining, cheap.status, dear.remaining) == (0, LotStatus.DEPLETED, 10)
    assert book.balance == 10


def test_refunding_a_debt_part_into_debt_creates_no_empty_lot() -> None:
    # given: a charge that was all debt, and the customer still owes more than it
    book = Book.of(0, [])
    charge = debit(book, 30)
    debit(book, 20)

    # when: it is refunded
    parts, _ = refund(book, 30, charge, _new())

    # then: it all pays debt, and no lot appears
    assert parts == [Allocation(None, 30)]
    assert (book.lots, book.balance) == ({}, -20)


def test_a_part_whose_lot_expired_meanwhile_is_refunded_and_expires_at_once() -> None:
    # given: a charge of 30 from a lot that has expired since, and 10 from one that has not
    going, staying = _lot(30, priority=1, expires_in_days=1), _lot(50, priority=2)
    book = Book.of(80, [going, staying])
    charge = debit(book, 40)
    expire(book, going.id)

    # when: the charge is refunded
    parts, expiring = refund(book, 40, charge, _new())

    # then: the refund puts 30 back in the expired lot, and an expiration takes it out again
    assert parts == [Allocation(going.id, 30), Allocation(staying.id, 10)]
    assert expiring == [Allocation(going.id, -30)]
    assert (going.remaining, going.status, staying.remaining) == (0, LotStatus.EXPIRED, 50)
    assert book.balance == 50


def test_a_refund_of_a_charge_from_before_lots_is_one_new_lot() -> None:
    # given: a charge written before lots existed (no allocations)
    book = Book.of(0, [])

    # when: its 25 is refunded
    terms = _new()
    parts, _ = refund(book, 25, [], terms)

    # then: a new lot of 25
    assert parts == [Allocation(terms.id, 25)]


def test_expiring_a_lot_takes_what_is_left_and_an_empty_lot_expires_without_an_entry() -> None:
    # given: a lot with 40 left and an empty one
    full, empty = _lot(40), _lot(0)
    book = Book.of(40, [full, empty])

    # when: both expire
    # then: the first gives an allocation of -40, the second none; both are EXPIRED
    assert expire(book, full.id) == [Allocation(full.id, -40)]
    assert expire(book, empty.id) == []
    assert (full.status, empty.status, book.balance) == (LotStatus.EXPIRED, LotStatus.EXPIRED, 0)
