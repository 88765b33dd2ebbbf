from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0002_idempotency_created_at')]

    initial = False

    operations = [
        ops.AddField(
            model_name='User',
            name='token_generation',
            field=fields.IntField(default=0, description='bumped at each deactivation: only JWTs of its generation work', db_default=0),
        ),
    ]
