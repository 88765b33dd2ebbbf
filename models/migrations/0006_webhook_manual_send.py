from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0005_webhook_delivery_due')]

    initial = False

    operations = [
        ops.CreateModel(
            name='WebhookManualSend',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('endpoint', fields.ForeignKeyField('models.WebhookEndpoint', source_field='endpoint_id', db_constraint=True, to_field='id', related_name='manual_sends', on_delete=OnDelete.CASCADE)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'webhook_manual_send', 'app': 'models', 'indexes': [Index(fields=['endpoint_id', 'created_at'])], 'pk_attr': 'id', 'table_description': 'One test send or redelivery an administrator asked for, kept for the window it counts in.'},
            bases=['Model'],
        ),
        ops.AlterField(
            model_name='WebhookDelivery',
            name='lease_until',
            field=fields.DatetimeField(null=True, description='claimed by a dispatcher (lease renewed while sent)', auto_now=False, auto_now_add=False),
        ),
    ]
