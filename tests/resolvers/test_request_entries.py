"""ServiceRequest.transactions: a request's charge and refund entries, for the request's page; the
ledger is the administrators', so end users get none."""

from __future__ import annotations

from typing import Any

from tests.documents import CANCEL_REQUEST, REQUEST_SERVICE
from tests.factories import make_world

ENTRIES = """
query ($id: ID!) { serviceRequest(id: $id) { status transactions { sequence kind amount balanceAfter } } }"""


async def test_a_cancelled_request_lists_its_charge_and_its_refund(gql: Any) -> None:
    # given a request of 40 credits from 100, cancelled by its end user
    world = await make_world("Entries Oy", price="40.00", balance=100)
    made = await gql(REQUEST_SERVICE, {"input": {"serviceId": world.service_id}}, token=world.end_user.token)
    request_id = made["requestService"]["serviceRequest"]["id"]
    charged = await gql(ENTRIES, {"id": request_id}, token=world.customer_admin.token)
    await gql(CANCEL_REQUEST, {"id": request_id}, token=world.end_user.token)

    # when the customer administrator and the end user read it
    seen = await gql(ENTRIES, {"id": request_id}, token=world.customer_admin.token)
    by_end_user = await gql(ENTRIES, {"id": request_id}, token=world.end_user.token)

    # then before the cancel it had its charge; after, its charge and refund, in sequence order
    assert charged["serviceRequest"]["transactions"] == [
        {"sequence": 2, "kind": "SERVICE_CHARGE", "amount": "-40.00", "balanceAfter": "60.00"}
    ]
    assert seen["serviceRequest"]["status"] == "CANCELLED"
    assert seen["serviceRequest"]["transactions"] == [
        {"sequence": 2, "kind": "SERVICE_CHARGE", "amount": "-40.00", "balanceAfter": "60.00"},
        {"sequence": 3, "kind": "REFUND", "amount": "40.00", "balanceAfter": "100.00"},
    ]
    # and the end user sees its request, not the ledger's entries
    assert by_end_user["serviceRequest"]["transactions"] == []


async def test_a_free_request_has_no_entries(gql: Any) -> None:
    # given a request of a free service
    world = await make_world("Free Oy", price="0.00", balance=10)
    made = await gql(REQUEST_SERVICE, {"input": {"serviceId": world.service_id}}, token=world.end_user.token)
    request_id = made["requestService"]["serviceRequest"]["id"]

    # when the catalog administrator reads it, then nothing was written to the ledger
    seen = await gql(ENTRIES, {"id": request_id}, token=world.admin.token)
    assert seen["serviceRequest"]["transactions"] == []
