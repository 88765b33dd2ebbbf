"""Model-based test of lot allocation: random grants, charges, refunds, withdrawals and expiries.

A Hypothesis state machine applies each operation to a `Book` (the code under test) and to a
small reference model written from the contract's words (lots as plain dicts, one cent-free
greedy pick at a time), then checks every invariant of API.md's "Credit lots" after each step.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule

from models.lot_allocation import Allocation, Book, NewLot, debit, expire, grant, refund
from models.lots import LotStatus

START = dt.datetime(2026, 12, 6, tzinfo=dt.UTC)
amounts = st.integers(min_value=1, max_value=5_000)


@dataclass
class Entry:
    """One ledger entry of the run, as the code allocated it."""

    kind: str
    amount: int
    allocations: list[Allocation]


@dataclass
class ReferenceLot:
    """A lot as the contract describes it."""

    remaining: int
    priority: int
    expires_at: dt.datetime | None
    sequence: int
    expired: bool = False


@dataclass
class Reference:
    """The contract's rules, written as plainly as possible: debt and lots by the creating sequence."""

    debt: int = 0
    lots: dict[uuid.UUID, ReferenceLot] = field(default_factory=dict)

    def take(self, amount: int) -> int:
        """Take from lots one at a time, each the first in consumption order; what is left."""
        while amount:
            candidates = [(i, lot) for i, lot in self.lots.items() if not lot.expired and lot.remaining]
            if not candidates:
                return amount
            never = dt.datetime.max.replace(tzinfo=dt.UTC)
            _, lot = min(candidates, key=lambda c: (c[1].priority, c[1].expires_at or never, c[1].sequence))
            part = min(amount, lot.remaining)
            lot.remaining -= part
            amount -= part
        return 0

    def credit(self, amount: int) -> int:
        """Pay debt first; what is left for a lot."""
        paid = min(self.debt, amount)
        self.debt -= paid
        return amount - paid


