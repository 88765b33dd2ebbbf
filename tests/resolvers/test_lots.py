"""Credit lots through the public GraphQL API: grant terms, allocations, Customer.lots, updateCreditLot."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from models.ledger import CreditTransaction
from models.lots import CreditLot
from tests.client import GraphQLClient, user_errors
from tests.factories import Login, make_world

LOT = "id amount remaining priority expiresAt status transaction { sequence }"
GRANT = f"""
mutation ($input: BalanceChangeInput!) {{
  grantCredits(input: $input) {{
    transaction {{ sequence amount allocations {{ amount lot {{ {LOT} }} }} }}
    userErrors {{ code field }}
  }}
}}"""
WITHDRAW = """
mutation ($input: BalanceChangeInput!) {
  withdrawCredits(input: $input) {
    transaction { allocations { amount lot { id } } } userErrors { code field }
  }
}"""
LOTS = f"""
query ($id: ID!, $status: CreditLotStatus, $first: Int, $after: String) {{
  customer(id: $id) {{
    lots(status: $status, first: $first, after: $after) {{
      nodes {{ {LOT} }} pageInfo {{ hasNextPage endCursor }}
    }}
  }}
}}"""
UPDATE = f"""
mutation ($id: ID!, $input: UpdateCreditLotInput!) {{
  updateCreditLot(id: $id, input: $input) {{ lot {{ {LOT} }} userErrors {{ code field }} }}
}}"""


def _in(days: float) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=days)).isoformat()


async def _grant(
    gql: GraphQLClient, admin: Login, customer_id: str, amount: str, **terms: Any
) -> dict[str, Any]:
    variables = {"input": {"customerId": customer_id, "amount": amount, **terms}}
    return (await gql(GRANT, variables, token=admin.token))["grantCredits"]


async def _lots(gql: GraphQLClient, token: str, customer_id: str, **arguments: Any) -> dict[str, Any]:
    return (await gql(LOTS, {"id": customer_id, **arguments}, token=token))["customer"]["lots"]


async def test_a_grant_with_terms_answers_its_lot_in_its_allocations(gql: GraphQLClient) -> None:
    # given: a customer without credits
    world = await make_world("shop")
    expires = _in(10)

    # when: 25.00 is granted at priority 5, expiring in ten days
    payload = await _grant(gql, world.admin, world.cid, "25.00", priority=5, expiresAt=expires)

    # then: one allocation, to the new lot, which carries the terms
    assert payload["userErrors"] == []
    [part] = payload["transaction"]["allocations"]
    assert part["amount"] == "25.00"
    lot = part["lot"]
    assert (lot["amount"], lot["remaining"], lot["priority"], lot["status"]) == (
        "25.00",
        "25.00",
        5,
        "ACTIVE",
    )
    assert dt.datetime.fromisoformat(lot["expiresAt"]) == dt.datetime.fromisoformat(expires)
    assert lot["transaction"]["sequence"] == payload["transaction"]["sequence"]


async def test_a_withdrawal_beyond_the_lots_shows_the_debt_part(gql: GraphQLClient) -> None:
    # given: 10.00 in one lot
    world = await make_world("shop")
    lot_id = (await _grant(gql, world.admin, world.cid, "10.00"))["transaction"]["allocations"][0]["lot"][
        "id"
    ]

    # when: 15.00 is withdrawn
    variables = {"input": {"customerId": world.cid, "amount": "15.00"}}
    payload = (await gql(WITHDRAW, variables, token=world.admin.token))["withdrawCredits"]

    # then: -10.00 from the lot and -5.00 of debt
    assert payload["transaction"]["allocations"] == [
        {"amount": "-10.00", "lot": {"id": lot_id}},
        {"amount": "-5.00", "lot": None},
    ]


@pytest.mark.parametrize(
    ("operation", "terms", "field"),
    [
        ("grantCredits", {"priority": 101}, "priority"),
        ("grantCredits", {"priority": -1}, "priority"),
        ("grantCredits", {"expiresAt": _in(-1)}, "expiresAt"),
        ("grantCredits", {"expiresAt": _in(365 * 101)}, "expiresAt"),
        ("withdrawCredits", {"priority": 50}, "priority"),
        ("withdrawCredits", {"expiresAt": _in(1)}, "expiresAt"),
    ],
)
async def test_bad_lot_terms_are_invalid_input_on_their_field_and_write_nothing(
    gql: GraphQLClient, operation: str, terms: dict[str, Any], field: str
) -> None:
    # given: a customer
    world = await make_world("shop")

    # when: a balance change carries a bad term
    document = GRANT if operation == "grantCredits" else WITHDRAW
    variables = {"input": {"customerId": world.cid, "amount": "5.00", **terms}}
    payload = (await gql(document, variables, token=world.admin.token))[operation]

    # then: INVALID_INPUT on ["input", field], and no entry
    assert user_errors(payload) == [("INVALID_INPUT", ["input", field])]
    assert await CreditTransaction.filter(customer_id=world.customer.id).count() == 0


async def test_lots_list_in_consumption_order_then_spent_ones_newest_first_in_pages(
    gql: GraphQLClient,
) -> None:
    # given: five grants, two of them then spent entirely
    world = await make_world("shop", price="3.00")
    grant = world.admin, world.cid
    await _grant(gql, *grant, "1.00", priority=1)  # spent first
    await _grant(gql, *grant, "2.00", priority=2)  # spent next
    await _grant(gql, *grant, "4.00")  # no expiry: after the one that expires
    await _grant(gql, *grant, "5.00", expiresAt=_in(30))
    await _grant(gql, *grant, "6.00", priority=0, expiresAt=_in(60))
    withdraw = {"input": {"customerId": world.cid, "amount": "9.00"}}
    await gql(WITHDRAW, withdraw, token=world.admin.token)  # 6.00 from priority 0, then 1.00, 2.00

    # when: the lots are read two at a time
    first = await _lots(gql, world.admin.token, world.cid, first=2)
    second = await _lots(gql, world.admin.token, world.cid, first=2, after=first["pageInfo"]["endCursor"])
    third = await _lots(gql, world.admin.token, world.cid, first=2, after=second["pageInfo"]["endCursor"])

    # then: ACTIVE ones in consumption order, then the DEPLETED ones newest first
    amounts = [(n["amount"], n["status"]) for page in (first, second, third) for n in page["nodes"]]
    assert amounts == [
        ("5.00", "ACTIVE"),
        ("4.00", "ACTIVE"),
        ("6.00", "DEPLETED"),
        ("2.00", "DEPLETED"),
        ("1.00", "DEPLETED"),
    ]
    assert [p["pageInfo"]["hasNextPage"] for p in (first, second, third)] == [True, True, False]
    # and: a status filter keeps only those
    active = await _lots(gql, world.admin.token, world.cid, status="ACTIVE")
    assert [n["amount"] for n in active["nodes"]] == ["5.00", "4.00"]
    # and: end users see none
    assert (await _lots(gql, world.end_user.token, world.cid))["nodes"] == []


async def test_update_credit_lot_changes_terms_removes_expiry_and_refuses_a_spent_lot(
    gql: GraphQLClient,
) -> None:
    # given: an ACTIVE lot expiring in a day, and a DEPLETED one
    world = await make_world("shop")
    active = await _grant(gql, world.admin, world.cid, "5.00", expiresAt=_in(1))
    active_id = active["transaction"]["allocations"][0]["lot"]["id"]
    spent = await _grant(gql, world.admin, world.cid, "1.00", priority=0)
    spent_id = spent["transaction"]["allocations"][0]["lot"]["id"]
    await gql(WITHDRAW, {"input": {"customerId": world.cid, "amount": "1.00"}}, token=world.admin.token)
    admin = world.admin.token

    # when: the priority changes, then the expiry is removed
    changed = (await gql(UPDATE, {"id": active_id, "input": {"priority": 7}}, token=admin))["updateCreditLot"]
    removed = (await gql(UPDATE, {"id": active_id, "input": {"expiresAt": None}}, token=admin))[
        "updateCreditLot"
    ]

    # then: each change keeps the other term; no entry is written
    assert (changed["lot"]["priority"], changed["lot"]["expiresAt"] is not None) == (7, True)
    assert (removed["lot"]["priority"], removed["lot"]["expiresAt"]) == (7, None)
    assert await CreditTransaction.filter(customer_id=world.customer.id).count() == 3
    # and: a past date, a spent lot, an unknown lot and a customer administrator are refused
    past = await gql(UPDATE, {"id": active_id, "input": {"expiresAt": _in(-1)}}, token=admin)
    assert user_errors(past["updateCreditLot"]) == [("INVALID_INPUT", ["input", "expiresAt"])]
    depleted = await gql(UPDATE, {"id": spent_id, "input": {"priority": 1}}, token=admin)
    assert user_errors(depleted["updateCreditLot"]) == [("INVALID_STATE", ["id"])]
    unknown = await gql(UPDATE, {"id": "nope", "input": {"priority": 1}}, token=admin)
    assert user_errors(unknown["updateCreditLot"]) == [("NOT_FOUND", ["id"])]
    body = await gql.raw(
        UPDATE, {"id": active_id, "input": {"priority": 1}}, token=world.customer_admin.token
    )
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await CreditLot.get(id=active_id)).priority == 7


async def test_an_idempotency_key_replayed_with_other_lot_terms_conflicts(gql: GraphQLClient) -> None:
    # given: a grant at priority 5 under a key
    world = await make_world("shop")
    await _grant(gql, world.admin, world.cid, "5.00", priority=5, idempotencyKey="k1")

    # when: the key comes again with priority 6
    payload = await _grant(gql, world.admin, world.cid, "5.00", priority=6, idempotencyKey="k1")

    # then: a conflict, and one entry
    assert user_errors(payload) == [("IDEMPOTENCY_CONFLICT", ["input", "idempotencyKey"])]
    assert await CreditTransaction.filter(customer_id=world.customer.id).count() == 1


async def test_another_customers_administrator_reads_none_of_its_lots(gql: GraphQLClient) -> None:
    # given: a lot granted to "shop", and a second customer "rival"
    world = await make_world("shop", "rival")
    await _grant(gql, world.admin, world.cid, "5.00", priority=3)

    # when: shop's administrator and rival's ask for shop's lots
    own = await gql(LOTS, {"id": world.cid}, token=world.customer_admin.token)
    foreign = await gql(LOTS, {"id": world.cid}, token=world.tenants["rival"].admin.token)

    # then: shop's administrator reads its lot; for rival's, shop's customer is not there at all
    assert [n["priority"] for n in own["customer"]["lots"]["nodes"]] == [3]
    assert foreign["customer"] is None
