"""The runway alert setting (administrators of the customer)."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from models.ids import parse_id
from models.permissions import target_customer
from models.runway_alert import set_runway_alert
from models.user import Role
from resolvers.errors import INPUT, guarded
from schema.access import require_role
from schema.inputs import SetRunwayAlertInput
from schema.payloads import CustomerPayload
from schema.types import Customer


@strawberry.type
class RunwayMutations:
    """The runway alert."""

    @strawberry.mutation(
        description=(
            "Set the days of runway below which the customer's administrators are alerted (RUNWAY_LOW; "
            "null: off); a new value starts afresh, and fires at once if the runway is already within "
            "it. Catalog administrators; customer administrators for their own customer. userErrors: "
            "INVALID_INPUT (days outside 1–365), NOT_FOUND."
        )
    )
    async def set_runway_alert(
        self,
        info: Info,
        input: Annotated[SetRunwayAlertInput, strawberry.argument(description="The customer and its days.")],
    ) -> CustomerPayload:
        """Set the days of runway below which customer administrators are alerted (null: off)."""
        actor = require_role(info, Role.CATALOG_ADMIN, Role.CUSTOMER_ADMIN)

        async def work() -> CustomerPayload:
            customer_id = target_customer(
                actor, parse_id(input.customer_id, "customer", "customerId"), "customerId"
            )
            changed = await set_runway_alert(customer_id, input.days)
            return CustomerPayload(customer=Customer.from_model(changed))

        return await guarded(CustomerPayload, work, under=INPUT)
