"""Webhook endpoints: where a customer's events go, their secrets, and their delivery log's retention.

What an endpoint is sent is recorded in models/webhook_outbox.py; the dispatcher
(notifications/webhooks.py) sends it and disables an endpoint that keeps failing.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from tortoise import fields
from tortoise.models import Model

from infra import sql
from models import destinations, webhook_secrets
from models.customer import Customer
from models.customer_admins import notify_customer_admins
from models.errors import DomainError, ErrorCode, not_found
from models.events import WebhooksQueued
from models.input_text import bounded
from models.notification import AlertKind
from models.unit_of_work import UnitOfWork, run_in_transaction
from models.webhook_outbox import DeliveryStatus, Event, WebhookDelivery, WebhookEventType, new_delivery
from models.webhook_sends import count_manual_send
from settings import get_settings

MAX_DESCRIPTION_LENGTH = 500
# After a rotation the old secret also signs for this long.
ROTATION_OVERLAP = dt.timedelta(hours=24)


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
        delivery = new_delivery(endpoint.id, event.type, event.body(), now)
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
    endpoint.enabled = False
    endpoint.disabled_reason = reason
    await endpoint.save(using_db=uow.conn, update_fields=["enabled", "disabled_reason"])
    await _schedule_waiting(uow, endpoint.id, resume=False)
    if endpoint.customer_id is None:
        return
    customer = await Customer.get_or_none(id=endpoint.customer_id, using_db=uow.conn)
    if customer is None:
        return
    message = f"The webhook endpoint {endpoint.url} was disabled: {reason}"
    await notify_customer_admins(uow, customer, AlertKind.WEBHOOK_DISABLED, message)


# --- retention ----------------------------------------------------------------------------------

_PRUNE = (
    'DELETE FROM "webhook_delivery" WHERE "id" IN (SELECT "id" FROM "webhook_delivery" '
    'WHERE "endpoint_id" {among} AND "created_at" < {{1}} AND "status" <> \'PENDING\' LIMIT {{2}}) '
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
