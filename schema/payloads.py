"""Mutation payloads: the object under its own name, plus `userErrors`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import strawberry

from models.errors import DomainError
from models.errors import ErrorCode as _ErrorCode
from schema.enums import described
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

ErrorCode = described(
    _ErrorCode,
    "ErrorCode",
    "Codes of userErrors. Clients must tolerate values added later.",
    {
        "INVALID_AMOUNT": (
            "Not an amount (only a string matching ^-?[0-9]+(\\.[0-9]{1,2})?$ or a JSON integer is one), "
            "or outside what the field allows: |amount| ≥ 10^12, ≤ 0 for grants and withdrawals, < 0 for "
            "prices."
        ),
        "NOT_FOUND": "No such object, or one of another customer (the two are indistinguishable).",
        "INVALID_STATE": "The object can no longer change that way (a request no longer REQUESTED).",
        "CREDIT_MANAGEMENT_DISABLED": "Credit management is off: grants and withdrawals are refused.",
        "IDEMPOTENCY_CONFLICT": "The idempotencyKey was used before with other arguments.",
        "INVALID_INPUT": "An argument is malformed or out of range; `field` names it.",
        "INVALID_CREDENTIALS": "Unknown email, wrong password or deactivated user (one answer for all).",
        "RATE_LIMITED": "Too many attempts; the message says when to retry.",
        "INSUFFICIENT_CREDITS": (
            "The charge or withdrawal would leave the balance below the customer's minimumBalance; "
            "nothing changed."
        ),
        "SPEND_LIMIT_EXCEEDED": (
            "The request would take the user's spendLimit.spent above its amount; nothing changed."
        ),
    },
)


@strawberry.type(
    description="An expected failure of a mutation: a code, the argument it concerns, a message."
)
class UserError:
    """An expected failure: a code, the argument path it concerns, and a message."""

    code: ErrorCode = strawberry.field(description="What went wrong; tolerate codes added later.")
    field: list[str] | None = strawberry.field(
        description='Path from the argument root, e.g. ["input", "amount"]; null: no single argument.'
    )
    message: str = strawberry.field(description="For people; do not parse it.")

    @classmethod
    def from_domain(cls, error: DomainError, under: Sequence[str] = ()) -> UserError:
        """A domain error as a userError; its argument is a path under `under` (e.g. the input object)."""
        field = None if error.argument is None else [*under, error.argument]
        return cls(code=error.code, field=field, message=error.message)


@strawberry.type
class Payload:
    """Every payload carries userErrors; empty on success."""

    user_errors: list[UserError] = strawberry.field(
        default_factory=list,
        description="Expected failures; empty on success. When not empty, the payload's object is null.",
    )


@strawberry.type(description="The answer to login: a signed JWT, when it expires, and who logged in.")
class LoginPayload(Payload):
    """A signed JWT and when it expires."""

    token: str | None = strawberry.field(
        default=None,
        description="Send it as `Authorization: Bearer <token>` (HTTP) or in connection_init (websocket).",
    )
    expires_at: dt.datetime | None = strawberry.field(
        default=None, description="When the token stops working; log in again then."
    )
    user: User | None = strawberry.field(default=None, description="The user who logged in.")


@strawberry.type(description="The new API token; its secret is shown this once.")
class CreateApiTokenPayload(Payload):
    """The token's secret, shown this once."""

    token: str | None = strawberry.field(
        default=None,
        description="The secret: shown only here, stored only as a hash. Use it as a Bearer token.",
    )
    api_token: ApiToken | None = strawberry.field(
        default=None, description="The token's record (name, dates), as `apiTokens` lists it."
    )


@strawberry.type(description="The revoked token.")
class RevokeApiTokenPayload(Payload):
    """The revoked token."""

    api_token: ApiToken | None = strawberry.field(
        default=None, description="The token, with `revokedAt` set; it stops working at once."
    )


@strawberry.type(description="The platform's credit switches after the change.")
class CreditSettingsPayload(Payload):
    """The switches after the change."""

    credit_settings: CreditSettings | None = strawberry.field(
        default=None, description="The switches as they are now."
    )


@strawberry.type(description="The customer after the change.")
class CustomerPayload(Payload):
    """The customer after the change."""

    customer: Customer | None = strawberry.field(
        default=None, description="The customer as the change left it."
    )


@strawberry.type(description="The user after the change.")
class UserPayload(Payload):
    """The user after the change."""

    user: User | None = strawberry.field(default=None, description="The user as the change left it.")


@strawberry.type(description="The service after the change.")
class ServicePayload(Payload):
    """The service after the change."""

    service: Service | None = strawberry.field(default=None, description="The service as the change left it.")


@strawberry.type(description="The answer to grantCredits and withdrawCredits.")
class BalanceChangePayload(Payload):
    """The ledger entry and the customer as it is now."""

    transaction: CreditTransaction | None = strawberry.field(
        default=None,
        description="The ledger entry (on an idempotent repeat: the first one, read as it is now).",
    )
    customer: Customer | None = strawberry.field(
        default=None,
        description="The customer as the entry left it (balance = transaction.balanceAfter); a repeat: now.",
    )


@strawberry.type(description="The service request after the change.")
class ServiceRequestPayload(Payload):
    """The request after the change."""

    service_request: ServiceRequest | None = strawberry.field(
        default=None,
        description="The request as the change left it (on an idempotent repeat: the first one).",
    )


@strawberry.type(description="How many notifications markNotificationsRead changed.")
class MarkNotificationsReadPayload(Payload):
    """How many notifications changed to read."""

    count: int | None = strawberry.field(
        default=None, description="How many of the viewer's notifications went from unread to read."
    )


@strawberry.type(description="The answer to updateCreditLot.")
class CreditLotPayload(Payload):
    """The lot as changed."""

    lot: CreditLot | None = strawberry.field(default=None, description="The lot as changed.")
