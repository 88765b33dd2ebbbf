"""Outbox dispatchers woken from the bus: what a `server.py dispatch` process listens to."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable

import pytest

from infra.tasks import cancel_and_wait
from notifications import wire
from notifications.bus import EventBus
from notifications.dispatch import wake_on_bus

log = logging.getLogger("tests.dispatch")


class Woken:
    """Counts the wake-ups of each outbox's dispatcher."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.changed = asyncio.Event()

    def waker(self, outbox: str) -> Callable[[], None]:
        def wake() -> None:
            self.counts[outbox] += 1
            self.changed.set()

        return wake

    async def until(self, expected: dict[str, int], timeout: float = 5) -> None:
        """Wait until the counts are `expected`."""
        async with asyncio.timeout(timeout):
            while dict(self.counts) != expected:
                self.changed.clear()
                await self.changed.wait()


@pytest.fixture
async def listening() -> AsyncIterator[tuple[EventBus, Woken]]:
    """A memory bus, and `wake_on_bus` waking two counted dispatchers from it."""
    bus = EventBus("memory://", queue_size=2)
    await bus.start()
    woken = Woken()
    wakers = {outbox: woken.waker(outbox) for outbox in (wire.MAIL_OUTBOX, wire.WEBHOOK_OUTBOX)}
    task = asyncio.create_task(wake_on_bus(bus, wakers, log))
    while bus.subscriber_count() == 0:
        await asyncio.sleep(0.01)
    yield bus, woken
    await cancel_and_wait(task)
    await bus.stop()


async def test_an_outbox_message_wakes_that_outboxs_dispatcher_only(listening) -> None:
    # given
    bus, woken = listening

    # when: a serving process committed webhook deliveries, then mail
    await bus.publish(wire.outbox_message(wire.WEBHOOK_OUTBOX))
    await woken.until({wire.WEBHOOK_OUTBOX: 1})
    await bus.publish(wire.outbox_message(wire.MAIL_OUTBOX))

    # then
    await woken.until({wire.WEBHOOK_OUTBOX: 1, wire.MAIL_OUTBOX: 1})


async def test_a_bus_reconnect_wakes_every_dispatcher(listening) -> None:
    # given
    bus, woken = listening

    # when: the bus reconnected (wake-ups may have been lost meanwhile)
    bus._resync_all()

    # then
    await woken.until({wire.WEBHOOK_OUTBOX: 1, wire.MAIL_OUTBOX: 1})


async def test_an_overflowing_listener_wakes_every_dispatcher_and_listens_again(listening) -> None:
    # given: a listener whose queue (2) is overrun before it reads
    bus, woken = listening
    bus._dispatch(wire.outbox_message(wire.MAIL_OUTBOX))
    bus._dispatch(wire.outbox_message(wire.MAIL_OUTBOX))
    bus._dispatch(wire.outbox_message(wire.MAIL_OUTBOX))

    # then: both dispatchers look (the lost messages might have been either's)
    await woken.until({wire.WEBHOOK_OUTBOX: 1, wire.MAIL_OUTBOX: 1})

    # when: it has subscribed again and a message comes
    while bus.subscriber_count() == 0:
        await asyncio.sleep(0.01)
    await bus.publish(wire.outbox_message(wire.WEBHOOK_OUTBOX))

    # then
    await woken.until({wire.WEBHOOK_OUTBOX: 2, wire.MAIL_OUTBOX: 1})
