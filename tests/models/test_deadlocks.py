"""Deadlocks: concurrent charges, refunds, grants and withdrawals take their locks in one order, and
a transaction PostgreSQL still aborts (deadlock, serialization failure) is run again, then 503.

The race runs against a real `python server.py` on PostgreSQL (each client its own connections, so
the transactions truly run in parallel); SQLite has one writer and cannot deadlock. The retries are
checked on either database by raising asyncpg's errors inside the transaction.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

import models.alerts
from models import catalog, unit_of_work
from models.customer import Customer
from models.events import BalanceChanged
from models.ledger import CreditTransaction, TransactionKind
from models.service import REFUNDING_STATUSES, RequestStatus, ServiceRequest
from models.service_requests import request_service
from models.user import Role
from tests.client import GraphQLClient, error_codes
from tests.conftest import requires_postgres
from tests.factories import Login, enable_credits, make_catalog_admin, make_customer, make_service, make_user
from tests.processes import ServerProcess

REQUEST = """
mutation ($serviceId: ID!, $customerId: ID, $key: String) {
  requestService(input: {serviceId: $serviceId, customerId: $customerId, idempotencyKey: $key}) {
    serviceRequest { id } userErrors { code field }
  }
}"""
TRANSITIONS = {
    "cancelServiceRequest": "mutation ($id: ID!) { cancelServiceRequest(id: $id) "
    "{ serviceRequest { id } userErrors { code field } } }",
    "failServiceRequest": 'mutation ($id: ID!) { failServiceRequest(id: $id, reason: "down") '
    "{ serviceRequest { id } userErrors { code field } } }",
    "rejectServiceRequest": 'mutation ($id: ID!) { rejectServiceRequest(id: $id, reason: "no") '
    "{ serviceRequest { id } userErrors { code field } } }",
}
BALANCE_CHANGES = {
    "grantCredits": "mutation ($input: BalanceChangeInput!) { grantCredits(input: $input) "
    "{ transaction { id } userErrors { code field } } }",
    "withdrawCredits": "mutation ($input: BalanceChangeInput!) { withdrawCredits(input: $input) "
    "{ transaction { id } userErrors { code field } } }",
}

CLIENTS = 24
TURNS = 80  # per client, at most
SECONDS = 8.0  # and no longer than this


class Racer:
    """One client looping random money operations on a few customers; every answer recorded."""

    def __init__(self, base_url: str, admin: Login, customers: list[str], service: str, seed: int) -> None:
        self.base_url = base_url
        self.admin = admin
        self.customers = customers
        self.service = service
        self.random = random.Random(seed)
        self.requests: list[str] = []
        self.answers: Counter[tuple[str, str]] = Counter()
        self.errors: list[dict[str, Any]] = []

    async def run(self, shared: list[str], deadline: float) -> None:
        """Up to TURNS operations or until `deadline`, each answered before the next."""
        headers = {"Authorization": f"Bearer {self.admin.token}"}
        async with httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=60) as http:
            for _ in range(TURNS):
                if time.monotonic() > deadline:
                    return
                await self._turn(http, shared)

    async def _turn(self, http: httpx.AsyncClient, shared: list[str]) -> None:
        # Mostly the first customer: a deadlock needs several postings of one row queued at once.
        customer = self.random.choices(self.customers, weights=[6] + [2] * (len(self.customers) - 1))[0]
        roll = self.random.random()
        if roll < 0.4 or not shared:
            key = uuid.uuid4().hex if self.random.random() < 0.5 else None
            variables = {"serviceId": self.service, "customerId": customer, "key": key}
            made = await self._call(http, "requestService", REQUEST, variables)
            if made and made["serviceRequest"]:
                shared.append(made["serviceRequest"]["id"])
        elif roll < 0.75:
            # A recent request, often one another client is refunding at the same moment.
            request_id = self.random.choice(shared[-6:])
            op = self.random.choice(list(TRANSITIONS))
            await self._call(http, op, TRANSITIONS[op], {"id": request_id})
        else:
            op = self.random.choice(list(BALANCE_CHANGES))
            amount = self.random.choice(["0.50", "1.00", "3.00"])
            variables = {
                "input": {"customerId": customer, "amount": amount, "idempotencyKey": uuid.uuid4().hex}
            }
            await self._call(http, op, BALANCE_CHANGES[op], variables)

    async def _call(
        self, http: httpx.AsyncClient, op: str, query: str, variables: dict[str, Any]
    ) -> dict[str, Any] | None:
        response = await http.post("/graphql", json={"query": query, "variables": variables})
        body = response.json()
        if body.get("errors"):
            self.errors.append({"op": op, "status": response.status_code, "errors": body["errors"]})
            return None
        payload = body["data"][op]
        codes = ",".join(e["code"] for e in payload["userErrors"]) or "ok"
        self.answers[(op, codes)] += 1
        return payload


@pytest.fixture
async def tenants() -> AsyncIterator[tuple[Login, list[str], str]]:
    """Credits on, a catalog admin, three customers (100 credits, a threshold alert, a customer
    administrator to notify) and a 1.00 service."""
    await enable_credits()
    admin = await make_catalog_admin()
    customers = []
    for n in range(3):
        customer = await make_customer(f"Racer {n}", balance=100, by=admin)
        await catalog.set_alert_threshold(customer.id, 9_000)
        await make_user(Role.CUSTOMER_ADMIN, customer)
        customers.append(str(customer.id))
    service = await make_service("1.00")
    yield admin, customers, str(service.id)


@requires_postgres
@pytest.mark.slow
async def test_racing_charges_refunds_and_balance_changes_never_deadlock(
    server_env: dict[str, str], tenants: tuple[Login, list[str], str]
) -> None:
    """24 clients race requests, cancels, fails, rejects, grants and withdrawals on 3 customers:
    no deadlock (not even one retried), no top-level error, each request refunded at most once."""
    # given: three customers with alerts armed around their balances, a 1.00 service
    admin, customers, service = tenants
    shared: list[str] = []

    # when: the clients race for a bounded number of turns and seconds
    with ServerProcess(server_env) as server:
        racers = [Racer(server.base_url, admin, customers, service, seed) for seed in range(CLIENTS)]
        deadline = time.monotonic() + SECONDS
        await asyncio.gather(*(racer.run(shared, deadline) for racer in racers))

    # then: PostgreSQL aborted no transaction (the retry would have hidden it from the clients)
    log = server.log_path.read_text()
    assert "deadlock" not in log.lower() and "transaction aborted" not in log, log[-3000:]

    # then: every call got a definite answer; the only refusal is a transition that lost its race
    errors = [error for racer in racers for error in racer.errors]
    assert errors == [], errors[:5]
    answers = sum((racer.answers for racer in racers), Counter())
    refused = {(op, codes) for op, codes in answers if codes != "ok"}
    assert refused <= {(op, "INVALID_STATE") for op in TRANSITIONS}, answers
    assert sum(n for (op, codes), n in answers.items() if op in TRANSITIONS and codes == "ok") > 0, answers

    # then: each refunded request has exactly one refund, the others none (the ledger itself is
    # checked by the autouse fixture: balance = sum, sequences gap-free)
    for request in await ServiceRequest.filter(customer_id__in=customers):
        refunds = await CreditTransaction.filter(service_request_id=request.id, kind=TransactionKind.REFUND)
        expected = 1 if request.status in REFUNDING_STATUSES else 0
        assert len(refunds) == expected, (request.id, request.status)
        assert request.status in REFUNDING_STATUSES | {RequestStatus.REQUESTED}


# --- retries ---------------------------------------------------------------------------------------

GRANT = BALANCE_CHANGES["grantCredits"]
CANCEL = TRANSITIONS["cancelServiceRequest"]
ABORTS = [
    pytest.param(asyncpg.exceptions.DeadlockDetectedError("deadlock detected"), id="deadlock"),
    pytest.param(asyncpg.exceptions.SerializationError("could not serialize access"), id="serialization"),
]


def abort_alert_checks(monkeypatch: pytest.MonkeyPatch, error: Exception, times: int) -> list[int]:
    """Make the ledger's alert check (inside every posting's transaction) raise `error` the first
    `times` calls; returns the list that counts the calls."""
    calls: list[int] = []
    evaluate = models.alerts.evaluate

    async def aborting(*args: object, **kwargs: object) -> list[str]:
        calls.append(1)
        if len(calls) <= times:
            raise error
        return await evaluate(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(models.alerts, "evaluate", aborting)
    return calls


@pytest.fixture
def published() -> list[object]:
    """The events the units of work publish after their commits, while the test runs."""
    events: list[object] = []

    async def sink(batch: object) -> None:
        events.extend(batch)  # type: ignore[call-overload]

    unit_of_work.add_event_sink(sink)
    yield events
    unit_of_work.remove_event_sink(sink)


@pytest.mark.parametrize("error", ABORTS)
async def test_a_keyed_grant_aborted_once_runs_again_whole_and_commits_once(
    gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch, published: list[object], error: Exception
) -> None:
    """The first attempt (key claimed, entry posted) is aborted: the second claims and posts again,
    the grant answers once, one entry, one key record, and only the committed attempt's event."""
    # given
    await enable_credits()
    admin = await make_catalog_admin()
    customer = await make_customer("Acme", balance=100, by=admin)
    calls = abort_alert_checks(monkeypatch, error, times=1)
    published.clear()

    # when
    variables = {"input": {"customerId": str(customer.id), "amount": "40", "idempotencyKey": "k-1"}}
    payload = (await gql(GRANT, variables, token=admin.token))["grantCredits"]

    # then
    assert payload["userErrors"] == [] and len(calls) == 2
    entries = await CreditTransaction.filter(customer_id=customer.id).order_by("sequence")
    assert [(e.sequence, e.amount) for e in entries] == [(1, 10_000), (2, 4_000)]
    assert str(entries[1].id) == payload["transaction"]["id"]
    assert [e.transaction.id for e in published if isinstance(e, BalanceChanged)] == [entries[1].id]
    repeat = (await gql(GRANT, variables, token=admin.token))["grantCredits"]
    assert repeat["transaction"]["id"] == payload["transaction"]["id"]


