"""The event bus: broadcaster underneath, one subscription per process, bounded queues per client.

broadcaster 0.3.1 gives every subscriber an unbounded queue, races when two first subscribers
join a Redis channel at once, and its Redis listener dies silently when the connection drops
(encode/broadcaster#144). So this process holds exactly one broadcaster subscription, drains it
continuously into bounded per-subscriber queues, publishes a heartbeat and reconnects when
nothing (not even its own heartbeat) arrived for a while. After a reconnect every subscriber is
told to catch up from the database, which is the source of truth for what was committed.
Its Redis backend never receives anything with redis-py 8: `_RedisBackend` fixes that. A message
this process could not publish (bus down) is kept and sent after the next reconnect, so
subscribers elsewhere, which never saw an outage, get it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import asynccontextmanager, suppress
from typing import Any, TypeVar

from broadcaster import Broadcast
from broadcaster._backends.redis import RedisBackend

import metrics
from infra.tasks import cancel_and_wait

log = logging.getLogger("credits.bus")

CHANNEL = "credits.events"
_HEARTBEAT = "hb"
_UNSENT_LIMIT = 10_000

T = TypeVar("T")


class _RedisBackend(RedisBackend):
    """broadcaster 0.3.1's Redis backend, fixed for redis-py 8.

    broadcaster sets `_ready` before SUBSCRIBE is sent, and redis-py records the channel only
    after sending it: the listener wakes, finds no subscription, stops and waits forever, so
    nothing is ever received. Its listener still dies when the connection drops; the bus's
    liveness check notices, reconnects and resyncs.
    """

    async def connect(self) -> None:
        # Connect first: a failed connect leaves no listener task behind.
        await self._pubsub.connect()
        self._listener = asyncio.create_task(self._pubsub_listener())

    async def disconnect(self) -> None:
        await super().disconnect()
        listener = self._listener
        if listener is not None and listener.done() and not listener.cancelled():
            listener.exception()  # the dropped connection's error, already handled by reconnecting

    async def subscribe(self, channel: str) -> None:
        await self._pubsub.subscribe(channel)
        self._ready.set()


def _broadcast_for(url: str) -> Broadcast:
    if url.partition("://")[0] in ("redis", "rediss"):
        return Broadcast(backend=_RedisBackend(url))
    return Broadcast(url)


def _encode(messages: list[dict[str, Any]]) -> str:
    """One message as a JSON object, several as a JSON array of them."""
    if len(messages) == 1:
        return json.dumps(messages[0], separators=(",", ":"))
    return json.dumps(messages, separators=(",", ":"))


def _decode(payload: str | bytes) -> list[dict[str, Any]]:
    """The messages of a payload (an object or an array of objects); anything else is ignored."""
    decoded = json.loads(payload)
    if isinstance(decoded, dict):
        return [decoded]
    if isinstance(decoded, list):
        return [m for m in decoded if isinstance(m, dict)]
    return []


class SubscriberTooSlow(Exception):
    """The subscriber's queue overflowed; it must resume from the database (afterSequence)."""


class Resync:
    """Marker: the bus was disconnected; catch up on what was committed since `since`.

    One Resync goes to every local subscriber, and `shared` lets them share their catch-up
    reads: after an outage, 10,000 subscribers of 1,000 customers read the database 1,000 times
    (once per customer and position), not 10,000 times at once.
    """

    def __init__(self, since: dt.datetime) -> None:
        self.since = since
        self._reads: dict[Hashable, asyncio.Task[Any]] = {}

    async def shared(self, key: Hashable, read: Callable[[], Awaitable[T]]) -> T:
        """`read()`'s result, read once for every subscriber that asks with the same `key`.

        The read runs in its own task, so a subscriber that goes away meanwhile does not cancel
        it for the others; a failed read fails each of them, and the next to ask reads again.
        """
        task = self._reads.get(key)
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
            task = asyncio.ensure_future(read())
            self._reads[key] = task
        return await asyncio.shield(task)


