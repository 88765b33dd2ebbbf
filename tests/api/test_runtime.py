"""The runtime's post-commit hand-off: new outbox rows wake this process's dispatcher or the bus."""

from __future__ import annotations

import asyncio

import pytest

from api.runtime import Runtime
from models.events import EmailQueued, WebhooksQueued
from notifications import wire
from notifications.bus import EventBus
from settings import Settings

COMMITTED = [WebhooksQueued(6), EmailQueued(1), WebhooksQueued(3)]


@pytest.fixture
def bus(own_bus: EventBus) -> EventBus:
    """The bus the runtimes under test publish on (not the app's)."""
    return own_bus


def runtime_on(bus: EventBus, settings: Settings, outbox_dispatch: str) -> Runtime:
    """A serving process's runtime (not started) that publishes on `bus`."""
    runtime = Runtime(settings.model_copy(update={"outbox_dispatch": outbox_dispatch}))
    runtime.bus = bus
    return runtime


async def outbox_messages(bus: EventBus, runtime: Runtime) -> list[dict[str, object]]:
    """What `runtime.publish(COMMITTED)` put on the bus for dispatchers."""
    async with bus.subscribe(wire.OUTBOX) as subscription:
        await runtime.publish(COMMITTED)
        await asyncio.sleep(0.05)
        return [await subscription.get() for _ in range(subscription.size)]  # type: ignore[misc]


async def test_a_serving_process_that_sends_wakes_its_own_dispatchers(bus, settings) -> None:
    # given: CREDITS_OUTBOX_DISPATCH=inline (the default)
    runtime = runtime_on(bus, settings, "inline")

    # when: a commit queued webhooks and mail
    published = await outbox_messages(bus, runtime)

    # then: its own dispatchers are woken; nothing goes to other processes
    assert published == []
    assert runtime.webhooks._wake.is_set() and runtime.mailer._wake.is_set()


async def test_a_serving_process_that_leaves_sending_to_dispatch_processes_tells_the_bus(
    bus, settings
) -> None:
    # given: CREDITS_OUTBOX_DISPATCH=separate
    runtime = runtime_on(bus, settings, "separate")

    # when: a commit queued webhooks (twice) and mail
    published = await outbox_messages(bus, runtime)

    # then: one wake-up per outbox on the bus, and none of its own
    assert published == [wire.outbox_message(wire.MAIL_OUTBOX), wire.outbox_message(wire.WEBHOOK_OUTBOX)]
    assert not runtime.webhooks._wake.is_set() and not runtime.mailer._wake.is_set()


def test_a_dispatch_process_sends_whatever_the_serving_processes_do(settings) -> None:
    # given / when
    dispatching = Runtime(settings.model_copy(update={"outbox_dispatch": "separate"}), role="dispatch")

    # then
    assert dispatching.sends
