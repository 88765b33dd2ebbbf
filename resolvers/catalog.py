"""Mutations of the catalog administrator's set-up, and alert thresholds."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import strawberry
from strawberry.types import Info

from models import catalog
from models.ids import parse_id
from models.money import parse_price, parse_threshold
from models.permissions import target_customer
from models.platform import set_credit_management
from models.user import Role
from resolvers.errors import INPUT, guarded
from schema.access import require_role
from schema.inputs import CreateCustomerInput, CreateServiceInput, SetCreditAlertInput
from schema.payloads import CreditSettingsPayload, CustomerPayload, ServicePayload
from schema.types import CreditSettings, Customer, Service


@strawberry.type
class CatalogMutations:
    """Customers, services, prices, the credit switch and alert thresholds."""

    @strawberry.mutation(
        description="Turn credit management on or off (off on a fresh install). Catalog administrators."
    )
    async def set_credit_management(
        self,
        info: Info,
        enabled: Annotated[
            bool,
            strawberry.argument(
                description=(
                    "True: grants, withdrawals and charges happen; false: they do not (refunds still do)."
                )
            ),
        ],
    ) -> CreditSettingsPayload:
        """Turn credit management on or off (off on a fresh install)."""
        require_role(info, Role.CATALOG_ADMIN)
        enabled = await set_credit_management(enabled)
        return CreditSettingsPayload(credit_settings=CreditSettings(credit_management_enabled=enabled))

    @strawberry.mutation(
        description="Open a customer with a zero balance. Catalog administrators. userErrors: INVALID_INPUT."
    )
    async def create_customer(
        self,
        info: Info,
        input: Annotated[CreateCustomerInput, strawberry.argument(description="The customer to open.")],
    ) -> CustomerPayload:
        """Open a customer with a zero balance."""
        require_role(info, Role.CATALOG_ADMIN)

        async def work() -> CustomerPayload:
            return CustomerPayload(customer=Customer.from_model(await catalog.create_customer(input.name)))

        return await guarded(CustomerPayload, work, under=INPUT)

    @strawberry.mutation(
        description=(
            "Add a service to the catalog. Catalog administrators. userErrors: INVALID_AMOUNT (price), "
            "INVALID_INPUT."
        )
    )
    async def create_service(
        self,
        info: Info,
        input: Annotated[CreateServiceInput, strawberry.argument(description="The service to add.")],
    ) -> ServicePayload:
        """Add a service; a null price is not chargeable."""
        require_role(info, Role.CATALOG_ADMIN)

        async def work() -> ServicePayload:
            price = parse_price(input.credit_price, "creditPrice")
            return ServicePayload(service=Service.from_model(await catalog.create_service(input.name, price)))

        return await guarded(ServicePayload, work, under=INPUT)

    @strawberry.mutation(
        description=(
            "Change a service's price; earlier requests keep (and refund) what they were charged. Catalog "
            "administrators. userErrors: INVALID_AMOUNT, NOT_FOUND."
        )
    )
    async def set_service_price(
        self,
        info: Info,
        service_id: Annotated[strawberry.ID, strawberry.argument(description="The service's id.")],
        credit_price: Annotated[
            Decimal | None, strawberry.argument(description="Credits per unit, ≥ 0; null: not chargeable.")
        ] = None,
    ) -> ServicePayload:
        """Change a price; earlier requests keep (and refund) what they were charged."""
        require_role(info, Role.CATALOG_ADMIN)

        async def work() -> ServicePayload:
            price = parse_price(credit_price, "creditPrice")
            changed = await catalog.set_service_price(parse_id(service_id, "service", "serviceId"), price)
            return ServicePayload(service=Service.from_model(changed))

        return await guarded(ServicePayload, work)

    @strawberry.mutation(
        description=(
            "Set the balance below which the customer's administrators are alerted (null: off); if the "
            "balance is already below a new value, it fires at once. Catalog administrators; customer "
            "administrators for their own customer. userErrors: INVALID_AMOUNT, NOT_FOUND."
        )
    )
    async def set_credit_alert(
        self,
        info: Info,
        input: Annotated[
            SetCreditAlertInput, strawberry.argument(description="The customer and its threshold.")
        ],
    ) -> CustomerPayload:
        """Set the balance below which customer administrators are alerted (null: off)."""
        actor = require_role(info, Role.CATALOG_ADMIN, Role.CUSTOMER_ADMIN)

        async def work() -> CustomerPayload:
            customer_id = target_customer(
                actor, parse_id(input.customer_id, "customer", "customerId"), "customerId"
            )
            threshold = parse_threshold(input.threshold, "threshold")
            changed = await catalog.set_alert_threshold(customer_id, threshold)
            return CustomerPayload(customer=Customer.from_model(changed))

        return await guarded(CustomerPayload, work, under=INPUT)
