"""The ledger: the one place where a balance changes, entry by immutable entry."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from models import alerts, sql
from models.actor import Actor
from models.audit import current_request_id
from models.customer import Customer
from models.errors import not_found
from models.unit_of_work import UnitOfWork


class TransactionKind(StrEnum):
    """Why the balance moved; the sign of `amount` follows from it."""

    GRANT = "GRANT"
    WITHDRAWAL = "WITHDRAWAL"
    SERVICE_CHARGE = "SERVICE_CHARGE"
    REFUND = "REFUND"


_CREDITS = frozenset({TransactionKind.GRANT, TransactionKind.REFUND})


class CreditTransaction(Model):
    """An immutable ledger entry: a customer's balance is the sum of its amounts."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    customer = fields.ForeignKeyField("models.Customer", related_name="transactions")
    sequence = fields.BigIntField(description="1, 2, 3 … per customer, without gaps")
    kind = fields.CharEnumField(TransactionKind, max_length=20)
    amount = fields.BigIntField(description="signed hundredths")
    balance_after = fields.BigIntField()
    note = fields.TextField(null=True)
    service_request = fields.ForeignKeyField("models.ServiceRequest", related_name="transactions", null=True)
    actor = fields.ForeignKeyField("models.User", related_name="transactions", null=True)
    api_token = fields.ForeignKeyField("models.ApiToken", related_name="transactions", null=True)
    request_id = fields.CharField(max_length=64, null=True, description="the API request that caused it")
    created_at = fields.DatetimeField(auto_now_add=True)

    customer_id: uuid.UUID
    service_request_id: uuid.UUID | None
    actor_id: uuid.UUID | None

    class Meta:
        table = "credit_transaction"
        unique_together = (("customer_id", "sequence"),)


@dataclass(frozen=True)
class BalanceChanged:
    """Published after commit for every ledger entry."""

    transaction: CreditTransaction


@dataclass(frozen=True)
class Posting:
    """What one ledger entry did: the locked customer as it is now, the entry, old and new balance."""

    customer: Customer
    transaction: CreditTransaction
    old_balance: int
    new_balance: int


async def post(
    uow: UnitOfWork,
    customer_id: uuid.UUID,
    amount: int,
    kind: TransactionKind,
    *,
    actor: Actor | None,
    note: str | None = None,
    service_request_id: uuid.UUID | None = None,
) -> Posting:
    """Lock the customer, apply `amount` (unsigned hundredths), append the entry, fire crossed alerts.

    Must run inside `uow`'s transaction; the BalanceChanged event leaves after its commit.
    """
    if amount <= 0:
        raise ValueError("a ledger entry moves a positive amount")
    entry = CreditTransaction(
        id=uuid.uuid4(),
        customer_id=customer_id,
        kind=kind,
        amount=amount if kind in _CREDITS else -amount,
        note=note,
        service_request_id=service_request_id,
        actor_id=actor.user_id if actor else None,
        api_token_id=actor.api_token_id if actor else None,
        request_id=current_request_id(),
        created_at=dt.datetime.now(dt.UTC),
    )
    customer = await _apply_and_append(uow, entry)
    old_balance = customer.balance - entry.amount
    alert_state = await alerts.evaluate(uow, customer)
    if alert_state:
        await customer.save(using_db=uow.conn, update_fields=alert_state)
    uow.events.append(BalanceChanged(entry))
    return Posting(customer, entry, old_balance, customer.balance)


_APPLY = (
    'UPDATE "customer" SET "balance" = "balance" + {0}, "last_sequence" = "last_sequence" + 1 '
    'WHERE "id" = {1} RETURNING "id", "name", "balance", "last_sequence", "alert_threshold", '
    '"below_zero_fired", "below_threshold_fired", "created_at"'
)
# PostgreSQL runs the update and the append as one statement: the row lock is then held for
# that statement and the COMMIT only, which is what bounds a hot customer's charges per second.
_APPLY_AND_APPEND = (
    "WITH c AS (" + _APPLY + "), e AS ("
    'INSERT INTO "credit_transaction" ("id", "customer_id", "sequence", "kind", "amount", '
    '"balance_after", "note", "service_request_id", "actor_id", "api_token_id", "request_id", '
    '"created_at") SELECT {2}, c."id", c."last_sequence", {3}, {0}, c."balance", {4}, {5}, {6}, '
    "{7}, {8}, {9} FROM c) SELECT * FROM c"
)


async def _apply_and_append(uow: UnitOfWork, entry: CreditTransaction) -> Customer:
    """Lock the customer's row, move its balance and sequence, append `entry` at that sequence.

    The UPDATE takes PostgreSQL's FOR NO KEY UPDATE row lock, which rows inserted earlier in the
    transaction that reference the customer (a service request's FOR KEY SHARE) do not conflict
    with; concurrent postings of one customer queue here until this transaction ends.
    Completes `entry` (sequence, balance after) and returns the customer as it now is.
    """
    conn = uow.conn
    if conn.capabilities.dialect == "postgres":
        rows = await sql.fetch(
            conn,
            _APPLY_AND_APPEND,
            entry.amount,
            entry.customer_id,
            entry.id,
            entry.kind.value,
            entry.note,
            entry.service_request_id,
            entry.actor_id,
            entry.api_token_id,
            entry.request_id,
            entry.created_at,
        )
    else:
        rows = await sql.fetch(conn, _APPLY, entry.amount, entry.customer_id)
    if not rows:
        raise not_found("customer", None)
    customer = Customer._init_from_db(**rows[0])
    entry.sequence, entry.balance_after = customer.last_sequence, customer.balance
    if conn.capabilities.dialect == "postgres":
        entry._saved_in_db = True
    else:
        await entry.save(using_db=conn, force_create=True)
    return customer


async def entries_after(customer_id: uuid.UUID, sequence: int, limit: int = 500) -> list[CreditTransaction]:
    """Committed entries of a customer after `sequence`, oldest first (replay and catch-up)."""
    return (
        await CreditTransaction.filter(customer_id=customer_id, sequence__gt=sequence)
        .order_by("sequence")
        .limit(limit)
    )


async def entries_since(since: dt.datetime, limit: int = 5000) -> list[CreditTransaction]:
    """Entries of every customer committed since `since` (catch-up after a bus outage)."""
    return (
        await CreditTransaction.filter(created_at__gte=since).order_by("created_at", "sequence").limit(limit)
    )


async def current_sequence(customer_id: uuid.UUID) -> int:
    """The sequence of a customer's newest entry (0 before the first)."""
    rows = await Customer.filter(id=customer_id).values_list("last_sequence", flat=True)
    return rows[0] if rows else 0
