"""Races: many real concurrent clients against one customer, one request, one idempotency key.

The live-server tests run a real `python server.py` on PostgreSQL (they skip on SQLite); the
in-process tests run on either database and prove the embedded default serialises too."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from models.customer import Customer
from models.idempotency import IdempotencyRecord
from models.ledger import CreditTransaction, TransactionKind
from models.service import RequestStatus, ServiceRequest
from models.user import Role
from tests.client import GraphQLClient
from tests.conftest import requires_postgres
from tests.documents import (
    CANCEL_REQUEST,
    COMPLETE_REQUEST,
    FAIL_REQUEST,
    GRANT_CREDITS,
    GRANT_CREDITS_CODES,
    REJECT_REQUEST,
    REQUEST_SERVICE,
)
from tests.factories import (
    Login,
    enable_credits,
    make_catalog_admin,
    make_customer,
    make_service,
    make_user,
    make_world,
)

LEDGER_PAGE = """
query ($id: ID!, $after: String) {
  customer(id: $id) {
    balance
    transactions(first: 100, after: $after) {
      nodes { sequence kind amount balanceAfter serviceRequest { id } }
      pageInfo { hasNextPage endCursor }
    }
  }
}"""

# (mutation field, document, the status it sets)
CANCEL_OP = ("cancelServiceRequest", CANCEL_REQUEST, "CANCELLED")
FAIL_OP = ("failServiceRequest", FAIL_REQUEST, "FAILED")
REJECT_OP = ("rejectServiceRequest", REJECT_REQUEST, "REJECTED")
COMPLETE_OP = ("completeServiceRequest", COMPLETE_REQUEST, "COMPLETED")

Gql = Callable[..., Awaitable[dict[str, Any]]]


def grant_input(customer_id: object, amount: Any, key: str) -> dict[str, Any]:
    """grantCredits' input: `amount` (spelt as given) under idempotency key `key`."""
    return {"customerId": str(customer_id), "amount": amount, "idempotencyKey": key}


@pytest.fixture
async def live(live_server: str) -> AsyncIterator[GraphQLClient]:
    """A GraphQL client on the live server whose pool allows 250 simultaneous connections."""
    limits = httpx.Limits(max_connections=250, max_keepalive_connections=250)
    async with httpx.AsyncClient(base_url=live_server, limits=limits, timeout=120) as http:
        yield GraphQLClient(http)


def cents(text: str) -> int:
    """A two-decimal string as integer hundredths."""
    units, _, hundredths = text.lstrip("-").partition(".")
    value = int(units) * 100 + int(hundredths)
    return -value if text.startswith("-") else value


async def api_ledger(gql: Gql, customer_id: uuid.UUID, token: str) -> tuple[str, list[dict[str, Any]]]:
    """The balance and every ledger entry through the API, oldest first (pages of 100)."""
    entries: list[dict[str, Any]] = []
    after = None
    while True:
        customer = (await gql(LEDGER_PAGE, {"id": str(customer_id), "after": after}, token=token))["customer"]
        page = customer["transactions"]
        entries.extend(page["nodes"])
        if not page["pageInfo"]["hasNextPage"]:
            return customer["balance"], entries[::-1]
        after = page["pageInfo"]["endCursor"]


async def assert_api_ledger(gql: Gql, customer_id: uuid.UUID, token: str, balance: str, count: int) -> None:
    """Through the API: `count` entries numbered 1…count, running balances, final balance = sum."""
    api_balance, entries = await api_ledger(gql, customer_id, token)
    assert api_balance == balance
    assert [e["sequence"] for e in entries] == list(range(1, count + 1))
    running = 0
    for entry in entries:
        running += cents(entry["amount"])
        assert cents(entry["balanceAfter"]) == running
    assert running == cents(balance)


