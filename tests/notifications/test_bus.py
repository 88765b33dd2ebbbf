"""The event bus as a unit: routing, bounded queues, several processes, Redis outages."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from notifications.bus import EventBus, Resync, SubscriberTooSlow, _decode, _encode
from tests.processes import HAS_REDIS_SERVER, RedisServer

requires_redis_server = pytest.mark.skipif(not HAS_REDIS_SERVER, reason="redis-server is not installed")

FAST = {"heartbeat_seconds": 0.2, "liveness_seconds": 0.8}


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    """A redis-server of this test alone, which it may kill and restart."""
    if not HAS_REDIS_SERVER:
        pytest.skip("redis-server is not installed")
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="module")
def shared_redis_url() -> Iterator[str]:
    """CREDITS_TEST_REDIS_URL when set, else a private redis-server for this module."""
    if url := os.environ.get("CREDITS_TEST_REDIS_URL"):
        yield url
        return
    if not HAS_REDIS_SERVER:
        pytest.skip("neither CREDITS_TEST_REDIS_URL nor redis-server")
    with RedisServer() as server:
        yield server.url


@pytest.fixture(params=["memory", "redis"])
def bus_url(request: pytest.FixtureRequest) -> str:
    """The bus URL of each backend."""
    if request.param == "memory":
        return "memory://"
    return request.getfixturevalue("shared_redis_url")


@asynccontextmanager
async def running(url: str, **options: Any) -> AsyncIterator[EventBus]:
    """A started bus, stopped afterwards."""
    bus = EventBus(url, **options)
    await bus.start()
    try:
        assert bus.healthy, f"bus on {url} did not connect"
        yield bus
    finally:
        await bus.stop()


def topic() -> str:
    """A topic of this test alone (a shared Redis carries other test runs' events too)."""
    return f"test-{uuid.uuid4().hex[:12]}"


def message(topic: str, key: str, n: int) -> dict[str, Any]:
    """A bus message."""
    return {"t": topic, "k": key, "n": n}


async def get(subscription: Any, timeout: float = 5.0) -> Any:
    """The subscription's next item, within `timeout`."""
    return await asyncio.wait_for(subscription.get(), timeout)


async def wait_until(condition: Any, timeout: float, what: str) -> float:
    """Poll `condition()` every 20 ms; seconds it took. Fails after `timeout`."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not {what} within {timeout}s")
        await asyncio.sleep(0.02)
    return time.monotonic() - start


# --- routing ---------------------------------------------------------------------------------


async def test_message_goes_to_its_key_and_to_all_keys_only(bus_url):
    """A message reaches subscribers of its topic and key and of its topic with key None, no others."""
    # given
    news, other = topic(), topic()
    async with (
        running(bus_url) as bus,
        bus.subscribe(news, "k1") as k1,
        bus.subscribe(news, "k2") as k2,
        bus.subscribe(news, None) as every_key,
        bus.subscribe(other, "k1") as other_topic,
    ):
        # when
        assert await bus.publish(message(news, "k1", 1)) is True
        assert await bus.publish(message(news, "k2", 2)) is True
        assert await bus.publish(message(other, "k1", 3)) is True

        # then: each got its own, in order; k2 and the other topic never saw message 1
        assert await get(k1) == message(news, "k1", 1)
        assert await get(every_key) == message(news, "k1", 1)
        assert await get(every_key) == message(news, "k2", 2)
        assert await get(k2) == message(news, "k2", 2)
        assert await get(other_topic) == message(other, "k1", 3)
        await asyncio.sleep(0.2)
        assert (k1.size, k2.size, every_key.size, other_topic.size) == (0, 0, 0, 0)
        assert bus.subscriber_count() == 4
    assert bus.subscriber_count() == 0


async def test_publish_many_sends_one_payload_and_delivers_each_message_in_order(bus_url):
    """A unit of work's events travel together; each still reaches its own subscribers, in order."""
    # given
    news = topic()
    async with (
        running(bus_url) as bus,
        bus.subscribe(news, "k1") as k1,
        bus.subscribe(news, None) as every_key,
    ):
        # when: three messages in one publish, then nothing at all
        batch = [message(news, "k1", 1), message(news, "k2", 2), message(news, "k1", 3)]
        assert await bus.publish_many(batch) is True
        assert await bus.publish_many([]) is True

        # then
        assert [await get(k1), await get(k1)] == [batch[0], batch[2]]
        assert [await get(every_key) for _ in batch] == batch
        await asyncio.sleep(0.2)
        assert (k1.size, every_key.size) == (0, 0)


def test_payloads_decode_to_their_messages_and_nothing_else() -> None:
    """One object, an array of objects; what is not an object carries no message."""
    # given / when / then
    one, two = {"t": "a", "k": "x"}, {"t": "b", "k": "y"}
    assert _decode(_encode([one])) == [one]
    assert _encode([one]).startswith("{")
    assert _decode(_encode([one, two])) == [one, two]
    assert _decode('[{"t": "a"}, 42, "x", null]') == [{"t": "a"}]
    assert _decode("42") == []


async def test_heartbeats_are_not_delivered(bus_url):
    """Subscribers see only messages, never the bus's own heartbeats."""
    # given
    news = topic()
    async with running(bus_url, **FAST) as bus, bus.subscribe(news, None) as every_key:
        # when: several heartbeats go round
        await asyncio.sleep(0.7)

        # then
        assert every_key.size == 0
        assert bus.healthy


# --- bounded queues --------------------------------------------------------------------------


async def test_overflow_raises_too_slow_and_leaves_others_alone(bus_url):
    """A full queue calls on_overflow once and makes `get` raise SubscriberTooSlow; others get all."""
    # given: queues of 3, a subscriber that never reads and one that keeps up
    news = topic()
    overflows: list[str] = []
    async with (
        running(bus_url, queue_size=3) as bus,
        bus.subscribe(news, "k", on_overflow=lambda: overflows.append("slow")) as slow,
        bus.subscribe(news, "k", on_overflow=lambda: overflows.append("fast")) as fast,
    ):
        # when: 6 messages, the fast one reading each
        for n in range(1, 7):
            assert await bus.publish(message(news, "k", n)) is True
            assert await get(fast) == message(news, "k", n)

        # then: the slow one overflowed on the 4th, once; its buffered messages are gone
        assert overflows == ["slow"]
        assert slow.overflowed is True and fast.overflowed is False
        with pytest.raises(SubscriberTooSlow):
            await get(slow)
        assert slow.size == 0

        # then: the fast one is unaffected and keeps receiving
        assert await bus.publish(message(news, "k", 7)) is True
        assert await get(fast) == message(news, "k", 7)
        assert overflows == ["slow"]


# --- several processes on one Redis ----------------------------------------------------------


async def test_two_buses_on_one_redis_see_each_others_messages(shared_redis_url):
    """Two processes' buses: what one publishes, both deliver, in publishing order."""
    # given
    news = topic()
    async with (
        running(shared_redis_url) as first,
        running(shared_redis_url) as second,
        first.subscribe(news, "k") as on_first,
        second.subscribe(news, "k") as on_second,
    ):
        # when
        assert await first.publish(message(news, "k", 1)) is True
        assert await second.publish(message(news, "k", 2)) is True

        # then
        assert [await get(on_first), await get(on_first)] == [message(news, "k", 1), message(news, "k", 2)]
        assert [await get(on_second), await get(on_second)] == [message(news, "k", 1), message(news, "k", 2)]


async def test_concurrent_first_subscribers_both_receive(bus_url):
    """Two subscribers joining a fresh bus at once both receive, and both leave cleanly."""
    # given: fresh buses, started at once
    news = topic()
    first, second = EventBus(bus_url), EventBus(bus_url)
    await asyncio.gather(first.start(), second.start())
    # memory:// is one process's bus: only the publishing bus's subscribers can receive
    buses = (first, first) if bus_url == "memory://" else (first, first, second, second)
    joined = asyncio.Barrier(len(buses) + 1)
    published = asyncio.Event()

    async def receive(bus: EventBus) -> Any:
        async with bus.subscribe(news, "k") as subscription:
            await joined.wait()
            await published.wait()
            return await get(subscription)

    try:
        # when: two subscribers on each bus join concurrently, then a message is published
        readers = [asyncio.create_task(receive(bus)) for bus in buses]
        await asyncio.wait_for(joined.wait(), 5)
        published.set()
        assert await first.publish(message(news, "k", 1)) is True
        results = await asyncio.wait_for(asyncio.gather(*readers), 10)
    finally:
        await first.stop()
        await second.stop()

    # then: every subscriber got it
    assert results == [message(news, "k", 1)] * len(buses)
    assert first.subscriber_count() == second.subscriber_count() == 0


async def test_message_published_while_its_bus_is_down_reaches_other_processes(private_redis):
    """A publish that failed on a disconnected bus is sent after it connects: others never missed it."""
    # given: one process connected and subscribed; another whose bus is not connected yet
    news = topic()
    async with running(private_redis.url, **FAST) as receiver, receiver.subscribe(news, "k") as subscription:
        sender = EventBus(private_redis.url, **FAST)

        # when: the disconnected bus publishes, then connects
        assert await sender.publish(message(news, "k", 1)) is False
        await sender.start()
        try:
            assert sender.healthy

            # then: the connected process receives the message, once, with no resync of its own
            assert await get(subscription) == message(news, "k", 1)
            await asyncio.sleep(0.3)
            assert subscription.size == 0
        finally:
            await sender.stop()


# --- Redis outages ---------------------------------------------------------------------------


async def test_bus_reconnects_after_redis_restart_and_resyncs(private_redis):
    """Redis killed and started again: the bus reconnects by itself, resyncs subscribers, publishes again."""
    # given: a connected bus with a subscriber that has received a message
    news = topic()
    async with running(private_redis.url, **FAST) as bus, bus.subscribe(news, "k") as subscription:
        assert await bus.publish(message(news, "k", 1)) is True
        assert await get(subscription) == message(news, "k", 1)
        before_outage = dt.datetime.now(dt.UTC)

        # when: Redis dies
        private_redis.stop()

        # then: the bus notices within its liveness window and publishing fails
        await wait_until(lambda: not bus.healthy, 5, "unhealthy")
        assert await bus.publish(message(news, "k", 2)) is False

        # when: Redis comes back on the same port
        private_redis.start()

        # then: the bus reconnects by itself; the subscriber is told to resync from before the
        # outage, then gets the message that could not be sent during it
        await wait_until(lambda: bus.healthy, 10, "reconnected")
        assert bus.reconnects == 2
        resync = await get(subscription)
        assert isinstance(resync, Resync)
        assert resync.since <= before_outage
        assert await get(subscription) == message(news, "k", 2)

        # then: publishing works again
        assert await bus.publish(message(news, "k", 3)) is True
        assert await get(subscription) == message(news, "k", 3)
        await asyncio.sleep(0.3)
        assert subscription.size == 0


async def test_outage_shorter_than_liveness_window_still_resyncs(private_redis):
    """Redis restarted faster than the liveness window: the bus still reconnects and resyncs.

    redis-py would otherwise reconnect and resubscribe the connection silently, and what was
    published meanwhile would be lost without anyone being told.
    """
    # given: a bus whose liveness window (3 s) outlasts the outage
    news = topic()
    async with (
        running(private_redis.url, heartbeat_seconds=0.2, liveness_seconds=3.0) as bus,
        bus.subscribe(news, "k") as subscription,
    ):
        # when: Redis is killed and at once started again
        private_redis.stop()
        private_redis.start()

        # then: the subscriber is told to resync
        assert isinstance(await get(subscription, timeout=10), Resync)
        await wait_until(lambda: bus.healthy, 10, "reconnected")
        assert bus.reconnects == 2


async def test_reconnect_backoff_starts_afresh_after_a_connection(private_redis):
    """A long first outage does not slow down the reconnects after later ones."""
    # given: a bus that kept failing to connect for 3.5 s (its back-off grew), then connected
    private_redis.stop()
    bus = EventBus(private_redis.url, **FAST)
    await bus.start(wait=0)
    try:
        await asyncio.sleep(3.5)
        assert not bus.healthy
        private_redis.start()
        await wait_until(lambda: bus.healthy, 10, "connected")
        assert bus.reconnects == 1

        # when: Redis restarts quickly
        private_redis.stop()
        private_redis.start()

        # then: it is back within the liveness window plus a short retry, not a long back-off
        took = await wait_until(lambda: bus.reconnects == 2 and bus.healthy, 10, "reconnected")
        assert took < FAST["liveness_seconds"] + 1.0, took
    finally:
        await bus.stop()


# --- shared catch-up reads after an outage ---------------------------------------------------


async def test_resync_reads_once_per_key_for_every_subscriber_that_asks() -> None:
    """Subscribers told of one outage share each catch-up read; other keys read apart."""
    # given: one Resync and a read that counts its calls
    resync = Resync(dt.datetime.now(dt.UTC))
    calls: list[str] = []

    async def read(key: str) -> list[str]:
        calls.append(key)
        await asyncio.sleep(0.05)
        return [f"{key}-entries"]

    # when: five subscribers of one customer and one of another ask at once
    results = await asyncio.gather(
        *(resync.shared(("b", "c1"), lambda: read("c1")) for _ in range(5)),
        resync.shared(("b", "c2"), lambda: read("c2")),
    )

    # then
    assert results == [["c1-entries"]] * 5 + [["c2-entries"]]
    assert sorted(calls) == ["c1", "c2"]


async def test_a_subscriber_leaving_does_not_cancel_the_shared_read() -> None:
    """The first asker goes away mid-read: the others still get the result of that one read."""
    # given
    resync = Resync(dt.datetime.now(dt.UTC))
    calls = 0

    async def read() -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.1)
        return "entries"

    first = asyncio.ensure_future(resync.shared("k", read))
    await asyncio.sleep(0.01)

    # when: the first asker is cancelled while a second waits
    second = asyncio.ensure_future(resync.shared("k", read))
    await asyncio.sleep(0.01)
    first.cancel()

    # then
    assert await second == "entries"
    assert first.cancelled() and calls == 1