@pytest.mark.parametrize("error", ABORTS)
async def test_a_cancel_aborted_twice_runs_again_and_refunds_once(
    gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    """The refund's transaction is aborted twice: the third attempt cancels and refunds, once."""
    # given
    await enable_credits()
    admin = await make_catalog_admin()
    customer = await make_customer("Acme", balance=100, by=admin)
    service = await make_service("30.00")
    request = await request_service(admin.actor, customer.id, service.id, 1, None)
    calls = abort_alert_checks(monkeypatch, error, times=unit_of_work.ATTEMPTS - 1)

    # when
    payload = (await gql(CANCEL, {"id": str(request.id)}, token=admin.token))["cancelServiceRequest"]

    # then
    assert payload["userErrors"] == [] and len(calls) == unit_of_work.ATTEMPTS
    assert (await ServiceRequest.get(id=request.id)).status == RequestStatus.CANCELLED
    refunds = await CreditTransaction.filter(service_request_id=request.id, kind=TransactionKind.REFUND)
    assert [r.amount for r in refunds] == [3_000]
    assert (await Customer.get(id=customer.id)).balance == 10_000


@pytest.mark.parametrize("error", ABORTS)
async def test_a_cancel_that_keeps_being_aborted_answers_503_and_changes_nothing(
    http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    """Aborted at every attempt: SERVICE_UNAVAILABLE with HTTP 503 (retry), never "Unexpected
    error."; the request stays REQUESTED and unrefunded."""
    # given
    await enable_credits()
    admin = await make_catalog_admin()
    customer = await make_customer("Acme", balance=100, by=admin)
    service = await make_service("30.00")
    request = await request_service(admin.actor, customer.id, service.id, 1, None)
    calls = abort_alert_checks(monkeypatch, error, times=unit_of_work.ATTEMPTS)

    # when
    response = await http.post(
        "/graphql",
        json={"query": CANCEL, "variables": {"id": str(request.id)}},
        headers={"Authorization": f"Bearer {admin.token}"},
    )

    # then
    assert response.status_code == 503
    assert error_codes(response.json()) == ["SERVICE_UNAVAILABLE"]
    assert len(calls) == unit_of_work.ATTEMPTS
    assert (await ServiceRequest.get(id=request.id)).status == RequestStatus.REQUESTED
    assert not await CreditTransaction.filter(service_request_id=request.id, kind=TransactionKind.REFUND)
    assert (await Customer.get(id=customer.id)).balance == 7_000
