"""requestService and the request's final transitions through the public GraphQL API."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from typing import Any

import pytest

from infra.request_id import current_request_id, set_request_id
from models import service_requests as requests_module
from models.alerts import CreditAlert
from models.catalog import set_alert_threshold
from models.customer import Customer
from models.errors import DomainError, ErrorCode
from models.ledger import CreditTransaction, TransactionKind
from models.notification import AlertKind, Notification
from models.service import RequestStatus, ServiceRequest
from models.service_requests import request_service
from models.user import Role
from tests.client import GraphQLClient
from tests.client import user_errors as errors
from tests.conftest import requires_postgres
from tests.documents import SET_CREDIT_MANAGEMENT, SET_SERVICE_PRICE
from tests.factories import Login, World, make_customer, make_service, make_user, make_world

REQUEST_FIELDS = """
    id quantity amount status reason
    service { id name creditPrice }
    customer { id balance }
    requestedBy { id role }
"""
REQUEST = f"""
mutation ($input: RequestServiceInput!) {{
  requestService(input: $input) {{
    serviceRequest {{ {REQUEST_FIELDS} }}
    userErrors {{ code field message }}
  }}
}}"""
CANCEL = f"""
mutation ($id: ID!) {{
  cancelServiceRequest(id: $id) {{
    serviceRequest {{ {REQUEST_FIELDS} }} userErrors {{ code field message }}
  }}
}}"""
COMPLETE = f"""
mutation ($id: ID!) {{
  completeServiceRequest(id: $id) {{
    serviceRequest {{ {REQUEST_FIELDS} }} userErrors {{ code field message }}
  }}
}}"""
FAIL = f"""
mutation ($id: ID!, $reason: String) {{
  failServiceRequest(id: $id, reason: $reason) {{
    serviceRequest {{ {REQUEST_FIELDS} }} userErrors {{ code field message }}
  }}
}}"""
REJECT = f"""
mutation ($id: ID!, $reason: String) {{
  rejectServiceRequest(id: $id, reason: $reason) {{
    serviceRequest {{ {REQUEST_FIELDS} }} userErrors {{ code field message }}
  }}
}}"""
SERVICE_REQUEST = f"""
query ($id: ID!) {{ serviceRequest(id: $id) {{ {REQUEST_FIELDS} createdAt updatedAt }} }}
"""
LEDGER = """
query ($id: ID!) {
  customer(id: $id) {
    balance
    transactions(first: 100) {
      nodes { sequence kind amount balanceAfter serviceRequest { id } actor { id } }
    }
  }
}"""
REQUESTS_BY_STATUS = """
query ($id: ID!, $status: ServiceRequestStatus) {
  customer(id: $id) { serviceRequests(status: $status) { nodes { id status } } }
}"""

TRANSITIONS = {
    "cancel": ("cancelServiceRequest", CANCEL, "CANCELLED"),
    "complete": ("completeServiceRequest", COMPLETE, "COMPLETED"),
    "fail": ("failServiceRequest", FAIL, "FAILED"),
    "reject": ("rejectServiceRequest", REJECT, "REJECTED"),
}
REFUNDING = ("cancel", "fail", "reject")


@pytest.fixture
async def world() -> World:
    """Credit management on, a customer at 100.00 and an end user of it."""
    return await make_world("Acme", balance=100, admins=0)


async def ledger(gql: GraphQLClient, world: World) -> dict[str, Any]:
    """The customer's balance and ledger, newest first, as the catalog administrator reads them."""
    return (await gql(LEDGER, {"id": world.cid}, token=world.admin.token))["customer"]


async def read_request(gql: GraphQLClient, world: World, request_id: str) -> dict[str, Any]:
    """A request as the catalog administrator reads it now."""
    return (await gql(SERVICE_REQUEST, {"id": request_id}, token=world.admin.token))["serviceRequest"]


async def request(gql: GraphQLClient, caller: Login, service_id: object, **input: Any) -> dict[str, Any]:
    """Run requestService and return its payload."""
    variables = {"input": {"serviceId": str(service_id), **input}}
    return (await gql(REQUEST, variables, token=caller.token))["requestService"]


async def move(
    gql: GraphQLClient, caller: Login, transition: str, request_id: str, reason: str | None = None
) -> dict[str, Any]:
    """Run one of the four transitions and return its payload."""
    name, document, _ = TRANSITIONS[transition]
    variables: dict[str, Any] = {"id": request_id}
    if transition in ("fail", "reject"):
        variables["reason"] = reason
    return (await gql(document, variables, token=caller.token))[name]


