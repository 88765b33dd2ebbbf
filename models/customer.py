"""Customers: who holds a credit balance, and the alert settings on it."""

from __future__ import annotations

import uuid

from tortoise import connections, fields
from tortoise.models import Model

from infra import sql


class Customer(Model):
    """A customer's account: `balance` changes only through `models.ledger.post`."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    name = fields.CharField(max_length=200, db_index=True)
    balance = fields.BigIntField(default=0, description="hundredths of a credit")
    last_sequence = fields.BigIntField(default=0, description="sequence of the newest ledger entry")
    alert_threshold = fields.BigIntField(null=True, description="hundredths, null for no threshold alert")
    below_zero_fired = fields.BooleanField(default=False)
    below_threshold_fired = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "customer"


_BY_ID = 'SELECT * FROM "customer" WHERE "id" = {0}'


async def find_customer(customer_id: uuid.UUID) -> Customer | None:
    """A customer by id, or None; plain SQL, since the top-menu badge asks on every page load."""
    rows = await sql.fetch(connections.get("default"), _BY_ID, customer_id)
    return Customer._init_from_db(**rows[0]) if rows else None
