"""The GraphQL-over-HTTP media type: `application/graphql-response+json` and its status codes.

A client that asks for it gets it: a document that does not parse or validate, or variables that
do not coerce, are a request error (400, no `data` key); errors while executing keep 200 and
`data`; a mutation over GET is 405. `application/json` answers keep their shape.

A request refused before any GraphQL runs (a body that is no JSON or too large, a wrong method
or content type) answers a JSON body of `errors` with a code, in the media type asked for,
never Starlette's or Strawberry's plain text.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import Message, Scope, Send
from strawberry.types import ExecutionResult

from api.error_codes import error_body, http_error_code
from api.negotiation import weighted

GRAPHQL_RESPONSE = "application/graphql-response+json"
GRAPHQL_RESPONSE_TYPE = f"{GRAPHQL_RESPONSE}; charset=utf-8"
_JSON_RANGES = frozenset({"application/json", "application/*", "*/*"})


def wants_graphql_response(accept: str) -> bool:
    """Whether an Accept header prefers `application/graphql-response+json` (ties included) to JSON."""
    preferred = {GRAPHQL_RESPONSE: 0.0, "json": 0.0}
    for media, quality in weighted(accept):
        key = GRAPHQL_RESPONSE if media == GRAPHQL_RESPONSE else "json" if media in _JSON_RANGES else None
        if key is not None:
            preferred[key] = max(preferred[key], quality)
    return preferred[GRAPHQL_RESPONSE] > 0 and preferred[GRAPHQL_RESPONSE] >= preferred["json"]


def is_request_error(result: ExecutionResult) -> bool:
    """Nothing executed: the document did not parse or validate, or the variables did not coerce.

    Those errors have no path; an error while executing (UNAUTHENTICATED included) has one.
    """
    return result.data is None and bool(result.errors) and all(e.path is None for e in result.errors)


def request_error_response(
    message: str,
    status: int,
    headers: dict[str, str] | None = None,
    *,
    code: str,
    graphql_response: bool = True,
) -> JSONResponse:
    """A request error: errors with a code, no data (`application/graphql-response+json` if wanted)."""
    body: dict[str, Any] = error_body(message, code)
    media_type = GRAPHQL_RESPONSE_TYPE if graphql_response else "application/json"
    return JSONResponse(body, status_code=status, headers=headers, media_type=media_type)


def json_too_large(scope: Scope, send: Send) -> Send:
    """`send`, answering the body limit's 413 as a GraphQL request error instead of plain text.

    Starlette's body limit sends its plain-text 413 itself, past every handler, when the declared
    Content-Length is too large; this replaces that response (its headers kept) as it goes out.
    """
    held: list[Message] = []

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start" and message["status"] == 413:
            held.append(message)
            return
        if not held or message["type"] != "http.response.body":
            await send(message)
            return
        start = held.pop()
        accept = next((v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"accept"), "")
        answer = request_error_response(
            "Content Too Large",
            413,
            code=http_error_code(413, None),
            graphql_response=wants_graphql_response(accept),
        )
        kept = [(k, v) for k, v in start.get("headers", ()) if k not in (b"content-type", b"content-length")]
        await send({**start, "headers": kept + answer.raw_headers})
        await send({"type": "http.response.body", "body": answer.body})

    return sending


def http_error_handler(path: str) -> Callable[[Request, Exception], Awaitable[Response]]:
    """A Starlette handler answering HTTP errors on `path` (413 body limit, 405 method) as GraphQL
    request errors; other paths keep Starlette's plain text."""

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        headers = dict(exc.headers or {})
        if request.url.path != path:
            if exc.status_code in {204, 304}:
                return Response(status_code=exc.status_code, headers=headers)
            return PlainTextResponse(exc.detail, status_code=exc.status_code, headers=headers)
        return request_error_response(
            exc.detail,
            exc.status_code,
            headers,
            code=http_error_code(exc.status_code, None),
            graphql_response=wants_graphql_response(request.headers.get("accept", "")),
        )

    return http_error
