"""Request metrics: each query and mutation counted and timed under its root field's name."""

from __future__ import annotations

from collections.abc import Iterator
from time import perf_counter

import strawberry
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
)
from strawberry.extensions import SchemaExtension

import metrics


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    """The operation a request runs: the named one, or the only one."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return operations[0] if len(operations) == 1 else None
    return next((op for op in operations if op.name is not None and op.name.value == name), None)


def _collect_fields(
    document: DocumentNode, selections: SelectionSetNode, names: set[str], seen: set[str]
) -> bool:
    """Add the field names of a root selection set, through fragments; False for an unknown fragment."""
    for selection in selections.selections:
        if isinstance(selection, FieldNode):
            names.add(selection.name.value)
        elif isinstance(selection, InlineFragmentNode):
            if not _collect_fields(document, selection.selection_set, names, seen):
                return False
        elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
            seen.add(selection.name.value)
            fragment = next(
                (
                    d
                    for d in document.definitions
                    if isinstance(d, FragmentDefinitionNode) and d.name.value == selection.name.value
                ),
                None,
            )
            if fragment is None or not _collect_fields(document, fragment.selection_set, names, seen):
                return False
    return True


def operation_label(document: DocumentNode | None, name: str | None, known: frozenset[str]) -> str | None:
    """The metrics' `operation`: the root field run, "multiple" or "unknown"; None for a subscription.

    Only names in `known` (the schema's root fields) become labels, never client-chosen strings.
    """
    operation = None if document is None else _operation(document, name)
    if operation is None or document is None:
        return metrics.UNKNOWN_OPERATION
    if operation.operation is OperationType.SUBSCRIPTION:
        return None
    names: set[str] = set()
    if not _collect_fields(document, operation.selection_set, names, set()) or not names <= known:
        return metrics.UNKNOWN_OPERATION
    if len(names) > 1:
        names.discard("__typename")
    return next(iter(names)) if len(names) == 1 else metrics.MULTIPLE_OPERATIONS


def _outcome(result: object) -> str:
    """error (top-level errors, or no result at all), user_error (a payload's userErrors), or ok."""
    if result is None or getattr(result, "errors", None):
        return "error"
    data = getattr(result, "data", None)
    if isinstance(data, dict):
        for payload in data.values():
            if isinstance(payload, dict) and payload.get("userErrors"):
                return "user_error"
    return "ok"


class OperationLabels:
    """`operation_label` per parsed document, remembered: ParserCache hands out the same documents."""

    def __init__(self, maxsize: int = 1000) -> None:
        self.root_fields: frozenset[str] = frozenset()
        self.maxsize = maxsize
        # Keyed by id(); the entry keeps its document alive, so the id cannot be reused meanwhile.
        self._cache: dict[tuple[int, str | None], tuple[DocumentNode, str | None]] = {}

    def label(self, document: DocumentNode | None, name: str | None) -> str | None:
        """The `operation` label of a request's document and operation name (None: a subscription)."""
        if document is None:
            return metrics.UNKNOWN_OPERATION
        key = (id(document), name)
        hit = self._cache.get(key)
        if hit is not None:
            return hit[1]
        label = operation_label(document, name, self.root_fields)
        if len(self._cache) >= self.maxsize:
            self._cache.clear()
        self._cache[key] = (document, label)
        return label


class RequestMetrics(SchemaExtension):
    """Counts and times each query and mutation by root field and outcome (subscriptions: gauges).

    First in the extension list, so it times the others too and sees the final, masked result.
    """

    def __init__(self, labels: OperationLabels) -> None:
        super().__init__()
        self.labels = labels

    def on_operation(self) -> Iterator[None]:
        """Time the whole operation; count it once it has a result."""
        started = perf_counter()
        try:
            yield
        finally:
            elapsed = perf_counter() - started
            context = self.execution_context
            label = self.labels.label(context.graphql_document, context.operation_name)
            if label is not None:
                metrics.observe_request(label, _outcome(context.result), elapsed)


def root_field_names(schema: strawberry.Schema) -> frozenset[str]:
    """Every field of the schema's root types, introspection's included: the possible `operation`s."""
    graphql_schema = schema._schema
    names = {"__typename", "__schema", "__type"}
    for root in (graphql_schema.query_type, graphql_schema.mutation_type, graphql_schema.subscription_type):
        if root is not None:
            names.update(root.fields)
    return frozenset(names)
