"""The bus's wire format: committed domain events as small JSON-able dicts."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from models.credit_alert import CreditAlert
from models.customer import Customer, CustomerState
from models.events import AccessRevoked
from models.notification import Notification
from models.transaction import CreditTransaction

BALANCE = "balance"
ALERT = "alert"
CUSTOMER = "customer"
NOTIFICATION = "notification"
ACCESS = "access"
# New rows in an outbox, for `server.py dispatch` processes (keys: the outboxes).
OUTBOX = "outbox"
MAIL_OUTBOX = "mail"
WEBHOOK_OUTBOX = "webhooks"


def _id(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


def transaction_message(entry: CreditTransaction, customer: CustomerState | None = None) -> dict[str, Any]:
    """A ledger entry as a balance message; live events and replays share this shape.

    `c` carries the customer's other fields, so that `BalanceEvent.customer` needs no query.
    """
    message = {
        "t": BALANCE,
        "k": str(entry.customer_id),
        "sequence": entry.sequence,
        "balance": entry.balance_after,
        "tx": {
            "id": str(entry.id),
            "kind": entry.kind.value if hasattr(entry.kind, "value") else entry.kind,
            "amount": entry.amount,
            "balance_after": entry.balance_after,
            "note": entry.note,
            "created_at": entry.created_at.isoformat(),
            "service_request_id": _id(entry.service_request_id),
            "actor_id": _id(entry.actor_id),
        },
    }
    if customer is not None:
        message["c"] = {"name": customer.name, "threshold": customer.alert_threshold}
    return message


def transaction_from_message(message: dict[str, Any]) -> CreditTransaction:
    """An unsaved CreditTransaction rebuilt from a balance message (no database read)."""
    tx = message["tx"]
    return CreditTransaction(
        id=uuid.UUID(tx["id"]),
        customer_id=uuid.UUID(message["k"]),
        sequence=message["sequence"],
        kind=tx["kind"],
        amount=tx["amount"],
        balance_after=tx["balance_after"],
        note=tx["note"],
        created_at=dt.datetime.fromisoformat(tx["created_at"]),
        service_request_id=tx["service_request_id"] and uuid.UUID(tx["service_request_id"]),
        actor_id=tx["actor_id"] and uuid.UUID(tx["actor_id"]),
    )


def customer_from_message(message: dict[str, Any]) -> Customer | None:
    """The customer as a balance message left it, unsaved (no database read); None without `c`."""
    state = message.get("c")
    if not isinstance(state, dict):
        return None
    return Customer(
        id=uuid.UUID(message["k"]),
        name=state["name"],
        balance=message["balance"],
        last_sequence=message["sequence"],
        alert_threshold=state["threshold"],
    )


def customer_message(customer_id: uuid.UUID) -> dict[str, Any]:
    """A customer's settings changed: `customerChanged` subscribers read it as committed."""
    return {"t": CUSTOMER, "k": str(customer_id)}


def alert_message(alert: CreditAlert) -> dict[str, Any]:
    """An alert for `creditAlerts` subscribers of its customer."""
    return {
        "t": ALERT,
        "k": str(alert.customer_id),
        "id": str(alert.id),
        "kind": alert.kind.value if hasattr(alert.kind, "value") else alert.kind,
        "balance": alert.balance,
        "threshold": alert.threshold,
        "created_at": alert.created_at.isoformat(),
    }


def alert_from_message(message: dict[str, Any]) -> CreditAlert:
    """An unsaved CreditAlert rebuilt from an alert message."""
    return CreditAlert(
        id=uuid.UUID(message["id"]),
        customer_id=uuid.UUID(message["k"]),
        kind=message["kind"],
        balance=message["balance"],
        threshold=message["threshold"],
        created_at=dt.datetime.fromisoformat(message["created_at"]),
    )


def notification_message(note: Notification) -> dict[str, Any]:
    """A notification for its recipient's `notificationAdded` subscription."""
    return {"t": NOTIFICATION, "k": str(note.user_id), "id": str(note.id)}


def access_message(event: AccessRevoked) -> dict[str, Any]:
    """A deactivated user, a revoked API token or an ended console session, for every socket guard."""
    # `k` is set so that the bus hands it once to the guards' subscription of every key.
    key = _id(event.api_token_id or event.session_id or event.user_id)
    return {
        "t": ACCESS,
        "k": key,
        "user": _id(event.user_id),
        "token": _id(event.api_token_id),
        "session": _id(event.session_id),
    }


def outbox_message(outbox: str) -> dict[str, Any]:
    """Rows were committed to `outbox` (MAIL_OUTBOX or WEBHOOK_OUTBOX): a dispatcher may send now."""
    return {"t": OUTBOX, "k": outbox}


def access_from_message(message: dict[str, Any]) -> AccessRevoked:
    """The AccessRevoked of an access message (ids that do not parse are None)."""
    return AccessRevoked(
        _uuid_or_none(message.get("user")),
        _uuid_or_none(message.get("token")),
        _uuid_or_none(message.get("session")),
    )


def _uuid_or_none(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if isinstance(value, str) else None
    except ValueError:
        return None
