"""The seed's walk-through through the public HTTP API: 100 → 60 → 0 → -15, then a refund."""

from __future__ import annotations

import httpx
import pytest

from models.user import Role
from tests.client import GraphQLClient
from tests.documents import CANCEL_REQUEST, CREATE_CUSTOMER, LOGIN, REQUEST_SERVICE, SET_CREDIT_MANAGEMENT
from tests.factories import make_service, make_user

GRANT = """
mutation ($customerId: ID!, $amount: Decimal!) {
  grantCredits(input: {customerId: $customerId, amount: $amount, note: "opening balance"}) {
    transaction { sequence kind amount balanceAfter note }
    customer { balance }
    userErrors { code field message }
  }
}"""
LEDGER = """
query { customer { balance transactions(first: 10) { nodes { sequence kind amount balanceAfter } } } }
"""


async def walk_through(gql: GraphQLClient, admin_email: str, admin_password: str) -> None:
    """Grant 100, request services down to -15, cancel one and see the refund."""
    # given: the catalog administrator logged in, credits on, a customer and its administrator
    login = (await gql(LOGIN, {"email": admin_email, "password": admin_password}))["login"]
    assert login["userErrors"] == [] and login["user"]["role"] == "CATALOG_ADMIN"
    root = login["token"]
    await gql(SET_CREDIT_MANAGEMENT, {"enabled": True}, token=root)
    customer = (await gql(CREATE_CUSTOMER, {"name": "Acme"}, token=root))["createCustomer"]["customer"]
    assert customer["balance"] == "0.00"
    services = [await make_service(p) for p in ("40", "60", "15")]

    # when: 100 credits are granted
    grant = (await gql(GRANT, {"customerId": customer["id"], "amount": "100"}, token=root))["grantCredits"]

    # then: the ledger has its first entry
    assert grant["userErrors"] == []
    assert grant["transaction"] == {
        "sequence": 1,
        "kind": "GRANT",
        "amount": "100.00",
        "balanceAfter": "100.00",
        "note": "opening balance",
    }
    assert grant["customer"]["balance"] == "100.00"

    # when: an end user requests services priced 40, 60 and 15
    from models.customer import Customer

    end_user = await make_user(Role.END_USER, await Customer.get(id=customer["id"]))
    balances, requests = [], []
    for service in services:
        variables = {"input": {"serviceId": str(service.id)}}
        made = (await gql(REQUEST_SERVICE, variables, token=end_user.token))["requestService"]
        assert made["userErrors"] == []
        requests.append(made["serviceRequest"])
        balances.append(made["serviceRequest"]["customer"]["balance"])

    # then: the balance went 100 → 60 → 0 → -15
    assert balances == ["60.00", "0.00", "-15.00"]

    # when: the last request is cancelled
    last = {"id": requests[-1]["id"]}
    cancelled = (await gql(CANCEL_REQUEST, last, token=end_user.token))["cancelServiceRequest"]

    # then: exactly its 15 credits come back, once
    assert cancelled["serviceRequest"]["status"] == "CANCELLED"
    assert cancelled["serviceRequest"]["customer"]["balance"] == "0.00"
    again = (await gql(CANCEL_REQUEST, last, token=end_user.token))["cancelServiceRequest"]
    assert [e["code"] for e in again["userErrors"]] == ["INVALID_STATE"]

    customer_admin = await make_user(Role.CUSTOMER_ADMIN, await Customer.get(id=customer["id"]))
    ledger = (await gql(LEDGER, token=customer_admin.token))["customer"]
    assert ledger["balance"] == "0.00"
    assert [
        (n["sequence"], n["kind"], n["amount"], n["balanceAfter"]) for n in ledger["transactions"]["nodes"]
    ] == [
        (5, "REFUND", "15.00", "0.00"),
        (4, "SERVICE_CHARGE", "-15.00", "-15.00"),
        (3, "SERVICE_CHARGE", "-60.00", "0.00"),
        (2, "SERVICE_CHARGE", "-40.00", "60.00"),
        (1, "GRANT", "100.00", "100.00"),
    ]


async def test_walk_through_in_process(gql: GraphQLClient, settings) -> None:
    from models.accounts import ensure_first_admin

    await ensure_first_admin(settings.admin_email, settings.admin_password, development=True)
    await walk_through(gql, settings.admin_email, settings.admin_password)


@pytest.mark.slow
async def test_walk_through_against_a_running_server(live_server: str, settings) -> None:
    # given: a real `python server.py` process that created the first admin from the environment
    async with httpx.AsyncClient(base_url=live_server, timeout=30) as http:
        await walk_through(GraphQLClient(http), settings.admin_email, settings.admin_password)
