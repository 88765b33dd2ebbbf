"""Who may do what: the roles and tenant rules of API.md, decided from an Actor alone."""

from __future__ import annotations

import uuid

from models.actor import Actor
from models.errors import invalid_input, not_found
from models.service import ServiceRequest
from models.user import Role, User


def can_access_customer(actor: Actor, customer_id: uuid.UUID) -> bool:
    """Catalog administrators see every customer; everybody else only their own."""
    return actor.role == Role.CATALOG_ADMIN or actor.customer_id == customer_id


def can_see_ledger(actor: Actor) -> bool:
    """End users see their customer's balance but not its ledger, alerts or who acted."""
    return actor.role != Role.END_USER


def can_list_users(actor: Actor, customer_id: uuid.UUID) -> bool:
    """A customer's users are listed to catalog administrators and that customer's administrators."""
    return can_see_ledger(actor) and can_access_customer(actor, customer_id)


def can_see_user(actor: Actor, user: User) -> bool:
    """The caller itself, and whom `can_list_users` lists (catalog administrators: everyone)."""
    if user.id == actor.user_id or actor.role == Role.CATALOG_ADMIN:
        return True
    return user.customer_id is not None and can_list_users(actor, user.customer_id)


def can_see_request(actor: Actor, request: ServiceRequest) -> bool:
    """End users see the requests they made; administrators those of their customers."""
    if actor.role == Role.END_USER:
        return request.requested_by_id == actor.user_id
    return can_access_customer(actor, request.customer_id)


def can_manage_user(actor: Actor, user: User) -> bool:
    """Catalog administrators manage everyone; customer administrators their customer's users."""
    if actor.role == Role.CATALOG_ADMIN:
        return True
    return (
        actor.role == Role.CUSTOMER_ADMIN
        and user.role != Role.CATALOG_ADMIN
        and user.customer_id == actor.customer_id
    )


WEBHOOK_MANAGERS = (Role.CATALOG_ADMIN, Role.CUSTOMER_ADMIN)


def can_manage_endpoint(actor: Actor, endpoint_customer_id: uuid.UUID | None) -> bool:
    """Webhook endpoints: catalog administrators every one; customer administrators their customer's."""
    if actor.role == Role.CATALOG_ADMIN:
        return True
    return (
        actor.role == Role.CUSTOMER_ADMIN
        and endpoint_customer_id is not None
        and endpoint_customer_id == actor.customer_id
    )


def target_customer(actor: Actor, customer_id: uuid.UUID | None, argument: str) -> uuid.UUID:
    """The customer an operation acts on: the caller's own when left out; others are NOT_FOUND."""
    if customer_id is None:
        if actor.customer_id is None:
            raise invalid_input("customerId is required", argument)
        return actor.customer_id
    if not can_access_customer(actor, customer_id):
        raise not_found("customer", argument)
    return customer_id
