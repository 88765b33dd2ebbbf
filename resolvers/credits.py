"""Grants and withdrawals."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from models.credits import change_balance
from models.idempotency import validate_key
from models.ids import parse_id
from models.ledger import TransactionKind
from models.money import parse_positive
from models.user import Role
from resolvers.errors import INPUT, guarded
from schema.access import require_role
from schema.inputs import BalanceChangeInput
from schema.loaders import loaders
from schema.payloads import BalanceChangePayload
from schema.types import CreditTransaction, Customer


async def _change(info: Info, kind: TransactionKind, input: BalanceChangeInput) -> BalanceChangePayload:
    actor = require_role(info, Role.CATALOG_ADMIN)

    async def work() -> BalanceChangePayload:
        customer_id = parse_id(input.customer_id, "customer", "customerId")
        amount = parse_positive(input.amount, "amount")
        key = validate_key(input.idempotency_key, "idempotencyKey")
        change = await change_balance(
            actor,
            kind,
            customer_id,
            amount,
            input.note,
            key,
            priority=input.priority,
            expires_at=input.expires_at,
        )
        entry = change.transaction
        # As posted, so `customer.balance` is `transaction.balanceAfter`; a replay's is as it is now.
        customer = change.customer or await loaders(info).customers.load(entry.customer_id)
        return BalanceChangePayload(
            transaction=CreditTransaction.from_model(entry), customer=Customer.from_model(customer)
        )

    return await guarded(BalanceChangePayload, work, under=INPUT)


@strawberry.type
class CreditMutations:
    """Balance changes by the catalog administrator."""

    @strawberry.mutation(
        description=(
            "Add credits to a customer's balance, as a new lot. Catalog administrators. userErrors: "
            "INVALID_AMOUNT, INVALID_INPUT, NOT_FOUND, CREDIT_MANAGEMENT_DISABLED, IDEMPOTENCY_CONFLICT."
        )
    )
    async def grant_credits(
        self,
        info: Info,
        input: Annotated[
            BalanceChangeInput,
            strawberry.argument(description="The customer, the amount (> 0) and the new lot's terms."),
        ],
    ) -> BalanceChangePayload:
        """Add credits to a customer's balance."""
        return await _change(info, TransactionKind.GRANT, input)

    @strawberry.mutation(
        description=(
            "Take credits from a customer's balance; it may go below zero, down to the customer's "
            "minimumBalance. Catalog administrators. userErrors: INVALID_AMOUNT, INVALID_INPUT, NOT_FOUND, "
            "CREDIT_MANAGEMENT_DISABLED, IDEMPOTENCY_CONFLICT, INSUFFICIENT_CREDITS."
        )
    )
    async def withdraw_credits(
        self,
        info: Info,
        input: Annotated[
            BalanceChangeInput,
            strawberry.argument(
                description="The customer and the amount (> 0); expiresAt and priority are refused."
            ),
        ],
    ) -> BalanceChangePayload:
        """Take credits from a customer's balance; it may go below zero."""
        return await _change(info, TransactionKind.WITHDRAWAL, input)
