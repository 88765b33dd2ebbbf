"""Which table holds an id: one query over every table whose ids the API exposes.

Every such id is a random UUID (`models.ids`), so an id names one row of one table; a client
may fetch any object again by its id alone (Relay's object identification).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from tortoise import connections
from tortoise.models import Model

from infra import sql
from models.credit_alert import CreditAlert
from models.customer import Customer
from models.lots import CreditLot
from models.notification import Notification
from models.service import Service, ServiceRequest
from models.transaction import CreditTransaction
from models.user import ApiToken, User
from models.webhook_outbox import WebhookDelivery
from models.webhooks import WebhookEndpoint

IDENTIFIED: tuple[type[Model], ...] = (
    Customer,
    User,
    ApiToken,
    Service,
    ServiceRequest,
    CreditTransaction,
    CreditLot,
    CreditAlert,
    Notification,
    WebhookEndpoint,
    WebhookDelivery,
)


async def models_of(ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, type[Model]]:
    """The model of each id found (missing ones are left out): one UNION ALL of primary-key lookups."""
    if not ids:
        return {}
    conn = connections.get("default")
    among = sql.among(conn, 0)
    union = " UNION ALL ".join(
        f'SELECT {n} AS "kind", "id" FROM "{model._meta.db_table}" WHERE "id" {among}'
        for n, model in enumerate(IDENTIFIED)
    )
    rows = await sql.fetch(conn, union, list(ids))
    return {sql.as_uuid(row["id"]): IDENTIFIED[row["kind"]] for row in rows}
