"""Customers: who holds a credit balance, and the alert settings on it."""

from __future__ import annotations

import uuid

from tortoise import fields
from tortoise.models import Model


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
