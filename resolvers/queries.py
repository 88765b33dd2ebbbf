"""Root queries."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from models.customer import Customer as CustomerRow
from models.customer import CustomerOrder as CustomerOrderValue
from models.customer import find_customer
from models.errors import DomainError
from models.ids import try_parse_id
from models.input_text import bounded
from models.ledger_history import created_between
from models.notification import Notification as NotificationRow
from models.pagination import SortKey
from models.permissions import can_access_customer, can_see_request
from models.platform import credit_management_enabled
from models.service import Service as ServiceRow
from models.service import ServiceRequest as RequestRow
from models.user import ApiToken as ApiTokenRow
from models.user import Role
from resolvers.nodes import NodeQueries
from resolvers.webhooks import WebhookQueries
from schema.access import current_actor, require_role
from schema.enums import CustomerOrder, ServiceRequestStatus
from schema.pagination import After, Before, Connection, First, Last, connection, created_range, query_error
from schema.types import (
    NEWEST_FIRST,
    ApiToken,
    CreditSettings,
    Customer,
    Notification,
    Service,
    ServiceRequest,
    User,
)

MAX_SEARCH_LENGTH = 200  # a customer's name
CUSTOMER_ORDER = (SortKey("name", str, descending=False), SortKey("id", uuid.UUID, descending=False))
CUSTOMER_ORDERS = {
    CustomerOrderValue.NAME: CUSTOMER_ORDER,
    CustomerOrderValue.BALANCE_ASCENDING: (
        SortKey("balance", int, descending=False),
        SortKey("id", uuid.UUID, descending=False),
    ),
    CustomerOrderValue.BALANCE_DESCENDING: (SortKey("balance", int), SortKey("id", uuid.UUID)),
}
RequestsSince, RequestsUntil = created_range("requests made")


@strawberry.type(
    name="CustomerConnection",
    description="One page of customers, and how many the whole list holds.",
)
class CustomerConnection(Connection[Customer]):
    """One page of customers, with the list's total count."""

    matching: strawberry.Private[Any]  # the list's query (search applied), before paging

    @strawberry.field(description="How many customers the list holds (with `search`: how many match).")
    async def total_count(self) -> int:
        """Counted when asked (one query), whatever the page."""
        return await self.matching.count()


