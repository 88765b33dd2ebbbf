"""The ledger: the one place where a balance changes, entry by immutable entry."""

from __future__ import annotations

import datetime as dt
import itertools
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


@dataclass(frozen=True)
class Movement:
    """One entry to post: an unsigned amount, why it moves, who moved it."""

    amount: int
    kind: TransactionKind
    actor: Actor | None
    note: str | None = None
    service_request_id: uuid.UUID | None = None
    request_id: str | None = None  # the API request that caused it (audit)


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
    movement = Movement(amount, kind, actor, note, service_request_id, current_request_id())
    return (await post_many(uow, customer_id, [movement]))[0]


async def post_many(uow: UnitOfWork, customer_id: uuid.UUID, movements: list[Movement]) -> list[Posting]:
    """Post several entries of one customer in order, taking its row lock once.

    Each entry gets the next sequence and its own balance after; alerts fire at the entry whose
    balance crosses a limit. Must run inside `uow`'s transaction.
    """
    if not movements or any(m.amount <= 0 for m in movements):
        raise ValueError("a ledger entry moves a positive amount")
    now = dt.datetime.now(dt.UTC)
    entries = [
        CreditTransaction(
            id=uuid.uuid4(),
            customer_id=customer_id,
            kind=m.kind,
            amount=m.amount if m.kind in _CREDITS else -m.amount,
            note=m.note,
            service_request_id=m.service_request_id,
            actor_id=m.actor.user_id if m.actor else None,
            api_token_id=m.actor.api_token_id if m.actor else None,
            request_id=m.request_id,
            created_at=now,
        )
        for m in movements
    ]
    customer = await _apply_and_append(uow, customer_id, entries)
    postings: list[Posting] = []
    alert_state: set[str] = set()
    for entry in entries:
        customer.balance = entry.balance_after
        alert_state.update(await alerts.evaluate(uow, customer))
        postings.append(Posting(customer, entry, entry.balance_after - entry.amount, entry.balance_after))
        uow.events.append(BalanceChanged(entry))
    if alert_state:
        await customer.save(using_db=uow.conn, update_fields=sorted(alert_state))
    return postings


_APPLY = (
    'UPDATE "customer" SET "balance" = "balance" + {0}, "last_sequence" = "last_sequence" + {1} '
    'WHERE "id" = {2} RETURNING "id", "name", "balance", "last_sequence", "alert_threshold", '
    '"below_zero_fired", "below_threshold_fired", "created_at"'
)
# PostgreSQL runs the update and the appends as one statement: the row lock is then held for
# that statement and the COMMIT only, which is what bounds a hot customer's charges per second.
_APPLY_AND_APPEND = (
    "WITH c AS (" + _APPLY + "), e AS ("
    'INSERT INTO "credit_transaction" ("id", "customer_id", "sequence", "kind", "amount", '
    '"balance_after", "note", "service_request_id", "actor_id", "api_token_id", "request_id", '
    '"created_at") SELECT x.id, c."id", c."last_sequence" - {1} + x.n, x.kind, x.amount, '
    'c."balance" - {0} + x.running, x.note, x.service_request_id, x.actor_id, x.api_token_id, '
    "x.request_id, {12} FROM c, unnest({3}::uuid[], {4}::text[], {5}::bigint[], {6}::bigint[], "
    "{7}::text[], {8}::uuid[], {9}::uuid[], {10}::uuid[], {11}::text[]) WITH ORDINALITY AS x(id, kind, "
    "amount, running, note, service_request_id, actor_id, api_token_id, request_id, n)) SELECT * FROM c"
)


async def _apply_and_append(
    uow: UnitOfWork, customer_id: uuid.UUID, entries: list[CreditTransaction]
) -> Customer:
    """Lock the customer's row, move its balance and sequence, append `entries` at the next sequences.

    The UPDATE takes PostgreSQL's FOR NO KEY UPDATE row lock, which rows inserted earlier in the
    transaction that reference the customer (a service request's FOR KEY SHARE) do not conflict
    with; concurrent postings of one customer queue here until this transaction ends.
    Completes each entry (sequence, balance after) and returns the customer as it now is.
    """
    conn = uow.conn
    on_postgres = conn.capabilities.dialect == "postgres"
    total = sum(e.amount for e in entries)
    running = list(itertools.accumulate(e.amount for e in entries))
    if on_postgres:
        rows = await sql.fetch(
            conn,
            _APPLY_AND_APPEND,
            total,
            len(entries),
            customer_id,
            [e.id for e in entries],
            [e.kind.value for e in entries],
            [e.amount for e in entries],
            running,
            [e.note for e in entries],
            [e.service_request_id for e in entries],
            [e.actor_id for e in entries],
            [e.api_token_id for e in entries],
            [e.request_id for e in entries],
            entries[0].created_at,
        )
    else:
        rows = await sql.fetch(conn, _APPLY, total, len(entries), customer_id)
    if not rows:
        raise not_found("customer", None)
    customer = Customer._init_from_db(**rows[0])
    first_sequence = customer.last_sequence - len(entries) + 1
    opening = customer.balance - total
    for n, (entry, after) in enumerate(zip(entries, running, strict=True)):
        entry.sequence, entry.balance_after = first_sequence + n, opening + after
    if on_postgres:
        for entry in entries:
            entry._saved_in_db = True
    else:
        await CreditTransaction.bulk_create(entries, using_db=conn)
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
