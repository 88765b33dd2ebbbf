"""Mutations of the spend controls: a customer's minimum balance and auto top-up, a user's spend limit."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from models import spend_settings
from models.errors import not_found
from models.ids import parse_id
from models.money import parse_amount, parse_threshold
from models.permissions import can_manage_user
from models.user import Role
from models.user import User as UserModel
from resolvers.errors import INPUT, guarded
from schema.access import require_role
from schema.inputs import SetAutoTopUpInput, SetMinimumBalanceInput, SetSpendLimitInput
from schema.payloads import CustomerPayload, UserPayload
from schema.types import Customer, User


@strawberry.type
class SpendControlMutations:
    """The minimum balance, the auto top-up and spend limits per user."""

    @strawberry.mutation(
        description=(
            "Set the floor no charge or withdrawal may take the customer's balance below (null: none); "
            "those that would answer INSUFFICIENT_CREDITS and change nothing. Catalog administrators. "
            "userErrors: INVALID_AMOUNT, NOT_FOUND."
        )
    )
    async def set_minimum_balance(
        self,
        info: Info,
        input: Annotated[
            SetMinimumBalanceInput, strawberry.argument(description="The customer and its minimum balance.")
        ],
    ) -> CustomerPayload:
        """Set a customer's minimum balance (null: none)."""
        require_role(info, Role.CATALOG_ADMIN)

        async def work() -> CustomerPayload:
            customer_id = parse_id(input.customer_id, "customer", "customerId")
            minimum = parse_threshold(input.minimum_balance, "minimumBalance")
            changed = await spend_settings.set_minimum_balance(customer_id, minimum)
            return CustomerPayload(customer=Customer.from_model(changed))

        return await guarded(CustomerPayload, work, under=INPUT)

    @strawberry.mutation(
        description=(
            "Turn the customer's auto top-up on, or change its rule: a debit that would take the balance "
            "from at or above `threshold` to below it is preceded by an AUTO_TOP_UP entry of `amount`, at "
            "most `maxPerDay` times a UTC day. Catalog administrators. userErrors: INVALID_AMOUNT, "
            "INVALID_INPUT, NOT_FOUND."
        )
    )
    async def set_auto_top_up(
        self,
        info: Info,
        input: Annotated[SetAutoTopUpInput, strawberry.argument(description="The customer and its rule.")],
    ) -> CustomerPayload:
        """Turn a customer's auto top-up on, or change its rule."""
        require_role(info, Role.CATALOG_ADMIN)

        async def work() -> CustomerPayload:
            customer_id = parse_id(input.customer_id, "customer", "customerId")
            rule = spend_settings.TopUpRule(
                threshold=parse_amount(input.threshold, "threshold"),
                amount=parse_amount(input.amount, "amount"),
                priority=input.priority,
                expires_in_days=input.expires_in_days,
                max_per_day=input.max_per_day,
            )
            changed = await spend_settings.set_auto_top_up(customer_id, rule)
            return CustomerPayload(customer=Customer.from_model(changed))

        return await guarded(CustomerPayload, work, under=INPUT)

    @strawberry.mutation(
        description="Turn the customer's auto top-up off. Catalog administrators. userErrors: NOT_FOUND."
    )
    async def disable_auto_top_up(
        self,
        info: Info,
        customer_id: Annotated[strawberry.ID, strawberry.argument(description="The customer.")],
    ) -> CustomerPayload:
        """Turn a customer's auto top-up off."""
        require_role(info, Role.CATALOG_ADMIN)

        async def work() -> CustomerPayload:
            target = parse_id(customer_id, "customer", "customerId")
            changed = await spend_settings.disable_auto_top_up(target)
            return CustomerPayload(customer=Customer.from_model(changed))

        return await guarded(CustomerPayload, work)

    @strawberry.mutation(
        description=(
            "Set what a user's service requests may take per UTC day or month (null amount: no limit); "
            "a request past it answers SPEND_LIMIT_EXCEEDED and changes nothing. Catalog administrators "
            "for anyone; customer administrators for the users of their customer. userErrors: "
            "INVALID_AMOUNT, INVALID_INPUT, NOT_FOUND."
        )
    )
    async def set_spend_limit(
        self,
        info: Info,
        input: Annotated[SetSpendLimitInput, strawberry.argument(description="The user and its limit.")],
    ) -> UserPayload:
        """Set a user's spend limit (null amount: none)."""
        actor = require_role(info, Role.CATALOG_ADMIN, Role.CUSTOMER_ADMIN)

        async def work() -> UserPayload:
            target = await UserModel.get_or_none(id=parse_id(input.user_id, "user", "userId"))
            if target is None or not can_manage_user(actor, target):
                raise not_found("user", "userId")
            amount = parse_threshold(input.amount, "amount")
            changed = await spend_settings.set_spend_limit(target, amount, input.period)
            return UserPayload(user=User.from_model(changed))

        return await guarded(UserPayload, work, under=INPUT)
