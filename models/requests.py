"""Service requests: charge on request, refund exactly once on cancel, fail or reject."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from models import platform, sql
from models.actor import Actor
from models.audit import current_request_id
from models.batching import Combiner, Ticket
from models.errors import DomainError, ErrorCode, invalid_input, not_found
from models.idempotency import claim, fingerprint, prior_result
from models.ledger import Movement, TransactionKind, post, post_batch
from models.money import LIMIT_CENTS
from models.service import REFUNDING_STATUSES, RequestStatus, ServiceRequest
from models.text import bounded
from models.unit_of_work import UnitOfWork, run_in_transaction

MAX_REASON_LENGTH = 1000
_OPERATION = "requestService"

# A batch's facts in one round trip: its services' prices, which of its customers exist, and
# whether charging is on.
_FACTS = (
    'SELECT \'service\' AS "what", "id", "credit_price" AS "price" FROM "service" WHERE "id" {services} '
    'UNION ALL SELECT \'customer\', "id", NULL FROM "customer" WHERE "id" {customers} '
    f"UNION ALL SELECT 'charging', NULL, CASE WHEN {platform.ENABLED_SQL} THEN 1 ELSE 0 END"
)
# Charges are combined across customers into one transaction per lane; a customer always uses
# the same lane, so two lanes' transactions never lock the same customer.
CHARGE_LANES = 2


@dataclass(frozen=True)
class _Facts:
    """What a batch's checks need, read once for the whole batch."""

    prices: dict[uuid.UUID, int | None]
    customers: frozenset[uuid.UUID]
    charging: bool


@dataclass(frozen=True)
class _Charge:
    """One requestService call waiting for its lane's next batch."""

    actor: Actor
    customer_id: uuid.UUID
    service_id: uuid.UUID
    quantity: int
    key: str | None
    digest: str
    request_id: str | None


async def request_service(
    actor: Actor,
    customer_id: uuid.UUID,
    service_id: uuid.UUID,
    quantity: int,
    idempotency_key: str | None,
) -> ServiceRequest:
    """Record a request and debit `price × quantity` at once (nothing while not chargeable).

    Concurrent requests are charged together, whichever customers they charge: one transaction
    per batch, each request its own ledger entry, so neither a hot customer nor many distinct ones
    are bound by one commit per charge.
    """
    if quantity < 1:
        raise invalid_input("quantity must be at least 1", ["input", "quantity"])
    digest = fingerprint(str(customer_id), str(service_id), quantity)
    charge = _Charge(actor, customer_id, service_id, quantity, idempotency_key, digest, current_request_id())
    return await _charges.submit(customer_id.int % CHARGE_LANES, charge)


_Made = list[tuple[Ticket[_Charge, ServiceRequest], ServiceRequest]]
_Answered = list[tuple[Ticket[_Charge, ServiceRequest], uuid.UUID | DomainError]]


async def _charge_batch(tickets: list[Ticket[_Charge, ServiceRequest]]) -> None:
    """Record every request of a batch (one customer or many), then post their charges in one go.

    Every ticket is answered after the commit, from the attempt that committed.
    """
    # Keys are claimed in one global order, so two batches claiming the same keys cannot deadlock.
    ordered = sorted(tickets, key=lambda t: (t.job.key is None, str(t.job.actor.user_id), t.job.key or ""))

    async def work(uow: UnitOfWork) -> tuple[_Made, _Answered]:
        made: _Made = []
        answered: _Answered = []  # replays of a key's first result, and refusals
        facts = await _read_facts(uow, [ticket.job for ticket in tickets])
        for ticket in ordered:
            try:
                outcome = await _record(uow, ticket.job, facts)
            except DomainError as exc:
                answered.append((ticket, exc))
                continue
            if isinstance(outcome, ServiceRequest):
                made.append((ticket, outcome))
            else:
                answered.append((ticket, outcome))
        if made:
            # One INSERT for the batch's requests (their keys, if any, are claimed above).
            await ServiceRequest.bulk_create([request for _, request in made], using_db=uow.conn)
        charges: dict[uuid.UUID, list[Movement]] = {}
        for ticket, request in made:
            if request.amount > 0:
                charges.setdefault(request.customer_id, []).append(
                    Movement(
                        request.amount,
                        TransactionKind.SERVICE_CHARGE,
                        ticket.job.actor,
                        service_request_id=request.id,
                        request_id=ticket.job.request_id,
                    )
                )
        if charges:
            await post_batch(uow, list(charges.items()))
        return made, answered

    made, answered = await run_in_transaction(work)
    for ticket, request in made:
        ticket.resolve(request)
    for ticket, outcome in answered:
        ticket.resolve(outcome if isinstance(outcome, DomainError) else await ServiceRequest.get(id=outcome))


