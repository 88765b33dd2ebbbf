"""The spend controls as the API shows them: a customer's auto top-up rule, a user's spend limit."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import strawberry

from models.customer import Customer as CustomerRow
from models.money import to_decimal
from models.spend_settings import LimitState, topped_up_today
from schema.enums import SpendLimitPeriod


@strawberry.type(description="A user's spend limit: what its service requests may take per UTC day or month.")
class SpendLimit:
    """A user's spend limit and what the current period took."""

    amount: Decimal = strawberry.field(description="What the user's requests may take in one period.")
    period: SpendLimitPeriod = strawberry.field(description="The UTC calendar day or month it counts.")
    spent: Decimal = strawberry.field(
        description=(
            "What this period's requests by the user took: their `amount`, except requests CANCELLED, "
            "FAILED or REJECTED (refunded)."
        )
    )
    resets_at: dt.datetime = strawberry.field(description="When the next period starts (00:00 UTC).")

    @classmethod
    def of(cls, state: LimitState) -> SpendLimit:
        """Expose a limit as read now."""
        return cls(
            amount=to_decimal(state.amount),
            period=state.period,
            spent=to_decimal(state.spent),
            resets_at=state.resets_at,
        )


@strawberry.type(
    description="A customer's auto top-up rule: credits granted when a debit would cross a threshold."
)
class AutoTopUp:
    """A customer's auto top-up rule and how many times it topped up today."""

    threshold: Decimal = strawberry.field(
        description="A debit that would take the balance from at or above this to below it tops up first."
    )
    amount: Decimal = strawberry.field(description="What each top-up grants (an AUTO_TOP_UP entry), exactly.")
    priority: int = strawberry.field(description="The priority (0-100) of the lots the top-ups create.")
    expires_in_days: int | None = strawberry.field(
        description="The lots the top-ups create expire after this many days; null: never."
    )
    max_per_day: int = strawberry.field(description="Top-ups per UTC day, 1-24.")
    topped_up_today: int = strawberry.field(description="Top-ups this UTC day.")

    @classmethod
    def of(cls, customer: CustomerRow) -> AutoTopUp | None:
        """The customer's rule, or None while it is off."""
        if customer.top_up_threshold is None or customer.top_up_amount is None:
            return None
        return cls(
            threshold=to_decimal(customer.top_up_threshold),
            amount=to_decimal(customer.top_up_amount),
            priority=customer.top_up_priority,
            expires_in_days=customer.top_up_expires_in_days,
            max_per_day=customer.top_up_max_per_day,
            topped_up_today=topped_up_today(customer),
        )
