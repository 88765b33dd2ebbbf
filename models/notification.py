"""In-app notifications for customer administrators."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum

from tortoise import connections, fields
from tortoise.models import Model

from infra import sql


class AlertKind(StrEnum):
    """Which limit a balance crossed (or, for notifications only, that a webhook endpoint was disabled)."""

    BELOW_ZERO = "BELOW_ZERO"
    BELOW_THRESHOLD = "BELOW_THRESHOLD"
    WEBHOOK_DISABLED = "WEBHOOK_DISABLED"
    CREDITS_EXPIRING = "CREDITS_EXPIRING"  # a lot expires within 7 days (models/expiry_warning.py)
    RUNWAY_LOW = "RUNWAY_LOW"  # the runway's depletion came within the set days (models/runway_alert.py)
    AUTO_TOP_UP_LIMIT_REACHED = "AUTO_TOP_UP_LIMIT_REACHED"  # the day's cap stopped a top-up


class Notification(Model):
    """One alert as one user sees it in the app."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    user = fields.ForeignKeyField("models.User", related_name="notifications")
    customer = fields.ForeignKeyField("models.Customer", related_name="notifications")
    kind = fields.CharEnumField(AlertKind, max_length=32)
    balance = fields.BigIntField()
    threshold = fields.BigIntField(null=True)
    message = fields.TextField()
    created_at = fields.DatetimeField(auto_now_add=True)
    read_at = fields.DatetimeField(null=True)
    lot = fields.ForeignKeyField("models.CreditLot", related_name="notifications", null=True)

    user_id: uuid.UUID
    customer_id: uuid.UUID
    lot_id: uuid.UUID | None

    class Meta:
        table = "notification"
        indexes = (("user_id", "created_at"),)


async def mark_read(user_id: uuid.UUID, ids: list[uuid.UUID] | None) -> int:
    """Mark the user's notifications among `ids` (all when None) read; others' ids are ignored."""
    query = Notification.filter(user_id=user_id, read_at=None)
    if ids is not None:
        query = query.filter(id__in=ids)
    return await query.update(read_at=dt.datetime.now(dt.UTC))


_UNREAD = 'SELECT COUNT(*) AS "n" FROM "notification" WHERE "user_id" = {0} AND "read_at" IS NULL'


async def unread_count(user_id: uuid.UUID) -> int:
    """How many of the user's notifications are unread; plain SQL, as the top-menu badge asks often."""
    rows = await sql.fetch(connections.get("default"), _UNREAD, user_id)
    return int(rows[0]["n"])