class Subscription:
    """A bounded queue of messages for one topic and key (None: every key), read by one consumer.

    A list and a future made only while the consumer waits: `asyncio.Queue` costs some 3 KB per
    subscriber more, and even an empty deque 760 bytes, which counts at 10,000 of them. The list
    is short (a subscriber that falls `maxsize` behind is dropped), so popping its head is cheap.
    """

    def __init__(self, topic: str, key: str | None, maxsize: int, on_overflow: Callable[[], None] | None):
        self.topic = topic
        self.key = key
        self._items: list[dict[str, Any] | Resync | None] = []
        self._maxsize = maxsize
        self._waiter: asyncio.Future[None] | None = None
        self._on_overflow = on_overflow
        self.overflowed = False

    def offer(self, item: dict[str, Any] | Resync) -> bool:
        """Enqueue without waiting (True when queued); a full queue marks the subscriber too slow."""
        if self.overflowed:
            return False
        if len(self._items) >= self._maxsize:
            self.overflowed = True
            metrics.SUBSCRIBERS_DROPPED.inc()
            self._items.clear()
            self._push(None)
            if self._on_overflow is not None:
                self._on_overflow()
            return False
        self._push(item)
        return True

    def _push(self, item: dict[str, Any] | Resync | None) -> None:
        self._items.append(item)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def get(self) -> dict[str, Any] | Resync:
        """The next message; raises SubscriberTooSlow once the queue has overflowed."""
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        item = self._items.pop(0)
        if item is None:
            raise SubscriberTooSlow
        return item

    @property
    def size(self) -> int:
        """Messages waiting (for tests and metrics)."""
        return len(self._items)


