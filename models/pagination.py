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

from tortoise.expressions import Q
from tortoise.models import Model
from tortoise.queryset import QuerySet

from models.errors import invalid_input

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


def _decode(cursor: str, keys: Sequence[SortKey]) -> list[object]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(raw, list) or len(raw) != len(keys):
            raise ValueError
        return [_PARSERS[key.kind](str(value)) for key, value in zip(keys, raw, strict=True)]
    except (ValueError, TypeError, binascii.Error, UnicodeError):
        raise invalid_input("after is not a valid cursor", ["after"]) from None


def _after(keys: Sequence[SortKey], values: Sequence[object]) -> Q:
    """Rows strictly after `values` in the sort order (lexicographic over the keys)."""
    clauses = []
    for i, key in enumerate(keys):
        equal = {k.field: v for k, v in zip(keys[:i], values[:i], strict=True)}
        beyond = {f"{key.field}__{'lt' if key.descending else 'gt'}": values[i]}
        clauses.append(Q(**equal, **beyond))
    return Q(*clauses, join_type=Q.OR)


def validate_first(first: int) -> int:
    """Page sizes are 1 to 100."""
    if not 1 <= first <= MAX_PAGE_SIZE:
        raise invalid_input(f"first must be between 1 and {MAX_PAGE_SIZE}", ["first"])
    return first


async def paginate(queryset: QuerySet[T], keys: Sequence[SortKey], first: int, after: str | None) -> Page[T]:
    """Fetch `first` rows after the cursor `after`, in the order `keys` define."""
    validate_first(first)
    if after is not None:
        queryset = queryset.filter(_after(keys, _decode(after, keys)))
    order = [f"-{k.field}" if k.descending else k.field for k in keys]
    rows = await queryset.order_by(*order).limit(first + 1)
    page = rows[:first]
    return Page(
        rows=[(_encode([getattr(r, k.field) for k in keys]), r) for r in page],
        has_next=len(rows) > first,
        has_previous=after is not None,
    )
