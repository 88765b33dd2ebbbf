"""Webhook endpoints: who may manage which, then the domain (models/webhooks.py) does the work."""

from __future__ import annotations

import uuid
from typing import Annotated

import strawberry
from strawberry.types import Info

from models import webhooks
from models.actor import Actor
from models.errors import DomainError, not_found
from models.ids import parse_id, parse_optional_id, try_parse_id
from models.permissions import WEBHOOK_MANAGERS, can_manage_endpoint, target_customer
from models.user import Role
from models.webhook_outbox import WebhookDelivery as DeliveryRow
from models.webhook_outbox import WebhookEventType
from models.webhooks import WebhookEndpoint as EndpointRow
from resolvers.errors import INPUT, guarded
from schema.access import require_role
from schema.payloads import UserError
from schema.webhooks import (
    CreateWebhookEndpointInput,
    DeleteWebhookEndpointPayload,
    UpdateWebhookEndpointInput,
    WebhookDelivery,
    WebhookDeliveryPayload,
    WebhookEndpoint,
    WebhookEndpointPayload,
)

# The `id` argument of the mutations that act on one endpoint.
EndpointId = Annotated[strawberry.ID, strawberry.argument(description="The endpoint's id.")]


async def _endpoint(actor: Actor, id: object, field: str = "id") -> EndpointRow:
    """An endpoint the caller may manage; NOT_FOUND for a missing one and another customer's."""
    endpoint = await EndpointRow.get_or_none(id=parse_id(id, "webhook endpoint", field))
    if endpoint is None or not can_manage_endpoint(actor, endpoint.customer_id):
        raise not_found("webhook endpoint", field)
    return endpoint


@strawberry.type
class WebhookQueries:
    """Reading endpoints and, through them, their delivery log."""

    @strawberry.field(
        description=(
            "Webhook endpoints the caller manages, newest first. Administrators (end users: FORBIDDEN); a "
            "customer administrator sees its customer's."
        )
    )
    async def webhook_endpoints(
        self,
        info: Info,
        customer_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(
                description="Only this customer's endpoints; left out: every endpoint the caller manages."
            ),
        ] = None,
    ) -> list[WebhookEndpoint]:
        """Endpoints the caller manages: a customer's (left out: every one a catalog administrator sees)."""
        actor = require_role(info, *WEBHOOK_MANAGERS)
        query = EndpointRow.all()
        if actor.role == Role.CUSTOMER_ADMIN:
            wanted = actor.customer_id if customer_id is None else try_parse_id(customer_id)
            if wanted is None or wanted != actor.customer_id:
                return []
            query = query.filter(customer_id=wanted)
        elif customer_id is not None:
            wanted = try_parse_id(customer_id)
            if wanted is None:
                return []
            query = query.filter(customer_id=wanted)
        return [WebhookEndpoint.from_model(e) for e in await query.order_by("-created_at", "-id")]

    @strawberry.field(
        description="An endpoint the caller manages, or null. Administrators (end users: FORBIDDEN)."
    )
    async def webhook_endpoint(self, info: Info, id: EndpointId) -> WebhookEndpoint | None:
        """An endpoint the caller manages, or null."""
        actor = require_role(info, *WEBHOOK_MANAGERS)
        endpoint_id = try_parse_id(id)
        endpoint = await EndpointRow.get_or_none(id=endpoint_id) if endpoint_id else None
        if endpoint is None or not can_manage_endpoint(actor, endpoint.customer_id):
            return None
        return WebhookEndpoint.from_model(endpoint)


def _types(values: list[object] | None) -> list[WebhookEventType] | None:
    return None if values is None else [WebhookEventType(v) for v in values]


