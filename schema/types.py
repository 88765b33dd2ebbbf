"""Object types of the contract; every field that exposes a customer's data asks `permissions`."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated

import strawberry
from strawberry.types import Info

from models.credit_alert import CreditAlert as AlertRow
from models.customer import Customer as CustomerRow
from models.errors import DomainError
from models.ledger import CreditTransaction as TransactionRow
from models.ledger_history import entries_between
from models.lots import CreditLot as LotRow
from models.lots import lots_page
from models.money import to_decimal
from models.notification import Notification as NotificationRow
from models.notification import unread_count
from models.pagination import SortKey
from models.permissions import can_access_customer, can_list_users, can_manage_user, can_see_ledger
from models.runway import Runway as RunwayForecast
from models.service import Service as ServiceRow
from models.service import ServiceRequest as RequestRow
from models.user import ApiToken as ApiTokenRow
from models.user import User as UserRow
from schema.access import current_actor
from schema.controls import AutoTopUp, SpendLimit
from schema.enums import AlertKind, CreditLotStatus, Role, ServiceRequestStatus, TransactionKind
from schema.loaders import loaders
from schema.node import Node
from schema.pagination import (
    After,
    Before,
    Connection,
    First,
    Last,
    connection,
    created_range,
    page_sizes,
    query_error,
)

TRANSACTION_ORDER = (SortKey("sequence", int),)
NEWEST_FIRST = (SortKey("created_at", dt.datetime), SortKey("id", uuid.UUID))
USER_ORDER = (SortKey("email_key", str, descending=False), SortKey("id", uuid.UUID, descending=False))
Since, Until = created_range("entries written")


def _optional_amount(cents: int | None) -> Decimal | None:
    return None if cents is None else to_decimal(cents)


async def _lot(info: Info, lot_id: uuid.UUID | str | None) -> CreditLot | None:
    """An alert's or notification's lot; null without one, and for end users (lots are the ledger's)."""
    if lot_id is None or not can_see_ledger(current_actor(info)):
        return None
    return CreditLot.from_model(await loaders(info).lots.load(uuid.UUID(str(lot_id))))


@strawberry.type(description="Platform-wide credit switches.")
class CreditSettings:
    """Platform-wide credit switches."""

    credit_management_enabled: bool = strawberry.field(
        description=(
            "Off on a fresh install: grantCredits and withdrawCredits answer CREDIT_MANAGEMENT_DISABLED and "
            "new requests are not charged; refunds still happen."
        ),
    )


@strawberry.type(
    description="A long-lived token acting as its owner; its secret is shown only by createApiToken."
)
class ApiToken(Node):
    """A long-lived token; its secret is shown only when created."""

    id: strawberry.ID = strawberry.field(description="Opaque id; pass it to revokeApiToken.")
    name: str = strawberry.field(description="The name given to createApiToken.")
    created_at: dt.datetime = strawberry.field(description="When it was created.")
    last_used_at: dt.datetime | None = strawberry.field(
        description="When it last authenticated a request; null: never.",
    )
    revoked_at: dt.datetime | None = strawberry.field(
        description="When it was revoked; null: it still works.",
    )

    @classmethod
    def from_model(cls, m: ApiTokenRow) -> ApiToken:
        """Expose a token row without its hash."""
        return cls(
            id=strawberry.ID(str(m.id)),
            name=m.name,
            created_at=m.created_at,
            last_used_at=m.last_used_at,
            revoked_at=m.revoked_at,
        )


@strawberry.type(description="A person or integration that logs in; customer roles belong to one customer.")
class User(Node):
    """A person or integration with a role."""

    id: strawberry.ID = strawberry.field(description="Opaque id, unique across all types.")
    email: str = strawberry.field(
        description="Unique, compared case-insensitively; what the user logs in with.",
    )
    name: str = strawberry.field(description="The user's display name.")
    role: Role = strawberry.field(description="What the user may do.")
    active: bool = strawberry.field(
        description="False: deactivated; it cannot log in and its tokens no longer work.",
    )
    model: strawberry.Private[UserRow]

    @classmethod
    def from_model(cls, m: UserRow) -> User:
        """Expose a user row without its password hash."""
        return cls(
            id=strawberry.ID(str(m.id)), email=m.email, name=m.name, role=m.role, active=m.active, model=m
        )

    @strawberry.field(
        description="The customer a CUSTOMER_ADMIN or END_USER belongs to; null for a CATALOG_ADMIN."
    )
    async def customer(self, info: Info) -> Customer | None:
        """The customer a customer administrator or end user belongs to."""
        if self.model.customer_id is None:
            return None
        return Customer.from_model(await loaders(info).customers.load(self.model.customer_id))

    @strawberry.field(description="The viewer's own unread notifications; null for anyone else.")
    async def unread_notification_count(self, info: Info) -> int | None:
        """The viewer's own unread notifications; null for anyone else."""
        if info.context.actor is None or info.context.actor.user_id != self.model.id:
            return None
        return await unread_count(self.model.id)

    @strawberry.field(
        description=(
            "What the user's service requests may take per UTC day or month (SPEND_LIMIT_EXCEEDED past "
            "it); null: no limit. Shown to the user and to whoever may set it (setSpendLimit); null to "
            "anyone else."
        )
    )
    async def spend_limit(self, info: Info) -> SpendLimit | None:
        """The user's spend limit, for the user and those who may set it."""
        actor = current_actor(info)
        if self.model.spend_limit is None or not (
            actor.user_id == self.model.id or can_manage_user(actor, self.model)
        ):
            return None
        state = await loaders(info).spend_limits.load(self.model)
        return None if state is None else SpendLimit.of(state)


@strawberry.type(description="A credit-priced service of the catalog; a null price is not chargeable.")
class Service(Node):
    """A credit-priced service of the catalog; a null price is not chargeable."""

    id: strawberry.ID = strawberry.field(description="Opaque id; pass it to requestService.")
    name: str = strawberry.field(description="The service's name; the catalog lists services by it.")
    credit_price: Decimal | None = strawberry.field(
        description="Credits per unit (≥ 0); null: not chargeable. A change never touches earlier requests.",
    )

    @classmethod
    def from_model(cls, m: ServiceRow) -> Service:
        """Expose a service row."""
        return cls(id=strawberry.ID(str(m.id)), name=m.name, credit_price=_optional_amount(m.credit_price))


@strawberry.type(description="A request of a service, what it was charged, and where it stands.")
class ServiceRequest(Node):
    """A request of a service and what it charged."""

    id: strawberry.ID = strawberry.field(description="Opaque id, unique across all types.")
    quantity: int = strawberry.field(description="Units requested, at least 1.")
    amount: Decimal = strawberry.field(
        description=(
            'What was debited when it was made (price × quantity; "0.00" when not charged); cancel, fail '
            "and reject refund exactly this, once."
        ),
    )
    status: ServiceRequestStatus = strawberry.field(
        description="REQUESTED until it is completed, cancelled, failed or rejected; those are final.",
    )
    reason: str | None = strawberry.field(
        description="Why it failed or was rejected, as the catalog administrator gave it; null otherwise.",
    )
    created_at: dt.datetime = strawberry.field(description="When it was made.")
    updated_at: dt.datetime = strawberry.field(description="When it last changed (its status).")
    model: strawberry.Private[RequestRow]

    @classmethod
    def from_model(cls, m: RequestRow) -> ServiceRequest:
        """Expose a request row."""
        return cls(
            id=strawberry.ID(str(m.id)),
            quantity=m.quantity,
            amount=to_decimal(m.amount),
            status=m.status,
            reason=m.reason,
            created_at=m.created_at,
            updated_at=m.updated_at,
            model=m,
        )

    @strawberry.field(description="The requested service, with its price as it is now.")
    async def service(self, info: Info) -> Service:
        """The requested service, with its price as it is now."""
        return Service.from_model(await loaders(info).services.load(self.model.service_id))

    @strawberry.field(description="The customer that was charged.")
    async def customer(self, info: Info) -> Customer:
        """The customer that was charged."""
        return Customer.from_model(await loaders(info).customers.load(self.model.customer_id))

    @strawberry.field(description="Who made the request.")
    async def requested_by(self, info: Info) -> User | None:
        """Who made the request."""
        if self.model.requested_by_id is None:
            return None
        return User.from_model(await loaders(info).users.load(self.model.requested_by_id))

    @strawberry.field(
        description=(
            "Its ledger entries in sequence order: the charge and, once cancelled, failed or rejected, the "
            "refund. Empty when nothing was charged, and for end users (the ledger is the administrators')."
        )
    )
    async def transactions(self, info: Info) -> list[CreditTransaction]:
        """The request's charge and refund entries; empty for end users."""
        if not can_see_ledger(current_actor(info)):
            return []
        rows = await loaders(info).request_entries.load(self.model.id)
        return [CreditTransaction.from_model(row) for row in rows]


@strawberry.type(
    description="An immutable ledger entry; a customer's balance is the sum of its entries' amounts."
)
class CreditTransaction(Node):
    """An immutable ledger entry; `amount` is signed, `balanceAfter` the balance it left."""

    id: strawberry.ID = strawberry.field(description="Opaque id, unique across all types.")
    sequence: int = strawberry.field(
        description=(
            "1, 2, 3 … per customer without gaps: the order of the ledger and of balanceChanged events."
        ),
    )
    kind: TransactionKind = strawberry.field(description="Why the balance moved.")
    amount: Decimal = strawberry.field(
        description=(
            "Signed: positive for GRANT and REFUND; negative for WITHDRAWAL, SERVICE_CHARGE and EXPIRATION."
        ),
    )
    balance_after: Decimal = strawberry.field(description="The customer's balance right after this entry.")
    created_at: dt.datetime = strawberry.field(description="When it was written.")
    model: strawberry.Private[TransactionRow]

    @classmethod
    def from_model(cls, m: TransactionRow) -> CreditTransaction:
        """Expose a ledger row."""
        return cls(
            id=strawberry.ID(str(m.id)),
            sequence=m.sequence,
            kind=m.kind,
            amount=to_decimal(m.amount),
            balance_after=to_decimal(m.balance_after),
            created_at=m.created_at,
            model=m,
        )

    @strawberry.field(description="The note given with a grant or withdrawal; null: none, or for end users.")
    def note(self, info: Info) -> str | None:
        """The administrator's note; null for end users."""
        return self.model.note if can_see_ledger(current_actor(info)) else None

    @strawberry.field(description="The request this entry charged or refunded; null for other kinds.")
    async def service_request(self, info: Info) -> ServiceRequest | None:
        """The request this entry charged or refunded."""
        if self.model.service_request_id is None:
            return None
        return ServiceRequest.from_model(await loaders(info).requests.load(self.model.service_request_id))

    @strawberry.field(
        description=(
            "Who caused the entry (for an API token: its owner); null for end users and for entries no user "
            "made."
        )
    )
    async def actor(self, info: Info) -> User | None:
        """Who caused the entry (a token's owner); null for end users."""
        if self.model.actor_id is None or not can_see_ledger(current_actor(info)):
            return None
        return User.from_model(await loaders(info).users.load(self.model.actor_id))

    @strawberry.field(
        description=(
            "What the entry did to each lot (net) and, lot null, to the debt; they add up to `amount`. "
            "Empty for end users and for entries written before lots existed."
        )
    )
    async def allocations(self, info: Info) -> list[CreditAllocation]:
        """What the entry did to each lot (net) and, `lot` null, to the debt; empty for end users."""
        if not can_see_ledger(current_actor(info)):
            return []
        return [
            CreditAllocation(
                lot=None if a.lot is None else CreditLot.from_model(a.lot), amount=to_decimal(a.amount)
            )
            for a in await loaders(info).allocations.load(self.model.id)
        ]


@strawberry.type(description="Credits of one grant: consumed in order, expiring on their own date.")
class CreditLot(Node):
    """Credits of one grant: consumed in order, expiring on their own date."""

    id: strawberry.ID = strawberry.field(
        description="Opaque id, unique across all types; pass it to updateCreditLot.",
    )
    amount: Decimal = strawberry.field(
        description="What it held when created (a grant less the debt it paid)."
    )
    remaining: Decimal = strawberry.field(description="What is left to consume.")
    priority: int = strawberry.field(description="0-100, lower is consumed first.")
    expires_at: dt.datetime | None = strawberry.field(description="Null: never.")
    created_at: dt.datetime = strawberry.field(description="When it was created.")
    status: CreditLotStatus = strawberry.field(description="ACTIVE, DEPLETED (used up) or EXPIRED.")
    model: strawberry.Private[LotRow]

    @classmethod
    def from_model(cls, m: LotRow) -> CreditLot:
        """Expose a lot row."""
        return cls(
            id=strawberry.ID(str(m.id)),
            amount=to_decimal(m.amount),
            remaining=to_decimal(m.remaining),
            priority=m.priority,
            expires_at=m.expires_at,
            created_at=m.created_at,
            status=m.status,
            model=m,
        )

    @strawberry.field(description="The entry that created the lot.")
    async def transaction(self, info: Info) -> CreditTransaction:
        """The entry that created the lot."""
        return CreditTransaction.from_model(await loaders(info).transactions.load(self.model.transaction_id))


@strawberry.type(description="What one ledger entry did to one lot, or (lot null) to the customer's debt.")
class CreditAllocation:
    """What one ledger entry did to one lot, or (lot null) to the customer's debt."""

    lot: CreditLot | None = strawberry.field(
        description="The lot it changed; null: the part that changed the customer's debt.",
    )
    amount: Decimal = strawberry.field(
        description="Signed like the entry: the allocations of an entry add up to its amount."
    )


@strawberry.type(description="A customer of the platform and its credit balance.")
class Customer(Node):
    """A customer and its credit balance."""

    id: strawberry.ID = strawberry.field(description="Opaque id, unique across all types.")
    name: str = strawberry.field(description="The customer's name; `customers` lists and searches by it.")
    balance: Decimal = strawberry.field(description="The sum of the customer's ledger; may be below zero.")
    last_sequence: int = strawberry.field(
        description="Sequence of the newest ledger entry (0 before the first), read with `balance`: "
        "subscribe to balanceChanged with afterSequence: lastSequence to miss nothing."
    )
    alert_threshold: Decimal | None = strawberry.field(
        description=(
            "Its administrators are alerted (BELOW_THRESHOLD) when the balance falls below it; null: off. "
            "Set with setCreditAlert."
        ),
    )
    runway_alert_days: int | None = strawberry.field(
        description=(
            "Its administrators are alerted (RUNWAY_LOW) when runway.depletesAt comes within this many "
            "days; null: off. Set with setRunwayAlert."
        ),
    )
    minimum_balance: Decimal | None = strawberry.field(
        description=(
            "The floor no charge or withdrawal may take the balance below (INSUFFICIENT_CREDITS); "
            "null: none (the default). Set with setMinimumBalance."
        ),
    )
    auto_top_up: AutoTopUp | None = strawberry.field(
        description="The auto top-up rule; null: off. Set with setAutoTopUp, off with disableAutoTopUp."
    )
    model: strawberry.Private[CustomerRow]

    @classmethod
    def from_model(cls, m: CustomerRow) -> Customer:
        """Expose a customer row."""
        return cls(
            id=strawberry.ID(str(m.id)),
            name=m.name,
            balance=to_decimal(m.balance),
            last_sequence=m.last_sequence,
            alert_threshold=_optional_amount(m.alert_threshold),
            runway_alert_days=m.runway_alert_days,
            minimum_balance=_optional_amount(m.minimum_balance),
            auto_top_up=AutoTopUp.of(m),
            model=m,
        )

    @strawberry.field(
        description=(
            "When the credits run out at the last 7 days' net usage, through the lots' expiries; readable "
            "by whoever reads the balance."
        )
    )
    async def runway(self, info: Info) -> Runway:
        """The forecast at this moment, from the balance as read with this customer."""
        return Runway.from_forecast(await loaders(info).runways.load(self.model))

    @strawberry.field(
        description="The balance after the last ledger entry made at or before `time`; 0.00 before the first."
    )
    async def balance_at(
        self,
        info: Info,
        time: Annotated[dt.datetime, strawberry.argument(description="The moment (no time zone: UTC).")],
    ) -> Decimal:
        """The balance as it was at `time`."""
        return to_decimal(await loaders(info).balances_at.load(self.model.id, time))

    @strawberry.field(
        description=(
            "The customer's users by email, for its and the catalog's administrators; empty for end users."
        )
    )
    async def users(
        self,
        info: Info,
        first: First = 50,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[User]:
        """The customer's users by email, for its and the catalog's administrators; empty otherwise."""
        if not can_list_users(current_actor(info), self.model.id):
            return Connection.empty()
        return await connection(
            UserRow.filter(customer_id=self.model.id),
            USER_ORDER,
            first,
            after,
            User.from_model,
            last=last,
            before=before,
            info=info,
        )

    @strawberry.field(description="The ledger, newest first; empty for end users.")
    async def transactions(
        self,
        info: Info,
        first: First = 50,
        after: After = None,
        last: Last = None,
        before: Before = None,
        since: Since = None,
        until: Until = None,
    ) -> Connection[CreditTransaction]:
        """The ledger, newest first; empty for end users."""
        actor = current_actor(info)
        if not (can_see_ledger(actor) and can_access_customer(actor, self.model.id)):
            return Connection.empty()
        try:
            entries = entries_between(self.model.id, since, until)
        except DomainError as exc:
            raise query_error(exc) from None
        return await connection(
            entries,
            TRANSACTION_ORDER,
            first,
            after,
            CreditTransaction.from_model,
            last=last,
            before=before,
            info=info,
        )

    @strawberry.field(
        description=(
            "Lots in consumption order, then DEPLETED and EXPIRED ones newest first; empty for end users."
        )
    )
    async def lots(
        self,
        info: Info,
        status: Annotated[
            CreditLotStatus | None, strawberry.argument(description="Only lots in this status; null: all.")
        ] = None,
        first: First = 50,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[CreditLot]:
        """Lots in consumption order, then DEPLETED and EXPIRED ones newest first; empty for end users."""
        actor = current_actor(info)
        if not (can_see_ledger(actor) and can_access_customer(actor, self.model.id)):
            return Connection.empty()
        try:
            first, last = page_sizes(info, first, last)
            page = await lots_page(self.model.id, status, first, after, last, before)
        except DomainError as exc:
            raise query_error(exc) from None
        return Connection.from_page(page, CreditLot.from_model)

    @strawberry.field(description="Requests, newest first; an end user sees only the ones it made.")
    async def service_requests(
        self,
        info: Info,
        status: Annotated[
            ServiceRequestStatus | None,
            strawberry.argument(description="Only requests in this status; null: all."),
        ] = None,
        first: First = 50,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[ServiceRequest]:
        """Requests, newest first; an end user sees only the ones it made."""
        actor = current_actor(info)
        if not can_access_customer(actor, self.model.id):
            return Connection.empty()
        query = RequestRow.filter(customer_id=self.model.id)
        if not can_see_ledger(actor):
            query = query.filter(requested_by_id=actor.user_id)
        if status is not None:
            query = query.filter(status=status)
        return await connection(
            query, NEWEST_FIRST, first, after, ServiceRequest.from_model, last=last, before=before, info=info
        )

    @strawberry.field(description="Alerts of this customer, newest first; empty for end users.")
    async def alerts(
        self,
        info: Info,
        first: First = 50,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[CreditAlert]:
        """Alerts of this customer, newest first; empty for end users."""
        actor = current_actor(info)
        if not (can_see_ledger(actor) and can_access_customer(actor, self.model.id)):
            return Connection.empty()
        query = AlertRow.filter(customer_id=self.model.id)
        return await connection(
            query, NEWEST_FIRST, first, after, CreditAlert.from_model, last=last, before=before, info=info
        )


@strawberry.type(
    description=(
        "A forecast of when the credits run out: spending at burnRatePerDay through the lots in "
        "consumption order, each lot expiring at its expiresAt."
    )
)
class Runway:
    """The runway of a customer at the moment it was read."""

    burn_rate_per_day: Decimal = strawberry.field(
        description=(
            "The net of the last 7 days' SERVICE_CHARGE and REFUND entries, divided by 7, to the nearest "
            "hundredth (halves to even); withdrawals, expiries and grants are not usage. Negative when "
            "refunds exceed charges."
        )
    )
    depletes_at: dt.datetime | None = strawberry.field(
        description=(
            "When nothing is left at that rate (rounded down to the microsecond); null when the rate is "
            "≤ 0 or the balance ≤ 0."
        )
    )
    expiring_before_depletion: Decimal = strawberry.field(
        description=(
            "Credits that expire before that rate would use them, to the nearest hundredth (halves to "
            "even); with a rate ≤ 0, all the credits of lots that have an expiry."
        )
    )

    @classmethod
    def from_forecast(cls, r: RunwayForecast) -> Runway:
        """Expose a computed runway."""
        return cls(
            burn_rate_per_day=to_decimal(r.burn_rate_per_day),
            depletes_at=r.depletes_at,
            expiring_before_depletion=to_decimal(r.expiring_before_depletion),
        )


@strawberry.type(description="An alert (or a disabled webhook endpoint) as its recipient sees it in the app.")
class Notification(Node):
    """An alert as its recipient sees it in the app."""

    id: strawberry.ID = strawberry.field(
        description="Opaque id, unique across all types; pass it to markNotificationsRead.",
    )
    kind: AlertKind = strawberry.field(description="What happened.")
    balance: Decimal = strawberry.field(description="The customer's balance when it was written.")
    threshold: Decimal | None = strawberry.field(
        description=(
            "BELOW_THRESHOLD: the threshold that was crossed; AUTO_TOP_UP_LIMIT_REACHED: the auto "
            "top-up's threshold; null for other kinds."
        ),
    )
    message: str = strawberry.field(description="The text for people, as in the email.")
    created_at: dt.datetime = strawberry.field(description="When it was written.")
    read: bool = strawberry.field(description="Whether markNotificationsRead has marked it read.")
    model: strawberry.Private[NotificationRow]

    @classmethod
    def from_model(cls, m: NotificationRow) -> Notification:
        """Expose a notification row."""
        return cls(
            id=strawberry.ID(str(m.id)),
            kind=m.kind,
            balance=to_decimal(m.balance),
            threshold=_optional_amount(m.threshold),
            message=m.message,
            created_at=m.created_at,
            read=m.read_at is not None,
            model=m,
        )

    @strawberry.field(description="CREDITS_EXPIRING: the lot that expires.")
    async def lot(self, info: Info) -> CreditLot | None:
        """The lot the alert names (CREDITS_EXPIRING), for whoever may read the ledger."""
        return await _lot(info, self.model.lot_id)

    @strawberry.field(description="The customer it concerns.")
    async def customer(self, info: Info) -> Customer:
        """The customer whose balance crossed a limit."""
        return Customer.from_model(await loaders(info).customers.load(self.model.customer_id))


@strawberry.type(description="A limit the balance crossed (once per crossing), or a lot about to expire.")
class CreditAlert(Node):
    """A limit the balance crossed: below zero, or below the customer's threshold."""

    id: strawberry.ID = strawberry.field(description="Opaque id, unique across all types.")
    kind: AlertKind = strawberry.field(description="Which limit, or CREDITS_EXPIRING, or RUNWAY_LOW.")
    customer_id: strawberry.ID = strawberry.field(description="The customer it concerns.")
    balance: Decimal = strawberry.field(description="The balance when it fired.")
    threshold: Decimal | None = strawberry.field(
        description=(
            "BELOW_THRESHOLD: the threshold that was crossed; AUTO_TOP_UP_LIMIT_REACHED: the auto "
            "top-up's threshold; null for other kinds."
        ),
    )
    created_at: dt.datetime = strawberry.field(description="When it fired.")
    depletes_at: dt.datetime | None = strawberry.field(
        default=None, description="RUNWAY_LOW: the forecast that fired it (runway.depletesAt then)."
    )
    lot_id: strawberry.Private[uuid.UUID | None] = None

    @classmethod
    def from_model(cls, m: AlertRow) -> CreditAlert:
        """Expose an alert row."""
        return cls(
            id=strawberry.ID(str(m.id)),
            kind=m.kind,
            customer_id=strawberry.ID(str(m.customer_id)),
            balance=to_decimal(m.balance),
            threshold=_optional_amount(m.threshold),
            created_at=m.created_at,
            depletes_at=m.depletes_at,
            lot_id=m.lot_id,
        )

    @strawberry.field(description="CREDITS_EXPIRING: the lot that expires.")
    async def lot(self, info: Info) -> CreditLot | None:
        """The lot the alert names (CREDITS_EXPIRING), for whoever may read the ledger."""
        return await _lot(info, self.lot_id)


@strawberry.type(
    description="A committed ledger entry, published after commit; in `sequence` order per customer."
)
class BalanceEvent:
    """A committed balance change; `balance` equals `transaction.balanceAfter`."""

    customer_id: strawberry.ID = strawberry.field(description="The customer whose balance changed.")
    balance: Decimal = strawberry.field(
        description="The balance after the change; equals `transaction.balanceAfter`.",
    )
    sequence: int = strawberry.field(
        description=(
            "The entry's ledger sequence: resume with balanceChanged(afterSequence:) to miss nothing."
        ),
    )
    transaction: CreditTransaction | None = strawberry.field(
        description="The ledger entry; null for end users."
    )
    customer: Customer = strawberry.field(
        description="The customer as the event left it (`balance` and `lastSequence` are the event's), "
        "so that a normalized cache updates the balance it holds; fields read from the ledger load "
        "when asked."
    )
