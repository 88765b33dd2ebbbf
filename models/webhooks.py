"""Webhooks: endpoints, and deliveries recorded in the transaction of the change they report.

A change calls `record(uow, event)`; just before its unit of work commits, the matching enabled
endpoints are read in one query and one delivery per (event, endpoint) is inserted in one
statement. The dispatcher (notifications/webhooks.py) sends them after the commit.
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
from models import webhook_secrets
from models.errors import DomainError, ErrorCode, not_found
from models.input_text import bounded
from models.money import format_amount
from models.unit_of_work import UnitOfWork, run_in_transaction
from models.webhook_sends import count_manual_send

MAX_DESCRIPTION_LENGTH = 500
# After a rotation the old secret also signs for this long.
ROTATION_OVERLAP = dt.timedelta(hours=24)


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


class WebhookEndpoint(Model):
    """Where a customer's (or, without a customer, every customer's) events are sent."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    customer = fields.ForeignKeyField(
        "models.Customer", related_name="webhook_endpoints", null=True, on_delete=fields.CASCADE
    )
    url = fields.CharField(max_length=2000)
    description = fields.TextField(null=True)
    event_types = fields.CharField(max_length=500, default="", description="wire names, comma-separated")
    enabled = fields.BooleanField(default=True)
    disabled_reason = fields.TextField(null=True)
    secret_sealed = fields.TextField(description="the signing secret, encrypted (models.webhook_secrets)")
    previous_secret_sealed = fields.TextField(null=True)
    previous_secret_until = fields.DatetimeField(null=True)
    failing_since = fields.DatetimeField(null=True, description="first failed attempt since the last success")
    created_at = fields.DatetimeField(auto_now_add=True)

    customer_id: uuid.UUID | None

    class Meta:
        table = "webhook_endpoint"
        indexes = (("customer_id", "enabled"),)

    @property
    def types(self) -> list[WebhookEventType]:
        """The subscribed event types; empty means every type."""
        return [WebhookEventType(t) for t in self.event_types.split(",") if t]

    def signing_secrets(self, now: dt.datetime) -> list[str]:
        """The current secret, then the previous one while its overlap lasts."""
        found = [webhook_secrets.open_sealed(self.secret_sealed, self.id)]
        if self.previous_secret_sealed and self.previous_secret_until and self.previous_secret_until > now:
            found.append(webhook_secrets.open_sealed(self.previous_secret_sealed, self.id))
        return found


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
class WebhooksQueued:
    """Published after commit so the dispatcher sends without waiting for its next poll."""

    count: int


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


def transaction_created(entry: Any) -> Event:
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


