"""Credit lots: the credits of one grant, and what each ledger entry did to them (allocations)."""

from __future__ import annotations

import uuid
from enum import StrEnum

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

DEFAULT_PRIORITY = 50
MIN_PRIORITY, MAX_PRIORITY = 0, 100


class LotStatus(StrEnum):
    """ACTIVE lots hold or may again hold credits; EXPIRED is final."""

    ACTIVE = "ACTIVE"
    DEPLETED = "DEPLETED"
    EXPIRED = "EXPIRED"


class CreditLot(Model):
    """Credits of one grant (or refund, or the balance a migration found), consumed in order."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    customer = fields.ForeignKeyField("models.Customer", related_name="lots")
    transaction = fields.ForeignKeyField("models.CreditTransaction", related_name="created_lots")
    amount = fields.BigIntField(description="hundredths it held when created")
    remaining = fields.BigIntField(description="hundredths left")
    priority = fields.SmallIntField(default=DEFAULT_PRIORITY, description="0-100, lower is consumed first")
    expires_at = fields.DatetimeField(null=True, description="null: never")
    status = fields.CharEnumField(LotStatus, max_length=10, default=LotStatus.ACTIVE)
    sequence = fields.BigIntField(description="ledger sequence of the creating entry (consumption order)")
    created_at = fields.DatetimeField()

    customer_id: uuid.UUID
    transaction_id: uuid.UUID

    class Meta:
        table = "credit_lot"
        indexes = (
            Index(fields=["customer_id", "status", "priority", "expires_at", "sequence"]),
            Index(fields=["status", "expires_at"]),
        )


class CreditAllocation(Model):
    """The part of one ledger entry that changed one lot, or (lot null) the customer's debt."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    transaction = fields.ForeignKeyField(
        "models.CreditTransaction", related_name="allocations", db_index=True
    )
    lot = fields.ForeignKeyField("models.CreditLot", related_name="allocations", null=True, db_index=True)
    amount = fields.BigIntField(description="signed hundredths, like the entry's amount")

    transaction_id: uuid.UUID
    lot_id: uuid.UUID | None

    class Meta:
        table = "credit_allocation"
