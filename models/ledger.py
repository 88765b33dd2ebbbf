"""The ledger: the one place where a balance changes, entry by immutable entry."""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from tortoise import fields
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.functions import Min
from tortoise.models import Model

from infra import sql
from infra.request_id import current_request_id
from models import alerts, webhooks
from models.actor import Actor
from models.customer import Customer
from models.errors import not_found
from models.unit_of_work import UnitOfWork


class TransactionKind(StrEnum):
    """Why the balance moved; the sign of `amount` follows from it."""

    GRANT = "GRANT"
    WITHDRAWAL = "WITHDRAWAL"
    SERVICE_CHARGE = "SERVICE_CHARGE"
    REFUND = "REFUND"
    EXPIRATION = "EXPIRATION"


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

    def customer_as_posted(self) -> Customer:
        """The customer as this entry left it: its balance after it, the rest as read when posting.

        A copy: the entries of one batch share the locked customer, which ends at the last balance.
        """
        posted = copy.copy(self.customer)
        posted.balance = self.new_balance
        return posted


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
    return (await post_batch(uow, [(customer_id, [movement])]))[0][0]


async def post_batch(
    uow: UnitOfWork, groups: Sequence[tuple[uuid.UUID, list[Movement]]]
) -> list[list[Posting]]:
    """Post entries of several customers in one statement: each customer's in order, per group.

    Each entry gets its customer's next sequence and its own balance after; alerts fire at the
    entry whose balance crosses a limit. Must run inside `uow`'s transaction.
    """
    if not groups or any(not movements for _, movements in groups):
        raise ValueError("a posting needs at least one entry per customer")
    if len({customer_id for customer_id, _ in groups}) != len(groups):
        raise ValueError("one group per customer")
    if any(m.amount <= 0 for _, movements in groups for m in movements):
        raise ValueError("a ledger entry moves a positive amount")
    now = dt.datetime.now(dt.UTC)
    batch = [
        (
            customer_id,
            [
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
            ],
        )
        for customer_id, movements in groups
    ]
    customers = await _apply_and_append(uow, batch)
    results: list[list[Posting]] = []
    for customer, (_, entries) in zip(customers, batch, strict=True):
        postings: list[Posting] = []
        alert_state: set[str] = set()
        for entry in entries:
            customer.balance = entry.balance_after
            alert_state.update(await alerts.evaluate(uow, customer))
            postings.append(Posting(customer, entry, entry.balance_after - entry.amount, entry.balance_after))
            uow.events.append(BalanceChanged(entry))
            webhooks.record(uow, webhooks.transaction_created(entry))
        if alert_state:
            await customer.save(using_db=uow.conn, update_fields=sorted(alert_state))
        results.append(postings)
    return results


_RETURNING = (
    'RETURNING "customer"."id", "customer"."name", "customer"."balance", "customer"."last_sequence", '
    '"customer"."alert_threshold", "customer"."below_zero_fired", "customer"."below_threshold_fired", '
    '"customer"."created_at"'
)
_APPLY = (
    'UPDATE "customer" SET "balance" = "balance" + {0}, "last_sequence" = "last_sequence" + {1} '
    'WHERE "id" = {2} ' + _RETURNING
)
# PostgreSQL runs the updates and the appends as one statement: the row locks are then held for
# that statement and the COMMIT only, which is what bounds a hot customer's charges per second.
# The statement touches each customer row once, through its UPDATE. It used to lock the rows first
# in a CTE (FOR NO KEY UPDATE, id order) and then update them: the CTE waited for the row and
# locked its newest version, but the UPDATE, under the statement's older snapshot, started again
# from the version it had seen and needed that version's tuple lock once more, which a third
# posting of the customer held while it waited for this transaction (it had queued on the old
# version and was following the update chain): a deadlock among postings of one hot customer.
_APPLY_AND_APPEND = (
    "WITH d AS (SELECT * FROM unnest({0}::uuid[], {1}::bigint[], {2}::bigint[]) AS d(id, total, n)), "
    'c AS (UPDATE "customer" SET "balance" = "balance" + d.total, "last_sequence" = "last_sequence" + d.n '
    'FROM d WHERE "customer"."id" = d.id ' + _RETURNING + ", d.total, d.n), "
    'e AS (INSERT INTO "credit_transaction" ("id", "customer_id", "sequence", "kind", "amount", '
    '"balance_after", "note", "service_request_id", "actor_id", "api_token_id", "request_id", '
    '"created_at") SELECT x.id, c."id", c."last_sequence" - c.n + x.k, x.kind, x.amount, '
    'c."balance" - c.total + x.running, x.note, x.service_request_id, x.actor_id, x.api_token_id, '
    "x.request_id, {14} FROM c JOIN unnest({3}::uuid[], {4}::uuid[], {5}::bigint[], {6}::text[], "
    "{7}::bigint[], {8}::bigint[], {9}::text[], {10}::uuid[], {11}::uuid[], {12}::uuid[], {13}::text[]) "
    "AS x(id, customer_id, k, kind, amount, running, note, service_request_id, actor_id, api_token_id, "
    "request_id) "
    'ON x.customer_id = c."id") '
    'SELECT "id", "name", "balance", "last_sequence", "alert_threshold", "below_zero_fired", '
    '"below_threshold_fired", "created_at" FROM c'
)
# A posting of several customers locks them first, in id order, in a statement of its own (an
# UPDATE of several rows takes them in whatever order its plan visits them): two postings of
# overlapping customers, e.g. charge batches of two server processes, then cannot deadlock. The
# next statement's snapshot sees the locked versions as they are, so its UPDATE waits for nothing.
_LOCK_IN_ORDER = 'SELECT "id" FROM "customer" WHERE "id" = ANY({0}::uuid[]) ORDER BY "id" FOR NO KEY UPDATE'


