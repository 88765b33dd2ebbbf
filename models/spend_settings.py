"""Setting the spend controls, and what they show: a customer's floor and top-up rule, a user's limit.

The controls themselves act in the ledger (models/spend_controls.py, under its locks); these
functions only change the settings, each under the row lock the ledger takes, so a setting
applies from the next posting on.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from tortoise import connections

from infra import clock
from models.customer import Customer, lock_customer
from models.errors import invalid_input, not_found
from models.events import CustomerChanged
from models.lots import check_priority
from models.spend_controls import period_bounds, spending
from models.unit_of_work import UnitOfWork, run_in_transaction
from models.user import SpendLimitPeriod, User

DEFAULT_MAX_PER_DAY = 3
MAX_PER_DAY = 24
MAX_EXPIRES_IN_DAYS = 3650


@dataclass(frozen=True)
class TopUpRule:
    """An auto top-up rule as set (hundredths); `priority` None: the lots' default, 50."""

    threshold: int
    amount: int
    priority: int | None = None
    expires_in_days: int | None = None
    max_per_day: int | None = None


async def set_minimum_balance(customer_id: uuid.UUID, minimum: int | None) -> Customer:
    """Set the floor no charge or withdrawal may take the balance below (None: none)."""

    async def work(uow: UnitOfWork) -> Customer:
        customer = await lock_customer(uow.conn, customer_id)
        if customer.minimum_balance != minimum:
            customer.minimum_balance = minimum
            await customer.save(using_db=uow.conn, update_fields=["minimum_balance"])
            uow.events.append(CustomerChanged(customer.id))
        return customer

    return await run_in_transaction(work)


def check_top_up(rule: TopUpRule) -> TopUpRule:
    """The contract's ranges: amount > 0, priority 0–100, expiresInDays 1–3650, maxPerDay 1–24."""
    if rule.amount <= 0:
        raise invalid_input("amount must be greater than zero", "amount")
    check_priority(rule.priority)
    if rule.expires_in_days is not None and not 1 <= rule.expires_in_days <= MAX_EXPIRES_IN_DAYS:
        raise invalid_input(f"expiresInDays must lie between 1 and {MAX_EXPIRES_IN_DAYS}", "expiresInDays")
    if rule.max_per_day is not None and not 1 <= rule.max_per_day <= MAX_PER_DAY:
        raise invalid_input(f"maxPerDay must lie between 1 and {MAX_PER_DAY}", "maxPerDay")
    return rule


async def set_auto_top_up(customer_id: uuid.UUID, rule: TopUpRule) -> Customer:
    """Turn the auto top-up on with `rule` (or change it); today's count of top-ups stays."""
    check_top_up(rule)

    async def work(uow: UnitOfWork) -> Customer:
        customer = await lock_customer(uow.conn, customer_id)
        before = [getattr(customer, name) for name in _RULE_FIELDS]
        customer.top_up_threshold = rule.threshold
        customer.top_up_amount = rule.amount
        customer.top_up_priority = 50 if rule.priority is None else rule.priority
        customer.top_up_expires_in_days = rule.expires_in_days
        customer.top_up_max_per_day = DEFAULT_MAX_PER_DAY if rule.max_per_day is None else rule.max_per_day
        if [getattr(customer, name) for name in _RULE_FIELDS] != before:
            await customer.save(using_db=uow.conn, update_fields=list(_RULE_FIELDS))
            uow.events.append(CustomerChanged(customer.id))
        return customer

    return await run_in_transaction(work)


_RULE_FIELDS = (
    "top_up_threshold",
    "top_up_amount",
    "top_up_priority",
    "top_up_expires_in_days",
    "top_up_max_per_day",
)


async def disable_auto_top_up(customer_id: uuid.UUID) -> Customer:
    """Turn the auto top-up off (its rule is forgotten)."""

    async def work(uow: UnitOfWork) -> Customer:
        customer = await lock_customer(uow.conn, customer_id)
        if customer.top_up_threshold is not None:
            customer.top_up_threshold = customer.top_up_amount = customer.top_up_expires_in_days = None
            cleared = ["top_up_threshold", "top_up_amount", "top_up_expires_in_days"]
            await customer.save(using_db=uow.conn, update_fields=cleared)
            uow.events.append(CustomerChanged(customer.id))
        return customer

    return await run_in_transaction(work)


def topped_up_today(customer: Customer) -> int:
    """The customer's top-ups this UTC day (0 when the stored count is of another day)."""
    return customer.top_up_count if customer.top_up_day == clock.now().date() else 0


async def set_spend_limit(user: User, amount: int | None, period: SpendLimitPeriod | None) -> User:
    """Set what the user's service requests may take per UTC day or month (None: no limit)."""
    if amount is not None and amount < 0:
        raise invalid_input("amount must not be negative", "amount")

    async def work(uow: UnitOfWork) -> User:
        # The lock the ledger takes on users with a limit: a charge under way finishes first.
        locked = await User.select_for_update(no_key=True).using_db(uow.conn).get_or_none(id=user.id)
        if locked is None:
            raise not_found("user", "userId")
        locked.spend_limit = amount
        locked.spend_limit_period = period or SpendLimitPeriod.MONTH
        await locked.save(using_db=uow.conn, update_fields=["spend_limit", "spend_limit_period"])
        return locked

    return await run_in_transaction(work)


@dataclass(frozen=True)
class LimitState:
    """A user's spend limit as shown: its amount and period, what was spent, when it resets."""

    amount: int
    period: SpendLimitPeriod
    spent: int
    resets_at: dt.datetime


async def limit_states(users: list[User]) -> list[LimitState | None]:
    """Each user's limit with its period's spending (requests not CANCELLED, FAILED or REJECTED)."""
    now = clock.now()
    limited = [user.id for user in users if user.spend_limit is not None]
    spent = await spending(connections.get("default"), limited, now)
    states: list[LimitState | None] = []
    for user in users:
        if user.spend_limit is None:
            states.append(None)
            continue
        period = SpendLimitPeriod(user.spend_limit_period)
        taken = spent.get(user.id, {}).get(period, 0)
        states.append(LimitState(user.spend_limit, period, taken, period_bounds(period, now)[1]))
    return states


async def limit_state(user: User) -> LimitState | None:
    """One user's limit with its period's spending."""
    return (await limit_states([user]))[0]
