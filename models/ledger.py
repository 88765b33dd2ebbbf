"""The ledger: the one place where a balance changes, entry by immutable entry."""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.functions import Min

from infra import clock, sql
from infra.request_id import current_request_id
from models import balance_rules, lot_allocation, lot_store, spend_controls
from models.actor import Actor
from models.customer import Customer
from models.errors import DomainError, not_found
from models.lot_allocation import Allocation, Book, NewLot
from models.lots import DEFAULT_PRIORITY
from models.transaction import CreditTransaction, TransactionKind
from models.unit_of_work import UnitOfWork

__all__ = [
    "CreditTransaction",
    "Movement",
    "Posting",
    "Prepared",
    "TransactionKind",
    "current_sequence",
    "entries_after",
    "first_sequences_since",
    "post",
    "post_batch",
    "prepare",
    "write",
]


_CREDITS = frozenset({TransactionKind.GRANT, TransactionKind.REFUND, TransactionKind.AUTO_TOP_UP})


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
    priority: int | None = None  # a grant's lot: 0-100, default 50
    expires_at: dt.datetime | None = None  # a grant's lot: None never expires
    lot_id: uuid.UUID | None = None  # EXPIRATION: the lot that expires (amount 0: what is left)


async def post(
    uow: UnitOfWork,
    customer_id: uuid.UUID,
    amount: int,
    kind: TransactionKind,
    *,
    actor: Actor | None,
    note: str | None = None,
    service_request_id: uuid.UUID | None = None,
    priority: int | None = None,
    expires_at: dt.datetime | None = None,
) -> Posting:
    """Lock the customer, apply `amount` (unsigned hundredths), append the entry, fire crossed alerts.

    Must run inside `uow`'s transaction; the BalanceChanged event leaves after its commit.
    """
    movement = Movement(
        amount, kind, actor, note, service_request_id, current_request_id(), priority, expires_at
    )
    return (await post_batch(uow, [(customer_id, [movement])]))[0][0]


async def post_batch(
    uow: UnitOfWork, groups: Sequence[tuple[uuid.UUID, list[Movement]]]
) -> list[list[Posting]]:
    """Post entries of several customers in one statement: each customer's in order, per group.

    Each entry gets its customer's next sequence and its own balance after; alerts fire at the
    entry whose balance crosses a limit. A debit the spend controls refuse refuses the whole
    posting (its DomainError); `prepare` and `write` let a caller drop refused entries alone.
    Must run inside `uow`'s transaction.
    """
    prepared = await prepare(uow, groups)
    if prepared.refused:
        raise prepared.refused[0][1]
    return await write(uow, prepared)


@dataclass(frozen=True)
class Prepared:
    """A batch locked, guarded and split across lots, not yet written (see `write`).

    `refused` names each debit a spend control refused, with its error: it is left out, with the
    top-up that would have preceded it.
    """

    batch: list[tuple[uuid.UUID, list[CreditTransaction]]]
    customers: list[Customer]
    lot_changes: lot_store.LotChanges
    guarded: dict[uuid.UUID, spend_controls.Guarded]
    refused: list[tuple[Movement, DomainError]]


async def prepare(
    uow: UnitOfWork,
    groups: Sequence[tuple[uuid.UUID, list[Movement]]],
    *,
    limited: Collection[uuid.UUID] | None = None,
) -> Prepared:
    """Lock the groups' customers, run the spend controls on each debit and split the entries.

    Nothing is written yet: the caller may write what the accepted entries reference (a charge
    batch's service requests) before `write`. `limited`: the charging users that had a spend
    limit when the caller read them in this transaction (None: any may have one); only those
    are locked and their spending read. A limit set since then applies from the next posting on,
    as one set after this posting's lock would. Must run inside `uow`'s transaction.
    """
    if not groups or any(not movements for _, movements in groups):
        raise ValueError("a posting needs at least one entry per customer")
    if len({customer_id for customer_id, _ in groups}) != len(groups):
        raise ValueError("one group per customer")
    if any(
        m.amount <= 0
        for _, movements in groups
        for m in movements
        if m.kind is not TransactionKind.EXPIRATION
    ):
        raise ValueError("a ledger entry moves a positive amount")
    if any((m.kind is TransactionKind.EXPIRATION) != (m.lot_id is not None) for _, ms in groups for m in ms):
        raise ValueError("an EXPIRATION names its lot, and only it does")
    if any(m.kind is TransactionKind.AUTO_TOP_UP for _, ms in groups for m in ms):
        raise ValueError("only the ledger writes AUTO_TOP_UP entries")
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
                )
                for m in movements
            ],
        )
        for customer_id, movements in groups
    ]
    terms = {
        entry.id: movement
        for (_, entries), (_, movements) in zip(batch, groups, strict=True)
        for entry, movement in zip(entries, movements, strict=True)
    }
    return await _lock_and_split(uow, batch, terms, limited)


