"""Connections: `nodes`, `edges { cursor node }` and `pageInfo`, generic over the node type."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any, Generic, TypeVar

import strawberry
from graphql import GraphQLError, VariableNode
from strawberry.types import Info
from tortoise.queryset import QuerySet

from models.errors import DomainError
from models.pagination import Page, SortKey, paginate

N = TypeVar("N")
DEFAULT_PAGE_SIZE = 50

First = Annotated[
    int | None,
    strawberry.argument(
        description="How many items, 1…100 (default 50); outside that range: top-level INVALID_INPUT."
    ),
]
After = Annotated[
    str | None,
    strawberry.argument(
        description="Start after this cursor (a `pageInfo.endCursor`); a bad cursor: top-level INVALID_INPUT."
    ),
]
# Backward paging (Relay's cursor connections): the arguments every connection field takes too.
Last = Annotated[
    int | None,
    strawberry.argument(
        description="The last this many (1-100) before `before`, in list order; not with an explicit "
        "`first` (whose default then does not apply)."
    ),
]
Before = Annotated[
    str | None,
    strawberry.argument(description="A cursor (`pageInfo.startCursor`): only what comes before it."),
]


def created_range(made: str) -> tuple[Any, Any]:
    """The `since` and `until` arguments of a list by date, half-open so that consecutive ranges never
    share an item; `made` says what is dated ("entries written", "requests made")."""
    since = Annotated[
        dt.datetime | None,
        strawberry.argument(
            description=f"Only {made} at this moment or later (no time zone: UTC); null: from the first."
        ),
    ]
    until = Annotated[
        dt.datetime | None,
        strawberry.argument(
            description=f"Only {made} before this moment (no time zone: UTC); null: up to now. "
            "Before `since`: top-level INVALID_INPUT. Cursors stay valid while the range stays the same."
        ),
    ]
    return since, until


@strawberry.type(description="Where this page sits in the list (Relay's PageInfo).")
class PageInfo:
    """Where this page sits in the list."""

    has_next_page: bool = strawberry.field(description="Whether items follow this page.")
    end_cursor: str | None = strawberry.field(
        description="The last item's cursor: pass it as `after` for the next page; null on an empty page."
    )
    has_previous_page: bool = strawberry.field(description="Whether items come before this page.")
    start_cursor: str | None = strawberry.field(description="The first item's cursor; null on an empty page.")


@strawberry.type(description="An item of a list and the cursor that points at it.")
class Edge(Generic[N]):
    """A node and the cursor that points at it."""

    cursor: str = strawberry.field(description="Opaque; pass it as `after` to continue after this item.")
    node: N = strawberry.field(description="The item.")


@strawberry.type(description="One page of a list; pass `pageInfo.endCursor` as `after` for the next.")
class Connection(Generic[N]):
    """One page of a list; pass `pageInfo.endCursor` as `after` for the next."""

    nodes: list[N] = strawberry.field(description="The page's items, in the list's order.")
    edges: list[Edge[N]] = strawberry.field(description="The same items, each with its cursor.")
    page_info: PageInfo = strawberry.field(description="Whether more items follow, and the cursors for them.")

    @classmethod
    def empty(cls) -> Connection[Any]:
        """What a role may not see: an empty list, not an error."""
        return cls(
            nodes=[],
            edges=[],
            page_info=PageInfo(
                has_next_page=False,
                end_cursor=None,
                has_previous_page=False,
                start_cursor=None,
            ),
        )

    @classmethod
    def from_page(cls, page: Page[Any], convert: Callable[[Any], N]) -> Connection[N]:
        """Build a connection from a page of models."""
        edges = [Edge(cursor=cursor, node=convert(row)) for cursor, row in page.rows]
        return cls(
            nodes=[e.node for e in edges],
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next,
                end_cursor=edges[-1].cursor if edges else None,
                has_previous_page=page.has_previous,
                start_cursor=edges[0].cursor if edges else None,
            ),
        )


def query_error(exc: DomainError) -> GraphQLError:
    """Queries have no userErrors: a bad argument is a top-level error with its code."""
    return GraphQLError(exc.message, extensions={"code": exc.code.value})


def _given(info: Info | None, name: str) -> bool:
    """Whether the client wrote the argument (a literal, or a variable it sent), not just its default."""
    if info is None:
        return True
    for argument in info._raw_info.field_nodes[0].arguments:
        if argument.name.value == name:
            value = argument.value
            return not isinstance(value, VariableNode) or value.name.value in info.variable_values
    return False


def page_sizes(info: Info | None, first: int | None, last: int | None) -> tuple[int | None, int | None]:
    """`first` and `last` as the client meant them: `first`'s default (50) gives way to a `last` alone.

    Both given is INVALID_INPUT later (Relay's spec discourages it); neither is the first 50.
    """
    if last is not None and not _given(info, "first"):
        return None, last
    if first is None and last is None:
        return DEFAULT_PAGE_SIZE, None
    return first, last


async def connection(
    queryset: QuerySet[Any],
    keys: tuple[SortKey, ...],
    first: int | None,
    after: str | None,
    convert: Callable[[Any], N],
    *,
    last: int | None = None,
    before: str | None = None,
    info: Info | None = None,
) -> Connection[N]:
    """A page of `queryset` as a connection; a bad size or cursor is a top-level INVALID_INPUT."""
    first, last = page_sizes(info, first, last)
    try:
        page = await paginate(queryset, keys, first, after, last, before)
    except DomainError as exc:
        raise query_error(exc) from None
    return Connection.from_page(page, convert)