async def assert_db_ledger(customer_id: uuid.UUID, balance: int, count: int) -> list[CreditTransaction]:
    """In the database: balance in hundredths, `count` gap-free entries summing to it."""
    customer = await Customer.get(id=customer_id)
    entries = await CreditTransaction.filter(customer_id=customer_id).order_by("sequence")
    assert customer.balance == balance
    assert customer.last_sequence == count
    assert [e.sequence for e in entries] == list(range(1, count + 1))
    assert sum(e.amount for e in entries) == balance
    return entries


def user_error_codes(payloads: list[dict[str, Any]]) -> Counter[str]:
    """How often each userErrors code occurred over many payloads."""
    return Counter(error["code"] for p in payloads for error in p["userErrors"])


async def race_transitions(
    gql: Gql, request_id: str, ops: list[tuple[str, str, str]], admin: Login, requester: Login
) -> tuple[list[dict[str, Any]], list[str]]:
    """Fire every op at once on one request (cancels by the requester); payloads and op names."""
    calls = []
    for name, doc, _ in ops:
        token = requester.token if name == "cancelServiceRequest" else admin.token
        calls.append(gql(doc, {"id": request_id}, token=token))
    results = await asyncio.gather(*calls)
    return [r[name] for r, (name, _, _) in zip(results, ops, strict=True)], [n for n, _, _ in ops]


def assert_one_winner(payloads: list[dict[str, Any]], ops: list[tuple[str, str, str]]) -> str:
    """Exactly one payload won; every loser got INVALID_STATE on ["id"]. Returns the final status."""
    winners = [(p, op) for p, op in zip(payloads, ops, strict=True) if p["serviceRequest"] is not None]
    assert len(winners) == 1, payloads
    (payload, (_, _, status)) = winners[0]
    assert payload["userErrors"] == []
    assert payload["serviceRequest"]["status"] == status
    losers = [p for p in payloads if p["serviceRequest"] is None]
    assert all(p["userErrors"] == [{"code": "INVALID_STATE", "field": ["id"]}] for p in losers), losers
    return status


async def refunds_of(request_id: str) -> list[CreditTransaction]:
    """The REFUND entries written for one request."""
    return await CreditTransaction.filter(service_request_id=request_id, kind=TransactionKind.REFUND)


async def setup_customer(balance: int, price: str) -> tuple[Customer, Login, Login, str]:
    """Credits on, a customer with `balance` credits, its end user, a catalog admin, a service id."""
    world = await make_world("Racer", balance=balance, price=price, admins=0)
    return world.customer, world.end_user, world.admin, world.service_id


# --- live server, PostgreSQL -------------------------------------------------------------------


@requires_postgres
@pytest.mark.slow
async def test_200_concurrent_requests_debit_exactly_once_each(live: GraphQLClient) -> None:
    """200 concurrent requestService calls: balance = start − 200 × price, 201 gap-free entries."""
    # given: an opening grant of 1000 credits and a service priced 2.50
    customer, end_user, admin, service_id = await setup_customer(1000, "2.50")

    # when: the end user fires 200 requests at once
    started = time.perf_counter()
    results = await asyncio.gather(
        *(
            live(REQUEST_SERVICE, {"input": {"serviceId": service_id}}, token=end_user.token)
            for _ in range(200)
        )
    )
    elapsed = time.perf_counter() - started
    print(f"\n200 concurrent requestService calls against the live server took {elapsed:.2f}s")

    # then: every call succeeded with its own request, charged 2.50
    payloads = [r["requestService"] for r in results]
    assert all(p["userErrors"] == [] for p in payloads)
    assert {(p["serviceRequest"]["amount"], p["serviceRequest"]["status"]) for p in payloads} == {
        ("2.50", "REQUESTED")
    }
    request_ids = {p["serviceRequest"]["id"] for p in payloads}
    assert len(request_ids) == 200

    # then: the API shows 1000 − 200 × 2.50 = 500.00 and 201 entries 1…201 summing to it
    await assert_api_ledger(live, customer.id, admin.token, "500.00", 201)
    _, entries = await api_ledger(live, customer.id, admin.token)
    assert Counter(e["kind"] for e in entries) == {"GRANT": 1, "SERVICE_CHARGE": 200}
    assert {e["serviceRequest"]["id"] for e in entries[1:]} == request_ids

    # then: so does the database, one charge per request
    rows = await assert_db_ledger(customer.id, 50_000, 201)
    assert sorted(e.amount for e in rows) == [-250] * 200 + [100_000]
    assert await ServiceRequest.filter(customer_id=customer.id).count() == 200


