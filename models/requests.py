"""Service requests: charge on request, refund exactly once on cancel, fail or reject."""

from __future__ import annotations

import datetime as dt
import uuid

from models import sql
from models.actor import Actor
from models.errors import DomainError, ErrorCode, invalid_input, not_found
from models.idempotency import fingerprint, run_once
from models.ledger import TransactionKind, post
from models.money import LIMIT_CENTS
from models.service import REFUNDING_STATUSES, RequestStatus, ServiceRequest
from models.text import bounded
from models.unit_of_work import UnitOfWork, unit_of_work

MAX_REASON_LENGTH = 1000

# The service's price, whether the customer exists and whether charging is on: one round trip.
_CHARGE_FACTS = (
    'SELECT "credit_price", '
    'EXISTS (SELECT 1 FROM "customer" WHERE "id" = {1}) AS "customer_exists", '
    'COALESCE((SELECT "credit_management_enabled" FROM "platform_settings" WHERE "id" = 1), FALSE) '
    'AS "charging" FROM "service" WHERE "id" = {0}'
)


async def request_service(
    actor: Actor,
    customer_id: uuid.UUID,
    service_id: uuid.UUID,
    quantity: int,
    idempotency_key: str | None,
) -> ServiceRequest:
    """Record a request and debit `price × quantity` at once (nothing while not chargeable)."""
    if quantity < 1:
        raise invalid_input("quantity must be at least 1", ["input", "quantity"])

    async def action(uow: UnitOfWork) -> ServiceRequest:
        rows = await sql.fetch(uow.conn, _CHARGE_FACTS, service_id, customer_id)
        if not rows:
            raise not_found("service", ["input", "serviceId"])
        facts = rows[0]
        if not facts["customer_exists"]:
            raise not_found("customer", ["input", "customerId"])
        price = facts["credit_price"] or 0
        if price * quantity >= LIMIT_CENTS:
            raise invalid_input("price × quantity must be below 10^12", ["input", "quantity"])
        amount = price * quantity if facts["charging"] else 0
        request = await ServiceRequest.create(
            using_db=uow.conn,
            service_id=service_id,
            customer_id=customer_id,
            requested_by_id=actor.user_id,
            quantity=quantity,
            amount=amount,
        )
        if amount > 0:
            await post(
                uow,
                customer_id,
                amount,
                TransactionKind.SERVICE_CHARGE,
                actor=actor,
                service_request_id=request.id,
            )
        return request

    digest = fingerprint(str(customer_id), str(service_id), quantity)
    return await run_once(actor, "requestService", idempotency_key, digest, action, _load_request)


async def _load_request(request_id: uuid.UUID) -> ServiceRequest:
    return await ServiceRequest.get(id=request_id)


async def transition(
    actor: Actor,
    request_id: uuid.UUID,
    status: RequestStatus,
    reason: str | None = None,
) -> ServiceRequest:
    """Move a REQUESTED request to a final status; refunds its `amount` exactly once."""
    if reason is not None:
        bounded(reason, "reason", ["reason"], max_length=MAX_REASON_LENGTH)
    async with unit_of_work() as uow:
        # The conditional update is the race's referee: exactly one caller sees a row change.
        changed = (
            await ServiceRequest.filter(id=request_id, status=RequestStatus.REQUESTED)
            .using_db(uow.conn)
            .update(status=status, reason=reason, updated_at=dt.datetime.now(dt.UTC))
        )
        request = await ServiceRequest.get_or_none(id=request_id, using_db=uow.conn)
        if request is None:
            raise not_found("service request", ["id"])
        if not changed:
            raise DomainError(
                ErrorCode.INVALID_STATE, f"the request is {request.status}, not REQUESTED", ["id"]
            )
        if status in REFUNDING_STATUSES and request.amount > 0:
            await post(
                uow,
                request.customer_id,
                request.amount,
                TransactionKind.REFUND,
                actor=actor,
                service_request_id=request.id,
            )
    return request
