"""`extensions.code` for every top-level error, on every transport (API.md, "Clients").

Our own errors carry their code (UNAUTHENTICATED, FORBIDDEN, INVALID_INPUT, SERVICE_UNAVAILABLE,
…). The rest get Apollo Server's codes: a document that does not parse (the length and token
limits included) is GRAPHQL_PARSE_FAILED, one that does not validate (the depth, alias and cost
limits included) GRAPHQL_VALIDATION_FAILED, variables that do not coerce BAD_USER_INPUT, an
operation that cannot be chosen (several and no `operationName`, or a name that is none of them)
OPERATION_RESOLUTION_FAILURE, a request that is no GraphQL request BAD_REQUEST, and an
unexpected failure (masked) INTERNAL_SERVER_ERROR.
"""

from __future__ import annotations

from typing import Any

from graphql import DocumentNode, GraphQLError, GraphQLSyntaxError, OperationDefinitionNode
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError

GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
BAD_USER_INPUT = "BAD_USER_INPUT"
OPERATION_RESOLUTION_FAILURE = "OPERATION_RESOLUTION_FAILURE"
BAD_REQUEST = "BAD_REQUEST"
PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"

OPERATION_NAME_REQUIRED = "Must provide operation name if query contains multiple operations."


class OperationNameRequired(CannotGetOperationTypeError):
    """A document with several operations and no `operationName` (the GraphQL spec's request error).

    A CannotGetOperationTypeError, so that every transport answers it as Strawberry answers an
    unknown operation name: HTTP 400, an `error` on the websockets, an error event over SSE.
    """

    def __init__(self) -> None:
        super().__init__(None)

    def as_http_error_reason(self) -> str:
        """The GraphQL specification's wording."""
        return OPERATION_NAME_REQUIRED


def code_of(error: GraphQLError) -> str | None:
    """The error's `extensions.code`, if it has one."""
    code = (error.extensions or {}).get("code")
    return code if isinstance(code, str) else None


def with_code(error: GraphQLError, code: str) -> GraphQLError:
    """`error`, given `code` unless it has one already."""
    if code_of(error) is None:
        error.extensions = {**(error.extensions or {}), "code": code}
    return error


def fallback_code(error: GraphQLError) -> str:
    """The code of an error that has none: what kind of request error it is, or unexpected."""
    original = error.original_error
    if isinstance(error, GraphQLSyntaxError):
        return GRAPHQL_PARSE_FAILED
    if isinstance(original, CannotGetOperationTypeError):
        return OPERATION_RESOLUTION_FAILURE
    if isinstance(original, InvalidOperationTypeError):
        return BAD_REQUEST
    if error.path is None and (original is None or isinstance(original, GraphQLError)):
        # Parse and validation errors are coded where they arise: before execution, without a
        # path, only the variables' coercion is left.
        return BAD_USER_INPUT
    return INTERNAL_SERVER_ERROR


def ensure_codes(errors: list[GraphQLError]) -> list[GraphQLError]:
    """Every error with a code (those without get `fallback_code`)."""
    return [with_code(e, fallback_code(e)) for e in errors]


def check_operation_name(document: DocumentNode, operation_name: str | None) -> None:
    """Raise OperationNameRequired for several operations and no name (Strawberry would run the first)."""
    if operation_name is not None:
        return  # an unknown name: Strawberry raises CannotGetOperationTypeError itself
    operations = sum(isinstance(d, OperationDefinitionNode) for d in document.definitions)
    if operations > 1:
        raise OperationNameRequired


def http_error_code(status: int, cause: BaseException | None) -> str:
    """The code of a request refused before any GraphQL ran (a Strawberry or Starlette HTTP error)."""
    if isinstance(cause, CannotGetOperationTypeError):
        return OPERATION_RESOLUTION_FAILURE
    if status == 413:
        return PAYLOAD_TOO_LARGE
    return BAD_REQUEST


def error_body(message: str, code: str) -> dict[str, Any]:
    """A response body of one top-level error with its code."""
    return {"errors": [{"message": message, "extensions": {"code": code}}]}
