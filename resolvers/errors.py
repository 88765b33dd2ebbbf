"""The one mapping of domain errors to answers: a mutation's `userErrors`, the object null."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from models.errors import DomainError
from schema.payloads import Payload, UserError

P = TypeVar("P", bound=Payload)

INPUT = ("input",)  # the argument of every mutation that takes an input object


async def guarded(payload: type[P], work: Callable[[], Awaitable[P]], *, under: Sequence[str] = ()) -> P:
    """Run a mutation's work; a domain error becomes `userErrors` with the object null.

    The error's argument becomes its `field` path: under the input object (`under=INPUT`) for
    mutations that take one, top-level otherwise.
    """
    try:
        return await work()
    except DomainError as error:
        return payload(user_errors=[UserError.from_domain(error, under)])