async def _statuses(gql: GraphQLClient, world: World, status: str | None) -> list[tuple[str, str]]:
    """The customer's requests (id, status) as the catalog administrator lists them."""
    data = await gql(REQUESTS_BY_STATUS, {"id": world.cid, "status": status}, token=world.admin.token)
    return [(n["id"], n["status"]) for n in data["customer"]["serviceRequests"]["nodes"]]


async def test_request_charges_price_times_quantity(gql, world):
    """Three units at 40.00 debit 120.00 at once and store it as the request's amount."""
    # given: a service priced 40.00
    service = await make_service("40.00", "Translation")

    # when: the end user requests three units
    payload = await request(gql, world.end_user, service.id, quantity=3)

    # then: the request is REQUESTED with amount 120.00 and the balance is -20.00
    assert payload["userErrors"] == []
    made = payload["serviceRequest"]
    assert uuid.UUID(made["id"])
    assert made == {
        "id": made["id"],
        "quantity": 3,
        "amount": "120.00",
        "status": "REQUESTED",
        "reason": None,
        "service": {"id": str(service.id), "name": "Translation", "creditPrice": "40.00"},
        "customer": {"id": world.cid, "balance": "-20.00"},
        "requestedBy": {"id": str(world.end_user.user.id), "role": "END_USER"},
    }
    # and: one SERVICE_CHARGE entry linked to the request, by the end user
    assert (await ledger(gql, world))["transactions"]["nodes"][0] == {
        "sequence": 2,
        "kind": "SERVICE_CHARGE",
        "amount": "-120.00",
        "balanceAfter": "-20.00",
        "serviceRequest": {"id": made["id"]},
        "actor": {"id": str(world.end_user.user.id)},
    }


async def test_quantity_defaults_to_one(gql, world):
    """Without quantity one unit is requested and charged."""
    # given: a service priced 15.50
    service = await make_service("15.50")

    # when: it is requested without a quantity
    payload = await request(gql, world.end_user, service.id)

    # then: one unit, 15.50
    assert payload["serviceRequest"]["quantity"] == 1
    assert payload["serviceRequest"]["amount"] == "15.50"
    assert payload["serviceRequest"]["customer"]["balance"] == "84.50"


@pytest.mark.parametrize("quantity", [0, -1, -(2**31)])
async def test_quantity_below_one_is_invalid_input(gql, world, quantity):
    """Quantity 0 or negative is INVALID_INPUT on input.quantity and creates nothing."""
    # given: a priced service
    service = await make_service("40.00")
    before = await ledger(gql, world)

    # when: it is requested with a quantity below one
    payload = await request(gql, world.end_user, service.id, quantity=quantity)

    # then: INVALID_INPUT on input.quantity, no request, no ledger change
    assert payload["serviceRequest"] is None
    assert errors(payload) == [("INVALID_INPUT", ["input", "quantity"])]
    assert await ledger(gql, world) == before
    assert await _statuses(gql, world, None) == []


@pytest.mark.parametrize(
    ("price", "quantity"), [("500000000000.00", 2), ("999999999999.99", 2), ("1000", 10**9)]
)
async def test_charge_of_10_to_the_12_or_more_is_invalid_input(gql, world, price, quantity):
    """price × quantity ≥ 10^12 is INVALID_INPUT on input.quantity and creates nothing."""
    # given: a very expensive service
    service = await make_service(price)
    before = await ledger(gql, world)

    # when: it is requested in a quantity that reaches the limit
    payload = await request(gql, world.end_user, service.id, quantity=quantity)

    # then: refused, nothing created
    assert payload["serviceRequest"] is None
    assert errors(payload) == [("INVALID_INPUT", ["input", "quantity"])]
    assert await ledger(gql, world) == before
    assert await _statuses(gql, world, None) == []


async def test_charge_just_below_10_to_the_12_is_accepted(gql, world):
    """333333333333.33 × 3 = 999999999999.99 is the largest charge and goes through."""
    # given: a service priced 333333333333.33
    service = await make_service("333333333333.33")

    # when: three units are requested
    payload = await request(gql, world.end_user, service.id, quantity=3)

    # then: charged in full, balance far below zero
    assert payload["userErrors"] == []
    assert payload["serviceRequest"]["amount"] == "999999999999.99"
    assert payload["serviceRequest"]["customer"]["balance"] == "-999999999899.99"


@pytest.mark.parametrize("service_id", ["random", "garbage", ""])
async def test_unknown_service_is_not_found(gql, world, service_id):
    """A random UUID or malformed service id is NOT_FOUND on input.serviceId."""
    # given: the customer's ledger
    before = await ledger(gql, world)
    target = str(uuid.uuid4()) if service_id == "random" else service_id

    # when: an unknown service is requested
    payload = await request(gql, world.end_user, target)

    # then: NOT_FOUND on input.serviceId and nothing changed
    assert payload["serviceRequest"] is None
    assert errors(payload) == [("NOT_FOUND", ["input", "serviceId"])]
    assert await ledger(gql, world) == before
    assert await _statuses(gql, world, None) == []