async def write(uow: UnitOfWork, prepared: Prepared) -> list[list[Posting]]:
    """Write a prepared batch (one statement on PostgreSQL) and run what follows it.

    Returns each group's postings, in the order of the groups; a refused entry has none.
    """
    batch, customers = prepared.batch, prepared.customers
    await _write(uow, batch, customers, prepared.lot_changes)
    await balance_rules.follow(
        uow,
        [(customer, entries) for customer, (_, entries) in zip(customers, batch, strict=True)],
        prepared.guarded,
    )
    return [
        [
            Posting(customer, entry, entry.balance_after - entry.amount, entry.balance_after)
            for entry in entries
        ]
        for customer, (_, entries) in zip(customers, batch, strict=True)
    ]


# PostgreSQL: the customers are locked in id order, in a statement of their own, and read as they
# are (FOR NO KEY UPDATE reads the newest version): two postings of overlapping customers, e.g.
# charge batches of two server processes, then cannot deadlock, and the lots read next, in a
# statement of its own (a fresh snapshot), are as the last posting of these customers left them.
# One statement then writes everything: the customers, the entries, the lots and the allocations.
# A statement that locked and updated the customer at once was the whole posting before lots; a
# lock taken in a CTE of the updating statement deadlocked among postings of one hot customer
# (the UPDATE, under the statement's older snapshot, needed the old version's tuple lock again).
_LOCK_IN_ORDER = 'SELECT * FROM "customer" WHERE "id" = ANY({0}::uuid[]) ORDER BY "id" FOR NO KEY UPDATE'
# SQLite has one writer: a no-op UPDATE takes the write lock before anything is read.
_LOCK_ON_SQLITE = 'UPDATE "customer" SET "balance" = "balance" WHERE "id" {among0} RETURNING *'
_WRITE = (
    'WITH c AS (UPDATE "customer" SET "balance" = d.balance, "last_sequence" = d.last '
    "FROM unnest({0}::uuid[], {1}::bigint[], {2}::bigint[]) AS d(id, balance, last) "
    'WHERE "customer"."id" = d.id RETURNING 1), '
    'e AS (INSERT INTO "credit_transaction" ("id", "customer_id", "sequence", "kind", "amount", '
    '"balance_after", "note", "service_request_id", "actor_id", "api_token_id", "request_id", '
    '"created_at") SELECT x.*, {14}::timestamptz FROM unnest({3}::uuid[], {4}::uuid[], {5}::bigint[], '
    "{6}::text[], {7}::bigint[], {8}::bigint[], {9}::text[], {10}::uuid[], {11}::uuid[], {12}::uuid[], "
    "{13}::text[]) AS x RETURNING 1), "
    'u AS (UPDATE "credit_lot" SET "remaining" = v.remaining, "status" = v.status '
    "FROM unnest({15}::uuid[], {16}::bigint[], {17}::text[]) AS v(id, remaining, status) "
    'WHERE "credit_lot"."id" = v.id RETURNING 1), '
    'l AS (INSERT INTO "credit_lot" ("id", "customer_id", "transaction_id", "amount", "remaining", '
    '"priority", "expires_at", "status", "sequence", "created_at") SELECT * FROM unnest({18}::uuid[], '
    "{19}::uuid[], {20}::uuid[], {21}::bigint[], {22}::bigint[], {23}::smallint[], {24}::timestamptz[], "
    "{25}::text[], {26}::bigint[], {27}::timestamptz[]) RETURNING 1), "
    'a AS (INSERT INTO "credit_allocation" ("id", "transaction_id", "lot_id", "amount") '
    "SELECT * FROM unnest({28}::uuid[], {29}::uuid[], {30}::uuid[], {31}::bigint[]) RETURNING 1) "
    "SELECT (SELECT count(*) FROM c) AS customers"
)
_DEBITS = frozenset({TransactionKind.SERVICE_CHARGE, TransactionKind.WITHDRAWAL})
# A debit reads its customer's first ACTIVE lots in consumption order, this many: a charge seldom
# spans more, and reading all of them made a customer with thousands of grants slow down with
# each (a second read takes all when a debit needs more).
LOTS_READ_PER_CUSTOMER = 16


