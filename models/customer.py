"""Customers: who holds a credit balance, and the alert and spend-control settings on it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from tortoise import connections, fields
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model

from infra import sql
from models.errors import not_found


class Customer(Model):
    """A customer's account: `balance` changes only through `models.ledger.post`."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    name = fields.CharField(max_length=200, db_index=True)
    balance = fields.BigIntField(default=0, description="hundredths of a credit")
    last_sequence = fields.BigIntField(default=0, description="sequence of the newest ledger entry")
    alert_threshold = fields.BigIntField(null=True, description="hundredths, null for no threshold alert")
    below_zero_fired = fields.BooleanField(default=False)
    below_threshold_fired = fields.BooleanField(default=False)
    runway_alert_days = fields.SmallIntField(
        null=True, description="RUNWAY_LOW when the runway depletion comes within this many days, null: off"
    )
    runway_low_fired = fields.BooleanField(
        default=False, db_default=False, description="RUNWAY_LOW fired for the current crossing"
    )
    minimum_balance = fields.BigIntField(
        null=True, description="hundredths no charge or withdrawal may take the balance below, null for none"
    )
    # The auto top-up rule (models/spend_controls.py): off while the threshold is null.
    top_up_threshold = fields.BigIntField(null=True, description="hundredths, null for auto top-up off")
    top_up_amount = fields.BigIntField(null=True, description="hundredths each top-up grants")
    top_up_priority = fields.SmallIntField(default=50, db_default=50, description="of the lots it creates")
    top_up_expires_in_days = fields.IntField(null=True, description="of the lots it creates, null for never")
    top_up_max_per_day = fields.SmallIntField(default=3, db_default=3, description="top-ups per UTC day")
    top_up_day = fields.DateField(null=True, description="the UTC day top_up_count counts")
    top_up_count = fields.SmallIntField(default=0, db_default=0, description="top-ups on top_up_day")
    top_up_alert_day = fields.DateField(
        null=True, description="the UTC day of the last AUTO_TOP_UP_LIMIT_REACHED alert"
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "customer"
        indexes = (("runway_alert_days",),)  # the runway sweep reads the customers that set one


class CustomerOrder(StrEnum):
    """How a list of customers is sorted."""

    NAME = "NAME"
    BALANCE_ASCENDING = "BALANCE_ASCENDING"
    BALANCE_DESCENDING = "BALANCE_DESCENDING"


@dataclass(frozen=True)
class CustomerState:
    """What a balance event carries of its customer besides the balance, so that no subscriber reads it."""

    name: str
    alert_threshold: int | None

    @classmethod
    def of(cls, customer: Customer) -> CustomerState:
        """The customer's fields as they are now."""
        return cls(customer.name, customer.alert_threshold)


_BY_ID = 'SELECT * FROM "customer" WHERE "id" = {0}'


async def find_customer(customer_id: uuid.UUID) -> Customer | None:
    """A customer by id, or None; plain SQL, since the top-menu badge asks on every page load."""
    rows = await sql.fetch(connections.get("default"), _BY_ID, customer_id)
    return Customer._init_from_db(**rows[0]) if rows else None


async def customer_state(customer_id: uuid.UUID) -> CustomerState | None:
    """A customer's `CustomerState` as committed, or None (replays read it once per page)."""
    customer = await find_customer(customer_id)
    return None if customer is None else CustomerState.of(customer)


async def lock_customer(conn: BaseDBAsyncClient, customer_id: uuid.UUID) -> Customer:
    """The customer, row-locked for a settings change (NOT_FOUND on `customerId` when missing).

    FOR NO KEY UPDATE, like a posting: a change waits for postings under way, and they for it, while
    inserts that reference the customer do not wait.
    """
    customer = await Customer.select_for_update(no_key=True).using_db(conn).get_or_none(id=customer_id)
    if customer is None:
        raise not_found("customer", "customerId")
    return customer
