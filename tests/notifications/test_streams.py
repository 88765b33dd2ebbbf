"""Live streams: after a bus outage, subscribers catch up from the database, sharing their reads."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client import REGISTRY

from models.credits import change_balance
from models.ledger import CreditTransaction, Movement, TransactionKind, post_batch
from models.unit_of_work import unit_of_work
from notifications import streams
from notifications.bus import EventBus
from tests.factories import Login, make_catalog_admin, make_customer
from tests.polling import eventually

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


OUTAGE_ENTRIES = (2_400, 1_900, 1_300)  # 5,600 in all: more than the 5,000 the catch-up once read


async def post_entries(admin: Login, customer_id: uuid.UUID, count: int) -> None:
    """`count` grants of 0.01 to one customer, a few hundred per transaction (fast, and in order)."""
    for start in range(0, count, 500):
        movements = [Movement(1, TransactionKind.GRANT, admin.actor) for _ in range(min(500, count - start))]
        async with unit_of_work() as uow:
            await post_batch(uow, [(customer_id, movements)])


async def test_the_all_customers_stream_catches_up_every_entry_after_a_long_outage(bus: EventBus) -> None:
    """More entries than one catch-up read committed while the bus was down: each arrives once,
    in sequence order per customer, none skipped."""
    # given: a catalog administrator's stream of every customer, registered on a bus that hears nothing
    admin = await make_catalog_admin()
    customers = [await make_customer() for _ in OUTAGE_ENTRIES]
    received: list[tuple[str, int]] = []

    async def collect_all() -> None:
        async for message in streams.balance_events(bus, None, None):
            received.append((message["k"], message["sequence"]))

    async def registered() -> bool:
        return bus.subscriber_count() == 1

    async def caught_up() -> bool:
        return len(received) >= sum(OUTAGE_ENTRIES)

    reader = asyncio.ensure_future(collect_all())
    try:
        await eventually(registered, 5, "the stream to register")

        # when: 5,600 entries of three customers are committed during the outage, then the bus resyncs
        for customer, count in zip(customers, OUTAGE_ENTRIES, strict=True):
            await post_entries(admin, customer.id, count)
        bus._resync_all()
        await eventually(caught_up, 60, "the catch-up")

        # then: every customer's entries, each once, in order
        for customer, count in zip(customers, OUTAGE_ENTRIES, strict=True):
            assert [s for k, s in received if k == str(customer.id)] == list(range(1, count + 1))
        assert len(received) == sum(OUTAGE_ENTRIES)
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)


def replays(state: str) -> float | None:
    """This process's `credits_subscription_replays` gauge for `state` (running, waiting)."""
    return REGISTRY.get_sample_value("credits_subscription_replays", {"state": state})


async def test_one_users_replays_take_turns_and_another_users_do_not_wait(bus: EventBus) -> None:
    """Beyond its limit a user's replay waits (unregistered on the bus) until one of its replays
    has caught up or gone; another user of the same customer replays meanwhile."""
    # given: a ledger of 1,200 entries, two users of its customer, two replays per user at once
    admin = await make_catalog_admin()
    customer = await make_customer()
    await post_entries(admin, customer.id, 1_200)
    first_user, second_user = uuid.uuid4(), uuid.uuid4()

    def replay(user_id: uuid.UUID) -> AsyncIterator[dict[str, Any]]:
        return streams.balance_events(bus, customer.id, 0, None, streams.REPLAYS.turn(user_id, 2))

    running = [replay(first_user), replay(first_user)]
    third = replay(first_user)
    other = replay(second_user)
    waiting = None
    try:
        assert [(await anext(r))["sequence"] for r in running] == [1, 1]  # both mid-replay

        # when: the first user starts a third replay, and the second user one
        waiting = asyncio.ensure_future(anext(third))

        async def third_waits() -> bool:
            return replays("waiting") == 1

        await eventually(third_waits, 5, "the third replay to wait")
        # then: the second user's replay is not held up, the third waits off the bus
        assert (await asyncio.wait_for(anext(other), 10))["sequence"] == 1
        assert replays("running") == 3
        assert bus.subscriber_count() == 3
        assert not waiting.done()

        # when: a fourth replay gives up while it waits
        fourth = replay(first_user)
        given_up = asyncio.ensure_future(anext(fourth))

        async def both_wait() -> bool:
            return replays("waiting") == 2

        await eventually(both_wait, 5, "the fourth replay to wait")
        given_up.cancel()
        await asyncio.gather(given_up, return_exceptions=True)

        # then: it waits no more, and holds nothing
        assert replays("waiting") == 1

        # when: one of the first user's replays goes away
        await running.pop(0).aclose()

        # then: the third takes its turn
        assert (await asyncio.wait_for(waiting, 10))["sequence"] == 1
        assert replays("waiting") == 0
    finally:
        if waiting is not None and not waiting.done():
            waiting.cancel()
        for stream in (*running, third, other):
            await stream.aclose()  # type: ignore[attr-defined]

    # and: nothing is left counted once every replay is gone
    assert len(streams.REPLAYS) == 0
    assert (replays("running"), replays("waiting")) == (0, 0)


async def test_a_replay_that_caught_up_gives_its_turn_back(bus: EventBus) -> None:
    """Live after its replay, a subscription holds no turn: the user's next replays run."""
    # given: a user whose only turn is held by a replay that has just caught up (and stays live)
    admin = await make_catalog_admin()
    customer = await make_customer()
    await post_entries(admin, customer.id, 3)
    user_id = uuid.uuid4()
    live = streams.balance_events(bus, customer.id, 2, None, streams.REPLAYS.turn(user_id, 1))
    assert (await anext(live))["sequence"] == 3
    waiting = asyncio.ensure_future(anext(live))  # now waiting for live messages
    try:
        # when: the same user replays again
        again = streams.balance_events(bus, customer.id, 0, None, streams.REPLAYS.turn(user_id, 1))

        # then: it runs at once
        assert (await asyncio.wait_for(anext(again), 10))["sequence"] == 1
        await again.aclose()  # type: ignore[attr-defined]
    finally:
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
        await live.aclose()  # type: ignore[attr-defined]
    assert len(streams.REPLAYS) == 0
