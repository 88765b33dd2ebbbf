"""Exact credits: integer hundredths inside, two-decimal `Decimal` outside, never a float."""

from __future__ import annotations

import re
from decimal import Decimal

from models.errors import DomainError, ErrorCode

CENTS = 100
# Every amount's absolute value stays below 10^12 credits.
LIMIT_CENTS = 10**12 * CENTS
_AMOUNT = re.compile(r"-?[0-9]+(\.[0-9]{1,2})?")
_TWO_PLACES = Decimal("0.01")


def _invalid(message: str, argument: str) -> DomainError:
    return DomainError(ErrorCode.INVALID_AMOUNT, message, argument)


def parse_amount(value: object, argument: str) -> int:
    """Turn a JSON amount (string or integer) into hundredths, or raise INVALID_AMOUNT."""
    if isinstance(value, bool):
        cents = None
    elif isinstance(value, int):
        cents = value * CENTS
    elif isinstance(value, str) and _AMOUNT.fullmatch(value):
        cents = int(Decimal(value) * CENTS)
    else:
        cents = None
    if cents is None:
        raise _invalid("amount must be a number with at most two decimals", argument)
    if abs(cents) >= LIMIT_CENTS:
        raise _invalid("amount must be below 10^12 in absolute value", argument)
    return cents


def parse_positive(value: object, argument: str) -> int:
    """An amount that must be greater than zero (grants and withdrawals)."""
    cents = parse_amount(value, argument)
    if cents <= 0:
        raise _invalid("amount must be greater than zero", argument)
    return cents


def parse_price(value: object, argument: str) -> int | None:
    """A credit price: null (not chargeable) or at least zero."""
    if value is None:
        return None
    cents = parse_amount(value, argument)
    if cents < 0:
        raise _invalid("price must not be negative", argument)
    return cents


def parse_threshold(value: object, argument: str) -> int | None:
    """An alert threshold: any amount, negative included, or null for none."""
    return None if value is None else parse_amount(value, argument)


def to_decimal(cents: int) -> Decimal:
    """Hundredths as a `Decimal` with exactly two places."""
    return (Decimal(cents) / CENTS).quantize(_TWO_PLACES)


def format_amount(cents: int) -> str:
    """Hundredths as the contract's two-decimal string, e.g. "-15.50"."""
    return f"{to_decimal(cents):.2f}"