@requires_postgres
@pytest.mark.slow
async def test_racing_refunding_transitions_refund_once(live: GraphQLClient) -> None:
    """20 racing cancel/fail/reject calls on one request: one wins, one refund, 19 INVALID_STATE."""
    # given: 100 credits and one request that debited 40.00
    customer, end_user, admin, service_id = await setup_customer(100, "40.00")
    made = (await live(REQUEST_SERVICE, {"input": {"serviceId": service_id}}, token=end_user.token))[
        "requestService"
    ]
    request_id = made["serviceRequest"]["id"]
    ops = [CANCEL_OP, FAIL_OP, REJECT_OP] * 6 + [CANCEL_OP, FAIL_OP]

    # when: 20 transitions race
    payloads, _ = await race_transitions(live, request_id, ops, admin, end_user)

    # then: exactly one won; the request has its status and was refunded exactly once
    status = assert_one_winner(payloads, ops)
    assert (await ServiceRequest.get(id=request_id)).status == RequestStatus(status)
    assert [r.amount for r in await refunds_of(request_id)] == [4000]

    # then: the balance is back at 100.00 with 3 entries (grant, charge, refund)
    await assert_api_ledger(live, customer.id, admin.token, "100.00", 3)
    await assert_db_ledger(customer.id, 10_000, 3)


@requires_postgres
@pytest.mark.slow
async def test_racing_transitions_with_complete_refund_only_when_complete_loses(live: GraphQLClient) -> None:
    """On 5 requests at once, 20 racers each (complete among them): one winner, refund iff not COMPLETED."""
    # given: 100 credits and five requests of 10.00 each (balance 50.00)
    customer, end_user, admin, service_id = await setup_customer(100, "10.00")
    request_ids = [
        (await live(REQUEST_SERVICE, {"input": {"serviceId": service_id}}, token=end_user.token))[
            "requestService"
        ]["serviceRequest"]["id"]
        for _ in range(5)
    ]
    ops = [COMPLETE_OP, CANCEL_OP, FAIL_OP, REJECT_OP] * 5

    # when: 100 transitions race, 20 on each request
    races = await asyncio.gather(*(race_transitions(live, rid, ops, admin, end_user) for rid in request_ids))

    # then: each request has exactly one winner; refunded once unless completion won
    refunded = 0
    for request_id, (payloads, _) in zip(request_ids, races, strict=True):
        status = assert_one_winner(payloads, ops)
        assert (await ServiceRequest.get(id=request_id)).status == RequestStatus(status)
        refunds = [r.amount for r in await refunds_of(request_id)]
        assert refunds == ([] if status == "COMPLETED" else [1000])
        refunded += len(refunds)

    # then: balance = 50.00 + 10.00 per refund, with 1 + 5 + refunds gap-free entries
    balance = 5000 + 1000 * refunded
    await assert_api_ledger(live, customer.id, admin.token, f"{balance // 100}.00", 6 + refunded)
    await assert_db_ledger(customer.id, balance, 6 + refunded)