async def _lock_and_split(
    uow: UnitOfWork,
    batch: list[tuple[uuid.UUID, list[CreditTransaction]]],
    terms: dict[uuid.UUID, Movement],
    limited: Collection[uuid.UUID] | None,
) -> Prepared:
    """Lock each customer's row, guard each debit, split each entry across its lots.

    PostgreSQL's FOR NO KEY UPDATE row lock does not conflict with rows inserted earlier in the
    transaction that reference the customer (a service request's FOR KEY SHARE); concurrent
    postings of one customer queue here until this transaction ends. Every posting transaction
    locks its service request or idempotency record first and the customer row after it, never
    the other way round; the users with a spend limit are locked after the customers. Each
    entry's allocations are computed in ledger order (`lot_allocation`); a refund whose charge
    took from a lot that has expired since is followed by an EXPIRATION entry, inserted into its
    group. Completes each entry (time, sequence, balance after) and the customers as they will be.
    """
    conn = uow.conn
    on_postgres = conn.capabilities.dialect == "postgres"
    customer_ids = [customer_id for customer_id, _ in batch]
    if on_postgres:
        rows = await sql.fetch(conn, _LOCK_IN_ORDER, customer_ids)
    else:
        rows = await sql.fetch(conn, _LOCK_ON_SQLITE.format(among0=sql.among(conn, 0)), customer_ids)
    by_id = {sql.as_uuid(row["id"]): row for row in rows}
    if any(customer_id not in by_id for customer_id in customer_ids):
        raise not_found("customer", None)
    customers = [Customer._init_from_db(**by_id[customer_id]) for customer_id in customer_ids]
    # Dated once the locks are held: a customer's entries then run in time as they do in sequence
    # (dated before the wait, two racing postings committed in the other order of their times).
    now = clock.now()
    for _, entries in batch:
        for entry in entries:
            entry.created_at = now
    charged_by = [
        e.actor_id
        for _, entries in batch
        for e in entries
        if e.kind is TransactionKind.SERVICE_CHARGE
        and e.actor_id is not None
        and (limited is None or e.actor_id in limited)
    ]
    limits = await spend_controls.read_limits(conn, charged_by, now)
    refunded = [
        e.service_request_id
        for _, entries in batch
        for e in entries
        if e.kind is TransactionKind.REFUND and e.service_request_id is not None
    ]
    expiring_lots = [m.lot_id for m in terms.values() if m.lot_id is not None]
    debited = [customer_id for customer_id, entries in batch if any(e.kind in _DEBITS for e in entries)]
    balances = {customer_id: c.balance for customer_id, c in zip(customer_ids, customers, strict=True)}
    opening = [(c.balance, c.last_sequence) for c in customers]
    planned = [list(entries) for _, entries in batch]
    # With a refund or an expiry beside a debit, lots beyond the first are read anyway: all.
    limit = None if debited and (refunded or expiring_lots) else LOTS_READ_PER_CUSTOMER
    while True:
        read = await lot_store.read_books(conn, balances, debited, refunded, expiring_lots, limit)
        # The guards run afresh on each split: an attempt's counts start from what was read.
        controls = spend_controls.Controls(now, limits)
        allocations, refused = _split(batch, planned, customers, read, terms, controls)
        if limit is None or not any(read.books[c].ran_out for c in read.truncated):
            break
        # A debit needed more lots than were read: read all of them and split the batch again.
        limit = None
        for customer, (balance, last_sequence) in zip(customers, opening, strict=True):
            customer.balance, customer.last_sequence = balance, last_sequence
    lot_changes = lot_store.changes(read.books, allocations)
    return Prepared(batch, customers, lot_changes, controls.settle(customers), refused)


