"""Reading a customer's ledger by date: the range rule, and chunked reads for exports."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any, TypeVar

from tortoise.models import Model
from tortoise.queryset import QuerySet

from models.errors import invalid_input
from models.transaction import CreditTransaction

Row = TypeVar("Row", bound=Model)

# One query per this many rows: an export of 100,000 entries holds one chunk at a time.
EXPORT_CHUNK = 1000
EXPORT_FIELDS = (
    "sequence",
    "created_at",
    "kind",
    "amount",
    "balance_after",
    "note",
    "service_request_id",
    "service_request__service__name",
    "actor__email",
)


def _utc(moment: dt.datetime | None, argument: str) -> dt.datetime | None:
    """A moment in UTC; one without a time zone is taken as UTC."""
    if moment is None:
        return None
    try:
        return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
    except OverflowError:
        raise invalid_input(f"{argument} is out of range", argument) from None


def time_range(
    since: dt.datetime | None, until: dt.datetime | None
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """`[since, until)` in UTC; `until` before `since` is INVALID_INPUT (equal: an empty range)."""
    start, end = _utc(since, "since"), _utc(until, "until")
    if start is not None and end is not None and end < start:
        raise invalid_input("until must not be before since", "until")
    return start, end


def created_between(
    rows: QuerySet[Row], since: dt.datetime | None, until: dt.datetime | None
) -> QuerySet[Row]:
    """The `rows` created at `since` or later and before `until` (either may be open): entries, requests."""
    start, end = time_range(since, until)
    if start is not None:
        rows = rows.filter(created_at__gte=start)
    if end is not None:
        rows = rows.filter(created_at__lt=end)
    return rows


def entries_between(
    customer_id: uuid.UUID, since: dt.datetime | None = None, until: dt.datetime | None = None
) -> QuerySet[CreditTransaction]:
    """The customer's entries written at `since` or later and before `until` (either may be open)."""
    return created_between(CreditTransaction.filter(customer_id=customer_id), since, until)


async def export_chunks(
    customer_id: uuid.UUID,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    chunk: int = EXPORT_CHUNK,
) -> AsyncIterator[list[dict[str, Any]]]:
    """The entries oldest first, `chunk` rows per query (keyset on `sequence`), with service and actor.

    Each query starts after the last sequence read: no OFFSET scans, and entries written during
    an export appear at its end or not at all, never twice.
    """
    query = entries_between(customer_id, since, until)
    last = 0
    while True:
        rows = await query.filter(sequence__gt=last).order_by("sequence").limit(chunk).values(*EXPORT_FIELDS)
        if not rows:
            return
        yield rows
        if len(rows) < chunk:
            return
        last = rows[-1]["sequence"]
