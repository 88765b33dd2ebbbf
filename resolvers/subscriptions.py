"""Subscriptions: live balance, alerts and notifications, with the same tenant rules as queries."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator, Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Annotated, Any

import strawberry
from prometheus_client import Gauge
from strawberry.types import Info

import metrics
from models.actor import Actor
from models.customer import Customer as CustomerRow
from models.customer import find_customer
from models.errors import invalid_input
from models.ids import try_parse_id
from models.money import to_decimal
from models.notification import Notification as NotificationRow
from models.permissions import can_access_customer, can_see_ledger
from models.user import Role
from notifications.bus import EventBus, SubscriberTooSlow
from notifications.streams import REPLAYS, alert_events, balance_events, customer_events, notification_events
from notifications.wire import alert_from_message, customer_from_message, transaction_from_message
from resolvers.live import LiveConnection
from schema.access import current_actor, forbidden
from schema.pagination import query_error
from schema.types import BalanceEvent, CreditAlert, CreditTransaction, Customer, Notification
from settings import get_settings

TOO_SLOW = 1013

# Created at import, so each field's gauge is exported (at 0) before its first subscription.
_BALANCE_ACTIVE = metrics.active_subscriptions("balanceChanged")
_ALERTS_ACTIVE = metrics.active_subscriptions("creditAlerts")
_CUSTOMERS_ACTIVE = metrics.active_subscriptions("customerChanged")
_NOTIFICATIONS_ACTIVE = metrics.active_subscriptions("notificationAdded")


async def _target(actor: Actor, customer_id: strawberry.ID | None) -> uuid.UUID | None:
    """The customer to watch; None means every customer (catalog administrators only)."""
    if customer_id is None:
        return None if actor.role == Role.CATALOG_ADMIN else actor.customer_id
    parsed = try_parse_id(customer_id)
    # Another tenant's customer and a missing one get the same answer.
    if parsed is None or not can_access_customer(actor, parsed) or not await CustomerRow.exists(id=parsed):
        raise forbidden()
    return parsed


async def _event_customer(message: dict[str, Any]) -> Customer:
    """The customer as the event left it, from the message; read only when a message carries none.

    Every message published or replayed here carries it; one from an older process may not.
    """
    row = customer_from_message(message)
    if row is None:
        row = await find_customer(uuid.UUID(message["k"]))
        if row is None:  # customers are never deleted
            raise LookupError("the event's customer does not exist")
        row.balance, row.last_sequence = message["balance"], message["sequence"]
    return Customer.from_model(row)


_closing: set[asyncio.Task[None]] = set()


def _closer(info: Info) -> Callable[[], None]:
    """Close the socket with 1013 when the subscriber cannot keep up (it resumes with afterSequence).

    A shared feed is told instead, and closes every socket it serves.
    """
    if info.context.on_too_slow is not None:
        return info.context.on_too_slow

    def close() -> None:
        connection: LiveConnection | None = info.context.live
        if connection is not None:
            task = asyncio.get_running_loop().create_task(
                connection.close(code=TOO_SLOW, reason="subscriber too slow")
            )
            _closing.add(task)
            task.add_done_callback(_closing.discard)

    return close


async def _too_slow(info: Info) -> None:
    """After an overflow the socket is being closed with 1013: end the operation without `complete`.

    Completing it would tell the client the stream ended normally (it must resume instead), and
    sending `complete` after the close frame fails in the protocol handler. The socket's close
    cancels this wait.
    """
    if info.context.live is not None:
        await asyncio.Event().wait()


def _bus(info: Info) -> EventBus:
    return info.context.bus


def _tracked(info: Info, gauge: Gauge) -> AbstractContextManager[object]:
    """Count the subscription in `gauge`; a shared feed's members are counted by the feed."""
    return nullcontext() if info.context.shared else gauge.track_inprogress()


# The customer a subscription watches (balanceChanged, creditAlerts).
WatchedCustomer = Annotated[
    strawberry.ID | None,
    strawberry.argument(
        description=(
            "The customer to watch; left out: the viewer's own (catalog administrators: every customer)."
        )
    ),
]


