"""The webhooks part of the contract: endpoints, their delivery log, inputs and payloads."""

from __future__ import annotations

import datetime as dt
import uuid

import strawberry
from strawberry.types import Info

from models.pagination import SortKey
from models.webhook_outbox import DeliveryStatus as _DeliveryStatus
from models.webhook_outbox import WebhookDelivery as DeliveryRow
from models.webhook_outbox import WebhookEventType as _WebhookEventType
from models.webhooks import WebhookEndpoint as EndpointRow
from schema.loaders import loaders
from schema.node import Node
from schema.pagination import Before, Connection, Last, connection
from schema.payloads import Payload
from schema.types import Customer

WebhookEventType = strawberry.enum(
    _WebhookEventType,
    name="WebhookEventType",
    description=(
        "Wire names: credit_transaction.created, credit_alert.fired, credit_alert.resolved, "
        "service_request.updated, webhook.test."
    ),
)
WebhookDeliveryStatus = strawberry.enum(_DeliveryStatus, name="WebhookDeliveryStatus")

DELIVERY_ORDER = (SortKey("created_at", dt.datetime), SortKey("id", uuid.UUID))


@strawberry.type
class WebhookEndpoint(Node):
    """Where events are sent; without a customer, every customer's."""

    id: strawberry.ID
    url: str
    description: str | None
    event_types: list[WebhookEventType]
    enabled: bool
    disabled_reason: str | None
    created_at: dt.datetime
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

    @strawberry.field
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

    @strawberry.field
    async def deliveries(
        self,
        info: Info,
        status: WebhookDeliveryStatus | None = None,
        first: int | None = 50,
        after: str | None = None,
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


@strawberry.type
class WebhookDelivery(Node):
    """One event for one endpoint; its id is the `webhook-id` header, the same on every attempt."""

    id: strawberry.ID
    event_type: WebhookEventType
    payload: str
    status: WebhookDeliveryStatus
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: dt.datetime | None
    created_at: dt.datetime
    delivered_at: dt.datetime | None
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

    @strawberry.field
    async def endpoint(self) -> WebhookEndpoint:
        """The endpoint it is sent to."""
        row = self.endpoint_model or await EndpointRow.get(id=self.model.endpoint_id)
        return WebhookEndpoint.from_model(row)


@strawberry.input
class CreateWebhookEndpointInput:
    """A new endpoint; `customerId` left out: the caller's customer (catalog administrators: all)."""

    url: str
    customer_id: strawberry.ID | None = None
    event_types: list[WebhookEventType] | None = None
    description: str | None = None


@strawberry.input
class UpdateWebhookEndpointInput:
    """What to change; what is left out stays."""

    url: str | None = None
    event_types: list[WebhookEventType] | None = None
    description: str | None = None
    enabled: bool | None = None


@strawberry.type
class WebhookEndpointPayload(Payload):
    """The endpoint after the change; `secret` only from create and rotate."""

    webhook_endpoint: WebhookEndpoint | None = None
    secret: str | None = None


@strawberry.type
class WebhookDeliveryPayload(Payload):
    """The queued delivery."""

    webhook_delivery: WebhookDelivery | None = None


@strawberry.type
class DeleteWebhookEndpointPayload(Payload):
    """The id of the deleted endpoint."""

    deleted_id: strawberry.ID | None = None
