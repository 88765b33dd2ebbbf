"""The executable schema: root types, scalars and the extensions every request runs through."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import strawberry
from graphql import GraphQLError
from graphql.validation import ASTValidationRule, NoSchemaIntrospectionCustomRule
from starlette.responses import Response
from strawberry.extensions import MaskErrors, SchemaExtension
from strawberry.extensions.max_aliases import create_validator as aliases_rule
from strawberry.extensions.query_depth_limiter import create_validator as depth_rule
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import DEFAULT_ALLOWED_OPERATION_TYPES
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.graphql import OperationType

from api.context import FreshLoaders
from api.document_cache import CachedDocuments, DocumentCache
from api.error_codes import INTERNAL_SERVER_ERROR, ensure_codes, with_code
from api.executor import Executor, SuggestionlessExecutor
from api.extension_hooks import CachedHooksRunner
from api.query_cost import create_cost_rule
from api.request_metrics import OperationLabels, RequestMetrics, root_field_names
from api.unavailable import RETRY_AFTER_SECONDS, SERVICE_UNAVAILABLE, is_unavailable, unavailable_error
from resolvers.accounts import AccountMutations
from resolvers.catalog import CatalogMutations
from resolvers.credits import CreditMutations
from resolvers.lots import LotMutations
from resolvers.notifications import NotificationMutations
from resolvers.queries import Query
from resolvers.runway import RunwayMutations
from resolvers.service_requests import ServiceRequestMutations
from resolvers.spend_controls import SpendControlMutations
from resolvers.subscriptions import Subscription
from resolvers.webhooks import WebhookMutations
from schema.scalars import SCALAR_MAP
from settings import Settings, get_settings

log = logging.getLogger("credits.graphql")


@strawberry.type(
    description=(
        "Every change. Expected failures come back in the payload's userErrors (its object null); "
        "a role that may never call a mutation gets a top-level FORBIDDEN."
    )
)
class Mutation(
    AccountMutations,
    CatalogMutations,
    CreditMutations,
    LotMutations,
    RunwayMutations,
    ServiceRequestMutations,
    SpendControlMutations,
    NotificationMutations,
    WebhookMutations,
):
    """Every module's mutations in one type (as `strawberry.tools.merge_types` would, plus a description)."""


def should_mask(error: GraphQLError) -> bool:
    """Mask unexpected failures only: our coded errors and request errors reach the client."""
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        return False
    return error.path is not None


class MaskOrUnavailable(MaskErrors):
    """Masks unexpected failures; an unreachable database or event bus says SERVICE_UNAVAILABLE.

    Over HTTP such a response is a 503 with Retry-After, so plain HTTP clients retry too. Every
    error it lets out has an `extensions.code` (api/error_codes.py), on every transport: results
    and stream results all pass through here.
    """

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        """Say "retry" for an outage (no internal detail); "Unexpected error." for the rest."""
        if is_unavailable(error.original_error):
            return unavailable_error(error)
        return with_code(super().anonymise_error(error), INTERNAL_SERVER_ERROR)

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        """Masked as MaskErrors does, then coded."""
        return ensure_codes(super()._process_errors(errors))

    def on_operation(self) -> Iterator[None]:
        """Mask, then mark an HTTP response carrying SERVICE_UNAVAILABLE as 503."""
        yield from super().on_operation()
        result = self.execution_context.result
        errors = getattr(result, "errors", None) or []
        if any((e.extensions or {}).get("code") == SERVICE_UNAVAILABLE for e in errors):
            response = getattr(self.execution_context.context, "response", None)
            if isinstance(response, Response):
                response.status_code = 503
                response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)


