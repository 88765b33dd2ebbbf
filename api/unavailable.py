"""An unreachable database or event bus: recognised, and answered as a top-level SERVICE_UNAVAILABLE error."""

from __future__ import annotations

import errno
import socket
from typing import Any

import asyncpg
from graphql import GraphQLError
from tortoise.exceptions import DBConnectionError

SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
UNAVAILABLE_MESSAGE = (
    "The service is temporarily unavailable. Retry shortly; send the same idempotencyKey to "
    "retry a mutation safely."
)
RETRY_AFTER_SECONDS = 1

_NETWORK_ERRNOS = frozenset(
    {errno.ECONNREFUSED, errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE, errno.ETIMEDOUT}
    | {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ENETDOWN, errno.EHOSTDOWN}
)
# Connection loss and refusal, server shutting down or starting up, too many connections,
# statement cancelled (command timeout), and the driver's "connection closed mid-operation".
# asyncpg raises InternalClientError ("cannot switch to state …; another operation is in
# progress") on a connection whose server sent "terminating connection" between two statements.
# A deadlock or serialization failure reaches here only once the unit of work's retries ran out.
_UNAVAILABLE_TYPES: tuple[type[BaseException], ...] = (
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.SerializationError,
    ConnectionError,
    TimeoutError,
    socket.gaierror,
    DBConnectionError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.InternalClientError,
)


def _redis_errors() -> tuple[type[BaseException], ...]:
    try:
        import redis.exceptions
    except ImportError:  # pragma: no cover - redis comes with broadcaster[redis]
        return ()
    return (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


_UNAVAILABLE_TYPES += _redis_errors()


def is_unavailable(error: BaseException | None) -> bool:
    """Whether `error`, or what caused it, means the database or event bus is unreachable.

    Looks through `__cause__` and `__context__`: Tortoise and the drivers re-raise, and a
    rollback on a dropped connection fails with its own error on top of the first.
    """
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, _UNAVAILABLE_TYPES):
            return True
        if isinstance(error, OSError) and error.errno in _NETWORK_ERRNOS:
            return True
        error = error.__cause__ or error.__context__
    return False


def unavailable_error(error: GraphQLError | None = None) -> GraphQLError:
    """The top-level error for a request the database or event bus could not serve: retry."""
    return GraphQLError(
        UNAVAILABLE_MESSAGE,
        nodes=error.nodes if error else None,
        source=error.source if error else None,
        positions=error.positions if error else None,
        path=error.path if error else None,
        extensions={"code": SERVICE_UNAVAILABLE},
    )


def unavailable_body() -> dict[str, Any]:
    """A whole GraphQL response for a request that failed before execution (e.g. authentication)."""
    return {"data": None, "errors": [unavailable_error().formatted]}
