"""Service requests: charge on request, refund exactly once on cancel, fail or reject."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from infra import clock, sql
from infra.batching import Combiner, Ticket
from infra.request_id import current_request_id
from models import platform, webhook_outbox
from models.actor import Actor
from models.customer import Customer
from models.errors import DomainError, ErrorCode, invalid_input, not_found
from models.idempotency import claim, fingerprint, prior_result, release
from models.input_text import bounded
from models.ledger import Movement, Posting, TransactionKind, post, prepare, write
from models.money import LIMIT_CENTS
from models.service import REFUNDING_STATUSES, RequestStatus, Service, ServiceRequest
from models.unit_of_work import UnitOfWork, run_in_transaction

MAX_REASON_LENGTH = 1000
_OPERATION = "requestService"

# A batch's facts in one round trip: its services, which of its customers exist, whether
# charging is on, and which of its requesters have a spend limit (the ledger locks and reads only
# those: a batch with none skips the users' lock and the spending sum).
_FACTS = (
    'SELECT \'service\' AS "what", "id", "credit_price" AS "price", "name", "created_at" FROM "service" '
    'WHERE "id" {services} '
    'UNION ALL SELECT \'customer\', "id", NULL, NULL, NULL FROM "customer" WHERE "id" {customers} '
    'UNION ALL SELECT \'limited\', "id", NULL, NULL, NULL FROM "app_user" WHERE "id" {users} '
    'AND "spend_limit" IS NOT NULL '
    f"UNION ALL SELECT 'charging', NULL, CASE WHEN {platform.ENABLED_SQL} THEN 1 ELSE 0 END, NULL, NULL"
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
    services: dict[uuid.UUID, Service]
    limited: frozenset[uuid.UUID]  # requesters with a spend limit when the batch began


@dataclass(frozen=True)
class RequestMade:
    """A request as a charge or a transition left it, with what that read and posted.

    `customer` is as the request's ledger entry left it: None when nothing was posted (a free
    request, a completion) and for a repeat of an idempotency key, which reads it as it is now.
    `service` is as the charge read it (None for transitions and repeats).
    """

    request: ServiceRequest
    customer: Customer | None = None
    service: Service | None = None


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
    return (await make_request(actor, customer_id, service_id, quantity, idempotency_key)).request


async def make_request(
    actor: Actor,
    customer_id: uuid.UUID,
    service_id: uuid.UUID,
    quantity: int,
    idempotency_key: str | None,
) -> RequestMade:
    """`request_service`, with the service and the customer as its charge left it."""
    if quantity < 1:
        raise invalid_input("quantity must be at least 1", "quantity")
    digest = fingerprint(str(customer_id), str(service_id), quantity)
    charge = _Charge(actor, customer_id, service_id, quantity, idempotency_key, digest, current_request_id())
    return await _charges.submit(customer_id.int % CHARGE_LANES, charge)


_Made = list[tuple[Ticket[_Charge, RequestMade], ServiceRequest]]
_Answered = list[tuple[Ticket[_Charge, RequestMade], uuid.UUID | DomainError]]
_Postings = dict[uuid.UUID | None, Posting]  # by request id


async def _charge_batch(tickets: list[Ticket[_Charge, RequestMade]]) -> None:
    """Record every request of a batch (one customer or many) and post their charges in one go.

    The ledger decides first which charges the spend controls refuse (under the customers'
    locks); a refused request fails alone: its row, entry and webhook are never written and its
    idempotency key is released. Every ticket is answered after the commit, from the attempt
    that committed.
    """
    # Keys are claimed in one global order, so two batches claiming the same keys cannot deadlock.
    ordered = sorted(tickets, key=lambda t: (t.job.key is None, str(t.job.actor.user_id), t.job.key or ""))

    async def work(uow: UnitOfWork) -> tuple[_Made, _Answered, _Postings, _Facts]:
        made: _Made = []
        answered: _Answered = []  # replays of a key's first result, and refusals
        postings: _Postings = {}
        facts = await _read_facts(uow, [ticket.job for ticket in tickets])
        now = clock.now()
        for ticket in ordered:
            try:
                outcome = await _record(uow, ticket.job, facts, now)
            except DomainError as exc:
                answered.append((ticket, exc))
                continue
            if isinstance(outcome, ServiceRequest):
                made.append((ticket, outcome))
            else:
                answered.append((ticket, outcome))
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
        prepared = await prepare(uow, list(charges.items()), limited=facts.limited) if charges else None
        if prepared is not None and prepared.refused:
            refused = {movement.service_request_id: error for movement, error in prepared.refused}
            for ticket, request in made:
                if request.id in refused:
                    answered.append((ticket, refused[request.id]))
                    if ticket.job.key is not None:
                        await release(uow, ticket.job.actor, _OPERATION, ticket.job.key)
            made = [(ticket, request) for ticket, request in made if request.id not in refused]
            # A repeat of a refused request's key in the same batch shares its answer.
            answered = [(t, refused.get(o, o) if isinstance(o, uuid.UUID) else o) for t, o in answered]
        if made:
            # One INSERT for the batch's accepted requests (their keys, if any, are claimed above);
            # after the customers' locks, which is fine: the new rows are invisible to others.
            await _insert(uow, [request for _, request in made])
            for _, request in made:
                webhook_outbox.record(uow, webhook_outbox.request_updated(request))
        if prepared is not None and any(entries for _, entries in prepared.batch):
            for group in await write(uow, prepared):
                postings.update((p.transaction.service_request_id, p) for p in group)
        return made, answered, postings, facts

    made, answered, postings, facts = await run_in_transaction(work)
    for ticket, request in made:
        posting = postings.get(request.id)
        customer = posting.customer_as_posted() if posting else None
        ticket.resolve(RequestMade(request, customer, facts.services[request.service_id]))
    for ticket, outcome in answered:
        if isinstance(outcome, DomainError):
            ticket.resolve(outcome)
        else:
            ticket.resolve(RequestMade(await ServiceRequest.get(id=outcome)))


# A batch's requests from plain arrays: Tortoise's bulk_create converts and binds every field of
# every row in Python, a tenth of a charge's CPU in the lean bench scenario's profile (issue 19).
_INSERT = (
    'INSERT INTO "service_request" ("id", "service_id", "customer_id", "requested_by_id", "quantity", '
    '"amount", "status", "reason", "created_at", "updated_at") '
    "SELECT x.id, x.service_id, x.customer_id, x.requested_by_id, x.quantity, x.amount, {6}, NULL, {7}, {7} "
    "FROM unnest({0}::uuid[], {1}::uuid[], {2}::uuid[], {3}::uuid[], {4}::integer[], {5}::bigint[]) "
    "AS x(id, service_id, customer_id, requested_by_id, quantity, amount)"
)


async def _insert(uow: UnitOfWork, requests: list[ServiceRequest]) -> None:
    """Insert a batch's new requests (all REQUESTED, made at one time) in one statement."""
    conn = uow.conn
    if conn.capabilities.dialect != "postgres":
        await ServiceRequest.bulk_create(requests, using_db=conn)
        return
    await sql.fetch(
        conn,
        _INSERT,
        [r.id for r in requests],
        [r.service_id for r in requests],
        [r.customer_id for r in requests],
        [r.requested_by_id for r in requests],
        [r.quantity for r in requests],
        [r.amount for r in requests],
        RequestStatus.REQUESTED.value,
        requests[0].created_at,
    )
    for request in requests:
        request._saved_in_db = True


