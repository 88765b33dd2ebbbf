"""Spend controls under the ledger's lock: the auto top-up, the minimum balance, per-user spend limits.

The ledger runs `balance_rules.GUARDS` on every debit while its customers' rows are locked, in
ledger order with the running balance, before anything is written: a refused debit writes
nothing, and no race passes a control. This module holds the guards and what they read.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from tortoise.backends.base.client import BaseDBAsyncClient

from infra import sql
from models.customer import Customer
from models.errors import DomainError, ErrorCode
from models.service import REFUNDING_STATUSES
from models.transaction import TransactionKind
from models.user import SpendLimitPeriod


def period_bounds(period: SpendLimitPeriod, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The UTC calendar day or month `now` falls in: its start, and the next one's (when it resets)."""
    now = now.astimezone(dt.UTC)
    day = dt.datetime(now.year, now.month, now.day, tzinfo=dt.UTC)
    if period is SpendLimitPeriod.DAY:
        return day, day + dt.timedelta(days=1)
    month = day.replace(day=1)
    return month, (month + dt.timedelta(days=32)).replace(day=1)


@dataclass(frozen=True)
class UserLimit:
    """A user's spend limit and what its period's requests took, as read under the lock."""

    amount: int
    period: SpendLimitPeriod
    spent: int


# The users with a limit, locked in id order: a catalog administrator's requests may charge
# customers of both charge lanes (or of two server processes), whose customer locks then do not
# serialise them. Inserting a request that references a user takes FOR KEY SHARE, which this
# lock does not block.
_LOCK_LIMITED_ON_POSTGRES = (
    'SELECT "id", "spend_limit", "spend_limit_period" FROM "app_user" WHERE "id" = ANY({0}::uuid[]) '
    'AND "spend_limit" IS NOT NULL ORDER BY "id" FOR NO KEY UPDATE'
)
_LIMITED_ON_SQLITE = (  # one writer: the ledger's customer lock already serialises everything
    'SELECT "id", "spend_limit", "spend_limit_period" FROM "app_user" '
    'WHERE "id" IN (SELECT value FROM json_each({0})) AND "spend_limit" IS NOT NULL'
)
_COUNTED = ", ".join(f"'{status.value}'" for status in sorted(REFUNDING_STATUSES))
# What the users' requests of this day ({2}..{3}) and month ({1}..{4}) took; a statement of its
# own after the lock, so that it sees what the lock's previous holders committed.
_SPENT = (
    'SELECT "requested_by_id" AS "user_id", '
    'COALESCE(SUM(CASE WHEN "created_at" >= {2} AND "created_at" < {3} THEN "amount" ELSE 0 END), 0) '
    'AS "day", COALESCE(SUM("amount"), 0) AS "month" FROM "service_request" '
    'WHERE "requested_by_id" {among0} AND "created_at" >= {1} AND "created_at" < {4} '
    f'AND "status" NOT IN ({_COUNTED}) GROUP BY "requested_by_id"'
)


async def spending(
    conn: BaseDBAsyncClient, user_ids: list[uuid.UUID], now: dt.datetime
) -> dict[uuid.UUID, dict[SpendLimitPeriod, int]]:
    """What each user's requests of `now`'s UTC day and month took (users without any: left out)."""
    if not user_ids:
        return {}
    day, next_day = period_bounds(SpendLimitPeriod.DAY, now)
    month, next_month = period_bounds(SpendLimitPeriod.MONTH, now)
    query = _SPENT.replace("{among0}", sql.among(conn, 0))
    return {
        sql.as_uuid(row["user_id"]): {
            SpendLimitPeriod.DAY: int(row["day"]),
            SpendLimitPeriod.MONTH: int(row["month"]),
        }
        for row in await sql.fetch(conn, query, sorted(set(user_ids)), month, day, next_day, next_month)
    }


async def read_limits(
    conn: BaseDBAsyncClient, user_ids: list[uuid.UUID], now: dt.datetime
) -> dict[uuid.UUID, UserLimit]:
    """The limits of those of `user_ids` that have one, locked, with what their period took."""
    if not user_ids:
        return {}
    ids = sorted(set(user_ids))
    on_postgres = conn.capabilities.dialect == "postgres"
    rows = await sql.fetch(conn, _LOCK_LIMITED_ON_POSTGRES if on_postgres else _LIMITED_ON_SQLITE, ids)
    if not rows:
        return {}
    limited = {sql.as_uuid(row["id"]): row for row in rows}
    spent = await spending(conn, list(limited), now)
    limits: dict[uuid.UUID, UserLimit] = {}
    for user_id, row in limited.items():
        period = SpendLimitPeriod(row["spend_limit_period"])
        limits[user_id] = UserLimit(int(row["spend_limit"]), period, spent.get(user_id, {}).get(period, 0))
    return limits


