"""The catalog's credit-priced services and the requests made for them."""

from __future__ import annotations

import uuid
from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class RequestStatus(StrEnum):
    """A request starts REQUESTED; every other status is final."""

    REQUESTED = "REQUESTED"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"
    FAILED = "FAILED"
    REJECTED = "REJECTED"


REFUNDING_STATUSES = frozenset({RequestStatus.CANCELLED, RequestStatus.FAILED, RequestStatus.REJECTED})


class Service(Model):
    """A service of the catalog (a null price means it is not chargeable)."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    name = fields.CharField(max_length=200)
    credit_price = fields.BigIntField(null=True, description="hundredths, null when not chargeable")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "service"


class ServiceRequest(Model):
    """One request of a service: `amount` is what was debited and what a refund returns."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    service = fields.ForeignKeyField("models.Service", related_name="requests")
    customer = fields.ForeignKeyField("models.Customer", related_name="service_requests")
    requested_by = fields.ForeignKeyField("models.User", related_name="service_requests", null=True)
    quantity = fields.IntField()
    amount = fields.BigIntField(description="hundredths debited when requested")
    status = fields.CharEnumField(RequestStatus, max_length=20, default=RequestStatus.REQUESTED)
    reason = fields.TextField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    service_id: uuid.UUID
    customer_id: uuid.UUID
    requested_by_id: uuid.UUID | None

    class Meta:
        table = "service_request"
        # The second: what a user's requests of a day or month took (its spend limit).
        indexes = (("customer_id", "created_at"), ("requested_by_id", "created_at"))
