"""Telling a customer's administrators: an in-app notification each, and an email when there is one."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from models.customer import Customer
from models.events import EmailQueued, NotificationCreated
from models.notification import AlertKind, Notification
from models.outbox import EmailOutbox
from models.unit_of_work import UnitOfWork
from models.user import Role, User

# The email outbox row's fields for one administrator (None: a notification only).
EmailFor = Callable[[User], dict[str, Any]]


async def notify_customer_admins(
    uow: UnitOfWork,
    customer: Customer,
    kind: AlertKind,
    message: str,
    *,
    threshold: int | None = None,
    lot_id: uuid.UUID | None = None,
    email: EmailFor | None = None,
) -> None:
    """Give every active administrator of `customer` a notification (and `email`'s mail), in `uow`."""
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
            lot_id=lot_id,
        )
        uow.events.append(NotificationCreated(note))
        if email is not None:
            await EmailOutbox.create(using_db=uow.conn, **email(admin))
    if admins and email is not None:
        uow.events.append(EmailQueued(len(admins)))