@requires_postgres
@pytest.mark.slow
async def test_racing_grant_repeats_change_the_balance_once(live: GraphQLClient) -> None:
    """10 racing grantCredits with one key (amount spelt three ways): one entry, one transaction id."""
    # given: a customer with nothing yet
    customer, _, admin, _ = await setup_customer(0, "1.00")
    spellings: list[Any] = ["100", 100, "100.00"] * 3 + ["100.0"]

    # when: the same grant is fired 10 times at once under one key
    results = await asyncio.gather(
        *(
            live(GRANT_CREDITS, {"input": grant_input(customer.id, a, "grant-1")}, token=admin.token)
            for a in spellings
        )
    )

    # then: every response is the same first result
    payloads = [r["grantCredits"] for r in results]
    assert all(p["userErrors"] == [] for p in payloads), payloads
    assert len({p["transaction"]["id"] for p in payloads}) == 1
    assert {(p["transaction"]["sequence"], p["transaction"]["amount"]) for p in payloads} == {(1, "100.00")}

    # then: the balance moved once
    await assert_api_ledger(live, customer.id, admin.token, "100.00", 1)
    await assert_db_ledger(customer.id, 10_000, 1)
    assert await IdempotencyRecord.filter(key="grant-1").count() == 1


@requires_postgres
@pytest.mark.slow
async def test_racing_request_repeats_charge_once(live: GraphQLClient) -> None:
    """10 racing requestService calls with one key: one request, one charge, same id everywhere."""
    # given: 100 credits and a 15.00 service
    customer, end_user, admin, service_id = await setup_customer(100, "15.00")

    # when: the same request is fired 10 times at once, half with the own customerId spelt out
    results = await asyncio.gather(
        *(
            live(
                REQUEST_SERVICE,
                {
                    "input": {
                        "serviceId": service_id,
                        "customerId": str(customer.id) if i % 2 else None,
                        "idempotencyKey": "req-1",
                    }
                },
                token=end_user.token,
            )
            for i in range(10)
        )
    )

    # then: every response is the one request
    payloads = [r["requestService"] for r in results]
    assert all(p["userErrors"] == [] for p in payloads), payloads
    assert len({p["serviceRequest"]["id"] for p in payloads}) == 1

    # then: one request, one charge
    assert await ServiceRequest.filter(customer_id=customer.id).count() == 1
    await assert_api_ledger(live, customer.id, admin.token, "85.00", 2)
    await assert_db_ledger(customer.id, 8_500, 2)


@requires_postgres
@pytest.mark.slow
async def test_racing_repeats_with_different_amounts_conflict(live: GraphQLClient) -> None:
    """10 racing grants under one key with 10 different amounts: one wins, 9 IDEMPOTENCY_CONFLICT."""
    # given: a customer with nothing yet
    customer, _, admin, _ = await setup_customer(0, "1.00")

    # when: amounts 1…10 race under one key
    results = await asyncio.gather(
        *(
            live(GRANT_CREDITS_CODES, {"input": grant_input(customer.id, str(n), "k")}, token=admin.token)
            for n in range(1, 11)
        )
    )

    # then: exactly one succeeded; the others conflict on the key
    payloads = [r["grantCredits"] for r in results]
    winners = [p for p in payloads if p["transaction"] is not None]
    assert len(winners) == 1
    losers = [p for p in payloads if p["transaction"] is None]
    assert all(
        p["userErrors"] == [{"code": "IDEMPOTENCY_CONFLICT", "field": ["input", "idempotencyKey"]}]
        for p in losers
    ), losers

    # then: one ledger entry, of the winner's amount
    amount = winners[0]["transaction"]["amount"]
    await assert_api_ledger(live, customer.id, admin.token, amount, 1)
    await assert_db_ledger(customer.id, cents(amount), 1)


@requires_postgres
@pytest.mark.slow
async def test_concurrent_charges_across_customers_keep_each_ledger(live: GraphQLClient) -> None:
    """5 customers × 40 concurrent requests, all at once: each ledger is exact and gap-free."""
    # given: five customers with 100 credits each and their end users; a 1.25 service
    await enable_credits()
    admin = await make_catalog_admin()
    service_id = str((await make_service("1.25")).id)
    customers = [await make_customer(f"Tenant {i}", balance=100, by=admin) for i in range(5)]
    users = [await make_user(Role.END_USER, c) for c in customers]

    # when: 200 requests race, 40 per customer, interleaved
    results = await asyncio.gather(
        *(
            live(REQUEST_SERVICE, {"input": {"serviceId": service_id}}, token=users[i % 5].token)
            for i in range(200)
        )
    )

    # then: all succeeded, and each customer is at 100 − 40 × 1.25 = 50.00 with 41 entries
    assert all(r["requestService"]["userErrors"] == [] for r in results)
    for customer in customers:
        await assert_api_ledger(live, customer.id, admin.token, "50.00", 41)
        await assert_db_ledger(customer.id, 5_000, 41)


