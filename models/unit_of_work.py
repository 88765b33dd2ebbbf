"""One database transaction plus the events that may leave only after it commits."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TypeVar

from tortoise.backends.base.client import BaseDBAsyncClient

from infra.transactions import transaction
from models.events import DomainEvent

log = logging.getLogger("credits.uow")

EventSink = Callable[[Sequence[DomainEvent]], Awaitable[None]]
_sinks: list[EventSink] = []

T = TypeVar("T")

# PostgreSQL aborts one transaction of a deadlock (40P01) or a serialization failure (40001); run
# again from the start it normally succeeds. Attempts in all, and the pause before the next one.
ATTEMPTS = 3
_RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
_BACKOFF_SECONDS = 0.02


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
    events: list[DomainEvent] = field(default_factory=list)
    # Run in the transaction just before it commits (e.g. the webhook deliveries of its changes).
    before_commit: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


@asynccontextmanager
async def unit_of_work() -> AsyncIterator[UnitOfWork]:
    """Run a block in one transaction; publish its events only once it has committed."""
    async with transaction() as conn:
        uow = UnitOfWork(conn)
        yield uow
        for hook in uow.before_commit:
            await hook()
    if uow.events:
        for sink in list(_sinks):
            try:
                await sink(uow.events)
            except Exception:  # a broken sink must not undo or fail a committed change
                log.exception("event sink failed after commit")


async def run_in_transaction(work: Callable[[UnitOfWork], Awaitable[T]]) -> T:
    """Run `work` in one unit of work; re-run all of it when PostgreSQL aborts it as retryable.

    Each attempt starts afresh (new transaction, no events: an aborted attempt's events are
    dropped with it). After `ATTEMPTS` the last error is raised (the API answers it as 503).
    Never inside another transaction: PostgreSQL aborts the whole of it, not only this part.
    """
    for attempt in range(1, ATTEMPTS + 1):
        try:
            async with unit_of_work() as uow:
                return await work(uow)
        except Exception as error:
            if attempt == ATTEMPTS or not is_retryable(error):
                raise
            log.warning(
                "transaction aborted (%s), attempt %d of %d: running it again", error, attempt, ATTEMPTS
            )
        # Jittered, so the transactions that deadlocked do not meet again at once.
        await asyncio.sleep(random.uniform(0.5, 1.5) * _BACKOFF_SECONDS * attempt)
    raise AssertionError("unreachable")


def is_retryable(error: BaseException | None) -> bool:
    """Whether `error`, or what caused it, is a deadlock or serialization failure."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if getattr(error, "sqlstate", None) in _RETRYABLE_SQLSTATES:
            return True
        error = error.__cause__ or error.__context__
    return False
