"""Domain errors: exceptions with a contract code, naming the argument they concern.

The domain knows argument names, not GraphQL paths: the resolver layer (`resolvers/errors.py`)
puts the name under the mutation's input object, or leaves it top-level.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """The codes of API.md's userErrors; clients tolerate codes added later."""

    INVALID_AMOUNT = "INVALID_AMOUNT"
    NOT_FOUND = "NOT_FOUND"
    INVALID_STATE = "INVALID_STATE"
    CREDIT_MANAGEMENT_DISABLED = "CREDIT_MANAGEMENT_DISABLED"
    IDEMPOTENCY_CONFLICT = "IDEMPOTENCY_CONFLICT"
    INVALID_INPUT = "INVALID_INPUT"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    RATE_LIMITED = "RATE_LIMITED"
    INSUFFICIENT_CREDITS = "INSUFFICIENT_CREDITS"
    SPEND_LIMIT_EXCEEDED = "SPEND_LIMIT_EXCEEDED"


class DomainError(Exception):
    """An expected failure of a domain operation; nothing it touched was committed."""

    def __init__(self, code: ErrorCode, message: str, argument: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.argument = argument  # what was wrong: "customerId", "quantity", "id", "first"…


def not_found(what: str, argument: str | None) -> DomainError:
    """The same answer for another tenant's object and a missing one."""
    return DomainError(ErrorCode.NOT_FOUND, f"{what} not found", argument)


def invalid_input(message: str, argument: str | None) -> DomainError:
    """A well-typed argument whose value breaks a rule."""
    return DomainError(ErrorCode.INVALID_INPUT, message, argument)
