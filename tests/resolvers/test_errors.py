"""The one mapping of domain errors to userErrors: the argument a domain error names becomes its path."""

from __future__ import annotations

from models.errors import ErrorCode, invalid_input, not_found
from models.money import parse_positive
from resolvers.errors import INPUT, guarded
from schema.payloads import ServiceRequestPayload


async def _fails(error: Exception) -> ServiceRequestPayload:
    raise error


async def test_an_input_objects_argument_is_a_path_under_input():
    """A mutation taking an input object reports ["input", <argument>]."""
    # given: work that fails on the quantity
    # when: it runs guarded under the input object
    payload = await guarded(
        ServiceRequestPayload,
        lambda: _fails(invalid_input("quantity must be at least 1", "quantity")),
        under=INPUT,
    )
    # then: the object is null and the userError names input.quantity
    assert payload.service_request is None
    [error] = payload.user_errors
    assert (error.code, error.field, error.message) == (
        ErrorCode.INVALID_INPUT,
        ["input", "quantity"],
        "quantity must be at least 1",
    )


async def test_a_top_level_argument_is_a_path_of_its_own():
    """A mutation with plain arguments reports [<argument>]."""
    # given / when: work that fails on the id, guarded without a prefix
    payload = await guarded(ServiceRequestPayload, lambda: _fails(not_found("service request", "id")))
    # then: the path is the argument alone
    assert [(e.code, e.field) for e in payload.user_errors] == [(ErrorCode.NOT_FOUND, ["id"])]


async def test_an_error_naming_no_argument_has_no_path():
    """An error about no argument in particular (a disabled switch, bad credentials) has field null."""
    # given / when: a domain error without an argument
    payload = await guarded(ServiceRequestPayload, lambda: _fails(not_found("customer", None)), under=INPUT)
    # then: no path, even under an input object
    assert [e.field for e in payload.user_errors] == [None]


async def test_a_parse_error_names_what_the_resolver_passed():
    """The parsers of the domain carry the resolver's argument name through."""

    # given: work parsing a bad amount for the input's `amount`
    async def work() -> ServiceRequestPayload:
        parse_positive("0", "amount")
        raise AssertionError("unreachable")

    # when: it runs guarded under the input object
    payload = await guarded(ServiceRequestPayload, work, under=INPUT)
    # then: INVALID_AMOUNT on input.amount
    assert [(e.code, e.field) for e in payload.user_errors] == [
        (ErrorCode.INVALID_AMOUNT, ["input", "amount"])
    ]
