"""The webhooks part of the contract: endpoints, their delivery log, inputs and payloads."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

import strawberry
from strawberry.types import Info

from models.pagination import SortKey
from models.webhook_outbox import DeliveryStatus as _DeliveryStatus
from models.webhook_outbox import WebhookDelivery as DeliveryRow
from models.webhook_outbox import WebhookEventType as _WebhookEventType
from models.webhooks import WebhookEndpoint as EndpointRow
from schema.enums import described
from schema.loaders import loaders
from schema.node import Node
from schema.pagination import After, Before, Connection, First, Last, connection
from schema.payloads import Payload
from schema.types import Customer

WebhookEventType = described(
    _WebhookEventType,
    "WebhookEventType",
    (
        "Wire names: credit_transaction.created, credit_alert.fired, credit_alert.resolved, "
        "service_request.updated, webhook.test."
    ),
    {
        "CREDIT_TRANSACTION_CREATED": "credit_transaction.created: every committed ledger entry.",
        "CREDIT_ALERT_FIRED": "credit_alert.fired: an alert fired.",
        "CREDIT_ALERT_RESOLVED": (
            "credit_alert.resolved: a fired limit re-armed (the balance is back at or above it)."
        ),
        "SERVICE_REQUEST_UPDATED": "service_request.updated: a request made or moved to a final status.",
        "WEBHOOK_TEST": "webhook.test: queued by sendTestWebhook.",
    },
)
WebhookDeliveryStatus = described(
    _DeliveryStatus,
    "WebhookDeliveryStatus",
    "Where a delivery stands.",
    {
        "PENDING": "Waiting for its first attempt, a retry, or the endpoint to be enabled.",
        "DELIVERED": "A 2xx answer arrived within 15 seconds.",
        "FAILED": "Every retry failed (about 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h apart).",
    },
)

DELIVERY_ORDER = (SortKey("created_at", dt.datetime), SortKey("id", uuid.UUID))


@strawberry.type(
    description="A URL that receives the events of one customer, or (no customer) of every customer."
)
class WebhookEndpoint(Node):
    """Where events are sent; without a customer, every customer's."""

    id: strawberry.ID = strawberry.field(description="Opaque id, unique across all types.")
    url: str = strawberry.field(
        description="An absolute https URL (http too outside production); private-network hosts are refused.",
    )
    description: str | None = strawberry.field(description="A note for people.")
    event_types: list[WebhookEventType] = strawberry.field(
        description="The event types it receives; empty: every type.",
    )
    enabled: bool = strawberry.field(
        description="False: nothing is sent (disabled by hand, by a 410 Gone, or after 5 days of failures).",
    )
    disabled_reason: str | None = strawberry.field(
        description="Why the service disabled it (410 Gone, 5 days of failures); null otherwise.",
    )
    created_at: dt.datetime = strawberry.field(description="When it was created.")
    model: strawberry.Private[EndpointRow]

    @classmethod
    def from_model(cls, m: EndpointRow) -> WebhookEndpoint:
        """Expose an endpoint row without its secrets."""
        return cls(
            id=strawberry.ID(str(m.id)),
            url=m.url,
            description=m.description,
            event_types=list(m.types),
            enabled=m.enabled,
            disabled_reason=m.disabled_reason,
            created_at=m.created_at,
            model=m,
        )

    @strawberry.field(
        description="Whose events it receives; null: every customer's (catalog administrators only)."
    )
    async def customer(self, info: Info) -> Customer | None:
        """Whose events it receives; null: every customer's."""
        if self.model.customer_id is None:
            return None
        return Customer.from_model(await loaders(info).customers.load(self.model.customer_id))

    @strawberry.field(
        description=(
            "Deliveries not yet delivered or failed: waiting for their first attempt, a retry, or "
            "the endpoint to be enabled."
        )
    )
    async def pending_deliveries(self, info: Info) -> int:
        """How many deliveries this endpoint still owes."""
        return (await loaders(info).webhook_backlogs.load(self.model.id)).pending

    @strawberry.field(
        description=(
            "When the oldest pending delivery was recorded; null: none is pending. How far this "
            "endpoint's webhooks lag behind the events they report."
        )
    )
    async def oldest_pending_at(self, info: Info) -> dt.datetime | None:
        """The oldest pending delivery's createdAt."""
        return (await loaders(info).webhook_backlogs.load(self.model.id)).oldest_created_at

    @strawberry.field(description="Its delivery log, newest first.")
    async def deliveries(
        self,
        info: Info,
        status: Annotated[
            WebhookDeliveryStatus | None,
            strawberry.argument(description="Only deliveries in this status; null: all."),
        ] = None,
        first: First = 50,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[WebhookDelivery]:
        """Its delivery log, newest first."""
        query = DeliveryRow.filter(endpoint_id=self.model.id)
        if status is not None:
            query = query.filter(status=status)
        return await connection(
            query,
            DELIVERY_ORDER,
            first,
            after,
            lambda row: WebhookDelivery.from_model(row, self.model),
            last=last,
            before=before,
            info=info,
        )


@strawberry.type(description="One event for one endpoint, delivered at least once and retried with backoff.")
class WebhookDelivery(Node):
    """One event for one endpoint; its id is the `webhook-id` header, the same on every attempt."""

    id: strawberry.ID = strawberry.field(description="The `webhook-id` header, the same on every attempt.")
    event_type: WebhookEventType = strawberry.field(description="The event's type.")
    payload: str = strawberry.field(description="The exact JSON body that is signed and sent.")
    status: WebhookDeliveryStatus = strawberry.field(
        description="PENDING until a 2xx answer (DELIVERED) or the retries run out (FAILED).",
    )
    attempts: int = strawberry.field(description="How many attempts were made.")
    last_status_code: int | None = strawberry.field(
        description="The HTTP status of the last attempt; null: none yet, or no answer.",
    )
    last_error: str | None = strawberry.field(
        description="What went wrong in the last attempt; null: nothing.",
    )
    next_attempt_at: dt.datetime | None = strawberry.field(
        description="When the next attempt is due; null unless PENDING.",
    )
    created_at: dt.datetime = strawberry.field(
        description="When the event was recorded (with the change it reports).",
    )
    delivered_at: dt.datetime | None = strawberry.field(
        description="When a 2xx answer arrived; null: not delivered.",
    )
    endpoint_model: strawberry.Private[EndpointRow | None]
    model: strawberry.Private[DeliveryRow]

    @classmethod
    def from_model(cls, m: DeliveryRow, endpoint: EndpointRow | None = None) -> WebhookDelivery:
        """Expose a delivery row (with its endpoint, when already read)."""
        return cls(
            id=strawberry.ID(str(m.id)),
            event_type=_WebhookEventType(m.event_type),
            payload=m.payload,
            status=m.status,
            attempts=m.attempts,
            last_status_code=m.last_status_code,
            last_error=m.last_error,
            next_attempt_at=m.next_attempt_at if m.status == _DeliveryStatus.PENDING else None,
            created_at=m.created_at,
            delivered_at=m.delivered_at,
            endpoint_model=endpoint,
            model=m,
        )

    @strawberry.field(description="The endpoint it is sent to.")
    async def endpoint(self) -> WebhookEndpoint:
        """The endpoint it is sent to."""
        row = self.endpoint_model or await EndpointRow.get(id=self.model.endpoint_id)
        return WebhookEndpoint.from_model(row)


@strawberry.input(description="A new endpoint (administrators; end users: FORBIDDEN).")
class CreateWebhookEndpointInput:
    """A new endpoint; `customerId` left out: the caller's customer (catalog administrators: all)."""

    url: str = strawberry.field(
        description="An absolute https URL (http too outside production), else INVALID_INPUT.",
    )
    customer_id: strawberry.ID | None = strawberry.field(
        default=None,
        description=(
            "Whose events; left out: the caller's customer (catalog administrators: every customer's)."
        ),
    )
    event_types: list[WebhookEventType] | None = strawberry.field(
        default=None,
        description="The event types to receive; null or empty: every type.",
    )
    description: str | None = strawberry.field(default=None, description="A note for people.")


@strawberry.input(description="What to change on an endpoint; a field left out stays as it is.")
class UpdateWebhookEndpointInput:
    """What to change; what is left out stays."""

    url: str | None = strawberry.field(
        default=None,
        description="A new absolute https URL (http too outside production), else INVALID_INPUT.",
    )
    event_types: list[WebhookEventType] | None = strawberry.field(
        default=None,
        description="The event types to receive; empty: every type.",
    )
    description: str | None = strawberry.field(default=None, description="A note for people.")
    enabled: bool | None = strawberry.field(
        default=None,
        description="False stops sending; true enables it again (also one the service disabled).",
    )


@strawberry.type(description="The endpoint after the change; `secret` only from create and rotate.")
class WebhookEndpointPayload(Payload):
    """The endpoint after the change; `secret` only from create and rotate."""

    webhook_endpoint: WebhookEndpoint | None = strawberry.field(
        default=None,
        description="The endpoint as the change left it.",
    )
    secret: str | None = strawberry.field(
        default=None,
        description=(
            "whsec_ + base64 of 32 random bytes, for verifying signatures: shown only by "
            "createWebhookEndpoint and rotateWebhookSecret; null otherwise."
        ),
    )


@strawberry.type(description="The queued delivery.")
class WebhookDeliveryPayload(Payload):
    """The queued delivery."""

    webhook_delivery: WebhookDelivery | None = strawberry.field(
        default=None,
        description="The delivery as queued.",
    )


@strawberry.type(description="The answer to deleteWebhookEndpoint.")
class DeleteWebhookEndpointPayload(Payload):
    """The id of the deleted endpoint."""

    deleted_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="The id of the deleted endpoint.",
    )
