"""Accept-style headers (Accept, Accept-Encoding): each value with its q-value, read one way everywhere."""

from __future__ import annotations


def weighted(header: str) -> list[tuple[str, float]]:
    """The header's values, lowercased, in order, each with its q-value (1 absent, 0 unreadable, invalid)."""
    values: list[tuple[str, float]] = []
    for part in header.split(","):
        value, *params = (p.strip() for p in part.split(";"))
        if value:
            values.append((value.lower(), _quality(params)))
    return values


def _quality(params: list[str]) -> float:
    """A value's q-value; one that is unreadable or outside 0–1 counts as 0 (refused)."""
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                weight = float(value)
            except ValueError:
                return 0.0
            return weight if 0.0 <= weight <= 1.0 else 0.0
    return 1.0
