"""Manual webhook sends (`sendTestWebhook`, `redeliverWebhook`): a limit per endpoint and window.

Each queues an attempt at once, outside the retry schedule, so an administrator (or a script with
their token) could otherwise queue them without end. Counted in the database, in the transaction
that locks the endpoint, so every server process counts the same sends and two at once cannot
both take the last one.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid

from tortoise import fields
from tortoise.models import Model

from models.errors import DomainError, ErrorCode
from models.unit_of_work import UnitOfWork
from settings import get_settings


class WebhookManualSend(Model):
    """One test send or redelivery an administrator asked for, kept for the window it counts in."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    endpoint = fields.ForeignKeyField(
        "models.WebhookEndpoint", related_name="manual_sends", on_delete=fields.CASCADE
    )
    created_at = fields.DatetimeField()

    endpoint_id: uuid.UUID

    class Meta:
        table = "webhook_manual_send"
        indexes = (("endpoint_id", "created_at"),)


async def count_manual_send(uow: UnitOfWork, endpoint_id: uuid.UUID, argument: str) -> None:
    """Count one more manual send to the endpoint, or refuse it (RATE_LIMITED, saying when to retry).

    The caller holds the endpoint's row lock, so concurrent sends to one endpoint count in turn.
    """
    settings = get_settings()
    window = dt.timedelta(seconds=settings.webhook_manual_send_window_seconds)
    limit = settings.webhook_manual_sends_per_window
    now = dt.datetime.now(dt.UTC)
    sends = WebhookManualSend.filter(endpoint_id=endpoint_id).using_db(uow.conn)
    await sends.filter(created_at__lte=now - window).delete()
    recent = await sends.filter(created_at__gt=now - window).order_by("-created_at").limit(limit)
    if len(recent) >= limit:
        wait = math.ceil((recent[-1].created_at + window - now).total_seconds())
        raise DomainError(
            ErrorCode.RATE_LIMITED,
            f"at most {limit} test sends and redeliveries per endpoint every "
            f"{settings.webhook_manual_send_window_seconds:g} seconds; retry in {max(wait, 1)} seconds",
            argument,
        )
    await WebhookManualSend.create(using_db=uow.conn, endpoint_id=endpoint_id, created_at=now)
