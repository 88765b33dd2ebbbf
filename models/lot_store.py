"""Lots under the ledger's lock: read a batch's books in one query, write what allocation changed.

Every change to a lot is made while its customer's row is locked (the ledger's apply step), so
the lots read here stay as read until the transaction ends.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from tortoise.backends.base.client import BaseDBAsyncClient

from infra import sql
from models.lot_allocation import Allocation, Book, LotState
from models.lots import CreditAllocation, CreditLot, LotStatus

_COLUMNS = (
    '"id", "customer_id", "transaction_id", "amount", "remaining", "priority", "expires_at", '
    '"status", "sequence", "created_at"'
)
# The lots a batch can touch: the first ACTIVE ones in consumption order of the customers it
# debits (at most {3} each; NULL: all), any a refunded charge took from, and any an EXPIRATION
# names; `part` 1 marks the first kind. A grant needs none: debt is minus the balance, and a
# customer in debt has no credits in any lot. Separate parts, each on its index (an OR with a
# subquery would scan the table); a lot found twice is kept once.
_FIRST_ACTIVE_ON_POSTGRES = (
    f"SELECT {_COLUMNS}, 1 AS part FROM unnest({{0}}::uuid[]) AS c(ref) CROSS JOIN LATERAL "
    '(SELECT * FROM "credit_lot" WHERE "customer_id" = c.ref AND "status" = \'ACTIVE\' '
    'ORDER BY "priority", "expires_at", "sequence" LIMIT {3}::bigint) AS l '
)
# SQLite sorts NULL first and cannot walk the index in PostgreSQL's order, so the lots with an
# expiry and those without are read apart, each in index order, and merged by `Book`.
_QUALIFIED = ", ".join(f"l.{column.strip()}" for column in _COLUMNS.split(","))
_FIRST_ACTIVE_ON_SQLITE = (
    f'SELECT {_QUALIFIED}, 1 AS part FROM json_each({{0}}) AS c JOIN "credit_lot" l ON l."id" IN '
    '(SELECT "id" FROM "credit_lot" WHERE "customer_id" = c.value AND "status" = \'ACTIVE\' '
    'AND "expires_at" IS NOT NULL ORDER BY "priority", "expires_at", "sequence" LIMIT coalesce({3}, -1)) '
    f'UNION ALL SELECT {_QUALIFIED}, 2 AS part FROM json_each({{0}}) AS c JOIN "credit_lot" l ON l."id" IN '
    '(SELECT "id" FROM "credit_lot" WHERE "customer_id" = c.value AND "status" = \'ACTIVE\' '
    'AND "expires_at" IS NULL ORDER BY "priority", "sequence" LIMIT coalesce({3}, -1)) '
)
_OTHER_LOTS = (
    f'UNION ALL SELECT {_COLUMNS}, 0 AS part FROM "credit_lot" WHERE "id" IN (SELECT a."lot_id" '
    'FROM "credit_allocation" a JOIN "credit_transaction" t ON t."id" = a."transaction_id" '
    'WHERE t."service_request_id" {among1} AND t."kind" = \'SERVICE_CHARGE\') '
    f'UNION ALL SELECT {_COLUMNS}, 0 AS part FROM "credit_lot" WHERE "id" {{among2}}'
)
_CHARGES = (
    'SELECT t."service_request_id", a."lot_id", a."amount" FROM "credit_allocation" a '
    'JOIN "credit_transaction" t ON t."id" = a."transaction_id" '
    'WHERE t."service_request_id" {among0} AND t."kind" = \'SERVICE_CHARGE\''
)
_UPDATE_LOT = 'UPDATE "credit_lot" SET "remaining" = {0}, "status" = {1} WHERE "id" = {2}'


@dataclass(frozen=True)
class LotChanges:
    """What a batch did to lots: rows to update, lots to create, allocations to insert."""

    updated: list[LotState]
    created: list[CreditLot]
    allocations: list[CreditAllocation]


@dataclass(frozen=True)
class Books:
    """A batch's books; `truncated` names the customers with more ACTIVE lots than were read."""

    books: dict[uuid.UUID, Book]
    charges: dict[uuid.UUID, list[Allocation]]
    truncated: frozenset[uuid.UUID]


