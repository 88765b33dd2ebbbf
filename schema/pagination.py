"""Connections: `nodes`, `edges { cursor node }` and `pageInfo`, generic over the node type."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import strawberry
from graphql import GraphQLError
from tortoise.queryset import QuerySet

from models.errors import DomainError
from models.pagination import Page, SortKey, paginate

N = TypeVar("N")
DEFAULT_PAGE_SIZE = 50


@strawberry.type
class PageInfo:
    """Where this page sits in the list."""

    has_next_page: bool
    end_cursor: str | None
    has_previous_page: bool
    start_cursor: str | None


@strawberry.type
class Edge(Generic[N]):
    """A node and the cursor that points at it."""

    cursor: str
    node: N


@strawberry.type
class Connection(Generic[N]):
    """One page of a list; pass `pageInfo.endCursor` as `after` for the next."""

    nodes: list[N]
    edges: list[Edge[N]]
    page_info: PageInfo

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


async def connection(
    queryset: QuerySet[Any],
    keys: tuple[SortKey, ...],
    first: int | None,
    after: str | None,
    convert: Callable[[Any], N],
) -> Connection[N]:
    """A page of `queryset` as a connection; bad `first`/`after` is a top-level INVALID_INPUT."""
    try:
        page = await paginate(queryset, keys, DEFAULT_PAGE_SIZE if first is None else first, after)
    except DomainError as exc:
        raise query_error(exc) from None
    return Connection.from_page(page, convert)
