from tortoise import migrations
from tortoise.migrations import operations as ops
from models.ledger import TransactionKind
from models.lots import LotStatus
from models.notification import AlertKind
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

# Each customer's positive balance becomes one lot without expiry at priority 50, created by the
# customer's newest entry; a negative balance is debt, which needs no row. The SELECT copies the
# columns as stored, so it is written once for both dialects; the ids are made here.
_POSITIVE_BALANCES = (
    'SELECT c."id" AS customer_id, c."balance" AS balance, t."id" AS transaction_id, '
    't."sequence" AS sequence, t."created_at" AS created_at FROM "customer" c '
    'JOIN "credit_transaction" t ON t."customer_id" = c."id" AND t."sequence" = c."last_sequence" '
    'WHERE c."balance" > 0'
)
_INSERT_LOT = (
    'INSERT INTO "credit_lot" ("id", "customer_id", "transaction_id", "amount", "remaining", '
    '"priority", "expires_at", "status", "sequence", "created_at") '
    "VALUES ({0}, {1}, {2}, {3}, {3}, 50, NULL, 'ACTIVE', {4}, {5})"
)


async def balances_to_lots(apps, schema_editor) -> None:
    """One lot per customer with credits: amount = remaining = balance."""
    conn = schema_editor.client
    postgres = conn.capabilities.dialect == "postgres"
    rows = await conn.execute_query_dict(_POSITIVE_BALANCES)
    marks = [f"${n}" if postgres else f"?{n}" for n in range(1, 7)]
    for row in rows:
        lot_id = uuid4() if postgres else str(uuid4())
        values = [
            lot_id,
            row["customer_id"],
            row["transaction_id"],
            row["balance"],
            row["sequence"],
            row["created_at"],
        ]
        await conn.execute_query(_INSERT_LOT.format(*marks), values)


class Migration(migrations.Migration):
    dependencies = [("models", "0007_webhook_delivery_pending")]

    initial = False

    operations = [
        ops.CreateModel(
            name="CreditLot",
            fields=[
                ("id", fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                (
                    "customer",
                    fields.ForeignKeyField(
                        "models.Customer",
                        source_field="customer_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="lots",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "transaction",
                    fields.ForeignKeyField(
                        "models.CreditTransaction",
                        source_field="transaction_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="created_lots",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("amount", fields.BigIntField(description="hundredths it held when created")),
                ("remaining", fields.BigIntField(description="hundredths left")),
                ("priority", fields.SmallIntField(default=50, description="0-100, lower is consumed first")),
                (
                    "expires_at",
                    fields.DatetimeField(
                        null=True, description="null: never", auto_now=False, auto_now_add=False
                    ),
                ),
                (
                    "status",
                    fields.CharEnumField(
                        default=LotStatus.ACTIVE,
                        description="ACTIVE: ACTIVE\nDEPLETED: DEPLETED\nEXPIRED: EXPIRED",
                        enum_type=LotStatus,
                        max_length=10,
                    ),
                ),
                (
                    "sequence",
                    fields.BigIntField(
                        description="ledger sequence of the creating entry (consumption order)"
                    ),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "credit_lot",
                "app": "models",
                "indexes": [
                    Index(fields=["customer_id", "status", "priority", "expires_at", "sequence"]),
                    Index(fields=["status", "expires_at"]),
                ],
                "pk_attr": "id",
                "table_description": "Credits of one grant (or refund, or the balance a migration found), consumed in order.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="CreditAllocation",
            fields=[
                ("id", fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                (
                    "transaction",
                    fields.ForeignKeyField(
                        "models.CreditTransaction",
                        source_field="transaction_id",
                        db_index=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="allocations",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "lot",
                    fields.ForeignKeyField(
                        "models.CreditLot",
                        source_field="lot_id",
                        null=True,
                        db_index=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="allocations",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("amount", fields.BigIntField(description="signed hundredths, like the entry's amount")),
            ],
            options={
                "table": "credit_allocation",
                "app": "models",
                "pk_attr": "id",
                "table_description": "The part of one ledger entry that changed one lot, or (lot null) the customer's debt.",
            },
            bases=["Model"],
        ),
        ops.AlterField(
            model_name="CreditTransaction",
            name="kind",
            field=fields.CharEnumField(
                description="GRANT: GRANT\nWITHDRAWAL: WITHDRAWAL\nSERVICE_CHARGE: SERVICE_CHARGE\nREFUND: REFUND\nEXPIRATION: EXPIRATION",
                enum_type=TransactionKind,
                max_length=20,
            ),
        ),
        ops.AlterField(
            model_name="CreditTransaction",
            name="service_request",
            field=fields.ForeignKeyField(
                "models.ServiceRequest",
                source_field="service_request_id",
                null=True,
                db_index=True,
                db_constraint=True,
                to_field="id",
                related_name="transactions",
                on_delete=OnDelete.CASCADE,
            ),
        ),
        ops.AlterField(
            model_name='CreditAlert',
            name='kind',
            field=fields.CharEnumField(description='BELOW_ZERO: BELOW_ZERO\nBELOW_THRESHOLD: BELOW_THRESHOLD\nWEBHOOK_DISABLED: WEBHOOK_DISABLED\nCREDITS_EXPIRING: CREDITS_EXPIRING', enum_type=AlertKind, max_length=20),
        ),
        ops.AlterField(
            model_name='Notification',
            name='kind',
            field=fields.CharEnumField(description='BELOW_ZERO: BELOW_ZERO\nBELOW_THRESHOLD: BELOW_THRESHOLD\nWEBHOOK_DISABLED: WEBHOOK_DISABLED\nCREDITS_EXPIRING: CREDITS_EXPIRING', enum_type=AlertKind, max_length=20),
        ),
        # After the AlterFields: on SQLite it rebuilds credit_transaction, and dropping the old table
        # would delete the lots that reference it (ON DELETE CASCADE).
        ops.RunPython(balances_to_lots),
    ]
