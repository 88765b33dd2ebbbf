"""One database transaction plus the events that may leave only after it commits."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

log = logging.getLogger("credits.uow")

EventSink = Callable[[Sequence[object]], Awaitable[None]]
_sinks: list[EventSink] = []


def add_event_sink(sink: EventSink) -> None:
    """Register where committed events go (the notifications bus); models never import it."""
    _sinks.append(sink)


def remove_event_sink(sink: EventSink) -> None:
    """Unregister a sink added by `add_event_sink`."""
    if sink in _sinks:
        _sinks.remove(sink)


@dataclass
class UnitOfWork:
    """The open transaction's connection and the events it will publish on commit."""

    conn: BaseDBAsyncClient
    events: list[object] = field(default_factory=list)


@asynccontextmanager
async def unit_of_work() -> AsyncIterator[UnitOfWork]:
    """Run a block in one transaction; publish its events only once it has committed."""
    async with in_transaction() as conn:
        uow = UnitOfWork(conn)
        yield uow
    if uow.events:
        for sink in list(_sinks):
            try:
                await sink(uow.events)
            except Exception:  # a broken sink must not undo or fail a committed change
                log.exception("event sink failed after commit")