@strawberry.type
class WebhookMutations:
    """Managing endpoints and their secrets; test sends and redelivery."""

    @strawberry.mutation(
        description=(
            "Add an endpoint; its signing secret is in this payload and never again. Administrators: a "
            "customer administrator for its own customer (end users: FORBIDDEN). userErrors: INVALID_INPUT "
            "(url), NOT_FOUND (customerId)."
        )
    )
    async def create_webhook_endpoint(
        self,
        info: Info,
        input: Annotated[CreateWebhookEndpointInput, strawberry.argument(description="The endpoint to add.")],
    ) -> WebhookEndpointPayload:
        """A new endpoint; its secret is in this payload and never again."""
        actor = require_role(info, *WEBHOOK_MANAGERS)

        async def work() -> WebhookEndpointPayload:
            field = "customerId"
            explicit = parse_optional_id(input.customer_id, "customer", field)
            customer_id: uuid.UUID | None = explicit
            if actor.role != Role.CATALOG_ADMIN:
                customer_id = target_customer(actor, explicit, field)
            created = await webhooks.create_endpoint(
                input.url, customer_id, _types(input.event_types), input.description
            )
            return WebhookEndpointPayload(
                webhook_endpoint=WebhookEndpoint.from_model(created.endpoint), secret=created.secret
            )

        return await guarded(WebhookEndpointPayload, work, under=INPUT)

    @strawberry.mutation(
        description=(
            "Change an endpoint's url, event types, description or whether it is enabled. Administrators of "
            "its customer (end users: FORBIDDEN). userErrors: NOT_FOUND, INVALID_INPUT."
        )
    )
    async def update_webhook_endpoint(
        self,
        info: Info,
        id: EndpointId,
        input: Annotated[UpdateWebhookEndpointInput, strawberry.argument(description="What to change.")],
    ) -> WebhookEndpointPayload:
        """Change an endpoint's url, event types, description or whether it is enabled."""
        actor = require_role(info, *WEBHOOK_MANAGERS)

        try:
            endpoint = await _endpoint(actor, id)
        except DomainError as error:  # `id` is a top-level argument, the rest is under `input`
            return WebhookEndpointPayload(user_errors=[UserError.from_domain(error)])

        async def work() -> WebhookEndpointPayload:
            changed = await webhooks.update_endpoint(
                endpoint.id,
                url=input.url,
                event_types=_types(input.event_types),
                description=input.description,
                enabled=input.enabled,
            )
            return WebhookEndpointPayload(webhook_endpoint=WebhookEndpoint.from_model(changed.endpoint))

        return await guarded(WebhookEndpointPayload, work, under=INPUT)

    @strawberry.mutation(
        description=(
            "A new signing secret, in this payload only; the old one also signs for 24 hours. "
            "Administrators of its customer (end users: FORBIDDEN). userErrors: NOT_FOUND."
        )
    )
    async def rotate_webhook_secret(self, info: Info, id: EndpointId) -> WebhookEndpointPayload:
        """A new secret (in this payload only); the old one also signs for 24 hours."""
        actor = require_role(info, *WEBHOOK_MANAGERS)

        async def work() -> WebhookEndpointPayload:
            endpoint = await _endpoint(actor, id)
            rotated = await webhooks.rotate_secret(endpoint.id)
            return WebhookEndpointPayload(
                webhook_endpoint=WebhookEndpoint.from_model(rotated.endpoint), secret=rotated.secret
            )

        return await guarded(WebhookEndpointPayload, work)

    @strawberry.mutation(
        description=(
            "Delete an endpoint and its delivery log. Administrators of its customer (end users: "
            "FORBIDDEN). userErrors: NOT_FOUND."
        )
    )
    async def delete_webhook_endpoint(self, info: Info, id: EndpointId) -> DeleteWebhookEndpointPayload:
        """Delete an endpoint and its delivery log."""
        actor = require_role(info, *WEBHOOK_MANAGERS)

        async def work() -> DeleteWebhookEndpointPayload:
            endpoint = await _endpoint(actor, id)
            deleted = await webhooks.delete_endpoint(endpoint.id)
            return DeleteWebhookEndpointPayload(deleted_id=strawberry.ID(str(deleted)))

        return await guarded(DeleteWebhookEndpointPayload, work)

    @strawberry.mutation(
        description=(
            "Queue a webhook.test delivery to an endpoint. Administrators of its customer (end users: "
            "FORBIDDEN). userErrors: NOT_FOUND."
        )
    )
    async def send_test_webhook(self, info: Info, id: EndpointId) -> WebhookDeliveryPayload:
        """Queue a `webhook.test` delivery to the endpoint."""
        actor = require_role(info, *WEBHOOK_MANAGERS)

        async def work() -> WebhookDeliveryPayload:
            endpoint = await _endpoint(actor, id)
            delivery = await webhooks.send_test(endpoint.id)
            return WebhookDeliveryPayload(webhook_delivery=WebhookDelivery.from_model(delivery))

        return await guarded(WebhookDeliveryPayload, work)

    @strawberry.mutation(
        description=(
            "Send a delivery again: the same id and body. Administrators of its customer (end users: "
            "FORBIDDEN). userErrors: NOT_FOUND."
        )
    )
    async def redeliver_webhook(
        self,
        info: Info,
        delivery_id: Annotated[strawberry.ID, strawberry.argument(description="The delivery's id.")],
    ) -> WebhookDeliveryPayload:
        """Send a delivery again: the same id and body."""
        actor = require_role(info, *WEBHOOK_MANAGERS)

        async def work() -> WebhookDeliveryPayload:
            field = "deliveryId"
            delivery = await DeliveryRow.get_or_none(id=parse_id(delivery_id, "webhook delivery", field))
            if delivery is None:
                raise not_found("webhook delivery", field)
            endpoint = await EndpointRow.get_or_none(id=delivery.endpoint_id)
            if endpoint is None or not can_manage_endpoint(actor, endpoint.customer_id):
                raise not_found("webhook delivery", field)
            again = await webhooks.redeliver(delivery.id)
            return WebhookDeliveryPayload(webhook_delivery=WebhookDelivery.from_model(again, endpoint))

        return await guarded(WebhookDeliveryPayload, work)