@strawberry.type(
    description=(
        "Live updates over graphql-transport-ws, legacy graphql-ws or graphql-sse, with the same access "
        "rules as queries."
    )
)
class Subscription:
    """Live updates for dashboards and the top-menu badge."""

    @strawberry.subscription(
        description=(
            "Every committed ledger entry, in sequence order per customer; end users get `transaction` "
            "null. Another customer or a missing one: FORBIDDEN. Too slow a subscriber is closed (1013) and "
            "resumes with afterSequence."
        )
    )
    async def balance_changed(
        self,
        info: Info,
        customer_id: WatchedCustomer = None,
        after_sequence: Annotated[
            int | None,
            strawberry.argument(
                description=(
                    "Needs customerId: first replay the entries after this sequence, then go on live, "
                    "without gaps or duplicates."
                )
            ),
        ] = None,
    ) -> AsyncGenerator[BalanceEvent, None]:
        """Every committed ledger entry in sequence order; `afterSequence` replays first."""
        actor = current_actor(info)
        target = await _target(actor, customer_id)
        if after_sequence is not None and (target is None or after_sequence < 0):
            raise query_error(invalid_input("afterSequence needs a customer and must be at least 0", None))
        with_transaction = can_see_ledger(actor)
        replaying = after_sequence is not None
        turn = REPLAYS.turn(actor.user_id, get_settings().max_replays_per_user) if replaying else None
        with _tracked(info, _BALANCE_ACTIVE):
            try:
                async for message in balance_events(_bus(info), target, after_sequence, _closer(info), turn):
                    entry = transaction_from_message(message)
                    yield BalanceEvent(
                        customer_id=strawberry.ID(message["k"]),
                        balance=to_decimal(message["balance"]),
                        sequence=message["sequence"],
                        transaction=CreditTransaction.from_model(entry) if with_transaction else None,
                        customer=await _event_customer(message),
                    )
            except SubscriberTooSlow:
                await _too_slow(info)

    @strawberry.subscription(
        description=(
            "Alerts as they fire. Administrators (end users: FORBIDDEN); a customer administrator for its "
            "own customer."
        )
    )
    async def credit_alerts(
        self,
        info: Info,
        customer_id: WatchedCustomer = None,
    ) -> AsyncGenerator[CreditAlert, None]:
        """Alerts as they fire (administrators only; customer administrators: their own customer)."""
        actor = current_actor(info)
        if not can_see_ledger(actor):
            raise forbidden()  # alerts are the administrators' (API.md: FORBIDDEN for end users)
        target = await _target(actor, customer_id)
        with _tracked(info, _ALERTS_ACTIVE):
            try:
                async for message in alert_events(_bus(info), target, _closer(info)):
                    yield CreditAlert.from_model(alert_from_message(message))
            except SubscriberTooSlow:
                await _too_slow(info)

    @strawberry.subscription(
        description=(
            "A customer's settings (alert threshold, minimum balance, auto top-up, runway alert days) as "
            "committed, each time they change, so that "
            "open screens show them; balances move in balanceChanged. Another customer or a missing one: "
            "FORBIDDEN."
        )
    )
    async def customer_changed(
        self,
        info: Info,
        customer_id: WatchedCustomer = None,
    ) -> AsyncGenerator[Customer, None]:
        """The watched customer (or every customer) as committed, after each change of its settings."""
        actor = current_actor(info)
        target = await _target(actor, customer_id)
        with _tracked(info, _CUSTOMERS_ACTIVE):
            try:
                async for message in customer_events(_bus(info), target, _closer(info)):
                    row = await find_customer(uuid.UUID(message["k"]))
                    if row is not None:
                        yield Customer.from_model(row)
            except SubscriberTooSlow:
                await _too_slow(info)

    @strawberry.subscription(description="The viewer's new in-app notifications, as they are written.")
    async def notification_added(self, info: Info) -> AsyncGenerator[Notification, None]:
        """The viewer's new in-app notifications."""
        actor = current_actor(info)
        with _tracked(info, _NOTIFICATIONS_ACTIVE):
            try:
                async for message in notification_events(_bus(info), actor.user_id, _closer(info)):
                    row = await NotificationRow.get_or_none(id=uuid.UUID(message["id"]))
                    if row is not None:
                        yield Notification.from_model(row)
            except SubscriberTooSlow:
                await _too_slow(info)