async def _write(
    uow: UnitOfWork,
    batch: list[tuple[uuid.UUID, list[CreditTransaction]]],
    customers: list[Customer],
    lot_changes: lot_store.LotChanges,
) -> None:
    """Append the entries, move the balances, write the lots: one statement on PostgreSQL."""
    conn = uow.conn
    if conn.capabilities.dialect == "postgres":
        await _write_on_postgres(conn, batch, customers, lot_changes)
        return
    for customer in customers:
        await sql.fetch(
            conn,
            'UPDATE "customer" SET "balance" = {0}, "last_sequence" = {1} WHERE "id" = {2}',
            customer.balance,
            customer.last_sequence,
            customer.id,
        )
    await CreditTransaction.bulk_create([e for _, entries in batch for e in entries], using_db=conn)
    await lot_store.write_on_sqlite(conn, lot_changes)


def _split(
    batch: list[tuple[uuid.UUID, list[CreditTransaction]]],
    planned: list[list[CreditTransaction]],
    customers: list[Customer],
    read: lot_store.Books,
    terms: dict[uuid.UUID, Movement],
    controls: spend_controls.Controls,
) -> tuple[list[tuple[uuid.UUID, Allocation]], list[tuple[Movement, DomainError]]]:
    """Complete each customer's entries in ledger order and split them across its lots.

    Fills each group of `batch` anew from `planned` (an expiry that finds nothing left writes
    no entry; a refund may be followed by an EXPIRATION; a debit the guards refuse is left out,
    one they top up follows its AUTO_TOP_UP) and moves the customers along. Returns the
    allocations and the refused debits.
    """
    allocations: list[tuple[uuid.UUID, Allocation]] = []
    refused: list[tuple[Movement, DomainError]] = []
    for (customer_id, entries), todo, customer in zip(batch, planned, customers, strict=True):
        book = read.books[customer_id]
        entries.clear()
        for entry in todo:
            lot_id = terms[entry.id].lot_id
            if lot_id is not None:
                # An expiry takes what is left, if the lot is this customer's and not yet EXPIRED;
                # a lot with nothing left expires without an entry.
                parts = lot_allocation.expire(book, lot_id) if lot_id in book.lots else []
                entry.amount = sum(part.amount for part in parts)
                if parts:
                    entries.append(_completed(entry, customer))
                    _allocated(entry, parts, allocations)
                continue
            if entry.kind in _DEBITS:
                debit = spend_controls.Debit(customer, -entry.amount, entry.kind, entry.actor_id)
                refusal = balance_rules.guard(controls, debit)
                if refusal is not None:
                    refused.append((terms[entry.id], refusal))
                    continue
                if debit.top_up:
                    top_up = _top_up_before(entry, customer, debit.top_up, terms)
                    entries.append(_completed(top_up, customer))
                    parts, _ = _allocate(book, top_up, terms[top_up.id], read.charges)
                    _allocated(top_up, parts, allocations)
            entries.append(_completed(entry, customer))
            parts, expiring = _allocate(book, entry, terms[entry.id], read.charges)
            _allocated(entry, parts, allocations)
            if expiring:
                expiration = _expiration_after(entry, sum(part.amount for part in expiring))
                entries.append(_completed(expiration, customer))
                _allocated(expiration, expiring, allocations)
    return allocations, refused


