"""Input objects; `Decimal` fields arrive as raw JSON values and are checked by the resolver."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import strawberry

from schema.enums import Role


@strawberry.input
class BalanceChangeInput:
    """A grant or withdrawal; the amount is greater than zero."""

    customer_id: strawberry.ID
    amount: Decimal
    note: str | None = None
    idempotency_key: str | None = None
    expires_at: dt.datetime | None = strawberry.field(default=None, description="grantCredits only")
    priority: int | None = strawberry.field(default=None, description="grantCredits only; default 50")


@strawberry.input
class CreateCustomerInput:
    """A new customer."""

    name: str


@strawberry.input
class CreateUserInput:
    """A new user; `customerId` for customer roles only."""

    email: str
    name: str
    role: Role
    password: str
    customer_id: strawberry.ID | None = None


@strawberry.input
class CreateServiceInput:
    """A new service; a null price is not chargeable."""

    name: str
    credit_price: Decimal | None = None


@strawberry.input
class SetCreditAlertInput:
    """A threshold (any amount) or null to turn threshold alerts off."""

    customer_id: strawberry.ID
    threshold: Decimal | None = None


@strawberry.input
class RequestServiceInput:
    """A request of `quantity` units (null: 1) of a service for a customer (default: the caller's)."""

    service_id: strawberry.ID
    quantity: int | None = 1
    customer_id: strawberry.ID | None = None
    idempotency_key: str | None = None


@strawberry.input
class UpdateCreditLotInput:
    """What to change on a lot; an omitted field stays, `expiresAt: null` removes the expiry."""

    expires_at: dt.datetime | None = strawberry.UNSET
    priority: int | None = strawberry.UNSET
