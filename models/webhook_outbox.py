"""Webhook outbox: deliveries recorded in the transaction of the change they report.

A change calls `record(uow, event)`; just before its unit of work commits, the matching enabled
endpoints are read in one query and one delivery per (event, endpoint) is inserted in one
statement. The dispatcher (notifications/webhooks.py) claims and sends them after the commit;
the endpoints themselves are managed in models/webhooks.py.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.functions import Count, Min
from tortoise.indexes import PartialIndex
from tortoise.models import Model

from infra import sql
from models.credit_alert import CreditAlert
from models.events import WebhooksQueued
from models.lots import CreditLot
from models.money import format_amount
from models.service import ServiceRequest
from models.transaction import CreditTransaction
from models.unit_of_work import UnitOfWork


class WebhookEventType(StrEnum):
    """The `type` of a webhook on the wire."""

    CREDIT_TRANSACTION_CREATED = "credit_transaction.created"
    CREDIT_ALERT_FIRED = "credit_alert.fired"
    CREDIT_ALERT_RESOLVED = "credit_alert.resolved"
    SERVICE_REQUEST_UPDATED = "service_request.updated"
    WEBHOOK_TEST = "webhook.test"


class DeliveryStatus(StrEnum):
    """PENDING until a 2xx answer (DELIVERED) or the retries run out (FAILED)."""

    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"


class WebhookDelivery(Model):
    """One event for one endpoint: its id is the `webhook-id` header of every attempt."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    endpoint = fields.ForeignKeyField(
        "models.WebhookEndpoint", related_name="deliveries", on_delete=fields.CASCADE
    )
    event_type = fields.CharField(max_length=40)
    payload = fields.TextField(description="the exact JSON body that is signed and sent")
    status = fields.CharEnumField(DeliveryStatus, max_length=10, default=DeliveryStatus.PENDING)
    attempts = fields.IntField(default=0)
    schedule_start = fields.IntField(default=0, description="attempts before the latest redelivery")
    last_status_code = fields.IntField(null=True)
    last_error = fields.TextField(null=True)
    next_attempt_at = fields.DatetimeField(null=True)
    lease_until = fields.DatetimeField(
        null=True, description="claimed by a dispatcher (lease renewed while sent)"
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    delivered_at = fields.DatetimeField(null=True)

    endpoint_id: uuid.UUID

    class Meta:
        table = "webhook_delivery"
        # The dispatcher's claim walks the due deliveries in order and stops after a batch; a
        # backlog of any size costs it a batch's worth of index entries, never a sort of them all.
        indexes = (
            PartialIndex(
                fields=("next_attempt_at",), condition={"status": "PENDING"}, name="webhook_delivery_due"
            ),
            ("endpoint_id", "created_at"),
            # Each endpoint's backlog (how many pending, the oldest) from its pending rows alone,
            # however long the log it keeps.
            PartialIndex(
                fields=("endpoint_id", "created_at"),
                condition={"status": "PENDING"},
                name="webhook_delivery_pending",
            ),
        )


@dataclass(frozen=True)
class Event:
    """Something to report: its type, whose it is, when, and its `data` (built only if anyone listens)."""

    type: WebhookEventType
    customer_id: uuid.UUID | None
    timestamp: dt.datetime
    data: Callable[[], dict[str, Any]]

    def body(self) -> str:
        """The JSON body: `{"type", "timestamp", "data"}`."""
        return json.dumps(
            {"type": self.type.value, "timestamp": _iso(self.timestamp), "data": self.data()},
            separators=(",", ":"),
        )


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _id(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


def transaction_created(entry: CreditTransaction) -> Event:
    """credit_transaction.created for a ledger entry (immutable, so rendered only if needed)."""
    return Event(
        WebhookEventType.CREDIT_TRANSACTION_CREATED,
        entry.customer_id,
        entry.created_at,
        lambda: {
            "id": str(entry.id),
            "customerId": str(entry.customer_id),
            "sequence": entry.sequence,
            "kind": str(entry.kind),
            "amount": format_amount(entry.amount),
            "balanceAfter": format_amount(entry.balance_after),
            "serviceRequestId": _id(entry.service_request_id),
            "createdAt": _iso(entry.created_at),
            "allocations": [
                {"lotId": _id(a.lot_id), "amount": format_amount(a.amount)} for a in entry.lot_allocations
            ],
        },
    )


def alert_fired(alert: CreditAlert, lot: CreditLot | None = None) -> Event:
    """credit_alert.fired for a new alert row; CREDITS_EXPIRING names its lot, RUNWAY_LOW its depletesAt."""
    data: dict[str, Any] = {
        "id": str(alert.id),
        "customerId": str(alert.customer_id),
        "kind": str(alert.kind),
        "balance": format_amount(alert.balance),
        "threshold": None if alert.threshold is None else format_amount(alert.threshold),
        "createdAt": _iso(alert.created_at),
    }
    if alert.depletes_at is not None:  # RUNWAY_LOW: the forecast that fired it
        data["depletesAt"] = _iso(alert.depletes_at)
    if lot is not None:
        data["lot"] = {
            "id": str(lot.id),
            "remaining": format_amount(lot.remaining),
            "expiresAt": None if lot.expires_at is None else _iso(lot.expires_at),
        }
    return Event(WebhookEventType.CREDIT_ALERT_FIRED, alert.customer_id, alert.created_at, lambda: data)


def alert_resolved(customer_id: uuid.UUID, kind: str, balance: int, threshold: int) -> Event:
    """credit_alert.resolved: a fired limit re-armed (values taken now: the customer keeps changing)."""
    now = dt.datetime.now(dt.UTC)
    data = {
        "customerId": str(customer_id),
        "kind": kind,
        "balance": format_amount(balance),
        "threshold": format_amount(threshold),
        "resolvedAt": _iso(now),
    }
    return Event(WebhookEventType.CREDIT_ALERT_RESOLVED, customer_id, now, lambda: data)


def request_updated(request: ServiceRequest) -> Event:
    """service_request.updated for a request made or moved to a final status (rendered only if needed).

    The request object is not changed after this: a charge batch's rows are final once inserted,
    a transition's row is read back from its UPDATE.
    """
    now = dt.datetime.now(dt.UTC)
    return Event(
        WebhookEventType.SERVICE_REQUEST_UPDATED,
        request.customer_id,
        now,
        lambda: {
            "id": str(request.id),
            "customerId": str(request.customer_id),
            "serviceId": str(request.service_id),
            "quantity": request.quantity,
            "amount": format_amount(request.amount),
            "status": str(request.status),
            "reason": request.reason,
            "updatedAt": _iso(request.updated_at or now),
        },
    )


@dataclass
class _Outgoing:
    """The events of one unit of work, turned into deliveries just before it commits."""

    uow: UnitOfWork
    events: list[Event] = field(default_factory=list)

    async def __call__(self) -> None:
        """One query for the matching endpoints; one INSERT for all the deliveries (none if no endpoint)."""
        if not self.events:
            return
        conn = self.uow.conn
        customers = sorted({e.customer_id for e in self.events if e.customer_id is not None})
        query = _ENDPOINTS.format(customers=sql.among(conn, 0))
        endpoints = await sql.fetch(conn, query, customers)
        if not endpoints:
            return
        now = dt.datetime.now(dt.UTC)
        targets = [_Target.of(row) for row in endpoints]
        rows: list[tuple[uuid.UUID, uuid.UUID, str, str]] = []  # id, endpoint, type, body
        for event in self.events:
            wanted = [t.endpoint_id for t in targets if t.wants(event)]
            if wanted:
                body = event.body()
                rows += [(uuid.uuid4(), endpoint_id, event.type.value, body) for endpoint_id in wanted]
        if not rows:
            return
        if conn.capabilities.dialect == "postgres":
            # Plain columns into one statement, no model objects: this runs inside a charge batch.
            await sql.fetch(conn, _INSERT, *map(list, zip(*rows, strict=True)), now)
        else:
            deliveries = [new_delivery(e, WebhookEventType(t), body, now, i) for i, e, t, body in rows]
            await WebhookDelivery.bulk_create(deliveries, using_db=conn)
        self.uow.events.append(WebhooksQueued(len(rows)))


@dataclass(frozen=True)
class _Target:
    """An enabled endpoint as the lookup found it: whose events, which types (empty: all)."""

    endpoint_id: uuid.UUID
    customer_id: uuid.UUID | None
    types: frozenset[str]

    @classmethod
    def of(cls, row: dict[str, Any]) -> _Target:
        """From a row of `_ENDPOINTS`."""
        owner = row["customer_id"]
        types = frozenset(t for t in (row["event_types"] or "").split(",") if t)
        return cls(sql.as_uuid(row["id"]), None if owner is None else sql.as_uuid(owner), types)

    def wants(self, event: Event) -> bool:
        """Whether the event is this endpoint's customer's (or it has none) and of a type it takes."""
        if self.customer_id is not None and self.customer_id != event.customer_id:
            return False
        return not self.types or event.type.value in self.types


_ENDPOINTS = (
    'SELECT "id", "customer_id", "event_types" FROM "webhook_endpoint" '
    'WHERE "enabled" AND ("customer_id" IS NULL OR "customer_id" {customers})'
)


_INSERT = (
    'INSERT INTO "webhook_delivery" ("id", "endpoint_id", "event_type", "payload", "status", "attempts", '
    '"schedule_start", "next_attempt_at", "created_at") '
    "SELECT x.id, x.endpoint_id, x.event_type, x.payload, 'PENDING', 0, 0, {4}, {4} "
    "FROM unnest({0}::uuid[], {1}::uuid[], {2}::text[], {3}::text[]) "
    "AS x(id, endpoint_id, event_type, payload)"
)


def new_delivery(
    endpoint_id: uuid.UUID,
    event_type: WebhookEventType,
    body: str,
    now: dt.datetime,
    delivery_id: uuid.UUID | None = None,
) -> WebhookDelivery:
    return WebhookDelivery(
        id=delivery_id or uuid.uuid4(),
        endpoint_id=endpoint_id,
        event_type=event_type.value,
        payload=body,
        status=DeliveryStatus.PENDING,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )


def record(uow: UnitOfWork, event: Event) -> None:
    """Report `event` to the endpoints that want it, in `uow`'s transaction (before it commits)."""
    for hook in uow.before_commit:
        if isinstance(hook, _Outgoing):
            hook.events.append(event)
            return
    uow.before_commit.append(_Outgoing(uow, [event]))


# --- backlog and lag ----------------------------------------------------------------------------------------


async def webhook_lag_seconds() -> float:
    """How long the longest-waiting due delivery has been due; 0 when none is.

    One entry of the due index (the earliest `next_attempt_at` of a PENDING delivery), so a scrape
    costs the same with a backlog of millions. Deliveries waiting for a retry are not late yet.
    """
    earliest = (
        await WebhookDelivery.filter(status=DeliveryStatus.PENDING, next_attempt_at__not_isnull=True)
        .order_by("next_attempt_at")
        .limit(1)
        .values_list("next_attempt_at", flat=True)
    )
    if not earliest:
        return 0.0
    return max(0.0, (dt.datetime.now(dt.UTC) - earliest[0]).total_seconds())


@dataclass(frozen=True)
class Backlog:
    """An endpoint's pending deliveries: how many, and when the oldest was recorded (None: none)."""

    pending: int = 0
    oldest_created_at: dt.datetime | None = None


async def backlogs(endpoint_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Backlog]:
    """The backlog of each endpoint that has one, in one query over the pending index."""
    rows = (
        await WebhookDelivery.filter(status=DeliveryStatus.PENDING, endpoint_id__in=list(endpoint_ids))
        .annotate(pending=Count("id"), oldest=Min("created_at"))
        .group_by("endpoint_id")
        .values("endpoint_id", "pending", "oldest")
    )
    return {sql.as_uuid(r["endpoint_id"]): Backlog(r["pending"], _moment(r["oldest"])) for r in rows}


def _moment(value: object) -> dt.datetime | None:
    """An aggregated timestamp: asyncpg gives a datetime, SQLite its stored text."""
    if value is None or isinstance(value, dt.datetime):
        return value
    moment = dt.datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
