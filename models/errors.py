"""Domain errors: exceptions with a contract code that one mapping turns into userErrors."""

from __future__ import annotations

from collections.abc import Sequence
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


class DomainError(Exception):
    """An expected failure of a domain operation; nothing it touched was committed."""

    def __init__(self, code: ErrorCode, message: str, field: Sequence[str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = list(field) if field is not None else None


def not_found(what: str, field: Sequence[str] | None) -> DomainError:
    """The same answer for another tenant's object and a missing one."""
    return DomainError(ErrorCode.NOT_FOUND, f"{what} not found", field)


def invalid_input(message: str, field: Sequence[str] | None) -> DomainError:
    """A well-typed argument whose value breaks a rule."""
    return DomainError(ErrorCode.INVALID_INPUT, message, field)
