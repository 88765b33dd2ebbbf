"""Keyset pagination: stable cursors over a fixed sort order, whatever is inserted meanwhile."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from tortoise.exceptions import ValidationError
from tortoise.expressions import Q
from tortoise.models import Model
from tortoise.queryset import QuerySet

from models.errors import invalid_input
from models.input_text import storable

T = TypeVar("T", bound=Model)
MAX_PAGE_SIZE = 100

_PARSERS: dict[type, Callable[[str], Any]] = {
    int: int,
    str: str,
    uuid.UUID: uuid.UUID,
    dt.datetime: dt.datetime.fromisoformat,
}


@dataclass(frozen=True)
class SortKey:
    """One column of a sort order; the last key of an order must be unique."""

    field: str
    kind: type
    descending: bool = True


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of rows, each with its cursor."""

    rows: list[tuple[str, T]]
    has_next: bool
    has_previous: bool


def _encode(values: Sequence[object]) -> str:
    raw = json.dumps([v.isoformat() if isinstance(v, dt.datetime) else str(v) for v in values])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _parse(key: SortKey, value: object, model: type[Model]) -> object:
    """One value of a cursor as its column holds it; ValueError for what no row can have.

    Cursors come back from clients: a name longer than its column, NUL, an integer beyond 64
    bits or a date beyond year 9999 in UTC would otherwise fail inside the database driver.
    """
    parsed = _PARSERS[key.kind](str(value))
    if isinstance(parsed, str) and not storable(parsed):
        raise ValueError("unstorable text")
    if isinstance(parsed, int) and not -(2**63) <= parsed < 2**63:
        raise ValueError("beyond 64 bits")
    if isinstance(parsed, dt.datetime):
        if parsed.tzinfo is None:
            raise ValueError("cursors carry time zones")
        parsed.astimezone(dt.UTC)  # OverflowError near year 1 or 9999
    model._meta.fields_map[key.field].validate(parsed)
    return parsed


def _decode(
    cursor: str, keys: Sequence[SortKey], model: type[Model], argument: str = "after"
) -> list[object]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(raw, list) or len(raw) != len(keys):
            raise ValueError
        return [_parse(key, value, model) for key, value in zip(keys, raw, strict=True)]
    except (ValueError, TypeError, OverflowError, RecursionError, binascii.Error, ValidationError):
        raise invalid_input(f"{argument} is not a valid cursor", argument) from None


def _after(keys: Sequence[SortKey], values: Sequence[object], forward: bool = True) -> Q:
    """Rows strictly after `values` in the sort order (lexicographic over the keys); before, backward."""
    clauses = []
    for i, key in enumerate(keys):
        equal = {k.field: v for k, v in zip(keys[:i], values[:i], strict=True)}
        beyond = {f"{key.field}__{'lt' if key.descending == forward else 'gt'}": values[i]}
        clauses.append(Q(**equal, **beyond))
    return Q(*clauses, join_type=Q.OR)


def validate_first(first: int, argument: str = "first") -> int:
    """Page sizes are 1 to 100."""
    if not 1 <= first <= MAX_PAGE_SIZE:
        raise invalid_input(f"{argument} must be between 1 and {MAX_PAGE_SIZE}", argument)
    return first


def page_size(first: int | None, last: int | None) -> tuple[int, bool]:
    """The page size and whether it is taken from the end (`last`); both or neither is INVALID_INPUT.

    Relay's spec allows `first` with `last` but discourages it; nothing here needs it.
    """
    if (first is None) == (last is None):
        raise invalid_input("give either first or last, not both", "last" if last is not None else "first")
    if last is not None:
        return validate_first(last, "last"), True
    assert first is not None
    return validate_first(first), False


async def paginate(
    queryset: QuerySet[T],
    keys: Sequence[SortKey],
    first: int | None,
    after: str | None,
    last: int | None = None,
    before: str | None = None,
) -> Page[T]:
    """The `first` rows after `after`, or the `last` rows before `before`, in the order `keys` define.

    As Relay specifies, `hasPreviousPage` is exact when paging backward and `hasNextPage` when
    paging forward; the other says only whether a cursor was given (rows may lie beyond it).
    """
    size, backward = page_size(first, last)
    model = queryset.model
    if after is not None:
        queryset = queryset.filter(_after(keys, _decode(after, keys, model)))
    if before is not None:
        queryset = queryset.filter(_after(keys, _decode(before, keys, model, "before"), forward=False))
    order = [f"-{k.field}" if k.descending != backward else k.field for k in keys]
    rows = await queryset.order_by(*order).limit(size + 1)
    page = rows[:size]
    if backward:
        page.reverse()
    more = len(rows) > size
    return Page(
        rows=[(_encode([getattr(r, k.field) for k in keys]), r) for r in page],
        has_next=before is not None if backward else more,
        has_previous=more if backward else after is not None,
    )