class OperationLimits(SchemaExtension):
    """Length, token, depth, alias and cost limits: MaxTokensLimiter and AddValidationRules, in other hooks.

    Theirs are `on_operation` hooks, whose generators stay alive for as long as a subscription
    runs; these end with parsing and validation. Listed before CachedDocuments.
    """

    def __init__(self, max_length: int, max_tokens: int, rules: tuple[type[ASTValidationRule], ...]) -> None:
        self.max_length = max_length
        self.max_tokens = max_tokens
        self.rules = rules

    def on_parse(self) -> Iterator[None]:
        """Refuse a document longer than `max_length` before lexing, and stop after `max_tokens` tokens.

        graphql-core's `max_tokens` counts comments too; the length bounds one long comment or string.
        """
        self.execution_context.parse_options["max_source_length"] = self.max_length
        self.execution_context.parse_options["max_tokens"] = self.max_tokens
        yield
        # A syntax error's traceback holds Strawberry's frame, which holds the execution context,
        # which holds the error: a cycle keeping the document (and the request's body) alive
        # until a full garbage collection. The error is answered without its traceback.
        for error in self.execution_context.pre_execution_errors or ():
            error.__traceback__ = None

    def on_validate(self) -> Iterator[None]:
        """Validate with the depth, alias (and, in production, introspection) rules too."""
        self.execution_context.validation_rules = self.execution_context.validation_rules + self.rules
        yield


class Schema(strawberry.Schema):
    """Logs only unexpected failures (with their traceback); client errors are the client's."""

    documents: DocumentCache | None = None

    async def execute(
        self,
        query: str | None,
        *args: Any,
        allowed_operation_types: Iterable[OperationType] | None = None,
        **kwargs: Any,
    ) -> ExecutionResult:
        """Run a query or mutation; a subscription needs a stream (`stream`, `subscribe`).

        graphql-core cannot execute a subscription as a single result: it raised, and was masked.
        """
        if allowed_operation_types is None:
            allowed_operation_types = DEFAULT_ALLOWED_OPERATION_TYPES
        allowed = set(allowed_operation_types) - {OperationType.SUBSCRIPTION}
        return await super().execute(query, *args, allowed_operation_types=allowed, **kwargs)

    def create_extensions_runner(
        self, execution_context: ExecutionContext, extensions: list[SchemaExtension]
    ) -> SchemaExtensionsRunner:
        """A runner that works out each extension class's hooks once, not per request."""
        return CachedHooksRunner(execution_context=execution_context, extensions=extensions)

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Log what would be masked; auth, validation and input errors are answered, not logged."""
        for error in errors:
            if not should_mask(error):
                continue
            if is_unavailable(error.original_error):
                cause = error.original_error
                log.warning("service unavailable in %s: %s: %s", error.path, type(cause).__name__, cause)
            else:
                log.error("unexpected error in %s", error.path, exc_info=error.original_error)


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    """The schema with a document cache (18× cheaper per request), query limits and masking.

    Production also turns introspection and every "Did you mean …" suggestion off.
    """
    settings = settings or get_settings()
    production = not settings.is_development
    # The rules are built once: QueryDepthLimiter and MaxAliasesLimiter make a new rule class per
    # request; the cached validation result is only right for the rules it was validated with.
    rules: tuple[type[ASTValidationRule], ...] = (
        depth_rule(settings.max_query_depth, None),
        aliases_rule(settings.max_query_aliases),
        create_cost_rule(settings.max_query_cost),
    )
    if production:
        rules += (NoSchemaIntrospectionCustomRule,)
    labels = OperationLabels()
    documents = DocumentCache(max_entries=1000, max_bytes=settings.query_cache_bytes)
    extensions: list[Callable[[], SchemaExtension]] = [
        lambda: RequestMetrics(labels),
        lambda: OperationLimits(settings.max_query_length, settings.max_query_tokens, rules),
        lambda: CachedDocuments(documents, hide_suggestions=production),
        lambda: MaskOrUnavailable(should_mask_error=should_mask),
        FreshLoaders,
    ]
    built = Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        config=StrawberryConfig(
            scalar_map=SCALAR_MAP,
            disable_field_suggestions=production,
            batching_config={"max_operations": settings.max_batch_operations}
            if settings.max_batch_operations
            else None,
        ),
        extensions=extensions,
        execution_context_class=SuggestionlessExecutor if production else Executor,
    )
    built.documents = documents
    labels.root_fields = root_field_names(built)
    return built


schema = build_schema()
