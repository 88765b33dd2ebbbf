"""Users, their roles and their API tokens."""

from __future__ import annotations

import uuid
from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class Role(StrEnum):
    """Who a user is to the platform; see API.md's roles."""

    CATALOG_ADMIN = "CATALOG_ADMIN"
    CUSTOMER_ADMIN = "CUSTOMER_ADMIN"
    END_USER = "END_USER"


class SpendLimitPeriod(StrEnum):
    """The UTC calendar period a spend limit counts: a day or a month."""

    DAY = "DAY"
    MONTH = "MONTH"


class User(Model):
    """A person or integration that logs in (customer roles belong to one customer)."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    email = fields.CharField(max_length=254)
    email_key = fields.CharField(max_length=254, unique=True, description="lower-cased email")
    name = fields.CharField(max_length=200)
    role = fields.CharEnumField(Role, max_length=20)
    customer = fields.ForeignKeyField("models.Customer", related_name="users", null=True)
    password_hash = fields.CharField(max_length=255)
    active = fields.BooleanField(default=True)
    token_generation = fields.IntField(
        default=0, db_default=0, description="bumped at each deactivation: only JWTs of its generation work"
    )
    spend_limit = fields.BigIntField(
        null=True, description="hundredths its service requests may take per period, null for no limit"
    )
    spend_limit_period = fields.CharEnumField(
        SpendLimitPeriod, max_length=5, default=SpendLimitPeriod.MONTH, db_default="MONTH"
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    customer_id: uuid.UUID | None

    class Meta:
        table = "app_user"


class ApiToken(Model):
    """A long-lived token acting as its owner, stored as its SHA-256 only is stored."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    user = fields.ForeignKeyField("models.User", related_name="api_tokens")
    name = fields.CharField(max_length=200)
    token_hash = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    last_used_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)

    user_id: uuid.UUID

    class Meta:
        table = "api_token"