@pytest.mark.parametrize("price", [None, "0.00"])
async def test_unpriced_and_free_services_write_no_ledger_entry(gql, world, price):
    """An unpriced or free service costs "0.00" and touches the ledger neither when made nor cancelled."""
    # given: an unpriced or free service
    service = await make_service(price)
    before = await ledger(gql, world)

    # when: it is requested twice over
    made = await request(gql, world.end_user, service.id, quantity=2)

    # then: amount 0.00, no ledger entry
    assert made["userErrors"] == []
    assert made["serviceRequest"]["amount"] == "0.00"
    assert made["serviceRequest"]["service"]["creditPrice"] == price
    assert made["serviceRequest"]["customer"]["balance"] == "100.00"
    assert await ledger(gql, world) == before

    # when: it is cancelled
    cancelled = await move(gql, world.end_user, "cancel", made["serviceRequest"]["id"])

    # then: CANCELLED, still no ledger entry
    assert cancelled["userErrors"] == []
    assert cancelled["serviceRequest"]["status"] == "CANCELLED"
    assert cancelled["serviceRequest"]["amount"] == "0.00"
    assert await ledger(gql, world) == before


async def test_credit_management_off_does_not_charge_but_still_refunds(gql, world):
    """Requests made while off cost nothing; a request charged while on is still refunded."""
    # given: a request charged 40.00 while credit management was on
    service = await make_service("40.00")
    charged = (await request(gql, world.end_user, service.id))["serviceRequest"]
    assert charged["customer"]["balance"] == "60.00"

    # when: credit management is turned off and the service requested again
    switched = await gql(SET_CREDIT_MANAGEMENT, {"enabled": False}, token=world.admin.token)
    assert switched["setCreditManagement"]["creditSettings"] == {"creditManagementEnabled": False}
    before = await ledger(gql, world)
    free = await request(gql, world.end_user, service.id, quantity=5)

    # then: the new request is not charged
    assert free["userErrors"] == []
    assert free["serviceRequest"]["amount"] == "0.00"
    assert free["serviceRequest"]["customer"]["balance"] == "60.00"
    assert await ledger(gql, world) == before

    # when: both requests are cancelled
    refunded = await move(gql, world.end_user, "cancel", charged["id"])
    not_refunded = await move(gql, world.end_user, "cancel", free["serviceRequest"]["id"])

    # then: the earlier charge comes back once, the uncharged request writes nothing
    assert refunded["serviceRequest"]["status"] == "CANCELLED"
    assert refunded["serviceRequest"]["customer"]["balance"] == "100.00"
    assert not_refunded["serviceRequest"]["status"] == "CANCELLED"
    after = await ledger(gql, world)
    assert after["balance"] == "100.00"
    assert [(t["sequence"], t["kind"], t["amount"]) for t in after["transactions"]["nodes"]] == [
        (3, "REFUND", "40.00"),
        (2, "SERVICE_CHARGE", "-40.00"),
        (1, "GRANT", "100.00"),
    ]


@pytest.mark.parametrize("transition", REFUNDING)
@pytest.mark.parametrize("new_price", ["99.00", "0.00", None])
async def test_refund_is_the_amount_charged_not_the_new_price(gql, world, transition, new_price):
    """After a price change, cancel/fail/reject return what was debited."""
    # given: a request charged 2 × 40.00 = 80.00, then the price changed
    service = await make_service("40.00")
    made = (await request(gql, world.end_user, service.id, quantity=2))["serviceRequest"]
    priced = await gql(
        SET_SERVICE_PRICE, {"serviceId": str(service.id), "price": new_price}, token=world.admin.token
    )
    assert priced["setServicePrice"] == {"service": {"creditPrice": new_price}, "userErrors": []}

    # when: the request is cancelled, failed or rejected
    caller = world.end_user if transition == "cancel" else world.admin
    payload = await move(gql, caller, transition, made["id"], reason="price changed")

    # then: exactly 80.00 comes back; the request still says 80.00 and shows the new price
    assert payload["userErrors"] == []
    moved = payload["serviceRequest"]
    assert moved["amount"] == "80.00"
    assert moved["service"]["creditPrice"] == new_price
    assert moved["customer"]["balance"] == "100.00"
    refund = (await ledger(gql, world))["transactions"]["nodes"][0]
    assert refund == {
        "sequence": 3,
        "kind": "REFUND",
        "amount": "80.00",
        "balanceAfter": "100.00",
        "serviceRequest": {"id": made["id"]},
        "actor": {"id": str(caller.user.id)},
    }


