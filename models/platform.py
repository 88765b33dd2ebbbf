"""Platform-wide switches, kept in a single row."""

from __future__ import annotations

from tortoise import fields
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model

ROW = 1  # the id of the single settings row
# The switch as an SQL expression, for hot paths that read it together with other facts.
ENABLED_SQL = (
    f'COALESCE((SELECT "credit_management_enabled" FROM "platform_settings" WHERE "id" = {ROW}), FALSE)'
)


class PlatformSettings(Model):
    """The credit-management switch: off on a fresh install."""

    id = fields.IntField(primary_key=True)
    credit_management_enabled = fields.BooleanField(default=False)

    class Meta:
        table = "platform_settings"


async def credit_management_enabled(conn: BaseDBAsyncClient | None = None) -> bool:
    """Whether grants, withdrawals and charges are on."""
    row = await PlatformSettings.get_or_none(id=ROW, using_db=conn)
    return bool(row and row.credit_management_enabled)


async def set_credit_management(enabled: bool) -> bool:
    """Turn credit management on or off; returns the new state."""
    row, created = await PlatformSettings.get_or_create(
        id=ROW, defaults={"credit_management_enabled": enabled}
    )
    if not created and row.credit_management_enabled != enabled:
        row.credit_management_enabled = enabled
        await row.save(update_fields=["credit_management_enabled"])
    return enabled
