"""The outbox dispatchers' shared loop (mail and webhooks), PostgreSQL claims and wake-ups from the bus."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from contextlib import suppress

from tortoise.backends.base.client import BaseDBAsyncClient

from infra.tasks import cancel_and_wait
from notifications import wire
from notifications.bus import EventBus, Resync, SubscriberTooSlow
from settings import Settings

# How much longer than a send PostgreSQL lets a dispatcher's transaction sit idle holding its rows.
LOCK_MARGIN_SECONDS = 10.0
# For a claim's transaction: plans for the table as it is now, and the due rows read in an index's
# order up to the batch. A plan cached while the table was small, or statistics behind a growing
# backlog, scanned or sorted every row for each batch (webhooks: 3 ms a batch of 20 at 10,000
# rows, 54 ms at 20,000 due).
PLAN_FOR_BACKLOG = {"plan_cache_mode": "force_custom_plan", "enable_sort": "off"}


async def hold_claims_for(conn: BaseDBAsyncClient, send_seconds: float, **settings: str) -> None:
    """PostgreSQL: end this transaction (and free its row claims) if it idles past a send and a margin.

    `settings` are more of PostgreSQL's for this transaction only, in the same round trip.
    """
    idle_ms = int((send_seconds + LOCK_MARGIN_SECONDS) * 1000)
    values = {"idle_in_transaction_session_timeout": str(idle_ms), **settings}
    await conn.execute_query(
        "SELECT " + ", ".join(f"set_config('{name}', '{value}', true)" for name, value in values.items())
    )


class OutboxDispatcher:
    """A background sender of one outbox, one per process: started, woken after commits, stopped.

    Subclasses say what a batch is (`dispatch_once`), how to take back a previous run's leases
    (SQLite) and how large and how often; the loop is this one.
    """

    what = "outbox"
    log = logging.getLogger("credits.outbox")

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start sending in the background."""
        self._task = asyncio.create_task(self._run(), name=f"{self.what}-dispatcher")

    async def stop(self) -> None:
        """Stop; a row mid-send is released (PostgreSQL) or taken back at the next start (SQLite)."""
        await cancel_and_wait(self._task)
        self._task = None

    def wake(self) -> None:
        """New rows were committed: send now instead of at the next poll."""
        self._wake.set()

    @property
    def batch_size(self) -> int:
        """Rows a batch claims at most; a full batch goes on at once."""
        raise NotImplementedError

    @property
    def poll_seconds(self) -> float:
        """How long an idle dispatcher waits for a wake-up before it looks anyway."""
        raise NotImplementedError

    async def dispatch_once(self) -> int:
        """Claim a batch, send it, record the outcomes; returns how many were claimed."""
        raise NotImplementedError

    async def take_back_leases(self) -> int:
        """SQLite (one process): what a previous run left mid-send is due now; returns how many."""
        raise NotImplementedError

    async def _run(self) -> None:
        """Take back a previous run's leases (SQLite), then send until cancelled."""
        if self.settings.is_sqlite:
            try:
                await self.take_back_leases()
            except Exception:
                self.log.exception("could not take back leased %s; they wait for their lease", self.what)
        while True:
            self._wake.clear()
            try:
                busy = await self.dispatch_once() == self.batch_size
            except asyncio.CancelledError:
                raise
            except Exception:
                self.log.exception("%s dispatch failed; retrying", self.what)
                busy = False
            if busy:
                continue
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)


async def wake_on_bus(bus: EventBus, wakers: Mapping[str, Callable[[], None]], log: logging.Logger) -> None:
    """Wake an outbox's dispatcher when another process says it committed rows to it.

    A `server.py dispatch` process runs this; serving processes publish `wire.outbox_message`
    instead of sending. Whatever may have been missed (a bus reconnect, an overflowed queue) wakes
    every dispatcher: a needless look costs one query, a missed one a poll interval.
    """
    while True:
        try:
            async with bus.subscribe(wire.OUTBOX) as subscription:
                while True:
                    message = await subscription.get()
                    if isinstance(message, Resync):
                        for wake in wakers.values():
                            wake()
                    elif (wake := wakers.get(message.get("k"))) is not None:
                        wake()
        except SubscriberTooSlow:
            for wake in wakers.values():
                wake()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("outbox wake-ups: could not read the bus; polling meanwhile", exc_info=True)
            await asyncio.sleep(1)