async def test_complete_is_final_without_refund(gql, world):
    """Completing keeps the charge; a later cancel is INVALID_STATE and changes nothing."""
    # given: a request charged 40.00
    service = await make_service("40.00")
    made = (await request(gql, world.end_user, service.id))["serviceRequest"]
    before = await ledger(gql, world)

    # when: the catalog administrator completes it
    completed = await move(gql, world.admin, "complete", made["id"])

    # then: COMPLETED, no refund
    assert completed["userErrors"] == []
    assert completed["serviceRequest"]["status"] == "COMPLETED"
    assert completed["serviceRequest"]["amount"] == "40.00"
    assert completed["serviceRequest"]["customer"]["balance"] == "60.00"
    assert await ledger(gql, world) == before
    snapshot = await read_request(gql, world, made["id"])

    # when: the end user then tries to cancel it
    cancelled = await move(gql, world.end_user, "cancel", made["id"])

    # then: INVALID_STATE, still COMPLETED, no refund
    assert cancelled["serviceRequest"] is None
    assert errors(cancelled) == [("INVALID_STATE", ["id"])]
    assert await read_request(gql, world, made["id"]) == snapshot
    assert await ledger(gql, world) == before


@pytest.mark.parametrize("transition", ["fail", "reject"])
async def test_fail_and_reject_store_the_reason_and_refund(gql, world, transition):
    """fail/reject record the reason and return the charge."""
    # given: a request charged 3 × 10.00
    service = await make_service("10.00")
    made = (await request(gql, world.end_user, service.id, quantity=3))["serviceRequest"]

    # when: the catalog administrator fails or rejects it with a reason
    payload = await move(gql, world.admin, transition, made["id"], reason="printer on fire")

    # then: final status, reason stored, 30.00 refunded
    assert payload["userErrors"] == []
    moved = payload["serviceRequest"]
    assert moved["status"] == TRANSITIONS[transition][2]
    assert moved["reason"] == "printer on fire"
    assert moved["customer"]["balance"] == "100.00"
    stored = await read_request(gql, world, made["id"])
    assert (stored["status"], stored["reason"]) == (TRANSITIONS[transition][2], "printer on fire")
    kinds = [(t["kind"], t["amount"]) for t in (await ledger(gql, world))["transactions"]["nodes"]]
    assert kinds == [("REFUND", "30.00"), ("SERVICE_CHARGE", "-30.00"), ("GRANT", "100.00")]


@pytest.mark.parametrize("transition", ["fail", "reject"])
async def test_fail_and_reject_without_reason_store_null(gql, world, transition):
    """The reason is optional."""
    # given: a charged request
    service = await make_service("10.00")
    made = (await request(gql, world.end_user, service.id))["serviceRequest"]

    # when: it is failed or rejected without a reason
    payload = await move(gql, world.admin, transition, made["id"])

    # then: no reason, refunded
    assert payload["serviceRequest"]["reason"] is None
    assert payload["serviceRequest"]["customer"]["balance"] == "100.00"


@pytest.mark.parametrize("transition", ["fail", "reject"])
async def test_reason_over_1000_characters_is_invalid_input(gql, world, transition):
    """A reason of 1001 characters is INVALID_INPUT on reason and changes nothing."""
    # given: a charged request
    service = await make_service("10.00")
    made = (await request(gql, world.end_user, service.id))["serviceRequest"]
    before = await ledger(gql, world)
    snapshot = await read_request(gql, world, made["id"])

    # when: it is failed or rejected with an overlong reason
    payload = await move(gql, world.admin, transition, made["id"], reason="r" * 1001)

    # then: INVALID_INPUT on reason, still REQUESTED, no refund
    assert payload["serviceRequest"] is None
    assert errors(payload) == [("INVALID_INPUT", ["reason"])]
    assert await read_request(gql, world, made["id"]) == snapshot
    assert await ledger(gql, world) == before


@pytest.mark.parametrize("first", list(TRANSITIONS))
@pytest.mark.parametrize("second", list(TRANSITIONS))
async def test_every_transition_of_a_final_request_is_invalid_state(gql, world, first, second):
    """Once a request left REQUESTED, no transition applies and nothing changes."""
    # given: a charged request moved to a final status with a reason where one is taken
    service = await make_service("25.00")
    made = (await request(gql, world.end_user, service.id))["serviceRequest"]
    assert (await move(gql, world.admin, first, made["id"], reason="first"))["userErrors"] == []
    before = await ledger(gql, world)
    snapshot = await read_request(gql, world, made["id"])

    # when: another (or the same) transition is tried
    payload = await move(gql, world.admin, second, made["id"], reason="second")

    # then: INVALID_STATE on id; status, reason, amount and ledger untouched
    assert payload["serviceRequest"] is None
    assert errors(payload) == [("INVALID_STATE", ["id"])]
    assert await read_request(gql, world, made["id"]) == snapshot
    assert snapshot["status"] == TRANSITIONS[first][2]
    assert await ledger(gql, world) == before
    expected_balance = "75.00" if first == "complete" else "100.00"
    assert before["balance"] == expected_balance