async def read_books(
    conn: BaseDBAsyncClient,
    balances: dict[uuid.UUID, int],
    debited: list[uuid.UUID],
    refunded: list[uuid.UUID],
    named: list[uuid.UUID],
    limit: int | None,
) -> Books:
    """Each customer's book (balance and the lots the batch may touch), and each refunded charge.

    `debited` lists the customers the batch debits: their first `limit` ACTIVE lots in
    consumption order are read (None: all); `refunded` the service requests it refunds (their
    charge's allocations and lots), `named` the lots it expires.
    """
    rows: list[dict[str, object]] = []
    if debited or refunded or named:  # grants alone touch no lot that exists
        first = (
            _FIRST_ACTIVE_ON_POSTGRES if conn.capabilities.dialect == "postgres" else _FIRST_ACTIVE_ON_SQLITE
        )
        query = first + _OTHER_LOTS
        for n in range(3):
            query = query.replace(f"{{among{n}}}", sql.among(conn, n))
        rows = await sql.fetch(conn, query, debited, refunded, named, limit)
    lots: dict[uuid.UUID, dict[uuid.UUID, LotState]] = {customer_id: {} for customer_id in balances}
    # Per customer and part of the first ACTIVE lots (SQLite reads those with and without expiry
    # apart): how many were read, and the last in consumption order.
    read: dict[tuple[uuid.UUID, int], list[LotState]] = {}
    for row in rows:
        part = int(str(row.pop("part")))
        lot = _state(CreditLot._init_from_db(**row))
        customer_id = sql.as_uuid(row["customer_id"])
        lots.setdefault(customer_id, {})[lot.id] = lot
        if part:
            read.setdefault((customer_id, part), []).append(lot)
    books = {
        customer_id: Book.of(balance, lots[customer_id].values()) for customer_id, balance in balances.items()
    }
    truncated: set[uuid.UUID] = set()
    for (customer_id, _), part_lots in read.items():
        if limit is not None and len(part_lots) >= limit:
            # Lots after this part's last one may be unread: a debit that goes past it must read all.
            truncated.add(customer_id)
            last = max(lot.consumption_key() for lot in part_lots)
            book = books[customer_id]
            book.horizon = last if book.horizon is None else min(book.horizon, last)
    charges: dict[uuid.UUID, list[Allocation]] = {request_id: [] for request_id in refunded}
    if refunded:
        for row in await sql.fetch(conn, _CHARGES.format(among0=sql.among(conn, 0)), refunded):
            lot_id = None if row["lot_id"] is None else sql.as_uuid(row["lot_id"])
            charges[sql.as_uuid(row["service_request_id"])].append(Allocation(lot_id, row["amount"]))
    return Books(books, charges, frozenset(truncated))


def _state(lot: CreditLot) -> LotState:
    return LotState(
        sql.as_uuid(lot.id),
        lot.amount,
        lot.remaining,
        lot.priority,
        lot.expires_at,
        lot.sequence,
        LotStatus(lot.status),
        sql.as_uuid(lot.transaction_id),
        lot.created_at,
    )


def changes(books: dict[uuid.UUID, Book], allocations: Iterable[tuple[uuid.UUID, Allocation]]) -> LotChanges:
    """The rows to write for `books` after allocation, and the allocations of each entry."""
    updated: list[LotState] = []
    created: list[CreditLot] = []
    for customer_id, book in books.items():
        for lot_id in sorted(book.changed | book.created, key=str):
            lot = book.lots[lot_id]
            if lot_id in book.created:
                created.append(_row(customer_id, lot))
            else:
                updated.append(lot)
    rows = [
        CreditAllocation(id=uuid.uuid4(), transaction_id=entry_id, lot_id=part.lot_id, amount=part.amount)
        for entry_id, part in allocations
    ]
    return LotChanges(updated, created, rows)


def _row(customer_id: uuid.UUID, lot: LotState) -> CreditLot:
    assert lot.transaction_id is not None and lot.created_at is not None
    return CreditLot(
        id=lot.id,
        customer_id=customer_id,
        transaction_id=lot.transaction_id,
        amount=lot.amount,
        remaining=lot.remaining,
        priority=lot.priority,
        expires_at=lot.expires_at,
        status=lot.status,
        sequence=lot.sequence,
        created_at=lot.created_at,
    )


async def write_on_sqlite(conn: BaseDBAsyncClient, lot_changes: LotChanges) -> None:
    """Write `lot_changes` statement by statement (SQLite: no round trips to save)."""
    for lot in lot_changes.updated:
        await sql.fetch(conn, _UPDATE_LOT, lot.remaining, lot.status.value, lot.id)
    if lot_changes.created:
        await CreditLot.bulk_create(lot_changes.created, using_db=conn)
    if lot_changes.allocations:
        await CreditAllocation.bulk_create(lot_changes.allocations, using_db=conn)


def postgres_arrays(lot_changes: LotChanges) -> list[object]:
    """`lot_changes` as the arrays the ledger's single PostgreSQL statement unnests, in its order."""
    updated, created, allocations = lot_changes.updated, lot_changes.created, lot_changes.allocations
    return [
        [lot.id for lot in updated],
        [lot.remaining for lot in updated],
        [lot.status.value for lot in updated],
        [lot.id for lot in created],
        [lot.customer_id for lot in created],
        [lot.transaction_id for lot in created],
        [lot.amount for lot in created],
        [lot.remaining for lot in created],
        [lot.priority for lot in created],
        [lot.expires_at for lot in created],
        [lot.status.value for lot in created],
        [lot.sequence for lot in created],
        [lot.created_at for lot in created],
        [a.id for a in allocations],
        [a.transaction_id for a in allocations],
        [a.lot_id for a in allocations],
        [a.amount for a in allocations],
    ]
