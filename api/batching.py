"""HTTP batching (Apollo's BatchHttpLink): a JSON array of operations, answered by an array of results.

At most `CREDITS_MAX_BATCH_OPERATIONS` operations (Strawberry's `batching_config` refuses more
with 400, and every batch over SSE). Each operation is parsed, validated and limited on its own
(length, tokens, depth, aliases, cost), so a batch costs at most that many operations' worth;
the body limit bounds its bytes. They run one after another, in order, on one context: a
mutation sees what the one before it committed, and no batch holds more than one operation's
connection at a time. An operation refused as a request (no query, several operations and no
`operationName`, a subscription) answers its own error in its slot; the others still run.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from cross_web import HTTPException
from graphql import GraphQLError
from starlette.responses import Response
from strawberry.types import ExecutionResult

from api.error_codes import http_error_code

_TYPES: dict[str, tuple[type, ...]] = {
    "query": (str, type(None)),
    "variables": (dict, type(None)),
    "operationName": (str, type(None)),
    "extensions": (dict, type(None)),
}


def check_batch(items: list[Any]) -> None:
    """400 unless every item of a batch is an operation object (Strawberry would answer 500)."""
    if not items:
        raise HTTPException(400, "A batch must hold at least one operation.")
    for item in items:
        if not isinstance(item, dict):
            raise HTTPException(400, "Each operation of a batch must be a JSON object.")
        for key, types in _TYPES.items():
            if not isinstance(item.get(key), types):
                raise HTTPException(400, f"The GraphQL operation's `{key}` has the wrong type in a batch.")


async def run_batch(
    items: list[Any], run_one: Callable[[Any], Awaitable[ExecutionResult]], sub_response: Response
) -> list[ExecutionResult]:
    """Run each operation in turn; a request error of one stays in its result (not the batch's 400)."""
    results: list[ExecutionResult] = []
    for item in items:
        before = sub_response.status_code
        try:
            result = await run_one(item)
        except HTTPException as exc:
            code = http_error_code(exc.status_code, exc.__cause__)
            error = GraphQLError(exc.reason, extensions={"code": code})
            result = ExecutionResult(data=None, errors=[error])
        if sub_response.status_code == 400:
            sub_response.status_code = before
        results.append(result)
    return results
