"""A ledger as CSV: one header line, then one line per entry, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import AsyncIterator, Iterable
from typing import Any

from models.money import format_amount

HEADER = (
    "sequence",
    "createdAt",
    "kind",
    "amount",
    "balanceAfter",
    "service",
    "serviceRequestId",
    "note",
    "actor",
)
# OWASP's CSV injection rule: a cell starting with one of these is a formula to a spreadsheet.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_text(value: str | None) -> str:
    """Free text (notes, names, emails) as a cell: a leading formula character gets a `'` before it.

    Amounts are not passed through this: they are numbers this service writes ("-15.50"), and a
    quote would turn them into text.
    """
    if not value:
        return ""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def _iso(moment: dt.datetime) -> str:
    """ISO 8601 in UTC with a `Z`, to the microsecond the database keeps."""
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def cells(row: dict[str, Any]) -> list[str]:
    """One entry (as `ledger_history.EXPORT_FIELDS` reads it) as the cells of `HEADER`."""
    request = row["service_request_id"]
    return [
        str(row["sequence"]),
        _iso(row["created_at"]),
        str(row["kind"]),
        format_amount(row["amount"]),
        format_amount(row["balance_after"]),
        safe_text(row["service_request__service__name"]),
        str(request) if request else "",
        safe_text(row["note"]),
        safe_text(row["actor__email"]),
    ]


def lines(rows: Iterable[list[str]]) -> str:
    """CSV text (RFC 4180: quoted where needed, CRLF line ends) for rows of cells."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


async def csv_text(chunks: AsyncIterator[list[dict[str, Any]]]) -> AsyncIterator[str]:
    """The header, then one piece of CSV per chunk of entries."""
    yield lines([list(HEADER)])
    async for chunk in chunks:
        yield lines(cells(row) for row in chunk)
