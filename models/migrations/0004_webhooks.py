from tortoise import migrations
from tortoise.migrations import operations as ops
from models.notification import AlertKind
from models.webhooks import DeliveryStatus
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0003_user_token_generation')]

    initial = False

    operations = [
        ops.CreateModel(
            name='WebhookEndpoint',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('customer', fields.ForeignKeyField('models.Customer', source_field='customer_id', null=True, db_constraint=True, to_field='id', related_name='webhook_endpoints', on_delete=OnDelete.CASCADE)),
                ('url', fields.CharField(max_length=2000)),
                ('description', fields.TextField(null=True, unique=False)),
                ('event_types', fields.CharField(default='', description='wire names, comma-separated', max_length=500)),
                ('enabled', fields.BooleanField(default=True)),
                ('disabled_reason', fields.TextField(null=True, unique=False)),
                ('secret_sealed', fields.TextField(description='the signing secret, encrypted (models.webhook_secrets)', unique=False)),
                ('previous_secret_sealed', fields.TextField(null=True, unique=False)),
                ('previous_secret_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('failing_since', fields.DatetimeField(null=True, description='first failed attempt since the last success', auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'webhook_endpoint', 'app': 'models', 'indexes': [Index(fields=['customer_id', 'enabled'])], 'pk_attr': 'id', 'table_description': "Where a customer's (or, without a customer, every customer's) events are sent."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WebhookDelivery',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('endpoint', fields.ForeignKeyField('models.WebhookEndpoint', source_field='endpoint_id', db_constraint=True, to_field='id', related_name='deliveries', on_delete=OnDelete.CASCADE)),
                ('event_type', fields.CharField(max_length=40)),
                ('payload', fields.TextField(description='the exact JSON body that is signed and sent', unique=False)),
                ('status', fields.CharEnumField(default=DeliveryStatus.PENDING, description='PENDING: PENDING\nDELIVERED: DELIVERED\nFAILED: FAILED', enum_type=DeliveryStatus, max_length=10)),
                ('attempts', fields.IntField(default=0)),
                ('schedule_start', fields.IntField(default=0, description='attempts before the latest redelivery')),
                ('last_status_code', fields.IntField(null=True)),
                ('last_error', fields.TextField(null=True, unique=False)),
                ('next_attempt_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('lease_until', fields.DatetimeField(null=True, description='SQLite: claimed by the dispatcher until then', auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('delivered_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'webhook_delivery', 'app': 'models', 'indexes': [Index(fields=['status', 'next_attempt_at']), Index(fields=['endpoint_id', 'created_at'])], 'pk_attr': 'id', 'table_description': 'One event for one endpoint: its id is the `webhook-id` header of every attempt.'},
            bases=['Model'],
        ),
        ops.AlterField(
            model_name='CreditAlert',
            name='kind',
            field=fields.CharEnumField(description='BELOW_ZERO: BELOW_ZERO\nBELOW_THRESHOLD: BELOW_THRESHOLD\nWEBHOOK_DISABLED: WEBHOOK_DISABLED', enum_type=AlertKind, max_length=20),
        ),
        ops.AlterField(
            model_name='Notification',
            name='kind',
            field=fields.CharEnumField(description='BELOW_ZERO: BELOW_ZERO\nBELOW_THRESHOLD: BELOW_THRESHOLD\nWEBHOOK_DISABLED: WEBHOOK_DISABLED', enum_type=AlertKind, max_length=20),
        ),
    ]
