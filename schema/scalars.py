"""The `Decimal` scalar: two decimals out, any JSON value in (resolvers validate it); `DateTime`."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from typing import Any

import strawberry
from graphql import BooleanValueNode, IntValueNode, NullValueNode, StringValueNode, ValueNode
from strawberry.schema.types.base_scalars import DateTimeDefinition

# The numeric-string syntax of the General Decimal Arithmetic specification; the description narrows it
# (two decimals out; at most two in, or a JSON integer), as does README.md's "The Decimal scalar".
DECIMAL_SPECIFICATION = "https://speleotrove.com/decimal/daconvs.html#refnumsyn"
DATETIME_SPECIFICATION = "https://scalars.graphql.org/andimarek/date-time"


class NotAnAmount:
    """A literal that can never be an amount (float, list, object); rejected as INVALID_AMOUNT."""

    def __repr__(self) -> str:
        return "NotAnAmount()"


def _serialize(value: object) -> str:
    if not isinstance(value, Decimal):
        raise TypeError(f"Decimal fields serialise decimal.Decimal, not {type(value).__name__}")
    return f"{value:.2f}"


def _parse_value(value: Any) -> Any:
    """Pass the JSON value through: `INVALID_AMOUNT` must name the field, so the resolver judges."""
    return value


def _parse_literal(node: ValueNode, _variables: dict[str, Any] | None = None) -> Any:
    if isinstance(node, StringValueNode | BooleanValueNode):
        return node.value
    if isinstance(node, IntValueNode):
        return int(node.value)
    if isinstance(node, NullValueNode):
        return None
    return NotAnAmount()


DecimalScalar = strawberry.scalar(
    name="Decimal",
    description=(
        'An exact amount of credits as a JSON string with two decimals ("-15.50"). '
        "Inputs: a string matching ^-?[0-9]+(\\.[0-9]{1,2})?$ or a JSON integer."
    ),
    specified_by_url=DECIMAL_SPECIFICATION,
    serialize=_serialize,
    parse_value=_parse_value,
    parse_literal=_parse_literal,
)

# Strawberry's own DateTime (isoformat out, ISO 8601 in), with a description and @specifiedBy.
DateTimeScalar = dataclasses.replace(
    DateTimeDefinition,
    description=(
        'A point in time as an ISO 8601 / RFC 3339 string with its UTC offset ("2026-12-06T09:30:00+00:00").'
    ),
    specified_by_url=DATETIME_SPECIFICATION,
)

SCALAR_MAP = {Decimal: DecimalScalar, dt.datetime: DateTimeScalar}