@dataclass
class Debit:
    """A debit before the guards: its customer at the running balance, and what they decide."""

    customer: Customer
    amount: int  # positive hundredths
    kind: TransactionKind
    user_id: uuid.UUID | None
    top_up: int = 0  # the AUTO_TOP_UP to write before it
    capped: bool = False  # a top-up was due but the day's cap stopped it


@dataclass
class Guarded:
    """What the guards of a batch did to one customer, for its single save after the posting."""

    changed: list[str]
    limit_reached: bool  # fire AUTO_TOP_UP_LIMIT_REACHED


@dataclass
class Controls:
    """One attempt at guarding a batch: the day's top-ups per customer, what each limited user took."""

    now: dt.datetime
    limits: dict[uuid.UUID, UserLimit]
    top_ups: dict[uuid.UUID, int] = field(default_factory=dict)  # customers' top-ups today
    alerted: set[uuid.UUID] = field(default_factory=set)  # customers alerted by this batch
    taken: dict[uuid.UUID, int] = field(default_factory=dict)  # this batch's accepted requests

    @property
    def today(self) -> dt.date:
        """The UTC day the batch is posted in."""
        return self.now.astimezone(dt.UTC).date()

    def topped_up_today(self, customer: Customer) -> int:
        """Top-ups of the customer this UTC day, this batch's included."""
        if customer.id in self.top_ups:
            return self.top_ups[customer.id]
        return customer.top_up_count if customer.top_up_day == self.today else 0

    def spent(self, user_id: uuid.UUID) -> int:
        """What the user's requests of its period took, this batch's accepted ones included."""
        return self.limits[user_id].spent + self.taken.get(user_id, 0)

    def accept(self, debit: Debit) -> None:
        """Count what an accepted debit did: its top-up, its cap alert, its request's amount."""
        customer_id = debit.customer.id
        if debit.top_up:
            self.top_ups[customer_id] = self.topped_up_today(debit.customer) + 1
        if debit.capped and debit.customer.top_up_alert_day != self.today:
            self.alerted.add(customer_id)
        if debit.kind is TransactionKind.SERVICE_CHARGE and debit.user_id in self.limits:
            self.taken[debit.user_id] = self.taken.get(debit.user_id, 0) + debit.amount

    def settle(self, customers: list[Customer]) -> dict[uuid.UUID, Guarded]:
        """Move the day's counters onto the customers; what changed, per customer that changed."""
        settled: dict[uuid.UUID, Guarded] = {}
        for customer in customers:
            changed: list[str] = []
            if customer.id in self.top_ups:
                customer.top_up_day, customer.top_up_count = self.today, self.top_ups[customer.id]
                changed += ["top_up_day", "top_up_count"]
            if customer.id in self.alerted:
                customer.top_up_alert_day = self.today
                changed.append("top_up_alert_day")
            if changed:
                settled[customer.id] = Guarded(changed, customer.id in self.alerted)
        return settled


def auto_top_up(controls: Controls, debit: Debit) -> DomainError | None:
    """A debit from at or above the threshold to below it tops up first, while the day's cap allows.

    Under the customer's lock, "from at or above" makes it once per crossing: the next debit
    starts below the threshold (or, topped up, above it again: re-armed).
    """
    customer = debit.customer
    if customer.top_up_threshold is None or not customer.top_up_amount:
        return None
    if not customer.balance >= customer.top_up_threshold > customer.balance - debit.amount:
        return None
    if controls.topped_up_today(customer) < customer.top_up_max_per_day:
        debit.top_up = customer.top_up_amount
    else:
        debit.capped = True
    return None


def floor(controls: Controls, debit: Debit) -> DomainError | None:
    """No debit may leave the balance (after its top-up) below the customer's minimum balance."""
    minimum = debit.customer.minimum_balance
    if minimum is not None and debit.customer.balance + debit.top_up - debit.amount < minimum:
        return DomainError(
            ErrorCode.INSUFFICIENT_CREDITS, "the balance would fall below the customer's minimum balance"
        )
    return None


def spend_limit(controls: Controls, debit: Debit) -> DomainError | None:
    """A service charge may not take its user's period's spending above the user's spend limit."""
    if debit.kind is not TransactionKind.SERVICE_CHARGE or debit.user_id not in controls.limits:
        return None
    if controls.spent(debit.user_id) + debit.amount > controls.limits[debit.user_id].amount:
        return DomainError(ErrorCode.SPEND_LIMIT_EXCEEDED, "the request would exceed the user's spend limit")
    return None