class LotMachine(RuleBasedStateMachine):
    """Operations on one customer's lots, checked against the reference after every step."""

    charges = Bundle("charges")

    def __init__(self) -> None:
        super().__init__()
        self.book = Book.of(0, [])
        self.reference = Reference()
        self.entries: list[Entry] = []
        self.creating: dict[uuid.UUID, int] = {}  # lot -> index of the entry that created it
        self.now = START

    def _record(self, kind: str, amount: int, allocations: list[Allocation]) -> None:
        for part in allocations:
            if part.lot_id is not None and part.lot_id not in self.creating:
                self.creating[part.lot_id] = len(self.entries)
        self.entries.append(Entry(kind, amount, allocations))

    def _new_lot(self, **terms: object) -> NewLot:
        return NewLot(uuid.uuid4(), len(self.entries) + 1, **terms)  # type: ignore[arg-type]

    @rule(
        amount=amounts,
        priority=st.integers(min_value=0, max_value=100) | st.just(50),
        expires_in=st.none() | st.integers(min_value=1, max_value=120),
    )
    def grant(self, amount: int, priority: int, expires_in: int | None) -> None:
        expires_at = None if expires_in is None else self.now + dt.timedelta(minutes=expires_in)
        terms = self._new_lot(priority=priority, expires_at=expires_at)
        self._record("GRANT", amount, grant(self.book, amount, terms))
        rest = self.reference.credit(amount)
        if rest:
            self.reference.lots[terms.id] = ReferenceLot(rest, priority, expires_at, terms.sequence)

    @rule(target=charges, amount=amounts)
    def charge(self, amount: int) -> tuple[int, list[Allocation]]:
        parts = debit(self.book, amount)
        self._record("SERVICE_CHARGE", -amount, parts)
        self.reference.debt += self.reference.take(amount)
        return amount, parts

    @rule(amount=amounts)
    def withdraw(self, amount: int) -> None:
        self._record("WITHDRAWAL", -amount, debit(self.book, amount))
        self.reference.debt += self.reference.take(amount)

    @rule(charge=consumes(charges))
    def cancel(self, charge: tuple[int, list[Allocation]]) -> None:
        amount, taken = charge
        terms = self._new_lot()
        parts, expiring = refund(self.book, amount, taken, terms)
        self._record("REFUND", amount, parts)
        if expiring:
            self._record("EXPIRATION", sum(p.amount for p in expiring), expiring)
        # the reference: each part back where it came from, debt parts in a new lot, then debt
        to_new, expired_parts = 0, []
        for part in taken:
            if part.lot_id is None:
                to_new -= part.amount
            elif self.reference.lots[part.lot_id].expired:
                expired_parts.append(-part.amount)
            else:
                self.reference.lots[part.lot_id].remaining -= part.amount
        if to_new:
            self.reference.lots[terms.id] = ReferenceLot(to_new, 50, None, terms.sequence)
        self.reference.debt = self.reference.take(self.reference.debt)
        if terms.id in self.reference.lots and not self.reference.lots[terms.id].remaining:
            del self.reference.lots[terms.id]
        assert sum(p.amount for p in expiring) == -sum(expired_parts)

    @rule(minutes=st.integers(min_value=1, max_value=60))
    def advance_time(self, minutes: int) -> None:
        self.now += dt.timedelta(minutes=minutes)
        due = sorted(
            (lot for lot in self.book.lots.values() if lot.expires_at and lot.expires_at <= self.now),
            key=lambda lot: (lot.expires_at, lot.sequence),
        )
        for lot in due:
            if lot.status is LotStatus.EXPIRED:
                continue
            parts = expire(self.book, lot.id)
            if parts:
                self._record("EXPIRATION", sum(p.amount for p in parts), parts)
            self.reference.lots[lot.id].remaining = 0
            self.reference.lots[lot.id].expired = True

    @invariant()
    def allocations_add_up_to_each_entry(self) -> None:
        for entry in self.entries:
            assert sum(p.amount for p in entry.allocations) == entry.amount, entry
            assert all(p.amount for p in entry.allocations), entry
            lots = [p.lot_id for p in entry.allocations]
            assert len(lots) == len(set(lots)), entry  # net: one item per lot

    @invariant()
    def each_lot_holds_its_amount_plus_its_allocations(self) -> None:
        for lot in self.book.lots.values():
            created_by = self.creating[lot.id]
            later = sum(
                p.amount
                for entry in self.entries[created_by + 1 :]
                for p in entry.allocations
                if p.lot_id == lot.id
            )
            assert lot.remaining == lot.amount + later, lot
            assert lot.remaining >= 0

    @invariant()
    def balance_is_the_ledger_sum_and_the_active_credits_or_minus_the_debt(self) -> None:
        assert self.book.balance == sum(e.amount for e in self.entries)
        active = sum(lot.remaining for lot in self.book.lots.values() if lot.status is LotStatus.ACTIVE)
        if self.book.balance >= 0:
            assert self.book.balance == active
        else:
            assert active == 0  # never credits in a lot while in debt

    @invariant()
    def statuses_follow_what_is_left(self) -> None:
        for lot in self.book.lots.values():
            if lot.status is LotStatus.ACTIVE:
                assert lot.remaining > 0, lot
            else:
                assert lot.remaining == 0, lot

    @invariant()
    def the_reference_agrees(self) -> None:
        assert self.book.debt == self.reference.debt
        assert {i: lot.remaining for i, lot in self.book.lots.items()} == {
            i: lot.remaining for i, lot in self.reference.lots.items()
        }
        assert {i for i, lot in self.book.lots.items() if lot.status is LotStatus.EXPIRED} == {
            i for i, lot in self.reference.lots.items() if lot.expired
        }


LotMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=40, deadline=None)
TestLotAllocation = LotMachine.TestCase
