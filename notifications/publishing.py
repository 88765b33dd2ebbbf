"""After commit: the domain's typed events go to the bus in one publish; new outbox rows wake a dispatcher.

`models.unit_of_work` hands each committed unit of work's events to the sink that api/runtime.py
registers, which calls `publish` here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, assert_never

import metrics
from models.events import (
    AccessRevoked,
    AlertRaised,
    BalanceChanged,
    CustomerChanged,
    DomainEvent,
    EmailQueued,
    NotificationCreated,
    WebhooksQueued,
)
from notifications import wire
from notifications.bus import EventBus
from notifications.dispatch import OutboxDispatcher


async def publish(
    bus: EventBus, events: Sequence[DomainEvent], dispatchers: Mapping[str, OutboxDispatcher] | None
) -> None:
    """Publish `events` on `bus`; wake `dispatchers` (this process sends) or tell the bus (None).

    With `dispatchers` None, `server.py dispatch` processes send: they hear of new rows on the bus.
    """
    messages: list[dict[str, Any]] = []
    outboxes: set[str] = set()
    for event in events:
        match event:
            case EmailQueued():
                outboxes.add(wire.MAIL_OUTBOX)
            case WebhooksQueued():
                outboxes.add(wire.WEBHOOK_OUTBOX)
            case BalanceChanged(transaction=entry, customer=customer):
                metrics.ledger_operation(entry.kind)
                messages.append(_counted(wire.transaction_message(entry, customer)))
            case CustomerChanged(customer_id=customer_id):
                messages.append(_counted(wire.customer_message(customer_id)))
            case AlertRaised(alert=alert):
                messages.append(_counted(wire.alert_message(alert)))
            case NotificationCreated(notification=note):
                messages.append(_counted(wire.notification_message(note)))
            case AccessRevoked():
                messages.append(_counted(wire.access_message(event)))
            case _:
                assert_never(event)
    for outbox in sorted(outboxes):
        if dispatchers is not None:
            dispatchers[outbox].wake()
        else:
            messages.append(wire.outbox_message(outbox))
    await bus.publish_many(messages)


def _counted(message: dict[str, Any]) -> dict[str, Any]:
    metrics.event_published(message["t"])
    return message
