from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import PartialIndex

class Migration(migrations.Migration):
    dependencies = [('models', '0004_webhooks')]

    initial = False

    operations = [
        ops.RemoveIndex(
            model_name='WebhookDelivery',
            name=None,
            fields=['status', 'next_attempt_at'],
        ),
        ops.AddIndex(
            model_name='WebhookDelivery',
            index=PartialIndex(fields=['next_attempt_at'], name='webhook_delivery_due', condition={'status': 'PENDING'}),
        ),
    ]