@pytest.mark.parametrize("transition", list(TRANSITIONS))
@pytest.mark.parametrize("request_id", ["random", "garbage", ""])
async def test_unknown_request_is_not_found(gql, world, transition, request_id):
    """A random UUID or malformed request id is NOT_FOUND on id."""
    # given: a charged request that must stay as it is
    service = await make_service("25.00")
    made = (await request(gql, world.end_user, service.id))["serviceRequest"]
    before = await ledger(gql, world)
    target = str(uuid.uuid4()) if request_id == "random" else request_id

    # when: a transition names an unknown request
    payload = await move(gql, world.admin, transition, target, reason="x")

    # then: NOT_FOUND on id, nothing changed
    assert payload["serviceRequest"] is None
    assert errors(payload) == [("NOT_FOUND", ["id"])]
    assert await ledger(gql, world) == before
    assert (await read_request(gql, world, made["id"]))["status"] == "REQUESTED"


async def test_service_request_query_reads_nested_objects(gql, world):
    """serviceRequest(id) exposes the service, the charged customer and who requested it."""
    # given: a request made by a customer administrator on a 12.34 service
    customer_admin = await make_user(Role.CUSTOMER_ADMIN, world.customer)
    service = await make_service("12.34", "Audit")
    made = (await request(gql, customer_admin, service.id, quantity=2))["serviceRequest"]

    # when: the catalog administrator reads it
    read = await read_request(gql, world, made["id"])

    # then: nested objects as they are now
    assert read["service"] == {"id": str(service.id), "name": "Audit", "creditPrice": "12.34"}
    assert read["customer"] == {"id": world.cid, "balance": "75.32"}
    assert read["requestedBy"] == {"id": str(customer_admin.user.id), "role": "CUSTOMER_ADMIN"}
    assert (read["quantity"], read["amount"], read["status"], read["reason"]) == (
        2,
        "24.68",
        "REQUESTED",
        None,
    )
    assert read["createdAt"] and read["updatedAt"]


async def test_catalog_admin_requests_for_a_named_customer(gql, world):
    """A catalog administrator names the customer; leaving it out is INVALID_INPUT on input.customerId."""
    # given: a priced service
    service = await make_service("5.00")
    before = await ledger(gql, world)

    # when: the catalog administrator requests without a customer
    missing = await request(gql, world.admin, service.id)

    # then: INVALID_INPUT on input.customerId, nothing changed
    assert errors(missing) == [("INVALID_INPUT", ["input", "customerId"])]
    assert await ledger(gql, world) == before

    # when: it names the customer
    named = await request(gql, world.admin, service.id, customerId=world.cid)

    # then: charged to that customer, requested by the administrator
    assert named["serviceRequest"]["customer"] == {"id": world.cid, "balance": "95.00"}
    assert named["serviceRequest"]["requestedBy"]["role"] == "CATALOG_ADMIN"


async def test_service_requests_filter_by_status(gql, world):
    """Customer.serviceRequests(status:) returns only the requests in that status."""
    # given: five requests left REQUESTED, COMPLETED, CANCELLED, FAILED and REJECTED
    service = await make_service("1.00")
    ids = {}
    for transition in (None, "complete", "cancel", "fail", "reject"):
        made = (await request(gql, world.end_user, service.id))["serviceRequest"]
        if transition:
            assert (await move(gql, world.admin, transition, made["id"]))["userErrors"] == []
        ids[TRANSITIONS[transition][2] if transition else "REQUESTED"] = made["id"]

    # when / then: each status filter returns exactly its request
    for status, request_id in ids.items():
        assert await _statuses(gql, world, status) == [(request_id, status)]
    # and: without a filter all five are listed
    assert sorted(await _statuses(gql, world, None)) == sorted((i, s) for s, i in ids.items())


# Concurrent requestService calls are charged in batches (infra/batching.py), of one customer or
# several: the first call of a lane runs alone while the calls arriving meanwhile queue up and are
# charged together. These tests gather in-process calls; what they assert holds however the calls
# were batched, except `_batched`, which checks that batching did happen (post_batch stamps one
# time per batch).