def alert_fired(alert: Any) -> Event:
    """credit_alert.fired for a new alert row."""
    data = {
        "id": str(alert.id),
        "customerId": str(alert.customer_id),
        "kind": str(alert.kind),
        "balance": format_amount(alert.balance),
        "threshold": None if alert.threshold is None else format_amount(alert.threshold),
        "createdAt": _iso(alert.created_at),
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


def request_updated(request: Any) -> Event:
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
            deliveries = [_delivery(e, WebhookEventType(t), body, now, i) for i, e, t, body in rows]
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


def _delivery(
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


# --- managing endpoints -------------------------------------------------------------------------


@dataclass(frozen=True)
class EndpointChange:
    """What a create, update or rotation left: the endpoint, and the new secret (create and rotate)."""

    endpoint: WebhookEndpoint
    secret: str | None = None


def _types(event_types: Iterable[WebhookEventType] | None) -> str:
    return ",".join(sorted({WebhookEventType(t).value for t in event_types or ()}))


def _description(description: str | None) -> str | None:
    if description is None:
        return None
    return bounded(description, "description", "description", max_length=MAX_DESCRIPTION_LENGTH)


async def create_endpoint(
    url: str,
    customer_id: uuid.UUID | None,
    event_types: Iterable[WebhookEventType] | None,
    description: str | None,
) -> EndpointChange:
    """A new enabled endpoint with a new secret, shown this once; the url must pass the destination rules."""
    description = _description(description)
    url = await _check_url(url)
    secret = webhook_secrets.generate()

    async def work(uow: UnitOfWork) -> WebhookEndpoint:
        if customer_id is not None and not await _customer_exists(uow, customer_id):
            raise not_found("customer", "customerId")
        await _require_room(uow, customer_id)
        endpoint_id = uuid.uuid4()
        endpoint = await WebhookEndpoint.create(
            using_db=uow.conn,
            id=endpoint_id,
            url=url,
            customer_id=customer_id,
            description=description,
            event_types=_types(event_types),
            secret_sealed=webhook_secrets.seal(secret, endpoint_id),
        )
        return endpoint

    return EndpointChange(await run_in_transaction(work), secret)


async def _check_url(url: str) -> str:
    """The URL as stored and sent (ASCII), if it passes the destination rules the sender applies."""
    from models import destinations
    from settings import get_settings

    settings = get_settings()
    destination = await destinations.check(
        url,
        production=not settings.is_development,
        allow_private=settings.webhooks_may_reach_private_networks,
    )
    return destination.url.geturl()


# Serialises creates of one owner's endpoints on PostgreSQL (SQLite has one writer anyway):
# a transaction-scoped advisory lock keyed by the owner, so the count below cannot race.
_OWNER_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended({0}, 0))"


async def _require_room(uow: UnitOfWork, customer_id: uuid.UUID | None) -> None:
    """INVALID_STATE when the owner (a customer, or every customer) has the most endpoints allowed.

    Each endpoint multiplies what every change of its customer writes, so the count is capped
    (CREDITS_MAX_WEBHOOK_ENDPOINTS_PER_CUSTOMER); two creates racing at the cap make one endpoint.
    """
    from settings import get_settings

    limit = get_settings().max_webhook_endpoints_per_customer
    if uow.conn.capabilities.dialect == "postgres":
        await sql.fetch(uow.conn, _OWNER_LOCK, f"webhook_endpoint:{customer_id or 'every customer'}")
    if await WebhookEndpoint.filter(customer_id=customer_id).using_db(uow.conn).count() >= limit:
        whose = "this customer has" if customer_id is not None else "endpoints for every customer have"
        raise DomainError(
            ErrorCode.INVALID_STATE,
            f"{whose} {limit} webhook endpoints, the most allowed: delete one first",
            "customerId",
        )


async def _customer_exists(uow: UnitOfWork, customer_id: uuid.UUID) -> bool:
    from models.customer import Customer

    return await Customer.filter(id=customer_id).using_db(uow.conn).exists()


async def update_endpoint(
    endpoint_id: uuid.UUID,
    *,
    url: str | None = None,
    event_types: Iterable[WebhookEventType] | None = None,
    description: str | None = None,
    enabled: bool | None = None,
) -> EndpointChange:
    """Change what is given; enabling clears the reason it was disabled and its failure streak."""
    description = _description(description)
    if url is not None:
        url = await _check_url(url)

    async def work(uow: UnitOfWork) -> WebhookEndpoint:
        endpoint = await _locked(uow, endpoint_id)
        if url is not None:
            endpoint.url = url
        if event_types is not None:
            endpoint.event_types = _types(event_types)
        if description is not None:
            endpoint.description = description or None
        if enabled is not None:
            if enabled != endpoint.enabled:
                await _schedule_waiting(uow, endpoint.id, resume=enabled)
            endpoint.enabled = enabled
            if enabled:
                endpoint.disabled_reason = None
                endpoint.failing_since = None
        await endpoint.save(using_db=uow.conn)
        return endpoint

    return EndpointChange(await run_in_transaction(work))


async def rotate_secret(endpoint_id: uuid.UUID) -> EndpointChange:
    """A new secret; the current one keeps signing beside it for `ROTATION_OVERLAP`."""
    secret = webhook_secrets.generate()

    async def work(uow: UnitOfWork) -> WebhookEndpoint:
        endpoint = await _locked(uow, endpoint_id)
        endpoint.previous_secret_sealed = endpoint.secret_sealed
        endpoint.previous_secret_until = dt.datetime.now(dt.UTC) + ROTATION_OVERLAP
        endpoint.secret_sealed = webhook_secrets.seal(secret, endpoint.id)
        await endpoint.save(using_db=uow.conn)
        return endpoint

    return EndpointChange(await run_in_transaction(work), secret)


async def delete_endpoint(endpoint_id: uuid.UUID) -> uuid.UUID:
    """Delete an endpoint and its delivery log."""

    async def work(uow: UnitOfWork) -> uuid.UUID:
        endpoint = await _locked(uow, endpoint_id)
        await WebhookDelivery.filter(endpoint_id=endpoint.id).using_db(uow.conn).delete()
        await endpoint.delete(using_db=uow.conn)
        return endpoint.id

    return await run_in_transaction(work)


async def send_test(endpoint_id: uuid.UUID) -> WebhookDelivery:
    """Queue a `webhook.test` delivery for the endpoint (whatever types it subscribes to); rate-limited."""

    async def work(uow: UnitOfWork) -> WebhookDelivery:
        endpoint = await _locked(uow, endpoint_id)
        _require_enabled(endpoint)
        await count_manual_send(uow, endpoint.id, "id")
        now = dt.datetime.now(dt.UTC)
        event = Event(
            WebhookEventType.WEBHOOK_TEST,
            endpoint.customer_id,
            now,
            lambda: {"endpointId": str(endpoint.id), "message": "A test webhook from the credits service."},
        )
        delivery = _delivery(endpoint.id, event.type, event.body(), now)
        await delivery.save(using_db=uow.conn, force_create=True)
        uow.events.append(WebhooksQueued(1))
        return delivery

    return await run_in_transaction(work)


async def redeliver(delivery_id: uuid.UUID) -> WebhookDelivery:
    """Send a delivery again: the same id and body, due now; its schedule restarts if it was spent.

    Rate-limited with test sends. An attempt still out keeps going; its outcome is not saved
    (the lease it was claimed under is gone), the redelivery's is.
    """

    async def work(uow: UnitOfWork) -> WebhookDelivery:
        delivery = await WebhookDelivery.filter(id=delivery_id).using_db(uow.conn).select_for_update().first()
        if delivery is None:
            raise not_found("webhook delivery", "deliveryId")
        endpoint = await _locked(uow, delivery.endpoint_id)
        _require_enabled(endpoint)
        await count_manual_send(uow, endpoint.id, "deliveryId")
        delivery.status = DeliveryStatus.PENDING
        delivery.next_attempt_at = dt.datetime.now(dt.UTC)
        delivery.lease_until = None
        delivery.schedule_start = delivery.attempts
        await delivery.save(
            using_db=uow.conn, update_fields=["status", "next_attempt_at", "lease_until", "schedule_start"]
        )
        uow.events.append(WebhooksQueued(1))
        return delivery

    return await run_in_transaction(work)


def _require_enabled(endpoint: WebhookEndpoint) -> None:
    if not endpoint.enabled:
        raise DomainError(ErrorCode.INVALID_STATE, "the endpoint is disabled: enable it first", "id")


async def _locked(uow: UnitOfWork, endpoint_id: uuid.UUID) -> WebhookEndpoint:
    endpoint = await WebhookEndpoint.filter(id=endpoint_id).using_db(uow.conn).select_for_update().first()
    if endpoint is None:
        raise not_found("webhook endpoint", "id")
    return endpoint


async def _schedule_waiting(uow: UnitOfWork, endpoint_id: uuid.UUID, *, resume: bool) -> None:
    """A disabled endpoint's pending deliveries wait unscheduled (not due); enabling makes them due now."""
    pending = WebhookDelivery.filter(endpoint_id=endpoint_id, status=DeliveryStatus.PENDING)
    pending = pending.using_db(uow.conn)
    if resume:
        await pending.filter(next_attempt_at__isnull=True).update(next_attempt_at=dt.datetime.now(dt.UTC))
    else:
        await pending.update(next_attempt_at=None)


async def disable_endpoint(uow: UnitOfWork, endpoint: WebhookEndpoint, reason: str) -> None:
    """Disable an endpoint with its reason; its customer's administrators get an in-app notification."""
    from models.alerts import NotificationCreated
    from models.customer import Customer
    from models.notification import AlertKind, Notification
    from models.user import Role, User

    endpoint.enabled = False
    endpoint.disabled_reason = reason
    await endpoint.save(using_db=uow.conn, update_fields=["enabled", "disabled_reason"])
    await _schedule_waiting(uow, endpoint.id, resume=False)
    if endpoint.customer_id is None:
        return
    customer = await Customer.get_or_none(id=endpoint.customer_id, using_db=uow.conn)
    if customer is None:
        return
    admins = await User.filter(customer_id=customer.id, role=Role.CUSTOMER_ADMIN, active=True).using_db(
        uow.conn
    )
    message = f"The webhook endpoint {endpoint.url} was disabled: {reason}"
    for admin in admins:
        note = await Notification.create(
            using_db=uow.conn,
            user_id=admin.id,
            customer_id=customer.id,
            kind=AlertKind.WEBHOOK_DISABLED,
            balance=customer.balance,
            message=message,
        )
        uow.events.append(NotificationCreated(note))


# --- lag ----------------------------------------------------------------------------------------


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


# --- retention ----------------------------------------------------------------------------------

_PRUNE = (
    'DELETE FROM "webhook_delivery" WHERE "id" IN (SELECT "id" FROM "webhook_delivery" '
    "WHERE \"endpoint_id\" {among} AND \"created_at\" < {{1}} AND \"status\" <> 'PENDING' LIMIT {{2}}) "
    'RETURNING "id"'
)
# Endpoints whose old deliveries one statement looks for (their ids travel as one array).
PRUNE_ENDPOINTS_AT_ONCE = 500


async def prune_deliveries(before: dt.datetime, chunk: int = 1000) -> int:
    """Delete delivered and failed deliveries recorded before `before`, `chunk` per transaction.

    Pending ones stay, however old: they are still owed. Each statement reads the (endpoint,
    created_at) index of a group of endpoints, so a huge log costs neither a scan nor one
    giant transaction. Returns how many went.
    """
    endpoint_ids: list[uuid.UUID] = list(await WebhookEndpoint.all().values_list("id", flat=True))
    pruned = 0
    for start in range(0, len(endpoint_ids), PRUNE_ENDPOINTS_AT_ONCE):
        group = endpoint_ids[start : start + PRUNE_ENDPOINTS_AT_ONCE]

        async def work(uow: UnitOfWork, group: list[uuid.UUID] = group) -> int:
            query = _PRUNE.format(among=sql.among(uow.conn, 0))
            return len(await sql.fetch(uow.conn, query, group, before, chunk))

        while (deleted := await run_in_transaction(work)) > 0:
            pruned += deleted
            if deleted < chunk:
                break
    return pruned
