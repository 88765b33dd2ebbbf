from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import PartialIndex

class Migration(migrations.Migration):
    dependencies = [('models', '0006_webhook_manual_send')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='WebhookDelivery',
            index=PartialIndex(fields=['endpoint_id', 'created_at'], name='webhook_delivery_pending', condition={'status': 'PENDING'}),
        ),
    ]