async def _charges(customer_id: uuid.UUID) -> list[CreditTransaction]:
    """The customer's SERVICE_CHARGE entries in ledger order."""
    return (
        await CreditTransaction.filter(customer_id=customer_id, kind=TransactionKind.SERVICE_CHARGE)
        .order_by("sequence")
        .all()
    )


def _batched(entries: list[CreditTransaction]) -> bool:
    """Whether at least two entries were posted by one batch (they share its created_at)."""
    return max(Counter(e.created_at for e in entries).values(), default=0) > 1


async def _outcome(call: Any) -> ServiceRequest | tuple[ErrorCode, str | None]:
    """A request, or the (code, argument) of the domain error it raised."""
    try:
        return await call
    except DomainError as exc:
        return exc.code, exc.argument


async def test_concurrent_requests_of_one_customer_each_get_one_charge(world):
    """Twenty concurrent requests: twenty requests, one SERVICE_CHARGE each, consecutive sequences."""
    # given: a service priced 2.50 and the customer at 100.00 (sequence 1 is the grant)
    service = await make_service("2.50")
    actor = world.end_user.actor

    # when: twenty requests of the customer run at once
    made = await asyncio.gather(
        *(request_service(actor, world.customer.id, service.id, 1, None) for _ in range(20))
    )

    # then: twenty distinct REQUESTED requests of 2.50
    ids = [r.id for r in made]
    assert len(set(ids)) == 20
    assert all((r.status, r.amount, r.customer_id) == ("REQUESTED", 250, world.customer.id) for r in made)
    stored = await ServiceRequest.filter(customer_id=world.customer.id).all()
    assert sorted(r.id for r in stored) == sorted(ids)
    # and: exactly one charge of -2.50 per request, at sequences 2..21, balances running down
    charges = await _charges(world.customer.id)
    assert Counter(c.service_request_id for c in charges) == Counter(ids)
    assert [c.sequence for c in charges] == list(range(2, 22))
    assert [c.amount for c in charges] == [-250] * 20
    assert [c.balance_after for c in charges] == [10000 - 250 * n for n in range(1, 21)]
    assert all(c.actor_id == world.end_user.user.id for c in charges)
    # and: the balance is the ledger sum, 100.00 - 50.00
    customer = await Customer.get(id=world.customer.id)
    entries = await CreditTransaction.filter(customer_id=world.customer.id).all()
    assert customer.balance == sum(e.amount for e in entries) == 5000
    assert customer.last_sequence == 21
    # and: the calls were in fact charged together, not one transaction each
    assert _batched(charges)


async def test_each_request_of_a_mixed_batch_gets_its_own_outcome(world):
    """Unknown service, reused key and in-batch repeats fail or replay alone; the rest is charged."""
    # given: a 5.00 service and a key already used for one unit of it
    service = await make_service("5.00")
    actor, cid = world.end_user.actor, world.customer.id
    used = await request_service(actor, cid, service.id, 1, "used-key")

    # when: good requests run together with an unknown service, the used key with other arguments,
    #       a repeated key twice with the same arguments and a new key twice with different ones
    calls = [
        request_service(actor, cid, service.id, 1, None),
        request_service(actor, cid, service.id, 2, None),
        request_service(actor, cid, uuid.uuid4(), 1, None),
        request_service(actor, cid, service.id, 2, "used-key"),
        request_service(actor, cid, service.id, 3, "twin"),
        request_service(actor, cid, service.id, 3, "twin"),
        request_service(actor, cid, service.id, 1, "pair"),
        request_service(actor, cid, service.id, 4, "pair"),
        request_service(actor, cid, service.id, 1, "fresh"),
    ]
    outcomes = await asyncio.gather(*(_outcome(call) for call in calls))
    good_one, good_two, unknown, reused, twin_a, twin_b, pair_a, pair_b, fresh = outcomes

    # then: errors only for the unknown service and the reused key
    assert unknown == (ErrorCode.NOT_FOUND, "serviceId")
    assert reused == (ErrorCode.IDEMPOTENCY_CONFLICT, "idempotencyKey")
    for made, quantity in ((good_one, 1), (good_two, 2), (twin_a, 3), (fresh, 1)):
        assert isinstance(made, ServiceRequest)
        assert made.status == RequestStatus.REQUESTED
        assert (made.quantity, made.amount) == (quantity, 500 * quantity)
    # and: the two identical repeats are one request
    assert isinstance(twin_b, ServiceRequest) and twin_b.id == twin_a.id
    # and: of the two uses of "pair" with different arguments, one is made, the other conflicts
    pair = [o for o in (pair_a, pair_b) if isinstance(o, ServiceRequest)]
    assert len(pair) == 1
    assert [o for o in (pair_a, pair_b) if not isinstance(o, ServiceRequest)] == [
        (ErrorCode.IDEMPOTENCY_CONFLICT, "idempotencyKey")
    ]
    # and: one charge per request made, none for the failures; the used key charged only once
    made_ids = [used.id, good_one.id, good_two.id, twin_a.id, pair[0].id, fresh.id]  # type: ignore[union-attr]
    assert len(set(made_ids)) == 6
    assert sorted(r.id for r in await ServiceRequest.filter(customer_id=cid).all()) == sorted(made_ids)
    charges = await _charges(cid)
    assert Counter(c.service_request_id for c in charges) == Counter(made_ids)
    amounts = {c.service_request_id: c.amount for c in charges}
    assert amounts[twin_a.id] == -1500  # type: ignore[union-attr]
    assert amounts[pair[0].id] == -500 * pair[0].quantity
    spent = 500 * (1 + 1 + 2 + 3 + 1) + 500 * pair[0].quantity
    assert (await Customer.get(id=cid)).balance == 10000 - spent
    # and: the failures were in a batch with successful requests
    assert _batched(charges)


