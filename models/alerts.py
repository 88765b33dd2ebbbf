"""Balance alerts: each limit (zero, the threshold) is armed or fired; a crossing fires it once."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from models import webhook_outbox
from models.credit_alert import CreditAlert
from models.customer import Customer
from models.customer_admins import notify_customer_admins
from models.events import AlertRaised
from models.lots import CreditLot
from models.money import format_amount
from models.notification import AlertKind
from models.outbox import render_alert_email
from models.unit_of_work import UnitOfWork
from models.user import User

__all__ = ["CreditAlert", "evaluate", "raise_alert"]


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
            webhook_outbox.record(
                uow, webhook_outbox.alert_resolved(customer.id, kind.value, customer.balance, limit)
            )
    return changed


async def top_up_limit_reached(uow: UnitOfWork, customer: Customer) -> None:
    """AUTO_TOP_UP_LIMIT_REACHED: the day's cap stopped a top-up (the guards fire it once a UTC day)."""
    await _raise(uow, customer, AlertKind.AUTO_TOP_UP_LIMIT_REACHED)


def _message(customer: Customer, kind: AlertKind) -> str:
    balance = format_amount(customer.balance)
    if kind == AlertKind.AUTO_TOP_UP_LIMIT_REACHED:
        return (
            f"The auto top-up of {customer.name} reached its limit of {customer.top_up_max_per_day} "
            f"a day and did not top up: the balance is {balance}."
        )
    if kind == AlertKind.BELOW_ZERO:
        return f"The credit balance of {customer.name} fell below zero: {balance}."
    threshold = format_amount(customer.alert_threshold or 0)
    return f"The credit balance of {customer.name} fell below {threshold}: {balance}."


async def _raise(uow: UnitOfWork, customer: Customer, kind: AlertKind) -> None:
    """A crossed limit's alert, with the threshold crossed (the auto top-up's for its cap)."""
    threshold = {
        AlertKind.BELOW_THRESHOLD: customer.alert_threshold,
        AlertKind.AUTO_TOP_UP_LIMIT_REACHED: customer.top_up_threshold,
    }.get(kind)
    message = _message(customer, kind)
    await raise_alert(
        uow,
        customer,
        kind,
        message,
        lambda admin, alert_id: render_alert_email(admin, customer, kind, message, alert_id),
        threshold=threshold,
    )


async def raise_alert(
    uow: UnitOfWork,
    customer: Customer,
    kind: AlertKind,
    message: str,
    email: Callable[[User, uuid.UUID], dict[str, Any]],
    *,
    threshold: int | None = None,
    lot: CreditLot | None = None,
    depletes_at: dt.datetime | None = None,
) -> CreditAlert:
    """Keep an alert, record its webhook, and give every customer administrator a notification and
    `email(admin, alert id)`: how every kind of alert is raised."""
    alert = await CreditAlert.create(
        using_db=uow.conn,
        customer_id=customer.id,
        kind=kind,
        balance=customer.balance,
        threshold=threshold,
        lot_id=lot.id if lot else None,
        depletes_at=depletes_at,
    )
    uow.events.append(AlertRaised(alert))
    webhook_outbox.record(uow, webhook_outbox.alert_fired(alert, lot))
    await notify_customer_admins(
        uow,
        customer,
        kind,
        message,
        threshold=threshold,
        lot_id=lot.id if lot else None,
        email=lambda admin: email(admin, alert.id),
    )
    return alert