class EventBus:
    """Publish committed events to every process; deliver them to local subscribers."""

    def __init__(
        self,
        url: str,
        *,
        queue_size: int = 1000,
        heartbeat_seconds: float = 1.0,
        liveness_seconds: float = 3.0,
        channel: str = CHANNEL,
    ) -> None:
        self.url = url
        self.channel = channel
        self.queue_size = queue_size
        self.heartbeat_seconds = heartbeat_seconds
        self.liveness_seconds = liveness_seconds
        self.connected = asyncio.Event()
        self.reconnects = 0
        self._broadcast: Broadcast | None = None
        self._subscriptions: dict[tuple[str, str | None], set[Subscription]] = {}
        self._task: asyncio.Task[None] | None = None
        self._last_message_at = dt.datetime.now(dt.UTC)
        self._origin = uuid.uuid4().hex
        self._unsent: deque[str] = deque(maxlen=_UNSENT_LIMIT)

    async def start(self, wait: float = 5.0) -> None:
        """Connect in the background; wait up to `wait` seconds for the first connection."""
        self._task = asyncio.create_task(self._supervise(), name="event-bus")
        with suppress(TimeoutError):
            await asyncio.wait_for(self.connected.wait(), wait)
        if not self.connected.is_set():
            log.error("event bus %s not reachable yet; retrying in the background", self.safe_url)

    async def stop(self) -> None:
        """Disconnect and end every subscription's supervisor."""
        await cancel_and_wait(self._task)
        self._task = None

    @property
    def safe_url(self) -> str:
        """The URL without credentials, for logs."""
        scheme, _, rest = self.url.partition("://")
        return f"{scheme}://{rest.rpartition('@')[2]}"

    @property
    def healthy(self) -> bool:
        """Whether the bus is connected (for /readyz)."""
        return self.connected.is_set()

    async def publish(self, message: dict[str, Any]) -> bool:
        """Send a message to every process; False (logged) when the bus is down."""
        return await self.publish_many([message])

    async def publish_many(self, messages: list[dict[str, Any]]) -> bool:
        """Send messages to every process in one Redis PUBLISH, in order; False (logged) when down.

        One unit of work's events (a batch of charges makes one per charge) travel together: one
        round trip instead of one each. Unsent messages are kept and sent after the next
        reconnect: other processes may not have seen the outage, so no `Resync` would tell their
        subscribers. Subscribers drop what they already have.
        """
        if not messages:
            return True
        payload = _encode(messages)
        broadcast = self._broadcast
        if broadcast is None:
            log.warning("event bus down: %d event(s) kept for after the reconnect", len(messages))
            self._keep_unsent(payload)
            return False
        try:
            await broadcast.publish(self.channel, payload)
            return True
        except Exception:
            log.warning("event bus publish failed; kept for after the reconnect", exc_info=True)
            self._keep_unsent(payload)
            return False

    def _keep_unsent(self, payload: str) -> None:
        if len(self._unsent) == self._unsent.maxlen:
            log.warning("event bus: more than %d unsent publishes, dropping the oldest", _UNSENT_LIMIT)
        self._unsent.append(payload)

    async def _send_unsent(self, broadcast: Broadcast) -> None:
        while self._unsent:
            payload = self._unsent[0]
            await broadcast.publish(self.channel, payload)
            if self._unsent and self._unsent[0] is payload:
                self._unsent.popleft()

    @asynccontextmanager
    async def subscribe(
        self, topic: str, key: str | None = None, on_overflow: Callable[[], None] | None = None
    ) -> AsyncIterator[Subscription]:
        """Receive messages of `topic` for `key` (None: all keys) in a bounded queue."""
        subscription = Subscription(topic, key, self.queue_size, on_overflow)
        subscribers = self._subscriptions.setdefault((topic, key), set())
        subscribers.add(subscription)
        try:
            yield subscription
        finally:
            subscribers.discard(subscription)
            if not subscribers:
                self._subscriptions.pop((topic, key), None)

    def subscriber_count(self) -> int:
        """How many local subscriptions are open."""
        return sum(len(s) for s in self._subscriptions.values())

    def _dispatch(self, message: dict[str, Any]) -> None:
        topic, key = message.get("t"), message.get("k")
        if topic == _HEARTBEAT or not isinstance(topic, str):
            return
        delivered = 0
        for subscription in (
            *self._subscriptions.get((topic, key), ()),
            *self._subscriptions.get((topic, None), ()),
        ):
            delivered += subscription.offer(message)
        metrics.events_delivered(topic, delivered)

    def _resync_all(self) -> None:
        resync = Resync(self._last_message_at - dt.timedelta(seconds=self.liveness_seconds + 2))
        for subscribers in self._subscriptions.values():
            for subscription in subscribers:
                subscription.offer(resync)

    async def _supervise(self) -> None:
        delay = 0.1
        while True:
            connections = self.reconnects
            try:
                await self._run_connected()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("event bus %s lost: %s", self.safe_url, exc)
            self.connected.clear()
            if self.reconnects != connections:  # it was connected: retry quickly again
                delay = 0.1
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _run_connected(self) -> None:
        broadcast = _broadcast_for(self.url)
        await broadcast.connect()
        heartbeat: asyncio.Task[None] | None = None
        try:
            async with broadcast.subscribe(self.channel) as subscriber:
                self._broadcast = broadcast
                self.reconnects += 1
                self.connected.set()
                if self.reconnects > 1:
                    log.info("event bus %s reconnected", self.safe_url)
                    self._resync_all()
                await self._send_unsent(broadcast)
                heartbeat = asyncio.create_task(self._heartbeat(broadcast))
                loop = asyncio.get_running_loop()
                while True:
                    deadline = loop.time() + self.liveness_seconds
                    try:
                        # asyncio.timeout, not wait_for: no task per message received.
                        async with asyncio.timeout_at(deadline):
                            event = await subscriber.get()
                    except TimeoutError:
                        if self._stalled(loop.time() - deadline):
                            continue
                        raise ConnectionError("no message or heartbeat within liveness window") from None
                    self._last_message_at = dt.datetime.now(dt.UTC)
                    for message in _decode(event.message):
                        self._dispatch(message)
        finally:
            self._broadcast = None
            self.connected.clear()
            if heartbeat is not None:
                heartbeat.cancel()
            with suppress(Exception):
                await asyncio.wait_for(broadcast.disconnect(), 2)

    def _stalled(self, late: float) -> bool:
        """Whether a missed liveness window is this process's fault: its loop stood still.

        The timeout then fires late, and the heartbeats that arrived meanwhile are still unread in
        the socket; the connection gets another window instead of a reconnect and a resync.
        """
        if late < self.liveness_seconds / 2:
            return False
        log.warning("event loop stalled %.1f s past the bus liveness window; not reconnecting", late)
        return True

    async def _heartbeat(self, broadcast: Broadcast) -> None:
        beat = json.dumps({"t": _HEARTBEAT, "o": self._origin})
        while True:
            with suppress(Exception):
                await broadcast.publish(self.channel, beat)
            await asyncio.sleep(self.heartbeat_seconds)
