"""Relay's object identification: the `Node` interface of every type with an id."""

from __future__ import annotations

import strawberry


@strawberry.interface(
    description="An object that can be fetched again by its id alone (Relay's object identification)."
)
class Node:
    """Implemented by every type with an id; `Query.node` and `Query.nodes` fetch any of them."""

    id: strawberry.ID = strawberry.field(
        description="Unique across all types (a random UUID): with `__typename`, a normalized cache's key."
    )