@strawberry.type(
    description=(
        "What dashboards, the top-menu badge and integrators read. Every query needs a valid token (else "
        "UNAUTHENTICATED); what a role may not see is null or empty."
    )
)
class Query(WebhookQueries, NodeQueries):
    """Everything a dashboard, a top-menu badge or an integrator reads."""

    @strawberry.field(
        description="The authenticated caller (every query needs a valid token, else UNAUTHENTICATED)."
    )
    async def viewer(self, info: Info) -> User:
        """The authenticated caller."""
        return User.from_model(current_actor(info).user)

    @strawberry.field(
        description=(
            "A customer by id, or the viewer's own; null for one the viewer may not see or that does not "
            "exist."
        )
    )
    async def customer(
        self,
        info: Info,
        id: Annotated[
            strawberry.ID | None,
            strawberry.argument(
                description=(
                    "The customer's id; left out: the viewer's own customer (null for a catalog "
                    "administrator)."
                )
            ),
        ] = None,
    ) -> Customer | None:
        """A customer by id, or the viewer's own; null for one the viewer may not see."""
        actor = current_actor(info)
        customer_id = actor.customer_id if id is None else try_parse_id(id)
        if customer_id is None or not can_access_customer(actor, customer_id):
            return None
        model = await find_customer(customer_id)
        return Customer.from_model(model) if model else None

    @strawberry.field(description="Every customer by name. Catalog administrators only (others: FORBIDDEN).")
    async def customers(
        self,
        info: Info,
        first: First = 50,
        after: After = None,
        search: Annotated[
            str | None,
            strawberry.argument(description="Only customers whose name contains this, case-insensitively."),
        ] = None,
        last: Last = None,
        before: Before = None,
        order_by: Annotated[
            CustomerOrder,
            strawberry.argument(description="The sort order; by name unless given."),
        ] = CustomerOrderValue.NAME,
    ) -> CustomerConnection:
        """Every customer by name or balance (catalog administrators); `search` matches part of the name."""
        require_role(info, Role.CATALOG_ADMIN)
        query = CustomerRow.all()
        if search:
            # Longer than any name can never match (and SQLite refuses LIKE patterns of 50 000).
            try:
                bounded(search, "search", "search", max_length=MAX_SEARCH_LENGTH)
            except DomainError as exc:
                raise query_error(exc) from None
            query = query.filter(name__icontains=search)
        keys = CUSTOMER_ORDERS[CustomerOrderValue(order_by)]
        page = await connection(
            query, keys, first, after, Customer.from_model, last=last, before=before, info=info
        )
        return CustomerConnection(
            nodes=page.nodes, edges=page.edges, page_info=page.page_info, matching=query
        )

    @strawberry.field(description="The catalog: every service, by name.")
    async def services(self, info: Info) -> list[Service]:
        """The catalog."""
        current_actor(info)
        return [Service.from_model(s) for s in await ServiceRow.all().order_by("name", "id")]

    @strawberry.field(
        description="A service request the viewer may see (an end user: the ones it made), or null."
    )
    async def service_request(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The service request's id.")],
    ) -> ServiceRequest | None:
        """A request the viewer may see, or null."""
        actor = current_actor(info)
        request_id = try_parse_id(id)
        model = await RequestRow.get_or_none(id=request_id) if request_id else None
        if model is None or not can_see_request(actor, model):
            return None
        return ServiceRequest.from_model(model)

    @strawberry.field(
        description=(
            "Every customer's service requests, newest first. Catalog administrators only (others: "
            "FORBIDDEN)."
        )
    )
    async def service_requests(
        self,
        info: Info,
        status: Annotated[
            ServiceRequestStatus | None,
            strawberry.argument(description="Only requests in this status; null: all."),
        ] = None,
        customer_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Only this customer's requests; null: every customer's."),
        ] = None,
        first: First = 50,
        after: After = None,
        last: Last = None,
        before: Before = None,
        since: RequestsSince = None,
        until: RequestsUntil = None,
    ) -> Connection[ServiceRequest]:
        """Every customer's requests, newest first (catalog administrators); `customerId` narrows to one."""
        require_role(info, Role.CATALOG_ADMIN)
        try:
            query = created_between(RequestRow.all(), since, until)
        except DomainError as exc:
            raise query_error(exc) from None
        if customer_id is not None:
            parsed = try_parse_id(customer_id)
            if parsed is None:
                return Connection.empty()
            query = query.filter(customer_id=parsed)
        if status is not None:
            query = query.filter(status=status)
        return await connection(
            query, NEWEST_FIRST, first, after, ServiceRequest.from_model, last=last, before=before, info=info
        )

    @strawberry.field(description="The viewer's in-app notifications, newest first.")
    async def notifications(
        self,
        info: Info,
        unread_only: Annotated[
            bool | None, strawberry.argument(description="True: only those not yet marked read.")
        ] = False,
        first: First = 50,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[Notification]:
        """The viewer's notifications, newest first."""
        actor = current_actor(info)
        query = NotificationRow.filter(user_id=actor.user_id)
        if unread_only:
            query = query.filter(read_at=None)
        return await connection(
            query, NEWEST_FIRST, first, after, Notification.from_model, last=last, before=before, info=info
        )

    @strawberry.field(description="The caller's API tokens, newest first (without their secrets).")
    async def api_tokens(self, info: Info) -> list[ApiToken]:
        """The caller's API tokens (without their secrets)."""
        actor = current_actor(info)
        rows = await ApiTokenRow.filter(user_id=actor.user_id).order_by("-created_at")
        return [ApiToken.from_model(t) for t in rows]

    @strawberry.field(description="Whether credit management is on.")
    async def credit_settings(self, info: Info) -> CreditSettings:
        """Whether credit management is on."""
        current_actor(info)
        return CreditSettings(credit_management_enabled=await credit_management_enabled())