async def _apply_and_append(
    uow: UnitOfWork, batch: list[tuple[uuid.UUID, list[CreditTransaction]]]
) -> list[Customer]:
    """Lock each customer's row, move its balance and sequence, append its entries at the next sequences.

    The UPDATE takes PostgreSQL's FOR NO KEY UPDATE row lock, which rows inserted earlier in the
    transaction that reference the customer (a service request's FOR KEY SHARE) do not conflict
    with; concurrent postings of one customer queue here until this transaction ends. Every
    posting transaction locks its service request or idempotency record first and the customer
    row after it, never the other way round.
    Completes each entry (sequence, balance after) and returns the customers as they now are,
    in the order of `batch`.
    """
    conn = uow.conn
    on_postgres = conn.capabilities.dialect == "postgres"
    totals = [sum(e.amount for e in entries) for _, entries in batch]
    runnings = [list(itertools.accumulate(e.amount for e in entries)) for _, entries in batch]
    if on_postgres:
        rows = await _apply_on_postgres(conn, batch, totals, runnings)
    else:
        rows = []
        for (customer_id, entries), total in zip(batch, totals, strict=True):
            rows += await sql.fetch(conn, _APPLY, total, len(entries), customer_id)
    by_id = {sql.as_uuid(row["id"]): row for row in rows}
    customers: list[Customer] = []
    for (customer_id, entries), total, running in zip(batch, totals, runnings, strict=True):
        if customer_id not in by_id:
            raise not_found("customer", None)
        customer = Customer._init_from_db(**by_id[customer_id])
        first_sequence = customer.last_sequence - len(entries) + 1
        opening = customer.balance - total
        for n, (entry, after) in enumerate(zip(entries, running, strict=True)):
            entry.sequence, entry.balance_after = first_sequence + n, opening + after
            entry._saved_in_db = True
        customers.append(customer)
    if not on_postgres:
        await CreditTransaction.bulk_create([e for _, entries in batch for e in entries], using_db=conn)
    return customers


async def _apply_on_postgres(
    conn: BaseDBAsyncClient,
    batch: list[tuple[uuid.UUID, list[CreditTransaction]]],
    totals: list[int],
    runnings: list[list[int]],
) -> list[dict[str, object]]:
    """Run `_APPLY_AND_APPEND` for the whole batch: one round trip, two for several customers."""
    entries = [e for _, group in batch for e in group]
    if len(batch) > 1:
        await sql.fetch(conn, _LOCK_IN_ORDER, [customer_id for customer_id, _ in batch])
    return await sql.fetch(
        conn,
        _APPLY_AND_APPEND,
        [customer_id for customer_id, _ in batch],
        totals,
        [len(group) for _, group in batch],
        [e.id for e in entries],
        [e.customer_id for e in entries],
        [k for _, group in batch for k in range(1, len(group) + 1)],
        [e.kind.value for e in entries],
        [e.amount for e in entries],
        [r for running in runnings for r in running],
        [e.note for e in entries],
        [e.service_request_id for e in entries],
        [e.actor_id for e in entries],
        [e.api_token_id for e in entries],
        [e.request_id for e in entries],
        entries[0].created_at,
    )


async def entries_after(customer_id: uuid.UUID, sequence: int, limit: int = 500) -> list[CreditTransaction]:
    """Committed entries of a customer after `sequence`, oldest first (replay and catch-up)."""
    return (
        await CreditTransaction.filter(customer_id=customer_id, sequence__gt=sequence)
        .order_by("sequence")
        .limit(limit)
    )


async def first_sequences_since(since: dt.datetime) -> list[tuple[uuid.UUID, int]]:
    """Each customer with entries committed since `since`, and the first of their sequences.

    The catch-up of an all-customers stream after a bus outage reads each customer's entries from
    there in pages (`entries_after`, on the (customer, sequence) index); reading the entries
    themselves here once stopped at 5,000 and skipped the rest without a word.
    """
    rows = (
        await CreditTransaction.filter(created_at__gte=since)
        .annotate(first=Min("sequence"))
        .group_by("customer_id")
        .values_list("customer_id", "first")
    )
    return sorted((sql.as_uuid(customer_id), first) for customer_id, first in rows)


async def current_sequence(customer_id: uuid.UUID) -> int:
    """The sequence of a customer's newest entry (0 before the first)."""
    rows = await Customer.filter(id=customer_id).values_list("last_sequence", flat=True)
    return rows[0] if rows else 0
