"""Balance alerts: each limit (zero, the threshold) is armed or fired; a crossing fires it once."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from tortoise import fields
from tortoise.models import Model

from models import webhooks
from models.customer import Customer
from models.money import format_amount
from models.notification import AlertKind, Notification
from models.outbox import EmailOutbox, render_alert_email
from models.unit_of_work import UnitOfWork
from models.user import Role, User


class CreditAlert(Model):
    """A limit the balance crossed, kept for the customer's alert history."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    customer = fields.ForeignKeyField("models.Customer", related_name="alerts")
    kind = fields.CharEnumField(AlertKind, max_length=20)
    balance = fields.BigIntField()
    threshold = fields.BigIntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    customer_id: uuid.UUID

    class Meta:
        table = "credit_alert"
        indexes = (("customer_id", "created_at"),)


@dataclass(frozen=True)
class AlertRaised:
    """Published after commit for every alert."""

    alert: CreditAlert


@dataclass(frozen=True)
class NotificationCreated:
    """Published after commit for every in-app notification."""

    notification: Notification


@dataclass(frozen=True)
class EmailQueued:
    """Published after commit so the dispatcher sends without waiting for its next poll."""

    count: int


def _limits(customer: Customer) -> list[tuple[AlertKind, int, str]]:
    limits = [(AlertKind.BELOW_ZERO, 0, "below_zero_fired")]
    if customer.alert_threshold is not None:
        limits.append((AlertKind.BELOW_THRESHOLD, customer.alert_threshold, "below_threshold_fired"))
    return limits


async def evaluate(uow: UnitOfWork, customer: Customer, only: AlertKind | None = None) -> list[str]:
    """Fire armed limits the (locked) customer's balance is now below; re-arm those it is back above.

    Returns the names of the changed state fields, for the caller's single save.
    """
    changed: list[str] = []
    for kind, limit, state in _limits(customer):
        if only is not None and kind != only:
            continue
        fired = getattr(customer, state)
        if not fired and customer.balance < limit:
            setattr(customer, state, True)
            changed.append(state)
            await _raise(uow, customer, kind)
        elif fired and customer.balance >= limit:
            setattr(customer, state, False)
            changed.append(state)
            webhooks.record(uow, webhooks.alert_resolved(customer.id, kind.value, customer.balance, limit))
    return changed


def _message(customer: Customer, kind: AlertKind) -> str:
    balance = format_amount(customer.balance)
    if kind == AlertKind.BELOW_ZERO:
        return f"The credit balance of {customer.name} fell below zero: {balance}."
    threshold = format_amount(customer.alert_threshold or 0)
    return f"The credit balance of {customer.name} fell below {threshold}: {balance}."


async def _raise(uow: UnitOfWork, customer: Customer, kind: AlertKind) -> None:
    """Keep the alert; give every customer administrator a notification and an email."""
    threshold = customer.alert_threshold if kind == AlertKind.BELOW_THRESHOLD else None
    alert = await CreditAlert.create(
        using_db=uow.conn,
        customer_id=customer.id,
        kind=kind,
        balance=customer.balance,
        threshold=threshold,
    )
    uow.events.append(AlertRaised(alert))
    webhooks.record(uow, webhooks.alert_fired(alert))
    message = _message(customer, kind)
    admins = await User.filter(customer_id=customer.id, role=Role.CUSTOMER_ADMIN, active=True).using_db(
        uow.conn
    )
    for admin in admins:
        note = await Notification.create(
            using_db=uow.conn,
            user_id=admin.id,
            customer_id=customer.id,
            kind=kind,
            balance=customer.balance,
            threshold=threshold,
            message=message,
        )
        uow.events.append(NotificationCreated(note))
        email = render_alert_email(admin, customer, kind, message, alert.id)
        await EmailOutbox.create(using_db=uow.conn, **email)
    if admins:
        uow.events.append(EmailQueued(len(admins)))
