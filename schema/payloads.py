"""Mutation payloads: the object under its own name, plus `userErrors`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import strawberry

from models.errors import DomainError
from models.errors import ErrorCode as _ErrorCode
from schema.types import (
    ApiToken,
    CreditLot,
    CreditSettings,
    CreditTransaction,
    Customer,
    Service,
    ServiceRequest,
    User,
)

ErrorCode = strawberry.enum(
    _ErrorCode,
    name="ErrorCode",
    description="Codes of userErrors. Clients must tolerate values added later.",
)


@strawberry.type
class UserError:
    """An expected failure: a code, the argument path it concerns, and a message."""

    code: ErrorCode
    field: list[str] | None
    message: str

    @classmethod
    def from_domain(cls, error: DomainError, under: Sequence[str] = ()) -> UserError:
        """A domain error as a userError; its argument is a path under `under` (e.g. the input object)."""
        field = None if error.argument is None else [*under, error.argument]
        return cls(code=error.code, field=field, message=error.message)


@strawberry.type
class Payload:
    """Every payload carries userErrors; empty on success."""

    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class LoginPayload(Payload):
    """A signed JWT and when it expires."""

    token: str | None = None
    expires_at: dt.datetime | None = None
    user: User | None = None


@strawberry.type
class CreateApiTokenPayload(Payload):
    """The token's secret, shown this once."""

    token: str | None = None
    api_token: ApiToken | None = None


@strawberry.type
class RevokeApiTokenPayload(Payload):
    """The revoked token."""

    api_token: ApiToken | None = None


@strawberry.type
class CreditSettingsPayload(Payload):
    """The switches after the change."""

    credit_settings: CreditSettings | None = None


@strawberry.type
class CustomerPayload(Payload):
    """The customer after the change."""

    customer: Customer | None = None


@strawberry.type
class UserPayload(Payload):
    """The user after the change."""

    user: User | None = None


@strawberry.type
class ServicePayload(Payload):
    """The service after the change."""

    service: Service | None = None


@strawberry.type
class BalanceChangePayload(Payload):
    """The ledger entry and the customer as it is now."""

    transaction: CreditTransaction | None = None
    customer: Customer | None = None


@strawberry.type
class ServiceRequestPayload(Payload):
    """The request after the change."""

    service_request: ServiceRequest | None = None


@strawberry.type
class MarkNotificationsReadPayload(Payload):
    """How many notifications changed to read."""

    count: int | None = None


@strawberry.type
class CreditLotPayload(Payload):
    """The lot as changed."""

    lot: CreditLot | None = None
