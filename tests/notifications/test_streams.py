"""Live streams: after a bus outage, subscribers catch up from the database, sharing their reads."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from models.credits import change_balance
from models.ledger import CreditTransaction, TransactionKind
from notifications import streams
from notifications.bus import EventBus
from tests.factories import make_catalog_admin, make_customer

SUBSCRIBERS = 5


@pytest.fixture
def bus(own_bus: EventBus) -> EventBus:
    """A bus of its own: what the app commits is published elsewhere, so only a resync tells it."""
    return own_bus


async def collect(stream: AsyncIterator[dict[str, Any]], into: list[int]) -> None:
    async for message in stream:
        into.append(message["sequence"])


async def test_subscribers_of_one_customer_share_one_catch_up_read_after_an_outage(
    bus: EventBus, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: five subscribers of one customer, all at its first entry
    admin = await make_catalog_admin()
    customer = await make_customer(balance=5)
    received: list[list[int]] = [[] for _ in range(SUBSCRIBERS)]
    readers = [
        asyncio.ensure_future(collect(streams.balance_events(bus, customer.id, 1), into)) for into in received
    ]
    async with asyncio.timeout(5):
        while bus.subscriber_count() < SUBSCRIBERS:
            await asyncio.sleep(0.01)
    reads: list[tuple[uuid.UUID, int]] = []
    entries_after = streams.entries_after

    async def counted(customer_id: uuid.UUID, sequence: int) -> list[CreditTransaction]:
        reads.append((customer_id, sequence))
        return await entries_after(customer_id, sequence)

    monkeypatch.setattr(streams, "entries_after", counted)

    try:
        # when: two entries are committed while this bus hears nothing, then it resyncs
        for _ in range(2):
            await change_balance(admin.actor, TransactionKind.GRANT, customer.id, 100, None, None)
        bus._resync_all()
        async with asyncio.timeout(5):
            while any(len(into) < 2 for into in received):
                await asyncio.sleep(0.01)

        # then: every subscriber has both, in order, from one read of the database
        assert received == [[2, 3]] * SUBSCRIBERS
        assert reads == [(customer.id, 1)]
    finally:
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
