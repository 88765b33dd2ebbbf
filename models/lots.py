"""Credit lots: the credits of one grant, and what each ledger entry did to them (allocations)."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import uuid
from enum import StrEnum

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from models.errors import invalid_input
from models.pagination import Page, page_size

DEFAULT_PRIORITY = 50
MIN_PRIORITY, MAX_PRIORITY = 0, 100
MAX_EXPIRY = dt.timedelta(days=36_525)  # 100 years


class LotStatus(StrEnum):
    """ACTIVE lots hold or may again hold credits; EXPIRED is final."""

    ACTIVE = "ACTIVE"
    DEPLETED = "DEPLETED"
    EXPIRED = "EXPIRED"


class CreditLot(Model):
    """Credits of one grant (or refund, or the balance a migration found), consumed in order."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    customer = fields.ForeignKeyField("models.Customer", related_name="lots")
    transaction = fields.ForeignKeyField("models.CreditTransaction", related_name="created_lots")
    amount = fields.BigIntField(description="hundredths it held when created")
    remaining = fields.BigIntField(description="hundredths left")
    priority = fields.SmallIntField(default=DEFAULT_PRIORITY, description="0-100, lower is consumed first")
    expires_at = fields.DatetimeField(null=True, description="null: never")
    status = fields.CharEnumField(LotStatus, max_length=10, default=LotStatus.ACTIVE)
    sequence = fields.BigIntField(description="ledger sequence of the creating entry (consumption order)")
    created_at = fields.DatetimeField()
    expiring_warned = fields.BooleanField(
        default=False,
        db_default=False,
        description="CREDITS_EXPIRING fired for the current expiry (re-armed when moved out)",
    )

    customer_id: uuid.UUID
    transaction_id: uuid.UUID

    class Meta:
        table = "credit_lot"
        indexes = (
            Index(fields=["customer_id", "status", "priority", "expires_at", "sequence"]),
            Index(fields=["status", "expires_at"]),
            Index(fields=["status", "expiring_warned", "expires_at"]),
        )


class CreditAllocation(Model):
    """The part of one ledger entry that changed one lot, or (lot null) the customer's debt."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    transaction = fields.ForeignKeyField(
        "models.CreditTransaction", related_name="allocations", db_index=True
    )
    lot = fields.ForeignKeyField("models.CreditLot", related_name="allocations", null=True, db_index=True)
    amount = fields.BigIntField(description="signed hundredths, like the entry's amount")

    transaction_id: uuid.UUID
    lot_id: uuid.UUID | None

    class Meta:
        table = "credit_allocation"


def check_priority(priority: int | None) -> None:
    """A lot's priority is 0 to 100."""
    if priority is not None and not MIN_PRIORITY <= priority <= MAX_PRIORITY:
        raise invalid_input(f"priority must lie between {MIN_PRIORITY} and {MAX_PRIORITY}", "priority")


def check_expiry(expires_at: dt.datetime | None) -> dt.datetime | None:
    """An expiry lies in the future and within 100 years; a time without offset is UTC."""
    if expires_at is None:
        return None
    if expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=dt.UTC)
    now = dt.datetime.now(dt.UTC)
    if not now < expires_at <= now + MAX_EXPIRY:
        raise invalid_input("expiresAt must lie in the future and within 100 years", "expiresAt")
    return expires_at.astimezone(dt.UTC)


def listing_key(lot: CreditLot) -> tuple[int, int, int, str, int]:
    """`Customer.lots` order: ACTIVE in consumption order, then the others newest first."""
    if lot.status == LotStatus.ACTIVE:
        expiry = "" if lot.expires_at is None else lot.expires_at.astimezone(dt.UTC).isoformat()
        return (0, lot.priority, int(lot.expires_at is None), expiry, lot.sequence)
    return (1, 0, 0, "", -lot.sequence)


def _cursor(key: tuple[int, int, int, str, int]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def _after(cursor: str, argument: str = "after") -> tuple[int, int, int, str, int]:
    try:
        raw = json.loads(base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()))
        if not (isinstance(raw, list) and len(raw) == 5 and isinstance(raw[3], str)):
            raise ValueError
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in raw[:3] + raw[4:]):
            raise ValueError
        return (raw[0], raw[1], raw[2], raw[3], raw[4])
    except (ValueError, TypeError, RecursionError, binascii.Error):
        raise invalid_input(f"{argument} is not a valid cursor", argument) from None


SPENT = (LotStatus.DEPLETED, LotStatus.EXPIRED)


async def lots_page(
    customer_id: uuid.UUID,
    status: LotStatus | None,
    first: int | None,
    after: str | None,
    last: int | None = None,
    before: str | None = None,
) -> Page[CreditLot]:
    """A page of a customer's lots in `listing_key` order; the cursor is the last lot's key.

    The order mixes a consumption order (with expiry-less lots last) and newest first, which
    keyset SQL over nullable columns does not express simply: the ACTIVE lots (the few not yet
    spent) are read and sorted here; the spent ones, which only accumulate, are read by sequence
    in SQL, as many as the page needs. Each page starts after the cursor's key, so inserts
    between pages skip nothing.
    """
    size, backward = page_size(first, last)
    start = None if after is None else _after(after)
    end = None if before is None else _after(before, "before")
    active: list[tuple[tuple[int, int, int, str, int], CreditLot]] = []
    if status in (None, LotStatus.ACTIVE) and (start is None or start[0] == 0):
        rows = await CreditLot.filter(customer_id=customer_id, status=LotStatus.ACTIVE)
        active = sorted(((listing_key(lot), lot) for lot in rows), key=lambda pair: pair[0])
        active = [(k, lot) for k, lot in active if (start is None or k > start) and (end is None or k < end)]
    spent: list[tuple[tuple[int, int, int, str, int], CreditLot]] = []
    if status != LotStatus.ACTIVE and (end is None or end[0] == 1):
        query = CreditLot.filter(customer_id=customer_id, status__in=SPENT if status is None else (status,))
        if start is not None and start[0] == 1:
            query = query.filter(sequence__lt=-start[4])  # listing keys above the cursor's
        if end is not None:
            query = query.filter(sequence__gt=-end[4])
        # The page's end of the spent lots: the newest ones going forward, the oldest going back.
        needed = size + 1 if backward else max(size + 1 - len(active), 0)
        if needed:
            rows = await query.order_by("sequence" if backward else "-sequence").limit(needed)
            spent = sorted(((listing_key(lot), lot) for lot in rows), key=lambda pair: pair[0])
    keyed = active + spent
    more = len(keyed) > size
    return Page(
        rows=[(_cursor(key), lot) for key, lot in (keyed[-size:] if backward else keyed[:size])],
        has_next=before is not None if backward else more,
        has_previous=more if backward else after is not None,
    )


async def allocations_of(transaction_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[CreditAllocation]]:
    """Each entry's allocations: lots first (by their lot's ledger order), then the debt part."""
    found: dict[uuid.UUID, list[CreditAllocation]] = {i: [] for i in transaction_ids}
    rows = await CreditAllocation.filter(transaction_id__in=transaction_ids).prefetch_related("lot")
    for row in sorted(rows, key=lambda a: (a.lot is None, a.lot.sequence if a.lot else 0, str(a.lot_id))):
        found.setdefault(row.transaction_id, []).append(row)
    return found