async def test_a_batch_crossing_zero_fires_below_zero_once_at_the_crossing_entry(world):
    """Alerts are evaluated per entry: BELOW_ZERO fires once, with the balance of the entry below zero."""
    # given: a customer administrator to notify, a threshold of 50.00 and a 15.00 service
    customer_admin = await make_user(Role.CUSTOMER_ADMIN, world.customer)
    await set_alert_threshold(world.customer.id, 5000)
    service = await make_service("15.00")

    # when: ten requests run at once (100.00 → 85, 70, 55, 40, … , 10, -5, … , -50)
    await asyncio.gather(
        *(request_service(world.end_user.actor, world.customer.id, service.id, 1, None) for _ in range(10))
    )

    # then: one BELOW_THRESHOLD alert at 40.00 and one BELOW_ZERO alert at -5.00, the crossing entries
    charges = await _charges(world.customer.id)
    assert [c.balance_after for c in charges] == [10000 - 1500 * n for n in range(1, 11)]
    alerts = await CreditAlert.filter(customer_id=world.customer.id).order_by("balance").all()
    assert [(a.kind, a.balance, a.threshold) for a in alerts] == [
        (AlertKind.BELOW_ZERO, -500, None),
        (AlertKind.BELOW_THRESHOLD, 4000, 5000),
    ]
    # and: the customer administrator got exactly those two notifications
    notes = await Notification.filter(user_id=customer_admin.user.id).order_by("balance").all()
    assert [(n.kind, n.balance) for n in notes] == [
        (AlertKind.BELOW_ZERO, -500),
        (AlertKind.BELOW_THRESHOLD, 4000),
    ]
    assert "-5.00" in notes[0].message
    # and: both limits are now fired, so the next charge raises nothing new
    customer = await Customer.get(id=world.customer.id)
    assert customer.balance == -5000
    assert customer.below_zero_fired and customer.below_threshold_fired
    await request_service(world.end_user.actor, world.customer.id, service.id, 1, None)
    assert await CreditAlert.filter(customer_id=world.customer.id).count() == 2
    # and: zero was crossed inside a batch, not at its first entry
    crossing = next(c for c in charges if c.balance_after < 0)
    before = next(c for c in charges if c.sequence == crossing.sequence - 1)
    assert crossing.created_at == before.created_at


async def test_each_entry_of_a_batch_records_its_own_api_request_id(world):
    """Charges posted together keep the request id of the API request that asked for each."""
    # given: a 1.00 service
    service = await make_service("1.00")

    async def call(n: int) -> ServiceRequest:
        set_request_id(f"req-{n}")  # this task's API request (gather runs each call in its own task)
        return await request_service(world.end_user.actor, world.customer.id, service.id, 1, None)

    # when: twelve requests, each under its own request id, run at once
    made = await asyncio.gather(*(call(n) for n in range(12)))

    # then: each request's charge carries that request's id
    charges = await _charges(world.customer.id)
    assert {c.service_request_id: c.request_id for c in charges} == {
        r.id: f"req-{n}" for n, r in enumerate(made)
    }
    assert _batched(charges)
    assert current_request_id() is None


async def test_concurrent_requests_for_two_customers_are_charged_to_each_its_own(world):
    """A catalog administrator's interleaved requests for two customers land on the right ledgers."""
    # given: a second customer at 50.00 and a 3.00 service
    other = await make_customer("Globex", balance=50, by=world.admin)
    service = await make_service("3.00")
    targets = [world.customer.id, other.id] * 8

    # when: sixteen requests alternate between the two customers, all at once
    made = await asyncio.gather(
        *(request_service(world.admin.actor, target, service.id, 1, None) for target in targets)
    )

    # then: each request belongs to the customer it named, and only that customer paid for it
    assert [r.customer_id for r in made] == targets
    for customer_id, opening in ((world.customer.id, 10000), (other.id, 5000)):
        mine = [r.id for r in made if r.customer_id == customer_id]
        charges = await _charges(customer_id)
        assert sorted(c.service_request_id for c in charges) == sorted(mine)
        assert (await Customer.get(id=customer_id)).balance == opening - 300 * 8
        assert _batched(charges)


