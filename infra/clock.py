"""The service's clock: the one place the domain asks what time it is, so tests can set it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

_fixed: dt.datetime | None = None


def now() -> dt.datetime:
    """The current time, aware and in UTC (the time a test set, while it is set)."""
    return _fixed if _fixed is not None else dt.datetime.now(dt.UTC)


@contextmanager
def set_to(moment: dt.datetime) -> Iterator[None]:
    """Make `now()` answer `moment` (aware) inside the block: a day's or month's boundary without sleeping."""
    global _fixed
    if moment.tzinfo is None:
        raise ValueError("the clock takes an aware time")
    previous, _fixed = _fixed, moment.astimezone(dt.UTC)
    try:
        yield
    finally:
        _fixed = previous