def _allocated(
    entry: CreditTransaction, parts: list[Allocation], allocations: list[tuple[uuid.UUID, Allocation]]
) -> None:
    """Give a completed entry its lot allocations, and add them to the batch's."""
    entry.lot_allocations = tuple(parts)
    allocations += [(entry.id, part) for part in parts]


def _top_up_before(
    debit: CreditTransaction, customer: Customer, amount: int, terms: dict[uuid.UUID, Movement]
) -> CreditTransaction:
    """The AUTO_TOP_UP entry that precedes `debit`, its lot's terms in `terms` (the customer's rule)."""
    days = customer.top_up_expires_in_days
    expires_at = None if days is None else debit.created_at + dt.timedelta(days=days)
    top_up = CreditTransaction(
        id=uuid.uuid4(),
        customer_id=debit.customer_id,
        kind=TransactionKind.AUTO_TOP_UP,
        amount=amount,
        request_id=debit.request_id,
        created_at=debit.created_at,
    )
    terms[top_up.id] = Movement(
        amount,
        TransactionKind.AUTO_TOP_UP,
        None,
        request_id=debit.request_id,
        priority=customer.top_up_priority,
        expires_at=expires_at,
    )
    return top_up


def _completed(entry: CreditTransaction, customer: Customer) -> CreditTransaction:
    """`entry` at the customer's next sequence; moves the customer's balance and sequence along."""
    customer.last_sequence += 1
    customer.balance += entry.amount
    entry.sequence, entry.balance_after = customer.last_sequence, customer.balance
    entry._saved_in_db = True
    return entry


def _allocate(
    book: Book, entry: CreditTransaction, movement: Movement, charges: dict[uuid.UUID, list[Allocation]]
) -> tuple[list[Allocation], list[Allocation]]:
    """The entry's allocations, and those of an EXPIRATION entry that must follow it (a refund's)."""
    if entry.kind in _DEBITS:
        return lot_allocation.debit(book, -entry.amount), []
    lot = NewLot(
        uuid.uuid4(),
        entry.sequence,
        entry.id,
        entry.created_at,
        DEFAULT_PRIORITY if movement.priority is None else movement.priority,
        movement.expires_at,
    )
    if entry.kind in (TransactionKind.GRANT, TransactionKind.AUTO_TOP_UP):
        return lot_allocation.grant(book, entry.amount, lot), []
    if entry.kind is TransactionKind.REFUND:
        charge = charges.get(entry.service_request_id, []) if entry.service_request_id else []
        return lot_allocation.refund(book, entry.amount, charge, lot)
    raise ValueError(f"no allocation for a {entry.kind} entry")


def _expiration_after(refund: CreditTransaction, amount: int) -> CreditTransaction:
    """The EXPIRATION entry for the parts of `refund` whose lot has expired (`amount` < 0)."""
    return CreditTransaction(
        id=uuid.uuid4(),
        customer_id=refund.customer_id,
        kind=TransactionKind.EXPIRATION,
        amount=amount,
        actor_id=refund.actor_id,
        api_token_id=refund.api_token_id,
        request_id=refund.request_id,
        created_at=refund.created_at,
    )


async def _write_on_postgres(
    conn: BaseDBAsyncClient,
    batch: list[tuple[uuid.UUID, list[CreditTransaction]]],
    customers: list[Customer],
    lot_changes: lot_store.LotChanges,
) -> None:
    """Run `_WRITE` for the whole batch: one round trip."""
    entries = [e for _, group in batch for e in group]
    created_at = entries[0].created_at if entries else None
    await sql.fetch(
        conn,
        _WRITE,
        [c.id for c in customers],
        [c.balance for c in customers],
        [c.last_sequence for c in customers],
        [e.id for e in entries],
        [e.customer_id for e in entries],
        [e.sequence for e in entries],
        [e.kind.value for e in entries],
        [e.amount for e in entries],
        [e.balance_after for e in entries],
        [e.note for e in entries],
        [e.service_request_id for e in entries],
        [e.actor_id for e in entries],
        [e.api_token_id for e in entries],
        [e.request_id for e in entries],
        created_at,
        *lot_store.postgres_arrays(lot_changes),
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