async def _read_facts(uow: UnitOfWork, charges: list[_Charge]) -> _Facts:
    """Read the prices, customers and charging switch that `charges` are checked against."""
    query = _FACTS.format(services=sql.among(uow.conn, 0), customers=sql.among(uow.conn, 1))
    services = sorted({c.service_id for c in charges})
    customers = sorted({c.customer_id for c in charges})
    rows = await sql.fetch(uow.conn, query, services, customers)
    prices: dict[uuid.UUID, int | None] = {}
    present: set[uuid.UUID] = set()
    charging = False
    for row in rows:
        if row["what"] == "service":
            prices[sql.as_uuid(row["id"])] = row["price"]
        elif row["what"] == "customer":
            present.add(sql.as_uuid(row["id"]))
        else:
            charging = bool(row["price"])
    return _Facts(prices, frozenset(present), charging)


async def _record(uow: UnitOfWork, charge: _Charge, facts: _Facts) -> ServiceRequest | uuid.UUID:
    """One request to insert (not yet charged), or the first result of its idempotency key.

    Every check comes before the first write, so a refused request leaves nothing in the batch.
    """
    if charge.key is not None:
        first = await prior_result(uow, charge.actor, _OPERATION, charge.key, charge.digest)
        if first is not None:
            return first
    if charge.service_id not in facts.prices:
        raise not_found("service", ["input", "serviceId"])
    if charge.customer_id not in facts.customers:
        raise not_found("customer", ["input", "customerId"])
    price = facts.prices[charge.service_id] or 0
    if price * charge.quantity >= LIMIT_CENTS:
        raise invalid_input("price × quantity must be below 10^12", ["input", "quantity"])
    request = ServiceRequest(
        id=uuid.uuid4(),
        service_id=charge.service_id,
        customer_id=charge.customer_id,
        requested_by_id=charge.actor.user_id,
        quantity=charge.quantity,
        amount=price * charge.quantity if facts.charging else 0,
    )
    if charge.key is not None and not await claim(
        uow, charge.actor, _OPERATION, charge.key, charge.digest, request.id
    ):
        # A concurrent request claimed the key first and has committed: answer with its result.
        first = await prior_result(uow, charge.actor, _OPERATION, charge.key, charge.digest)
        if first is None:
            raise RuntimeError("an idempotency claim lost to a record that is not there")
        return first
    return request


_charges: Combiner[_Charge, ServiceRequest] = Combiner(_charge_batch)


_TRANSITION = (
    'UPDATE "service_request" SET "status" = {1}, "reason" = {2}, "updated_at" = {3} '
    f'WHERE "id" = {{0}} AND "status" = \'{RequestStatus.REQUESTED.value}\' RETURNING *'
)


async def transition(
    actor: Actor,
    request_id: uuid.UUID,
    status: RequestStatus,
    reason: str | None = None,
) -> ServiceRequest:
    """Move a REQUESTED request to a final status; refunds its `amount` exactly once."""
    if reason is not None:
        bounded(reason, "reason", ["reason"], max_length=MAX_REASON_LENGTH)

    async def work(uow: UnitOfWork) -> ServiceRequest:
        # The conditional update is the race's referee: exactly one caller sees a row change.
        # It locks the request row before the refund locks the customer row, like every posting.
        now = dt.datetime.now(dt.UTC)
        rows = await sql.fetch(uow.conn, _TRANSITION, request_id, status.value, reason, now)
        if not rows:
            current = await ServiceRequest.get_or_none(id=request_id, using_db=uow.conn)
            if current is None:
                raise not_found("service request", ["id"])
            raise DomainError(
                ErrorCode.INVALID_STATE, f"the request is {current.status}, not REQUESTED", ["id"]
            )
        request = ServiceRequest._init_from_db(**rows[0])
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

    return await run_in_transaction(work)
