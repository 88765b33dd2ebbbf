"""Input objects; `Decimal` fields arrive as raw JSON values and are checked by the resolver."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import strawberry

from schema.enums import Role, SpendLimitPeriod


@strawberry.input(description="A grant or withdrawal (catalog administrators).")
class BalanceChangeInput:
    """A grant or withdrawal; the amount is greater than zero."""

    customer_id: strawberry.ID = strawberry.field(description="The customer whose balance changes.")
    amount: Decimal = strawberry.field(
        description=(
            'Greater than zero: a Decimal string ("100", "12.50") or a JSON integer; else INVALID_AMOUNT.'
        ),
    )
    note: str | None = strawberry.field(
        default=None,
        description="Shown to administrators with the ledger entry (end users see null).",
    )
    idempotency_key: str | None = strawberry.field(
        default=None,
        description=(
            "At most 255 characters: a repeat with the same arguments returns the first result and changes "
            "nothing; other arguments: IDEMPOTENCY_CONFLICT. Kept at least 24 hours."
        ),
    )
    expires_at: dt.datetime | None = strawberry.field(
        default=None,
        description="grantCredits only: when the new lot expires (future, within 100 years); null: never.",
    )
    priority: int | None = strawberry.field(
        default=None, description="grantCredits only: the new lot's priority, 0–100 (null: 50), lower first."
    )


@strawberry.input(description="A new customer (catalog administrators).")
class CreateCustomerInput:
    """A new customer."""

    name: str = strawberry.field(
        description="Shown in lists (customers are listed by name) and searched by `customers(search:)`.",
    )


@strawberry.input(description="A new user; `customerId` for customer roles only.")
class CreateUserInput:
    """A new user; `customerId` for customer roles only."""

    email: str = strawberry.field(
        description="Exactly one mailbox; unique, compared case-insensitively. Used to log in.",
    )
    name: str = strawberry.field(description="The user's display name.")
    role: Role = strawberry.field(
        description="A customer administrator may create CUSTOMER_ADMIN and END_USER only (else FORBIDDEN).",
    )
    password: str = strawberry.field(description="What the user logs in with; stored only as a hash.")
    customer_id: strawberry.ID | None = strawberry.field(
        default=None,
        description=(
            "Required for CUSTOMER_ADMIN and END_USER (a customer administrator may leave it out: its own); "
            "absent for CATALOG_ADMIN."
        ),
    )


@strawberry.input(description="A new service of the catalog (catalog administrators).")
class CreateServiceInput:
    """A new service; a null price is not chargeable."""

    name: str = strawberry.field(description="The service's name.")
    credit_price: Decimal | None = strawberry.field(
        default=None,
        description="Credits per unit, ≥ 0 (Decimal); null: not chargeable.",
    )


@strawberry.input(description="The balance below which the customer's administrators are alerted.")
class SetCreditAlertInput:
    """A threshold (any amount) or null to turn threshold alerts off."""

    customer_id: strawberry.ID = strawberry.field(
        description="The customer (a customer administrator: its own).",
    )
    threshold: Decimal | None = strawberry.field(
        default=None,
        description="Any amount, negative included (Decimal); null turns threshold alerts off.",
    )


@strawberry.input(description="The days of runway below which the customer's administrators are alerted.")
class SetRunwayAlertInput:
    """Days from 1 to 365, or null to turn runway alerts off."""

    customer_id: strawberry.ID = strawberry.field(
        description="The customer (a customer administrator: its own).",
    )
    days: int | None = strawberry.field(
        default=None,
        description="RUNWAY_LOW fires when runway.depletesAt comes within this many days (1–365); null: off.",
    )


@strawberry.input(description="The floor no charge or withdrawal of the customer may take its balance below.")
class SetMinimumBalanceInput:
    """A minimum balance (any amount) or null to remove it."""

    customer_id: strawberry.ID = strawberry.field(description="The customer.")
    minimum_balance: Decimal | None = strawberry.field(
        default=None,
        description='Any amount, e.g. "-50.00" or "0.00" (Decimal); null removes the floor.',
    )


@strawberry.input(description="The customer's auto top-up rule (replaces any it had).")
class SetAutoTopUpInput:
    """Threshold, amount and the terms of the lots the top-ups create."""

    customer_id: strawberry.ID = strawberry.field(description="The customer.")
    threshold: Decimal = strawberry.field(
        description="Any amount: a debit that would take the balance from at or above it to below it tops up."
    )
    amount: Decimal = strawberry.field(description="What each top-up grants, > 0.")
    priority: int | None = strawberry.field(
        default=None, description="The priority of the lots it creates, 0-100; null: 50."
    )
    expires_in_days: int | None = strawberry.field(
        default=None, description="The lots it creates expire after this many days, 1-3650; null: never."
    )
    max_per_day: int | None = strawberry.field(
        default=None, description="Top-ups per UTC day, 1-24; null: 3."
    )


@strawberry.input(description="What a user's service requests may take per UTC day or month.")
class SetSpendLimitInput:
    """An amount and period, or a null amount to remove the limit."""

    user_id: strawberry.ID = strawberry.field(
        description="The user (a customer administrator: a user of its customer)."
    )
    amount: Decimal | None = strawberry.field(
        default=None, description="≥ 0 (Decimal); null removes the limit."
    )
    period: SpendLimitPeriod | None = strawberry.field(
        default=None, description="The UTC calendar DAY or MONTH it counts; null: MONTH."
    )


@strawberry.input(
    description="A request of `quantity` units of a service; price × quantity is debited at once."
)
class RequestServiceInput:
    """A request of `quantity` units (null: 1) of a service for a customer (default: the caller's)."""

    service_id: strawberry.ID = strawberry.field(description="The service to request.")
    quantity: int | None = strawberry.field(
        default=1,
        description="At least 1 (null: 1); price × quantity must stay below 10^12, else INVALID_INPUT.",
    )
    customer_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="The customer to charge; left out: the caller's own.",
    )
    idempotency_key: str | None = strawberry.field(
        default=None,
        description=(
            "At most 255 characters: a repeat with the same arguments returns the first request and changes "
            "nothing; other arguments: IDEMPOTENCY_CONFLICT. Kept at least 24 hours."
        ),
    )


@strawberry.input(description="What to change on an ACTIVE lot; an omitted field stays as it is.")
class UpdateCreditLotInput:
    """What to change on a lot; an omitted field stays, `expiresAt: null` removes the expiry."""

    expires_at: dt.datetime | None = strawberry.field(
        default=strawberry.UNSET,
        description="A future date within 100 years (else INVALID_INPUT); null removes the expiry.",
    )
    priority: int | None = strawberry.field(
        default=strawberry.UNSET,
        description="0–100, lower is consumed first (else INVALID_INPUT).",
    )
