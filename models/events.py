"""The domain's events: what a unit of work hands on once it has committed (never before).

`UnitOfWork.events` holds them; notifications/publishing.py routes each kind after the commit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from models.credit_alert import CreditAlert
from models.customer import CustomerState
from models.notification import Notification
from models.transaction import CreditTransaction


@dataclass(frozen=True)
class BalanceChanged:
    """A ledger entry was committed: live balance subscribers see it, with the customer it left."""

    transaction: CreditTransaction
    customer: CustomerState | None = None


@dataclass(frozen=True)
class CustomerChanged:
    """A customer's settings (threshold, floor, top-up, runway alert) changed: open screens see them live."""

    customer_id: uuid.UUID


@dataclass(frozen=True)
class AlertRaised:
    """A balance crossed a limit: `creditAlerts` subscribers see the alert."""

    alert: CreditAlert


@dataclass(frozen=True)
class NotificationCreated:
    """An in-app notification was written for its recipient's `notificationAdded`."""

    notification: Notification


@dataclass(frozen=True)
class AccessRevoked:
    """A user was deactivated (`user_id`), an API token revoked (`api_token_id`) or a console
    session ended (`session_id`, a logout).

    Every process closes the open sockets authenticated so at once, without waiting for its recheck.
    """

    user_id: uuid.UUID | None = None
    api_token_id: uuid.UUID | None = None
    session_id: uuid.UUID | None = None


@dataclass(frozen=True)
class EmailQueued:
    """Rows were added to the email outbox: a dispatcher sends without waiting for its next poll."""

    count: int


@dataclass(frozen=True)
class WebhooksQueued:
    """Webhook deliveries were recorded: a dispatcher sends without waiting for its next poll."""

    count: int


# Every event a unit of work may carry; publishing handles each one (and a type checker says so).
DomainEvent = (
    BalanceChanged
    | CustomerChanged
    | AlertRaised
    | NotificationCreated
    | AccessRevoked
    | EmailQueued
    | WebhooksQueued
)
