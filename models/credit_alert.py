"""Alert rows: each limit the balance crossed, kept for the customer's alert history."""

from __future__ import annotations

import uuid

from tortoise import fields
from tortoise.models import Model

from models.notification import AlertKind


class CreditAlert(Model):
    """A limit the balance crossed, kept for the customer's alert history."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    customer = fields.ForeignKeyField("models.Customer", related_name="alerts")
    kind = fields.CharEnumField(AlertKind, max_length=32)
    balance = fields.BigIntField()
    threshold = fields.BigIntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    lot = fields.ForeignKeyField("models.CreditLot", related_name="alerts", null=True)
    depletes_at = fields.DatetimeField(null=True, description="RUNWAY_LOW: the forecast that fired it")

    customer_id: uuid.UUID
    lot_id: uuid.UUID | None

    class Meta:
        table = "credit_alert"
        indexes = (("customer_id", "created_at"),)
