# Spend controls (issue 22): the minimum balance and auto top-up rule of a customer, a user's spend
# limit, the AUTO_TOP_UP entry and AUTO_TOP_UP_LIMIT_REACHED alert (longer than the 20 characters
# alert kinds had).

from tortoise import migrations
from tortoise.migrations import operations as ops
from models.notification import AlertKind
from models.transaction import TransactionKind
from models.user import SpendLimitPeriod
from tortoise import fields
from tortoise.indexes import Index

class AlterColumnOnPostgres(ops.AlterField):
    """An AlterField that leaves SQLite alone: it only widens a VARCHAR or changes a description there.

    SQLite enforces neither, and Tortoise would rebuild the table for it: rebuilding
    credit_transaction drops the old table, and with it (ON DELETE CASCADE) every lot and allocation.
    """

    async def database_forward(self, app_label, old_state, new_state, state_editor=None) -> None:
        if state_editor is not None and state_editor.DIALECT == "sqlite":
            return
        await super().database_forward(app_label, old_state, new_state, state_editor)

    async def database_backward(self, app_label, old_state, new_state, state_editor=None) -> None:
        if state_editor is not None and state_editor.DIALECT == "sqlite":
            return
        await super().database_backward(app_label, old_state, new_state, state_editor)


class Migration(migrations.Migration):
    dependencies = [('models', '0011_runway')]

    initial = False

    operations = [
        AlterColumnOnPostgres(
            model_name='CreditAlert',
            name='kind',
            field=fields.CharEnumField(description='BELOW_ZERO: BELOW_ZERO\nBELOW_THRESHOLD: BELOW_THRESHOLD\nWEBHOOK_DISABLED: WEBHOOK_DISABLED\nCREDITS_EXPIRING: CREDITS_EXPIRING\nRUNWAY_LOW: RUNWAY_LOW\nAUTO_TOP_UP_LIMIT_REACHED: AUTO_TOP_UP_LIMIT_REACHED', enum_type=AlertKind, max_length=32),
        ),
        AlterColumnOnPostgres(
            model_name='CreditTransaction',
            name='kind',
            field=fields.CharEnumField(description='GRANT: GRANT\nWITHDRAWAL: WITHDRAWAL\nSERVICE_CHARGE: SERVICE_CHARGE\nREFUND: REFUND\nEXPIRATION: EXPIRATION\nAUTO_TOP_UP: AUTO_TOP_UP', enum_type=TransactionKind, max_length=20),
        ),
        ops.AddField(
            model_name='Customer',
            name='minimum_balance',
            field=fields.BigIntField(null=True, description='hundredths no charge or withdrawal may take the balance below, null for none'),
        ),
        ops.AddField(
            model_name='Customer',
            name='top_up_alert_day',
            field=fields.DateField(null=True, description='the UTC day of the last AUTO_TOP_UP_LIMIT_REACHED alert'),
        ),
        ops.AddField(
            model_name='Customer',
            name='top_up_amount',
            field=fields.BigIntField(null=True, description='hundredths each top-up grants'),
        ),
        ops.AddField(
            model_name='Customer',
            name='top_up_count',
            field=fields.SmallIntField(default=0, description='top-ups on top_up_day', db_default=0),
        ),
        ops.AddField(
            model_name='Customer',
            name='top_up_day',
            field=fields.DateField(null=True, description='the UTC day top_up_count counts'),
        ),
        ops.AddField(
            model_name='Customer',
            name='top_up_expires_in_days',
            field=fields.IntField(null=True, description='of the lots it creates, null for never'),
        ),
        ops.AddField(
            model_name='Customer',
            name='top_up_max_per_day',
            field=fields.SmallIntField(default=3, description='top-ups per UTC day', db_default=3),
        ),
        ops.AddField(
            model_name='Customer',
            name='top_up_priority',
            field=fields.SmallIntField(default=50, description='of the lots it creates', db_default=50),
        ),
        ops.AddField(
            model_name='Customer',
            name='top_up_threshold',
            field=fields.BigIntField(null=True, description='hundredths, null for auto top-up off'),
        ),
        AlterColumnOnPostgres(
            model_name='Notification',
            name='kind',
            field=fields.CharEnumField(description='BELOW_ZERO: BELOW_ZERO\nBELOW_THRESHOLD: BELOW_THRESHOLD\nWEBHOOK_DISABLED: WEBHOOK_DISABLED\nCREDITS_EXPIRING: CREDITS_EXPIRING\nRUNWAY_LOW: RUNWAY_LOW\nAUTO_TOP_UP_LIMIT_REACHED: AUTO_TOP_UP_LIMIT_REACHED', enum_type=AlertKind, max_length=32),
        ),
        ops.AddIndex(
            model_name='ServiceRequest',
            index=Index(fields=['requested_by_id', 'created_at']),
        ),
        ops.AddField(
            model_name='User',
            name='spend_limit',
            field=fields.BigIntField(null=True, description='hundredths its service requests may take per period, null for no limit'),
        ),
        ops.AddField(
            model_name='User',
            name='spend_limit_period',
            field=fields.CharEnumField(default=SpendLimitPeriod.MONTH, description='DAY: DAY\nMONTH: MONTH', db_default='MONTH', enum_type=SpendLimitPeriod, max_length=5),
        ),
    ]
