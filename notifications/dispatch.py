"""The outbox dispatchers' shared loop (mail and webhooks), PostgreSQL claims and wake-ups from the bus."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from contextlib import suppress

from tortoise.backends.base.client import BaseDBAsyncClient

from notifications import wire
from notifications.bus import EventBus, Resync, SubscriberTooSlow

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


async def dispatch_forever(
    log: logging.Logger,
    what: str,
    take_back: Callable[[], Awaitable[int]] | None,
    dispatch_once: Callable[[], Awaitable[int]],
    batch_size: Callable[[], int],
    poll_seconds: Callable[[], float],
    wake: asyncio.Event,
) -> None:
    """An outbox dispatcher's loop: take back a previous run's leases (SQLite), then send until cancelled.

    A full batch goes on at once; otherwise it waits for `wake` (set after a commit) or the next poll.
    """
    if take_back is not None:
        try:
            await take_back()
        except Exception:
            log.exception("could not take back leased %s; they wait for their lease to run out", what)
    while True:
        wake.clear()
        try:
            busy = await dispatch_once() == batch_size()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s dispatch failed; retrying", what)
            busy = False
        if busy:
            continue
        with suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), poll_seconds())


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
