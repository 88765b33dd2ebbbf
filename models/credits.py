"""Grants and withdrawals by the catalog administrator."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from infra import sql
from models import platform
from models.actor import Actor
from models.customer import Customer
from models.errors import DomainError, ErrorCode, invalid_input, not_found
from models.idempotency import fingerprint, run_once
from models.input_text import bounded
from models.ledger import CreditTransaction, TransactionKind, post
from models.lots import check_expiry, check_priority
from models.unit_of_work import UnitOfWork

MAX_NOTE_LENGTH = 1000
_OPERATIONS = {TransactionKind.GRANT: "grantCredits", TransactionKind.WITHDRAWAL: "withdrawCredits"}
# Whether credits are on and the customer exists: one round trip, no query building.
_FACTS = (
    'SELECT EXISTS (SELECT 1 FROM "customer" WHERE "id" = {0}) AS "customer_exists", '
    f'{platform.ENABLED_SQL} AS "charging"'
)


@dataclass(frozen=True)
class BalanceChange:
    """A grant's or withdrawal's entry, and its customer as that entry left it (None for a replay)."""

    transaction: CreditTransaction
    customer: Customer | None

    @property
    def id(self) -> uuid.UUID:
        """The entry's id: what an idempotency key remembers."""
        return self.transaction.id


async def change_balance(
    actor: Actor,
    kind: TransactionKind,
    customer_id: uuid.UUID,
    amount: int,
    note: str | None,
    idempotency_key: str | None,
    *,
    priority: int | None = None,
    expires_at: dt.datetime | None = None,
) -> BalanceChange:
    """Grant or withdraw `amount` hundredths (> 0), at most once per idempotency key.

    A grant's lot takes `priority` (default 50) and `expires_at` (default never). The entry comes
    with the customer as posted (its balance is the entry's `balance_after`); a repeat of an
    idempotency key returns the first entry and no customer (read it as it is now).
    """
    if note is not None:
        bounded(note, "note", "note", max_length=MAX_NOTE_LENGTH)
    expires_at = lot_terms(kind, priority, expires_at)

    async def action(uow: UnitOfWork) -> BalanceChange:
        [facts] = await sql.fetch(uow.conn, _FACTS, customer_id)
        if not facts["charging"]:
            raise DomainError(ErrorCode.CREDIT_MANAGEMENT_DISABLED, "credit management is turned off")
        if not facts["customer_exists"]:
            raise not_found("customer", "customerId")
        posting = await post(
            uow, customer_id, amount, kind, actor=actor, note=note, priority=priority, expires_at=expires_at
        )
        return BalanceChange(posting.transaction, posting.customer_as_posted())

    terms = (
        [] if priority is None and expires_at is None else [priority, expires_at and expires_at.isoformat()]
    )
    digest = fingerprint(str(customer_id), amount, note, *terms)  # as before lots when none is given
    return await run_once(actor, _OPERATIONS[kind], idempotency_key, digest, action, _load_transaction)


def lot_terms(
    kind: TransactionKind, priority: int | None, expires_at: dt.datetime | None
) -> dt.datetime | None:
    """Check a grant's lot terms (a withdrawal takes none); the expiry as an aware UTC time."""
    if kind is not TransactionKind.GRANT:
        if expires_at is not None:
            raise invalid_input("only a grant's credits expire", "expiresAt")
        if priority is not None:
            raise invalid_input("only a grant's credits have a priority", "priority")
        return None
    check_priority(priority)
    return check_expiry(expires_at)


async def _load_transaction(transaction_id: uuid.UUID) -> BalanceChange:
    return BalanceChange(await CreditTransaction.get(id=transaction_id), None)