async def _read_facts(uow: UnitOfWork, charges: list[_Charge]) -> _Facts:
    """Read the prices, customers, charging switch and requesters' limits `charges` are checked against."""
    conn = uow.conn
    query = _FACTS.format(services=sql.among(conn, 0), customers=sql.among(conn, 1), users=sql.among(conn, 2))
    services = sorted({c.service_id for c in charges})
    customers = sorted({c.customer_id for c in charges})
    users = sorted({c.actor.user_id for c in charges if c.actor.user_id is not None})
    rows = await sql.fetch(conn, query, services, customers, users)
    prices: dict[uuid.UUID, int | None] = {}
    found: dict[uuid.UUID, Service] = {}
    present: set[uuid.UUID] = set()
    limited: set[uuid.UUID] = set()
    charging = False
    for row in rows:
        if row["what"] == "service":
            service_id = sql.as_uuid(row["id"])
            prices[service_id] = row["price"]
            found[service_id] = Service._init_from_db(
                id=service_id, name=row["name"], credit_price=row["price"], created_at=row["created_at"]
            )
        elif row["what"] == "customer":
            present.add(sql.as_uuid(row["id"]))
        elif row["what"] == "limited":
            limited.add(sql.as_uuid(row["id"]))
        else:
            charging = bool(row["price"])
    return _Facts(prices, frozenset(present), charging, found, frozenset(limited))


