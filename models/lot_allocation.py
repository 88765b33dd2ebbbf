"""How each ledger entry splits across a customer's lots and debt: pure arithmetic, no I/O.

A `Book` is one customer's lots as read under the customer's row lock, plus the balance. The
functions below apply one entry to it, in ledger order, and return that entry's allocations: one
per lot it changed (net), plus one with `lot_id` None for the part that changed the debt, each
signed like the entry, adding up exactly to its amount. The ledger writes what they changed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from models.lots import DEFAULT_PRIORITY, LotStatus


@dataclass
class LotState:
    """One lot as the allocation sees it; `remaining` and `status` change as entries apply."""

    id: uuid.UUID
    amount: int
    remaining: int
    priority: int
    expires_at: dt.datetime | None
    sequence: int
    status: LotStatus = LotStatus.ACTIVE
    transaction_id: uuid.UUID | None = None
    created_at: dt.datetime | None = None

    def consumption_key(self) -> tuple[int, bool, dt.datetime, int, str]:
        """Lowest priority first, then soonest expiry (none last), then the oldest grant."""
        never = self.expires_at is None
        when = self.expires_at or dt.datetime.max.replace(tzinfo=dt.UTC)
        return (self.priority, never, when, self.sequence, str(self.id))


@dataclass(frozen=True)
class Allocation:
    """What one entry did to one lot (or, `lot_id` None, to the debt): signed hundredths."""

    lot_id: uuid.UUID | None
    amount: int


@dataclass(frozen=True)
class NewLot:
    """Terms of the lot a credit may create: its id, priority, expiry and creating entry."""

    id: uuid.UUID
    sequence: int
    transaction_id: uuid.UUID | None = None
    created_at: dt.datetime | None = None
    priority: int = DEFAULT_PRIORITY
    expires_at: dt.datetime | None = None


@dataclass
class Book:
    """A customer's balance and the lots read for it; records which lots changed or are new."""

    balance: int
    lots: dict[uuid.UUID, LotState] = field(default_factory=dict)
    changed: set[uuid.UUID] = field(default_factory=set)
    created: set[uuid.UUID] = field(default_factory=set)
    ran_out: bool = False  # a debit made debt, or took from a lot past `horizon`: more lots needed
    # The consumption key of the last lot read of a truncated read (None: all were read); lots
    # after it may be unread, so a debit that takes from one of them is redone with all lots.
    horizon: tuple[int, bool, dt.datetime, int, str] | None = None

    @classmethod
    def of(cls, balance: int, lots: Iterable[LotState]) -> Book:
        """A book over `lots` (ACTIVE ones, and any a refund needs)."""
        return cls(balance, {lot.id: lot for lot in lots})

    @property
    def debt(self) -> int:
        """What the customer owes: minus the balance below zero."""
        return max(0, -self.balance)

    def in_consumption_order(self) -> list[LotState]:
        """ACTIVE lots with credits left, in the order debits take from them."""
        active = [lot for lot in self.lots.values() if lot.status is LotStatus.ACTIVE and lot.remaining > 0]
        return sorted(active, key=LotState.consumption_key)

    def _move(self, lot: LotState, amount: int, net: dict[uuid.UUID | None, int]) -> None:
        lot.remaining += amount
        if lot.status is not LotStatus.EXPIRED:
            lot.status = LotStatus.ACTIVE if lot.remaining > 0 else LotStatus.DEPLETED
        net[lot.id] = net.get(lot.id, 0) + amount
        self.changed.add(lot.id)

    def _take(self, amount: int, net: dict[uuid.UUID | None, int]) -> int:
        """Take up to `amount` from the lots in consumption order; what they did not cover."""
        for lot in self.in_consumption_order():
            if amount == 0:
                break
            if self.horizon is not None and lot.consumption_key() > self.horizon:
                self.ran_out = True
            part = min(lot.remaining, amount)
            self._move(lot, -part, net)
            amount -= part
        return amount

    def _create(self, terms: NewLot, amount: int, net: dict[uuid.UUID | None, int]) -> None:
        lot = LotState(
            terms.id,
            amount,
            amount,
            terms.priority,
            terms.expires_at,
            terms.sequence,
            LotStatus.ACTIVE,
            terms.transaction_id,
            terms.created_at,
        )
        self.lots[lot.id] = lot
        self.created.add(lot.id)
        net[lot.id] = amount


