"""Amounts as integer hundredths: what models/money.py accepts, rejects and prints."""

from __future__ import annotations

from decimal import Decimal

import pytest

from models.errors import DomainError, ErrorCode
from models.money import (
    format_amount,
    parse_amount,
    parse_positive,
    parse_price,
    parse_threshold,
    to_decimal,
)

FIELD = "amount"

ACCEPTED = [
    ("100", 10000),
    (100, 10000),
    ("100.00", 10000),
    ("100.0", 10000),
    ("-15.5", -1550),
    ("-15.50", -1550),
    ("0.01", 1),
    ("0", 0),
    (0, 0),
    ("-0", 0),
    ("007", 700),
    (-3, -300),
    ("999999999999.99", 99999999999999),
    ("-999999999999.99", -99999999999999),
    (999999999999, 99999999999900),
    (-999999999999, -99999999999900),
]

REJECTED = [
    "1.234",
    "0.001",
    "NaN",
    "nan",
    "Infinity",
    "-Infinity",
    "inf",
    "1e2",
    "1E2",
    "1e400",
    "abc",
    "",
    " ",
    " 1",
    "1 ",
    "1\n",
    "\n1",
    "+1",
    "--1",
    "1.",
    ".5",
    "-.5",
    "1,5",
    "1_000",
    "0x10",
    "١٢",  # Arabic-Indic digits: Decimal() would take them, the contract does not
    "１２",  # fullwidth digits
    1.5,
    1.0,
    0.0,
    float("nan"),
    float("inf"),
    Decimal("1"),
    True,
    False,
    None,
    [],
    [1],
    {},
    {"amount": 1},
    10**12,
    -(10**12),
    10**400,
    "1000000000000",
    "-1000000000000",
    "1000000000000.00",
    "999999999999.995",
]


def _rejected(call, value) -> DomainError:
    """The INVALID_AMOUNT raised by `call(value, FIELD)`."""
    with pytest.raises(DomainError) as caught:
        call(value, FIELD)
    return caught.value


@pytest.mark.parametrize(("value", "cents"), ACCEPTED)
def test_parse_amount_accepts_exact_hundredths(value, cents):
    """Strings of up to two decimals and JSON integers become exact hundredths."""
    # given: a well-formed amount
    # when: it is parsed
    parsed = parse_amount(value, FIELD)
    # then: it is the exact number of hundredths, an int
    assert parsed == cents
    assert type(parsed) is int


@pytest.mark.parametrize("value", REJECTED, ids=repr)
def test_parse_amount_rejects_anything_else(value):
    """Floats, booleans, exponents, padding, unicode digits and huge values are INVALID_AMOUNT."""
    # given: a value that is not a contract amount
    # when: it is parsed
    error = _rejected(parse_amount, value)
    # then: INVALID_AMOUNT names the argument it came from
    assert error.code == ErrorCode.INVALID_AMOUNT
    assert error.argument == FIELD
    assert error.message


def test_the_error_names_the_given_field():
    """The argument named is whatever the caller passed (the resolver makes it a path)."""
    # given: an argument name
    argument = "creditPrice"
    # when: a bad amount is parsed for it
    with pytest.raises(DomainError) as caught:
        parse_amount("abc", argument)
    # then: the error names that argument
    assert caught.value.argument == "creditPrice"
    assert caught.value.code == "INVALID_AMOUNT"


@pytest.mark.parametrize(
    ("value", "cents"), [("0.01", 1), (1, 100), ("100", 10000), ("999999999999.99", 99999999999999)]
)
def test_parse_positive_accepts_amounts_above_zero(value, cents):
    """Grants and withdrawals take any amount greater than zero."""
    # given / when: a positive amount is parsed
    parsed = parse_positive(value, FIELD)
    # then: its hundredths
    assert parsed == cents


@pytest.mark.parametrize("value", [0, "0", "0.00", "-0", "-0.01", "-5", -5, None, "1.234", 1.5, True, 10**12])
def test_parse_positive_rejects_zero_negative_and_bad_amounts(value):
    """Zero, negatives and malformed amounts are INVALID_AMOUNT."""
    # given / when: a non-positive or malformed amount is parsed
    error = _rejected(parse_positive, value)
    # then: INVALID_AMOUNT on the field
    assert (error.code, error.argument) == (ErrorCode.INVALID_AMOUNT, FIELD)


@pytest.mark.parametrize(
    ("value", "cents"), [(None, None), ("0", 0), (0, 0), ("0.00", 0), ("40", 4000), ("15.5", 1550)]
)
def test_parse_price_accepts_null_and_non_negative(value, cents):
    """A price is null (not chargeable) or at least zero."""
    # given / when: a price is parsed
    parsed = parse_price(value, FIELD)
    # then: null stays null, the rest are hundredths
    assert parsed == cents


@pytest.mark.parametrize("value", ["-0.01", "-1", -1, "abc", 1.5, True, [], {}, "1e2", 10**12])
def test_parse_price_rejects_negative_and_bad_amounts(value):
    """A negative or malformed price is INVALID_AMOUNT."""
    # given / when: a bad price is parsed
    error = _rejected(parse_price, value)
    # then: INVALID_AMOUNT on the field
    assert (error.code, error.argument) == (ErrorCode.INVALID_AMOUNT, FIELD)


@pytest.mark.parametrize(
    ("value", "cents"), [(None, None), ("-15.50", -1550), (-20, -2000), ("0", 0), ("250.05", 25005)]
)
def test_parse_threshold_accepts_any_amount_or_null(value, cents):
    """A threshold may be negative, zero, positive, or null for none."""
    # given / when: a threshold is parsed
    parsed = parse_threshold(value, FIELD)
    # then: its hundredths, or None
    assert parsed == cents


@pytest.mark.parametrize("value", ["NaN", "1.234", 1.5, True, "", -(10**12), "abc"])
def test_parse_threshold_rejects_bad_amounts(value):
    """A malformed threshold is INVALID_AMOUNT."""
    # given / when: a bad threshold is parsed
    error = _rejected(parse_threshold, value)
    # then: INVALID_AMOUNT on the field
    assert (error.code, error.argument) == (ErrorCode.INVALID_AMOUNT, FIELD)


@pytest.mark.parametrize(
    ("cents", "text"),
    [
        (-1550, "-15.50"),
        (0, "0.00"),
        (1, "0.01"),
        (-5, "-0.05"),
        (10000, "100.00"),
        (-1500, "-15.00"),
        (99999999999999, "999999999999.99"),
        (-99999999999999, "-999999999999.99"),
        (200000000000000, "2000000000000.00"),
    ],
)
def test_format_amount_always_prints_two_decimals(cents, text):
    """Hundredths print as the contract's two-decimal string, never in exponent form."""
    # given / when: hundredths are formatted
    formatted = format_amount(cents)
    # then: exactly two decimals
    assert formatted == text


@pytest.mark.parametrize("cents", [0, 1, -1550, 10000, 99999999999999])
def test_to_decimal_round_trips_through_parse_amount(cents):
    """A formatted amount parses back to the same hundredths, as a two-place Decimal."""
    # given: hundredths as a Decimal and as text
    value = to_decimal(cents)
    # when: the text is parsed again
    parsed = parse_amount(format_amount(cents), FIELD)
    # then: nothing was lost and the Decimal has two places
    assert parsed == cents
    assert value.as_tuple().exponent == -2
