"""The GraphQL-over-HTTP media type: `application/graphql-response+json` and its status codes.

A client that asks for it gets it: a document that does not parse or validate, or variables that
do not coerce, are a request error (400, no `data` key); errors while executing keep 200 and
`data`; a mutation over GET is 405. `application/json` answers keep their shape.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse
from strawberry.types import ExecutionResult

GRAPHQL_RESPONSE = "application/graphql-response+json"
GRAPHQL_RESPONSE_TYPE = f"{GRAPHQL_RESPONSE}; charset=utf-8"
_JSON_RANGES = frozenset({"application/json", "application/*", "*/*"})


def wants_graphql_response(accept: str) -> bool:
    """Whether an Accept header prefers `application/graphql-response+json` (ties included) to JSON."""
    preferred = {GRAPHQL_RESPONSE: 0.0, "json": 0.0}
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        media = media.lower()
        key = GRAPHQL_RESPONSE if media == GRAPHQL_RESPONSE else "json" if media in _JSON_RANGES else None
        if key is not None:
            preferred[key] = max(preferred[key], quality)
    return preferred[GRAPHQL_RESPONSE] > 0 and preferred[GRAPHQL_RESPONSE] >= preferred["json"]


def is_request_error(result: ExecutionResult) -> bool:
    """Nothing executed: the document did not parse or validate, or the variables did not coerce.

    Those errors have no path; an error while executing (UNAUTHENTICATED included) has one.
    """
    return result.data is None and bool(result.errors) and all(e.path is None for e in result.errors)


def request_error_response(message: str, status: int, headers: dict[str, str] | None = None) -> JSONResponse:
    """A request error as `application/graphql-response+json`: errors, no data."""
    body: dict[str, Any] = {"errors": [{"message": message}]}
    return JSONResponse(body, status_code=status, headers=headers, media_type=GRAPHQL_RESPONSE_TYPE)