def _listed(net: dict[uuid.UUID | None, int]) -> list[Allocation]:
    """The non-zero nets, the debt part last."""
    parts = [Allocation(lot_id, amount) for lot_id, amount in net.items() if amount and lot_id is not None]
    if net.get(None):
        parts.append(Allocation(None, net[None]))
    return parts


def debit(book: Book, amount: int) -> list[Allocation]:
    """A charge or withdrawal of `amount` (> 0): lots in consumption order, the rest is debt."""
    net: dict[uuid.UUID | None, int] = {}
    uncovered = book._take(amount, net)
    if uncovered:
        net[None] = -uncovered
        book.ran_out = True
    book.balance -= amount
    return _listed(net)


def grant(book: Book, amount: int, lot: NewLot) -> list[Allocation]:
    """A grant of `amount` (> 0): pays the debt first; the rest becomes the new lot `lot`."""
    net: dict[uuid.UUID | None, int] = {}
    paid = min(book.debt, amount)
    if paid:
        net[None] = paid
    if amount > paid:
        book._create(lot, amount - paid, net)
    book.balance += amount
    return _listed(net)


def refund(
    book: Book, amount: int, charge: list[Allocation], lot: NewLot
) -> tuple[list[Allocation], list[Allocation]]:
    """A refund of a charge: its parts go back where they came from, then the debt is paid.

    `charge` is the charged entry's allocations (empty for a charge written before lots: all of
    it then counts as debt). A part that was debt, and whatever `charge` does not account for,
    goes into `lot` (no expiry, priority 50), created only if something is left in it. Returns
    the refund's allocations and those of the EXPIRATION entry that must follow it for the
    parts whose lot has expired meanwhile (empty when none has).
    """
    net: dict[uuid.UUID | None, int] = {}
    to_new_lot = amount
    expired: dict[uuid.UUID, int] = {}
    for part in charge:
        back = -part.amount
        if part.lot_id is None or part.lot_id not in book.lots:
            continue
        to_new_lot -= back
        restored = book.lots[part.lot_id]
        book._move(restored, back, net)
        if restored.status is LotStatus.EXPIRED:
            expired[restored.id] = expired.get(restored.id, 0) + back
    if to_new_lot < 0:
        raise ValueError("a refund returns at most what its charge took")
    if to_new_lot:
        book._create(lot, to_new_lot, net)
    debt = book.debt
    paid = debt - book._take(debt, net)
    if paid:
        net[None] = paid
    new_lot = book.lots.get(lot.id)
    if new_lot is not None and lot.id in book.created and new_lot.remaining == 0:
        del book.lots[lot.id]
        book.created.discard(lot.id)
        book.changed.discard(lot.id)
        net.pop(lot.id, None)
    elif new_lot is not None and lot.id in book.created:
        new_lot.amount = new_lot.remaining
    book.balance += amount
    expiring: dict[uuid.UUID | None, int] = {}
    for lot_id, part_amount in expired.items():
        book._move(book.lots[lot_id], -part_amount, expiring)
    book.balance -= sum(expired.values())
    return _listed(net), _listed(expiring)


def expire(book: Book, lot_id: uuid.UUID) -> list[Allocation]:
    """Expire one lot: its `remaining` leaves (the EXPIRATION entry's allocations; empty if none)."""
    lot = book.lots[lot_id]
    if lot.status is LotStatus.EXPIRED:
        return []
    net: dict[uuid.UUID | None, int] = {}
    left = lot.remaining
    if left:
        book._move(lot, -left, net)
        book.balance -= left
    lot.status = LotStatus.EXPIRED
    book.changed.add(lot.id)
    return _listed(net)
