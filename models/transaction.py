"""Ledger entries: the immutable rows whose amounts make up a balance, and why each moved."""

from __future__ import annotations

import uuid
from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from models.lot_allocation import Allocation


class TransactionKind(StrEnum):
    """Why the balance moved; the sign of `amount` follows from it."""

    GRANT = "GRANT"
    WITHDRAWAL = "WITHDRAWAL"
    SERVICE_CHARGE = "SERVICE_CHARGE"
    REFUND = "REFUND"
    EXPIRATION = "EXPIRATION"
    AUTO_TOP_UP = "AUTO_TOP_UP"


class CreditTransaction(Model):
    """An immutable ledger entry: a customer's balance is the sum of its amounts."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    customer = fields.ForeignKeyField("models.Customer", related_name="transactions")
    sequence = fields.BigIntField(description="1, 2, 3 … per customer, without gaps")
    kind = fields.CharEnumField(TransactionKind, max_length=20)
    amount = fields.BigIntField(description="signed hundredths")
    balance_after = fields.BigIntField()
    note = fields.TextField(null=True)
    service_request = fields.ForeignKeyField(
        "models.ServiceRequest", related_name="transactions", null=True, db_index=True
    )
    actor = fields.ForeignKeyField("models.User", related_name="transactions", null=True)
    api_token = fields.ForeignKeyField("models.ApiToken", related_name="transactions", null=True)
    request_id = fields.CharField(max_length=64, null=True, description="the API request that caused it")
    created_at = fields.DatetimeField(auto_now_add=True)

    customer_id: uuid.UUID
    service_request_id: uuid.UUID | None
    actor_id: uuid.UUID | None
    # Not a column: the allocations the apply step computed, for what follows the posting
    # (the webhook's `allocations`); rows read back from the database have none here.
    lot_allocations: tuple[Allocation, ...] = ()

    class Meta:
        table = "credit_transaction"
        unique_together = (("customer_id", "sequence"),)
        # The runway's last 7 days of usage and `balanceAt` read a customer's entries by time.
        indexes = (("customer_id", "created_at"),)
