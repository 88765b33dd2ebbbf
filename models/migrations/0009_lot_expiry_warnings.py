from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

# CREDITS_EXPIRING: each lot remembers whether it was warned for its current expiry, and the
# alert and its notifications name the lot. Every existing lot starts unwarned: those already
# within 7 days of their expiry are warned by the first sweep after the upgrade.


class Migration(migrations.Migration):
    dependencies = [("models", "0008_lots")]

    initial = False

    operations = [
        ops.AddField(
            model_name="CreditAlert",
            name="lot",
            field=fields.ForeignKeyField(
                "models.CreditLot",
                source_field="lot_id",
                null=True,
                db_constraint=True,
                to_field="id",
                related_name="alerts",
                on_delete=OnDelete.CASCADE,
            ),
        ),
        ops.AddField(
            model_name="CreditLot",
            name="expiring_warned",
            field=fields.BooleanField(
                default=False,
                db_default=False,
                description="CREDITS_EXPIRING fired for the current expiry (re-armed when moved out)",
            ),
        ),
        ops.AddIndex(
            model_name="CreditLot",
            index=Index(fields=["status", "expiring_warned", "expires_at"]),
        ),
        ops.AddField(
            model_name="Notification",
            name="lot",
            field=fields.ForeignKeyField(
                "models.CreditLot",
                source_field="lot_id",
                null=True,
                db_constraint=True,
                to_field="id",
                related_name="notifications",
                on_delete=OnDelete.CASCADE,
            ),
        ),
    ]