async def _record(
    uow: UnitOfWork, charge: _Charge, facts: _Facts, now: dt.datetime
) -> ServiceRequest | uuid.UUID:
    """One request to insert (not yet charged), or the first result of its idempotency key.

    Every check comes before the first write, so a refused request leaves nothing in the batch.
    """
    if charge.key is not None:
        first = await prior_result(uow, charge.actor, _OPERATION, charge.key, charge.digest)
        if first is not None:
            return first
    if charge.service_id not in facts.prices:
        raise not_found("service", "serviceId")
    if charge.customer_id not in facts.customers:
        raise not_found("customer", "customerId")
    price = facts.prices[charge.service_id] or 0
    if price * charge.quantity >= LIMIT_CENTS:
        raise invalid_input("price × quantity must be below 10^12", "quantity")
    request = ServiceRequest(
        id=uuid.uuid4(),
        service_id=charge.service_id,
        customer_id=charge.customer_id,
        requested_by_id=charge.actor.user_id,
        quantity=charge.quantity,
        amount=price * charge.quantity if facts.charging else 0,
        created_at=now,
        updated_at=now,
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


_charges: Combiner[_Charge, RequestMade] = Combiner(_charge_batch)


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
    return (await finish(actor, request_id, status, reason)).request


async def finish(
    actor: Actor,
    request_id: uuid.UUID,
    status: RequestStatus,
    reason: str | None = None,
) -> RequestMade:
    """`transition`, with the customer as its refund left it (None when nothing was refunded)."""
    if reason is not None:
        bounded(reason, "reason", "reason", max_length=MAX_REASON_LENGTH)

    async def work(uow: UnitOfWork) -> RequestMade:
        # The conditional update is the race's referee: exactly one caller sees a row change.
        # It locks the request row before the refund locks the customer row, like every posting.
        now = clock.now()
        rows = await sql.fetch(uow.conn, _TRANSITION, request_id, status.value, reason, now)
        if not rows:
            current = await ServiceRequest.get_or_none(id=request_id, using_db=uow.conn)
            if current is None:
                raise not_found("service request", "id")
            raise DomainError(
                ErrorCode.INVALID_STATE, f"the request is {current.status}, not REQUESTED", "id"
            )
        request = ServiceRequest._init_from_db(**rows[0])
        webhook_outbox.record(uow, webhook_outbox.request_updated(request))
        if status in REFUNDING_STATUSES and request.amount > 0:
            posting = await post(
                uow,
                request.customer_id,
                request.amount,
                TransactionKind.REFUND,
                actor=actor,
                service_request_id=request.id,
            )
            return RequestMade(request, posting.customer_as_posted())
        return RequestMade(request)

    return await run_in_transaction(work)
