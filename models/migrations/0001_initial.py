from tortoise import migrations
from tortoise.migrations import operations as ops
from models.ledger import TransactionKind
from models.notification import AlertKind
from models.outbox import EmailStatus
from models.service import RequestStatus
from models.user import Role
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='Customer',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('name', fields.CharField(db_index=True, max_length=200)),
                ('balance', fields.BigIntField(default=0, description='hundredths of a credit')),
                ('last_sequence', fields.BigIntField(default=0, description='sequence of the newest ledger entry')),
                ('alert_threshold', fields.BigIntField(null=True, description='hundredths, null for no threshold alert')),
                ('below_zero_fired', fields.BooleanField(default=False)),
                ('below_threshold_fired', fields.BooleanField(default=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'customer', 'app': 'models', 'pk_attr': 'id', 'table_description': "A customer's account: `balance` changes only through `models.ledger.post`."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='CreditAlert',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('customer', fields.ForeignKeyField('models.Customer', source_field='customer_id', db_constraint=True, to_field='id', related_name='alerts', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='BELOW_ZERO: BELOW_ZERO\nBELOW_THRESHOLD: BELOW_THRESHOLD', enum_type=AlertKind, max_length=20)),
                ('balance', fields.BigIntField()),
                ('threshold', fields.BigIntField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'credit_alert', 'app': 'models', 'indexes': [Index(fields=['customer_id', 'created_at'])], 'pk_attr': 'id', 'table_description': "A limit the balance crossed, kept for the customer's alert history."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='EmailOutbox',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('recipient', fields.CharField(max_length=254)),
                ('subject', fields.CharField(max_length=300)),
                ('text_body', fields.TextField(unique=False)),
                ('html_body', fields.TextField(unique=False)),
                ('message_id', fields.CharField(unique=True, max_length=200)),
                ('alert_id', fields.UUIDField(null=True)),
                ('status', fields.CharEnumField(default=EmailStatus.PENDING, description='PENDING: PENDING\nSENDING: SENDING\nSENT: SENT\nFAILED: FAILED', enum_type=EmailStatus, max_length=10)),
                ('attempts', fields.IntField(default=0)),
                ('next_attempt_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('lease_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_error', fields.TextField(null=True, unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'email_outbox', 'app': 'models', 'indexes': [Index(fields=['status', 'next_attempt_at'])], 'pk_attr': 'id', 'table_description': 'One email to one recipient, with a stable Message-ID so a resend is recognisable.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='LoginFailure',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('key', fields.CharField(db_index=True, max_length=300)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'login_failure', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One failed login, keyed by email and by client address.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PlatformSettings',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('credit_management_enabled', fields.BooleanField(default=False)),
            ],
            options={'table': 'platform_settings', 'app': 'models', 'pk_attr': 'id', 'table_description': 'The credit-management switch: off on a fresh install.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Service',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('name', fields.CharField(max_length=200)),
                ('credit_price', fields.BigIntField(null=True, description='hundredths, null when not chargeable')),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'service', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A service of the catalog (a null price means it is not chargeable).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='User',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('email', fields.CharField(max_length=254)),
                ('email_key', fields.CharField(unique=True, description='lower-cased email', max_length=254)),
                ('name', fields.CharField(max_length=200)),
                ('role', fields.CharEnumField(description='CATALOG_ADMIN: CATALOG_ADMIN\nCUSTOMER_ADMIN: CUSTOMER_ADMIN\nEND_USER: END_USER', enum_type=Role, max_length=20)),
                ('customer', fields.ForeignKeyField('models.Customer', source_field='customer_id', null=True, db_constraint=True, to_field='id', related_name='users', on_delete=OnDelete.CASCADE)),
                ('password_hash', fields.CharField(max_length=255)),
                ('active', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'app_user', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A person or integration that logs in (customer roles belong to one customer).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ApiToken',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='api_tokens', on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(max_length=200)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('last_used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'api_token', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A long-lived token acting as its owner, stored as its SHA-256 only is stored.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='IdempotencyRecord',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('actor', fields.ForeignKeyField('models.User', source_field='actor_id', db_constraint=True, to_field='id', related_name='idempotency_records', on_delete=OnDelete.CASCADE)),
                ('operation', fields.CharField(max_length=40)),
                ('key', fields.CharField(max_length=255)),
                ('fingerprint', fields.CharField(max_length=64)),
                ('result_id', fields.UUIDField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'idempotency_record', 'app': 'models', 'unique_together': (('actor_id', 'operation', 'key'),), 'pk_attr': 'id', 'table_description': "A key claimed by a caller for one operation, with its arguments' fingerprint and result."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Notification',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='notifications', on_delete=OnDelete.CASCADE)),
                ('customer', fields.ForeignKeyField('models.Customer', source_field='customer_id', db_constraint=True, to_field='id', related_name='notifications', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='BELOW_ZERO: BELOW_ZERO\nBELOW_THRESHOLD: BELOW_THRESHOLD', enum_type=AlertKind, max_length=20)),
                ('balance', fields.BigIntField()),
                ('threshold', fields.BigIntField(null=True)),
                ('message', fields.TextField(unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('read_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'notification', 'app': 'models', 'indexes': [Index(fields=['user_id', 'created_at'])], 'pk_attr': 'id', 'table_description': 'One alert as one user sees it in the app.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ServiceRequest',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('service', fields.ForeignKeyField('models.Service', source_field='service_id', db_constraint=True, to_field='id', related_name='requests', on_delete=OnDelete.CASCADE)),
                ('customer', fields.ForeignKeyField('models.Customer', source_field='customer_id', db_constraint=True, to_field='id', related_name='service_requests', on_delete=OnDelete.CASCADE)),
                ('requested_by', fields.ForeignKeyField('models.User', source_field='requested_by_id', null=True, db_constraint=True, to_field='id', related_name='service_requests', on_delete=OnDelete.CASCADE)),
                ('quantity', fields.IntField()),
                ('amount', fields.BigIntField(description='hundredths debited when requested')),
                ('status', fields.CharEnumField(default=RequestStatus.REQUESTED, description='REQUESTED: REQUESTED\nCOMPLETED: COMPLETED\nCANCELLED: CANCELLED\nFAILED: FAILED\nREJECTED: REJECTED', enum_type=RequestStatus, max_length=20)),
                ('reason', fields.TextField(null=True, unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'service_request', 'app': 'models', 'indexes': [Index(fields=['customer_id', 'created_at'])], 'pk_attr': 'id', 'table_description': 'One request of a service: `amount` is what was debited and what a refund returns.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='CreditTransaction',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('customer', fields.ForeignKeyField('models.Customer', source_field='customer_id', db_constraint=True, to_field='id', related_name='transactions', on_delete=OnDelete.CASCADE)),
                ('sequence', fields.BigIntField(description='1, 2, 3 … per customer, without gaps')),
                ('kind', fields.CharEnumField(description='GRANT: GRANT\nWITHDRAWAL: WITHDRAWAL\nSERVICE_CHARGE: SERVICE_CHARGE\nREFUND: REFUND', enum_type=TransactionKind, max_length=20)),
                ('amount', fields.BigIntField(description='signed hundredths')),
                ('balance_after', fields.BigIntField()),
                ('note', fields.TextField(null=True, unique=False)),
                ('service_request', fields.ForeignKeyField('models.ServiceRequest', source_field='service_request_id', null=True, db_constraint=True, to_field='id', related_name='transactions', on_delete=OnDelete.CASCADE)),
                ('actor', fields.ForeignKeyField('models.User', source_field='actor_id', null=True, db_constraint=True, to_field='id', related_name='transactions', on_delete=OnDelete.CASCADE)),
                ('api_token', fields.ForeignKeyField('models.ApiToken', source_field='api_token_id', null=True, db_constraint=True, to_field='id', related_name='transactions', on_delete=OnDelete.CASCADE)),
                ('request_id', fields.CharField(null=True, description='the API request that caused it', max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'credit_transaction', 'app': 'models', 'unique_together': (('customer_id', 'sequence'),), 'pk_attr': 'id', 'table_description': "An immutable ledger entry: a customer's balance is the sum of its amounts."},
            bases=['Model'],
        ),
    ]
