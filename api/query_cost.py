"""Static query cost: how many field values an operation may resolve, refused at validation.

A field costs 1 for every item of the lists that enclose it. A connection's `nodes` and `edges`
hold `first` items, or `last` when only that is written (API.md: 1…100, default 50); a variable's
value is not known here (validation is cached per document), so it counts as the most a page may
hold. `nodes(ids)` holds one item per id (a variable: the 100 it allows). A plain list
(`services`, `apiTokens`, `userErrors`) counts as PLAIN_LIST items. Fragments count where they
are spread.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLObjectType,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_list_type,
)
from graphql.language.visitor import SKIP

DEFAULT_PAGE = 50
MAX_PAGE = 100
PLAIN_LIST = 20
# Deeper than any document the depth rule lets through; stops recursion on what it refuses anyway.
MAX_NESTING = 64


class _Coster:
    """Costs the selection sets of one document; a fragment is costed once per page size."""

    def __init__(self, context: ValidationContext) -> None:
        self.schema = context.schema
        self.fragments = {
            d.name.value: d for d in context.document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.memo: dict[tuple[str, int | None], int] = {}
        self.active: set[str] = set()

    def selections(self, selection_set: SelectionSetNode, parent: Any, page: int | None, depth: int) -> int:
        """The cost of one item of `parent`; `page` sizes its lists when `parent` is a connection."""
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self.field(selection, parent, page, depth)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.schema.get_type(condition.name.value) if condition else parent
                total += self.selections(selection.selection_set, target, page, depth)
            elif isinstance(selection, FragmentSpreadNode):
                total += self.fragment(selection.name.value, page, depth)
        return total

    def fragment(self, name: str, page: int | None, depth: int) -> int:
        """A named fragment's cost, remembered (cost is linear, so once per page size is enough)."""
        key = (name, page)
        if key in self.memo:
            return self.memo[key]
        definition = self.fragments.get(name)
        if definition is None or name in self.active:  # unknown or cyclic: other rules say so
            return 0
        self.active.add(name)
        target = self.schema.get_type(definition.type_condition.name.value)
        cost = self.selections(definition.selection_set, target, page, depth)
        self.active.discard(name)
        self.memo[key] = cost
        return cost

    def field(self, node: FieldNode, parent: Any, page: int | None, depth: int) -> int:
        """1 for the field, plus its selections once per item it holds."""
        if node.selection_set is None or depth > MAX_NESTING:
            return 1
        definition = _field(parent, node.name.value)
        if definition is None:  # unknown, or introspection (bounded by the schema; off in production)
            return 1
        items = 1
        if is_list_type(get_nullable_type(definition.type)):
            items = page or _per_id(node, definition) or PLAIN_LIST
        target = get_named_type(definition.type)
        return 1 + items * self.selections(node.selection_set, target, _page(node, definition), depth + 1)


def _field(parent: Any, name: str) -> GraphQLField | None:
    """The schema's definition of `parent.name`, if there is one."""
    if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
        return parent.fields.get(name)
    return None


def _written(node: FieldNode, name: str) -> int | None:
    """The page size an argument asks for, if written: a variable counts as the most a page holds."""
    argument = next((a.value for a in node.arguments or () if a.name.value == name), None)
    if isinstance(argument, VariableNode):
        return MAX_PAGE
    if isinstance(argument, IntValueNode):
        # Outside 1…100 the resolver refuses the page (INVALID_INPUT), so nothing beyond is read.
        return min(max(int(argument.value), 1), MAX_PAGE)
    return None


def _page(node: FieldNode, definition: GraphQLField) -> int | None:
    """The page size a connection field asks for; None for a field without `first`."""
    if "first" not in definition.args:
        return None
    sizes = [size for size in (_written(node, "first"), _written(node, "last")) if size is not None]
    if sizes:
        return max(sizes)
    default = definition.args["first"].default_value
    return default if isinstance(default, int) and 1 <= default <= MAX_PAGE else DEFAULT_PAGE


def _per_id(node: FieldNode, definition: GraphQLField) -> int | None:
    """A list of one item per id it is given (`nodes(ids)`): how many ids; None for other lists."""
    if "ids" not in definition.args:
        return None
    argument = next((a.value for a in node.arguments or () if a.name.value == "ids"), None)
    if isinstance(argument, ListValueNode):
        return min(len(argument.values), MAX_PAGE) or 1
    return MAX_PAGE


def operation_cost(context: ValidationContext, operation: OperationDefinitionNode) -> int:
    """The cost of one operation of the context's document."""
    root = context.schema.get_root_type(operation.operation)
    if root is None:
        return 0
    return _Coster(context).selections(operation.selection_set, root, None, 0)


def create_cost_rule(max_cost: int) -> type[ValidationRule]:
    """A validation rule refusing operations whose cost exceeds `max_cost` (build it once)."""

    class QueryCostRule(ValidationRule):
        """Refuses an operation costing more than the limit."""

        def enter_operation_definition(self, node: OperationDefinitionNode, *_args: object) -> object:
            cost = operation_cost(self.context, node)
            if cost > max_cost:
                self.report_error(GraphQLError(f"query cost {cost} exceeds the limit {max_cost}", node))
            return SKIP

    return QueryCostRule
