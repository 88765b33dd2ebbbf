"""Parsed and validated documents, cached by query text within a bound on entries and bytes.

Strawberry's ParserCache and ValidationCache bound entries only: 1,000 documents padded with
comments up to the body limit kept gigabytes alive. Here each entry is weighed (query text twice:
the key and the tokens' values, plus every token of the parse); the cache keeps at most
`max_bytes` of them, and a document weighing more than a sixteenth of that is not kept at all.
Parsing stays Strawberry's, so a parse error (token or length limit included) is answered as
one on every transport.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from graphql import DocumentNode, GraphQLError, validate
from strawberry.extensions import SchemaExtension
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

from api.error_codes import GRAPHQL_VALIDATION_FAILED, check_operation_name, with_code

# Measured with tracemalloc on graphql-core 3.3: a token with its share of the AST is 200–560 bytes.
TOKEN_BYTES = 600
ERROR_BYTES = 1000
# Strawberry adds these to every validation (strawberry.schema.schema.validate_document).
STRAWBERRY_RULES = (MaybeNullValidationRule, OneOfInputValidationRule)


@dataclass(frozen=True, slots=True)
class CachedDocument:
    """A parsed document and its validation errors."""

    document: DocumentNode
    errors: tuple[GraphQLError, ...]
    weight: int


def weigh(query: str, document: DocumentNode, errors: list[GraphQLError]) -> int:
    """Bytes an entry keeps alive, roughly: the text twice, its tokens (comments too), its errors."""
    tokens = 0
    token = document.loc.start_token if document.loc else None
    while token is not None:
        tokens += 1
        token = token.next
    return 2 * len(query.encode("utf-8", "surrogatepass")) + TOKEN_BYTES * tokens + ERROR_BYTES * len(errors)


class Weighed(Protocol):
    """An entry that knows roughly how many bytes it keeps alive."""

    @property
    def weight(self) -> int: ...


E = TypeVar("E", bound=Weighed)


class DocumentCache(Generic[E]):
    """A least-recently-used map from client text to an entry, bounded by entries and bytes.

    Parsed documents here; the persisted queries' texts by hash too (api/persisted_queries.py).
    """

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[str, E] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, query: str) -> E | None:
        """The entry for `query`, now the most recently used; counts a hit or a miss."""
        entry = self._entries.get(query)
        if entry is None:
            self.misses += 1
            return None
        self.hits += 1
        self._entries.move_to_end(query)
        return entry

    def put(self, query: str, entry: E) -> None:
        """Keep `entry` unless it is too heavy; evict the least recently used beyond the bounds."""
        if entry.weight > self.max_bytes // 16 or query in self._entries:
            return
        self._entries[query] = entry
        self.bytes += entry.weight
        while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self.bytes -= evicted.weight


class CachedDocuments(SchemaExtension):
    """Serves parsing and validation from a DocumentCache; misses are parsed and validated once.

    Listed after OperationLimits, whose parse options and validation rules a miss uses.
    `hide_suggestions` leaves "Did you mean …" out of validation errors (production).
    """

    def __init__(self, cache: DocumentCache[CachedDocument], *, hide_suggestions: bool) -> None:
        self.cache = cache
        self.hide_suggestions = hide_suggestions
        self.entry: CachedDocument | None = None

    def on_parse(self) -> Iterator[None]:
        """A cached document skips parsing; otherwise Strawberry parses (and answers its errors)."""
        query = self.execution_context.query
        if isinstance(query, str) and self.execution_context.graphql_document is None:
            self.entry = self.cache.get(query)
            if self.entry is not None:
                self.execution_context.graphql_document = self.entry.document
        yield

    def on_validate(self) -> Iterator[None]:
        """Cached errors for a cached document; otherwise validate once and keep the result.

        First, per request: a document of several operations needs an `operationName`.
        Validation errors carry GRAPHQL_VALIDATION_FAILED unless a rule gave a code of its own.
        """
        context = self.execution_context
        if context.graphql_document is not None:
            # Strawberry keeps the requested name private; its public `operation_name` falls back
            # to the first operation's, which is the behaviour this check refuses.
            check_operation_name(context.graphql_document, getattr(context, "_provided_operation_name", None))
        if self.entry is not None:
            context.pre_execution_errors = list(self.entry.errors)
        elif context.pre_execution_errors is None and context.graphql_document is not None:
            errors = validate(
                context.schema._schema,
                context.graphql_document,
                (*context.validation_rules, *STRAWBERRY_RULES),
                hide_suggestions=self.hide_suggestions,
            )
            errors = [with_code(e, GRAPHQL_VALIDATION_FAILED) for e in errors]
            context.pre_execution_errors = errors
            if isinstance(context.query, str):
                weight = weigh(context.query, context.graphql_document, errors)
                self.cache.put(context.query, CachedDocument(context.graphql_document, tuple(errors), weight))
        yield
