"""Opaque identifiers: random UUIDs, so no id can be guessed from another."""

from __future__ import annotations

import uuid

from models.errors import not_found


def parse_id(value: object, what: str, argument: str | None) -> uuid.UUID:
    """A client-supplied id; malformed ids are as unknown as missing ones."""
    parsed = try_parse_id(value)
    if parsed is None:
        raise not_found(what, argument)
    return parsed


def try_parse_id(value: object) -> uuid.UUID | None:
    """A client-supplied id, or None when it cannot be one of ours."""
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        return None


def parse_optional_id(value: object | None, what: str, argument: str) -> uuid.UUID | None:
    """Like `parse_id`, but a left-out id stays None."""
    return None if value is None else parse_id(value, what, argument)
