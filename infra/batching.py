"""Combine concurrent work on one key (a lane of charges, user lookups) into one batch at a time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Job = TypeVar("Job")
Result = TypeVar("Result")

_LEAD = object()  # a waiting job's signal: run the next batch yourself
_UNSET = object()
_RETRY = object()  # the batch was interrupted before commit: submit the job again


@dataclass(eq=False)
class Ticket(Generic[Job, Result]):
    """One submitted job and the future its submitter waits on."""

    job: Job
    signal: asyncio.Future[object] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    outcome: object = _UNSET

    def resolve(self, result: object) -> None:
        """Hand the job its outcome (a result or the exception to raise); the first one counts."""
        if self.outcome is _UNSET:
            self.outcome = result
        if not self.signal.done():
            self.signal.set_result(None)


@dataclass
class _Lane(Generic[Job, Result]):
    waiting: list[Ticket[Job, Result]] = field(default_factory=list)
    busy: bool = False


class Combiner(Generic[Job, Result]):
    """Per key, one batch runs at a time; jobs arriving meanwhile form the next batch.

    A batch runs in the task of one of its submitters (on SQLite a transaction's queries must stay
    in one task), so no background task holds a connection or outlives a request.
    """

    def __init__(
        self, run: Callable[[list[Ticket[Job, Result]]], Awaitable[None]], max_batch: int = 64
    ) -> None:
        self._run = run
        self._max_batch = max_batch
        self._lanes: dict[Hashable, _Lane[Job, Result]] = {}

    async def submit(self, key: Hashable, job: Job) -> Result:
        """Run `job` in the next batch of `key` and return its result (or raise its error)."""
        while True:
            outcome = await self._submit_once(key, job)
            if outcome is not _RETRY:
                return _unwrap(outcome)

    async def _submit_once(self, key: Hashable, job: Job) -> object:
        lane = self._lanes.setdefault(key, _Lane())
        ticket: Ticket[Job, Result] = Ticket(job)
        lane.waiting.append(ticket)
        if lane.busy:
            try:
                signal = await ticket.signal
            except asyncio.CancelledError:
                # Handed the lead, then cancelled before it could run: pass the lead on.
                if not ticket.signal.cancelled() and ticket.signal.result() is _LEAD:
                    if ticket in lane.waiting:
                        lane.waiting.remove(ticket)
                    self._hand_off(key, lane)
                raise
            if signal is not _LEAD:
                return ticket.outcome
        lane.busy = True
        # A submitter cancelled while waiting has its future cancelled: its job is dropped.
        pending = [t for t in lane.waiting if not t.signal.cancelled()]
        batch, lane.waiting = pending[: self._max_batch], pending[self._max_batch :]
        try:
            await self._run(batch)
        except asyncio.CancelledError:
            # The leader's request was cancelled and its transaction rolled back: the others
            # were not cancelled, so they submit again.
            for other in batch:
                other.resolve(_RETRY)
            raise
        except BaseException as exc:
            for other in batch:
                other.resolve(exc)
            raise
        finally:
            for other in batch:
                other.resolve(RuntimeError("the batch ended without an outcome for this job"))
            self._hand_off(key, lane)
        return ticket.outcome

    def _hand_off(self, key: Hashable, lane: _Lane[Job, Result]) -> None:
        """Wake the first waiting submitter to run the next batch, or close the idle lane."""
        while lane.waiting and lane.waiting[0].signal.done():
            lane.waiting.pop(0)
        if lane.waiting:
            lane.waiting[0].signal.set_result(_LEAD)
        else:
            del self._lanes[key]


def _unwrap(outcome: object) -> Result:  # type: ignore[type-var]
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome  # type: ignore[return-value]