async def test_requests_of_many_customers_share_a_batch_and_an_unknown_customer_fails_alone(world):
    """Charges of different customers go in one transaction; a bad one fails only itself."""
    # given: eight customers at 20.00 and a 1.00 service
    service = await make_service("1.00")
    customers = [await make_customer(f"Customer {n}", balance=20, by=world.admin) for n in range(8)]
    unknown = [uuid.uuid4() for _ in range(4)]

    # when: two requests per customer run at once, then requests for customers that do not exist
    targets = [c.id for c in customers] * 2 + unknown
    outcomes = await asyncio.gather(
        *(_outcome(request_service(world.admin.actor, target, service.id, 1, None)) for target in targets)
    )

    # then: the unknown customers' requests are NOT_FOUND and nothing of theirs is stored
    assert outcomes[16:] == [(ErrorCode.NOT_FOUND, "customerId")] * 4
    assert await ServiceRequest.filter(customer_id__in=unknown).count() == 0
    # and: every other request charged its own customer once
    made = outcomes[:16]
    assert all(isinstance(r, ServiceRequest) for r in made)
    for customer in customers:
        mine = [r.id for r in made if r.customer_id == customer.id]  # type: ignore[union-attr]
        charges = await _charges(customer.id)
        assert sorted(c.service_request_id for c in charges) == sorted(mine)
        assert (await Customer.get(id=customer.id)).balance == 2000 - 2 * 100
    # and: some batch held charges of several customers (posted with one time stamp)
    charges = await CreditTransaction.filter(kind=TransactionKind.SERVICE_CHARGE).all()
    customers_by_stamp: dict[object, set[uuid.UUID]] = {}
    for charge in charges:
        customers_by_stamp.setdefault(charge.created_at, set()).add(charge.customer_id)
    assert max(len(group) for group in customers_by_stamp.values()) > 1


@requires_postgres
async def test_batches_claiming_the_same_keys_in_crossed_order_do_not_fail_other_requests(world, monkeypatch):
    """Two batches that claim keys k1, k2 and k2, k1 must not deadlock and fail innocent requests.

    Before batching each request claimed its one key in its own transaction; a batch claims several
    in one, so two batches (two customers of one catalog administrator, or one customer on two
    server processes) can wait on each other's claim. PostgreSQL then aborts one of them, and every
    request of that batch, keyed or not, fails with DeadlockDetectedError instead of its own outcome.
    """
    # given: a second customer, and each batch held after its first claim until the other made its own
    other = await make_customer("Globex", balance=100, by=world.admin)
    service = await make_service("1.00")
    real_claim = requests_module.claim
    claimed_in: set[int] = set()
    both_claimed = asyncio.Event()

    async def claim_in_step(uow: Any, *args: Any) -> bool:
        won = await real_claim(uow, *args)
        if id(uow) not in claimed_in:
            claimed_in.add(id(uow))
            if len(claimed_in) == 2:
                both_claimed.set()
            # Claims in one global order make the other batch wait on the database instead of
            # claiming: then this wait ends by its timeout and the batch goes on.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1):
                    await both_claimed.wait()
        return won

    monkeypatch.setattr(requests_module, "claim", claim_in_step)
    actor, x, y = world.admin.actor, world.customer.id, other.id

    # when: each customer gets a lone first batch, then a batch of two keyed and one plain request,
    #       the keys in opposite order
    plan = [(x, None), (y, None), (x, "k1"), (y, "k2"), (x, None), (y, None), (x, "k2"), (y, "k1")]
    outcomes = await asyncio.gather(
        *(request_service(actor, c, service.id, 1, key) for c, key in plan), return_exceptions=True
    )

    # then: every request is made or, for a key the other customer took first, IDEMPOTENCY_CONFLICT
    unexpected = [
        o
        for o in outcomes
        if not isinstance(o, ServiceRequest)
        and not (isinstance(o, DomainError) and o.code == ErrorCode.IDEMPOTENCY_CONFLICT)
    ]
    assert unexpected == []
    for key in ("k1", "k2"):
        keyed = [o for (_, k), o in zip(plan, outcomes, strict=True) if k == key]
        assert sum(isinstance(o, ServiceRequest) for o in keyed) == 1
