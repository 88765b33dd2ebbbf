"""Requesting services and moving requests to their final status."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from models import service_requests
from models.errors import not_found
from models.idempotency import validate_key
from models.ids import parse_id, parse_optional_id
from models.permissions import can_see_request, target_customer
from models.service import RequestStatus
from models.service import ServiceRequest as RequestModel
from models.user import Role
from resolvers.errors import INPUT, guarded
from schema.access import current_actor, require_role
from schema.inputs import RequestServiceInput
from schema.loaders import loaders
from schema.payloads import ServiceRequestPayload
from schema.types import ServiceRequest


async def _transition(
    info: Info, id: strawberry.ID, status: RequestStatus, reason: str | None, *roles: Role
) -> ServiceRequestPayload:
    actor = require_role(info, *roles)

    async def work() -> ServiceRequestPayload:
        request = await RequestModel.get_or_none(id=parse_id(id, "service request", "id"))
        if request is None or not can_see_request(actor, request):
            raise not_found("service request", "id")
        changed = await service_requests.finish(actor, request.id, status, reason)
        if changed.customer is not None:  # as the refund left it
            loaders(info).customers.prime(changed.customer)
        return ServiceRequestPayload(service_request=ServiceRequest.from_model(changed.request))

    return await guarded(ServiceRequestPayload, work)


_EVERY_ROLE = (Role.CATALOG_ADMIN, Role.CUSTOMER_ADMIN, Role.END_USER)


@strawberry.type
class ServiceRequestMutations:
    """Charge on request; refund exactly once on cancel, fail or reject."""

    @strawberry.mutation(
        description=(
            "Request a service: price × quantity is debited at once (not while credit management is off, "
            "nor for a free or unpriced service); the balance may go below zero, down to the customer's "
            "minimumBalance. Every role, for its own customer (catalog administrators: any). userErrors: "
            "NOT_FOUND, INVALID_INPUT, IDEMPOTENCY_CONFLICT, INSUFFICIENT_CREDITS, SPEND_LIMIT_EXCEEDED."
        )
    )
    async def request_service(
        self,
        info: Info,
        input: Annotated[
            RequestServiceInput,
            strawberry.argument(description="The service, the quantity and the customer."),
        ],
    ) -> ServiceRequestPayload:
        """Request a service; its price × quantity is debited at once."""
        actor = current_actor(info)

        async def work() -> ServiceRequestPayload:
            explicit = parse_optional_id(input.customer_id, "customer", "customerId")
            customer_id = target_customer(actor, explicit, "customerId")
            service_id = parse_id(input.service_id, "service", "serviceId")
            key = validate_key(input.idempotency_key, "idempotencyKey")
            quantity = 1 if input.quantity is None else input.quantity
            made = await service_requests.make_request(actor, customer_id, service_id, quantity, key)
            # What the charge read and posted serves the nested fields without a query.
            found = loaders(info)
            if made.customer is not None:
                found.customers.prime(made.customer)
            if made.service is not None:
                found.services.prime(made.service)
            return ServiceRequestPayload(service_request=ServiceRequest.from_model(made.request))

        return await guarded(ServiceRequestPayload, work, under=INPUT)

    @strawberry.mutation(
        description=(
            "Cancel a REQUESTED request and refund what it was charged, once. Every role: end users their "
            "own requests, customer administrators their customer's. userErrors: NOT_FOUND, INVALID_STATE."
        )
    )
    async def cancel_service_request(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The service request's id.")],
    ) -> ServiceRequestPayload:
        """Cancel a request and refund what it was charged."""
        return await _transition(info, id, RequestStatus.CANCELLED, None, *_EVERY_ROLE)

    @strawberry.mutation(
        description=(
            "Mark a REQUESTED request done; final, no refund. Catalog administrators. userErrors: "
            "NOT_FOUND, INVALID_STATE."
        )
    )
    async def complete_service_request(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The service request's id.")],
    ) -> ServiceRequestPayload:
        """Mark a request done; final, no refund."""
        return await _transition(info, id, RequestStatus.COMPLETED, None, Role.CATALOG_ADMIN)

    @strawberry.mutation(
        description=(
            "Mark a REQUESTED request failed and refund it, once. Catalog administrators. userErrors: "
            "NOT_FOUND, INVALID_STATE."
        )
    )
    async def fail_service_request(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The service request's id.")],
        reason: Annotated[
            str | None, strawberry.argument(description="Why it failed, shown as `reason`.")
        ] = None,
    ) -> ServiceRequestPayload:
        """Mark a request failed and refund it."""
        return await _transition(info, id, RequestStatus.FAILED, reason, Role.CATALOG_ADMIN)

    @strawberry.mutation(
        description=(
            "Reject a REQUESTED request and refund it, once. Catalog administrators. userErrors: NOT_FOUND, "
            "INVALID_STATE."
        )
    )
    async def reject_service_request(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The service request's id.")],
        reason: Annotated[
            str | None, strawberry.argument(description="Why it was rejected, shown as `reason`.")
        ] = None,
    ) -> ServiceRequestPayload:
        """Reject a request and refund it."""
        return await _transition(info, id, RequestStatus.REJECTED, reason, Role.CATALOG_ADMIN)
