"""`node` and `nodes`: any object by its id alone, or null where the field that returns it would hide it.

Each kind of object is visible under the rule of the fields that already return it (the same
helpers of `models.permissions` and `resolvers.webhooks`). Finding an id costs one query for the
table that holds it (`models.node_ids`, batched), then one per kind of row found, through the
execution's loaders.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import strawberry
from strawberry.types import Info
from tortoise.exceptions import DoesNotExist
from tortoise.models import Model

from models.actor import Actor
from models.credit_alert import CreditAlert as AlertRow
from models.customer import Customer as CustomerRow
from models.errors import invalid_input
from models.ids import try_parse_id
from models.lots import CreditLot as LotRow
from models.notification import Notification as NotificationRow
from models.permissions import (
    can_access_customer,
    can_manage_endpoint,
    can_see_ledger,
    can_see_request,
    can_see_user,
)
from models.service import Service as ServiceRow
from models.service import ServiceRequest as RequestRow
from models.transaction import CreditTransaction as TransactionRow
from models.user import ApiToken as ApiTokenRow
from models.user import User as UserRow
from models.webhook_outbox import WebhookDelivery as DeliveryRow
from models.webhooks import WebhookEndpoint as EndpointRow
from schema.access import current_actor
from schema.loaders import Loaders, RowLoader, loaders
from schema.node import Node
from schema.pagination import query_error
from schema.types import (
    ApiToken,
    CreditAlert,
    CreditLot,
    CreditTransaction,
    Customer,
    Notification,
    Service,
    ServiceRequest,
    User,
)
from schema.webhooks import WebhookDelivery, WebhookEndpoint

MAX_NODES = 100


async def _anyone(actor: Actor, row: Any, rows: Loaders) -> bool:
    """The catalog: every authenticated caller (`services`)."""
    return True


async def _customer(actor: Actor, row: CustomerRow, rows: Loaders) -> bool:
    """As `customer(id)`."""
    return can_access_customer(actor, row.id)


async def _user(actor: Actor, row: UserRow, rows: Loaders) -> bool:
    """As `viewer`, `Customer.users`."""
    return can_see_user(actor, row)


async def _own(actor: Actor, row: ApiTokenRow | NotificationRow, rows: Loaders) -> bool:
    """As `apiTokens` and `notifications`: the caller's own."""
    return row.user_id == actor.user_id


async def _request(actor: Actor, row: RequestRow, rows: Loaders) -> bool:
    """As `serviceRequest(id)`."""
    return can_see_request(actor, row)


async def _ledger(actor: Actor, row: TransactionRow | LotRow | AlertRow, rows: Loaders) -> bool:
    """As `Customer.transactions`, `lots` and `alerts`: administrators of the customer."""
    return can_see_ledger(actor) and can_access_customer(actor, row.customer_id)


async def _endpoint(actor: Actor, row: EndpointRow, rows: Loaders) -> bool:
    """As `webhookEndpoint(id)`."""
    return can_manage_endpoint(actor, row.customer_id)


async def _delivery(actor: Actor, row: DeliveryRow, rows: Loaders) -> bool:
    """As `WebhookEndpoint.deliveries`: whoever may read its endpoint."""
    return await _endpoint(actor, await rows.rows(EndpointRow).load(row.endpoint_id), rows)


@dataclass(frozen=True)
class _Kind:
    """How to read, check and expose one kind of object."""

    rows: Callable[[Loaders], RowLoader[Any]]
    visible: Callable[[Actor, Any, Loaders], Awaitable[bool]]
    expose: Callable[[Any], Node]


_KINDS: dict[type[Model], _Kind] = {
    CustomerRow: _Kind(lambda r: r.customers, _customer, Customer.from_model),
    UserRow: _Kind(lambda r: r.users, _user, User.from_model),
    ApiTokenRow: _Kind(lambda r: r.rows(ApiTokenRow), _own, ApiToken.from_model),
    ServiceRow: _Kind(lambda r: r.services, _anyone, Service.from_model),
    RequestRow: _Kind(lambda r: r.requests, _request, ServiceRequest.from_model),
    TransactionRow: _Kind(lambda r: r.transactions, _ledger, CreditTransaction.from_model),
    LotRow: _Kind(lambda r: r.lots, _ledger, CreditLot.from_model),
    AlertRow: _Kind(lambda r: r.rows(AlertRow), _ledger, CreditAlert.from_model),
    NotificationRow: _Kind(lambda r: r.rows(NotificationRow), _own, Notification.from_model),
    EndpointRow: _Kind(lambda r: r.rows(EndpointRow), _endpoint, WebhookEndpoint.from_model),
    DeliveryRow: _Kind(lambda r: r.rows(DeliveryRow), _delivery, WebhookDelivery.from_model),
}


async def _node(info: Info, actor: Actor, id: object) -> Node | None:
    """The object with this id if the caller may see it; null for a bad, unknown or hidden id."""
    parsed = try_parse_id(id)
    if parsed is None:
        return None
    rows = loaders(info)
    model = await rows.node_models.load(parsed)
    if model is None:
        return None
    kind = _KINDS[model]
    try:
        row = await kind.rows(rows).load(parsed)
    except DoesNotExist:  # deleted in between (a webhook endpoint)
        return None
    return kind.expose(row) if await kind.visible(actor, row, rows) else None


@strawberry.type
class NodeQueries:
    """Refetching any object by its id (Relay's object identification, normalized caches)."""

    @strawberry.field(
        description="The object with this id, or null: unknown, malformed, or one the viewer may not "
        "see where other fields return it."
    )
    async def node(
        self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="Any object's id.")]
    ) -> Node | None:
        """One object by id, under the access rules of the fields that return it."""
        return await _node(info, current_actor(info), id)

    @strawberry.field(
        description=f"`node` for each id, in order (null where `node` is null); at most {MAX_NODES} ids, "
        "else INVALID_INPUT."
    )
    async def nodes(
        self,
        info: Info,
        ids: Annotated[list[strawberry.ID], strawberry.argument(description=f"At most {MAX_NODES} ids.")],
    ) -> list[Node | None]:
        """Several objects by id, in one query for their tables and one per kind of object."""
        actor = current_actor(info)
        if len(ids) > MAX_NODES:
            raise query_error(invalid_input(f"at most {MAX_NODES} ids", "ids"))
        return list(await asyncio.gather(*(_node(info, actor, i) for i in ids)))