async def test_a_failed_shared_read_is_read_again_by_the_next_asker() -> None:
    """A read that failed (database down) fails its askers; the next one reads afresh."""
    # given: a read that fails once
    resync = Resync(dt.datetime.now(dt.UTC))
    outcomes = [ConnectionError("database down"), "entries"]

    async def read() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    # when / then
    with pytest.raises(ConnectionError):
        await resync.shared("k", read)
    assert await resync.shared("k", read) == "entries"
    assert await resync.shared("k", read) == "entries"
    assert outcomes == []


async def test_buses_on_other_channels_of_one_redis_do_not_hear_each_other(shared_redis_url):
    """CREDITS_BUS_CHANNEL keeps deployments that share a Redis apart; one channel is one bus."""
    # given: production and staging on one Redis, and a second production process
    news = topic()
    production = f"prod-{news}"
    async with (
        running(shared_redis_url, channel=production) as prod_a,
        running(shared_redis_url, channel=production) as prod_b,
        running(shared_redis_url, channel=f"staging-{news}") as staging,
        prod_b.subscribe(news, "k") as on_prod_b,
        staging.subscribe(news, "k") as on_staging,
    ):
        # when: production publishes, then staging does
        assert await prod_a.publish(message(news, "k", 1)) is True
        assert await staging.publish(message(news, "k", 2)) is True

        # then: each side hears its own channel only
        assert await get(on_prod_b) == message(news, "k", 1)
        assert await get(on_staging) == message(news, "k", 2)
        with pytest.raises(TimeoutError):
            await get(on_prod_b, timeout=0.5)


async def test_a_stalled_event_loop_is_not_taken_for_a_dead_redis(shared_redis_url):
    """A loop blocked past the liveness window (a long GC pause) keeps its connection.

    Its heartbeats were late because the process stood still, not because Redis went away:
    reconnecting would resync every subscriber for nothing.
    """
    async with running(shared_redis_url, **FAST) as bus:
        # given: a connected bus, its heartbeats flowing
        await asyncio.sleep(0.5)
        assert bus.reconnects == 1

        # when: the event loop stands still for twice the liveness window
        time.sleep(2 * FAST["liveness_seconds"])  # noqa: ASYNC251 (the stall under test)
        await asyncio.sleep(3 * FAST["heartbeat_seconds"])

        # then: the same connection, still healthy
        assert bus.reconnects == 1
        assert bus.healthy
