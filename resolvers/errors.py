"""The one mapping of domain errors to answers: a mutation's `userErrors`, the object null."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from models.errors import DomainError
from schema.payloads import Payload, UserError

P = TypeVar("P", bound=Payload)


async def guarded(payload: type[P], work: Callable[[], Awaitable[P]]) -> P:
    """Run a mutation's work; a domain error becomes `userErrors` with the object null."""
    try:
        return await work()
    except DomainError as error:
        return payload(user_errors=[UserError.from_domain(error)])
