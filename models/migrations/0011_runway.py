from tortoise import migrations
from tortoise.migrations import operations as ops
from models.notification import AlertKind
from tortoise import fields
from tortoise.indexes import Index

# The runway (issue 22): a customer's runway alert setting and its fired flag, the forecast a
# RUNWAY_LOW alert names, and the index the runway's 7-day usage and balanceAt read entries by time.

class Migration(migrations.Migration):
    dependencies = [('models', '0010_console_sessions')]

    initial = False

    operations = [
        ops.AlterField(
            model_name='CreditAlert',
            name='kind',
            field=fields.CharEnumField(description='BELOW_ZERO: BELOW_ZERO\nBELOW_THRESHOLD: BELOW_THRESHOLD\nWEBHOOK_DISABLED: WEBHOOK_DISABLED\nCREDITS_EXPIRING: CREDITS_EXPIRING\nRUNWAY_LOW: RUNWAY_LOW', enum_type=AlertKind, max_length=20),
        ),
        ops.AddField(
            model_name='CreditAlert',
            name='depletes_at',
            field=fields.DatetimeField(null=True, description='RUNWAY_LOW: the forecast that fired it', auto_now=False, auto_now_add=False),
        ),
        ops.AddIndex(
            model_name='CreditTransaction',
            index=Index(fields=['customer_id', 'created_at']),
        ),
        ops.AddField(
            model_name='Customer',
            name='runway_alert_days',
            field=fields.SmallIntField(null=True, description="RUNWAY_LOW when the runway depletion comes within this many days, null: off"),
        ),
        ops.AddField(
            model_name='Customer',
            name='runway_low_fired',
            field=fields.BooleanField(default=False, description='RUNWAY_LOW fired for the current crossing', db_default=False),
        ),
        ops.AddIndex(
            model_name='Customer',
            index=Index(fields=['runway_alert_days']),
        ),
        ops.AlterField(
            model_name='Notification',
            name='kind',
            field=fields.CharEnumField(description='BELOW_ZERO: BELOW_ZERO\nBELOW_THRESHOLD: BELOW_THRESHOLD\nWEBHOOK_DISABLED: WEBHOOK_DISABLED\nCREDITS_EXPIRING: CREDITS_EXPIRING\nRUNWAY_LOW: RUNWAY_LOW', enum_type=AlertKind, max_length=20),
        ),
    ]