# --- in process, SQLite or PostgreSQL ----------------------------------------------------------


async def test_in_process_concurrent_requests_serialise(gql: GraphQLClient) -> None:
    """30 concurrent in-process requests: 100 − 30 × 3.00 = 10.00, 31 gap-free entries."""
    # given: 100 credits and a 3.00 service
    customer, end_user, admin, service_id = await setup_customer(100, "3.00")

    # when: 30 requests race
    results = await asyncio.gather(
        *(gql(REQUEST_SERVICE, {"input": {"serviceId": service_id}}, token=end_user.token) for _ in range(30))
    )

    # then: every one was charged once
    assert all(r["requestService"]["userErrors"] == [] for r in results)
    assert len({r["requestService"]["serviceRequest"]["id"] for r in results}) == 30
    await assert_api_ledger(gql, customer.id, admin.token, "10.00", 31)
    await assert_db_ledger(customer.id, 1_000, 31)


async def test_in_process_racing_transitions_refund_once(gql: GraphQLClient) -> None:
    """10 racing in-process transitions (complete included) on one request: one winner, right balance."""
    # given: 100 credits and one request of 40.00
    customer, end_user, admin, service_id = await setup_customer(100, "40.00")
    made = (await gql(REQUEST_SERVICE, {"input": {"serviceId": service_id}}, token=end_user.token))[
        "requestService"
    ]
    request_id = made["serviceRequest"]["id"]
    ops = [CANCEL_OP, FAIL_OP, REJECT_OP, COMPLETE_OP] * 2 + [CANCEL_OP, FAIL_OP]

    # when: 10 transitions race
    payloads, _ = await race_transitions(gql, request_id, ops, admin, end_user)

    # then: one winner; refunded once unless completion won
    status = assert_one_winner(payloads, ops)
    refunds = [r.amount for r in await refunds_of(request_id)]
    assert refunds == ([] if status == "COMPLETED" else [4000])
    balance = "60.00" if status == "COMPLETED" else "100.00"
    await assert_api_ledger(gql, customer.id, admin.token, balance, 2 + len(refunds))
    await assert_db_ledger(customer.id, cents(balance), 2 + len(refunds))


async def test_in_process_racing_idempotent_repeats(gql: GraphQLClient) -> None:
    """10 racing in-process grants under one key: one entry; different amounts conflict."""
    # given: a customer with nothing yet
    customer, _, admin, _ = await setup_customer(0, "1.00")
    same = grant_input(customer.id, "25", "same")

    # when: the same grant races 10 times, and 5 different amounts race under another key
    repeats, conflicting = await asyncio.gather(
        asyncio.gather(*(gql(GRANT_CREDITS, {"input": same}, token=admin.token) for _ in range(10))),
        asyncio.gather(
            *(
                gql(GRANT_CREDITS, {"input": grant_input(customer.id, str(n), "other")}, token=admin.token)
                for n in range(1, 6)
            )
        ),
    )

    # then: the repeats share one transaction; the conflicting ones have one winner
    assert len({r["grantCredits"]["transaction"]["id"] for r in repeats}) == 1
    payloads = [r["grantCredits"] for r in conflicting]
    winners = [p for p in payloads if p["transaction"] is not None]
    assert len(winners) == 1
    assert user_error_codes(payloads) == {"IDEMPOTENCY_CONFLICT": 4}

    # then: two entries in all: 25.00 and the winner's amount
    balance = 2500 + cents(winners[0]["transaction"]["amount"])
    await assert_db_ledger(customer.id, balance, 2)
