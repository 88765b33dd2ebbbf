"""The GraphQL side of access: the caller of a field, and the UNAUTHENTICATED / FORBIDDEN errors."""

from __future__ import annotations

from graphql import GraphQLError
from strawberry.types import Info

from models.actor import Actor
from models.user import Role


def unauthenticated() -> GraphQLError:
    """Missing, malformed, expired or revoked token."""
    return GraphQLError(
        "Authentication required: send a valid bearer token.",
        extensions={"code": "UNAUTHENTICATED"},
    )


def forbidden() -> GraphQLError:
    """The caller's role may never do this."""
    return GraphQLError("Your role may not perform this operation.", extensions={"code": "FORBIDDEN"})


def current_actor(info: Info) -> Actor:
    """The authenticated caller, or a top-level UNAUTHENTICATED error."""
    actor = info.context.actor
    if actor is None:
        raise unauthenticated()
    return actor


def require_role(info: Info, *roles: Role) -> Actor:
    """The caller, if its role is among `roles`; FORBIDDEN otherwise."""
    actor = current_actor(info)
    if actor.role not in roles:
        raise forbidden()
    return actor
