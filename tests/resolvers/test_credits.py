"""grantCredits and withdrawCredits through the public GraphQL API."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from models.user import Role
from tests.client import GraphQLClient, error_codes
from tests.documents import CUSTOMER_LEDGER
from tests.factories import Login, enable_credits, make_catalog_admin, make_customer, make_user

TRANSACTION_FIELDS = """
    transaction {
      id sequence kind amount balanceAfter note
      serviceRequest { id }
      actor { id role }
    }
    customer { id balance }
    userErrors { code field message }
"""
GRANT = f"""
mutation ($input: BalanceChangeInput!) {{ grantCredits(input: $input) {{ {TRANSACTION_FIELDS} }} }}
"""
WITHDRAW = f"""
mutation ($input: BalanceChangeInput!) {{ withdrawCredits(input: $input) {{ {TRANSACTION_FIELDS} }} }}
"""
GRANT_INLINE_FLOAT = """
mutation ($customerId: ID!) {
  grantCredits(input: {customerId: $customerId, amount: 1.5}) {
    transaction { id } customer { balance } userErrors { code field message }
  }
}"""
GRANT_INLINE_TRUE = """
mutation ($customerId: ID!) {
  grantCredits(input: {customerId: $customerId, amount: true}) {
    transaction { id } customer { balance } userErrors { code field message }
  }
}"""
WITHDRAW_INLINE_FLOAT = """
mutation ($customerId: ID!) {
  withdrawCredits(input: {customerId: $customerId, amount: 1.5}) {
    transaction { id } customer { balance } userErrors { code field message }
  }
}"""

MUTATIONS = {"grantCredits": GRANT, "withdrawCredits": WITHDRAW}
BAD_AMOUNTS = [
    0,
    "0",
    "0.00",
    "-5",
    -5,
    "1.234",
    "NaN",
    "1e400",
    10**12,
    "1000000000000",
    "abc",
    "",
    1.5,
    True,
]


async def ledger(gql: GraphQLClient, admin: Login, customer_id: object) -> dict[str, Any]:
    """The customer's balance and full ledger as the catalog administrator reads them."""
    return (await gql(CUSTOMER_LEDGER, {"id": str(customer_id)}, token=admin.token))["customer"]


async def change(gql: GraphQLClient, operation: str, admin: Login, input: dict[str, Any]) -> dict[str, Any]:
    """Run grantCredits or withdrawCredits and return its payload."""
    return (await gql(MUTATIONS[operation], {"input": input}, token=admin.token))[operation]


@pytest.fixture
async def admin() -> Login:
    """A catalog administrator with credit management on."""
    await enable_credits()
    return await make_catalog_admin()


async def test_grant_returns_the_entry_and_the_new_balance(gql, admin):
    """A grant appends a GRANT entry and returns it with the customer's new balance."""
    # given: a customer with an empty ledger
    customer = await make_customer("Acme")

    # when: 100 credits are granted with a note
    payload = await change(
        gql, "grantCredits", admin, {"customerId": str(customer.id), "amount": "100", "note": "opening"}
    )

    # then: the entry, signed positive, and the balance
    assert payload["userErrors"] == []
    transaction = payload["transaction"]
    assert uuid.UUID(transaction.pop("id"))
    assert transaction == {
        "sequence": 1,
        "kind": "GRANT",
        "amount": "100.00",
        "balanceAfter": "100.00",
        "note": "opening",
        "serviceRequest": None,
        "actor": {"id": str(admin.user.id), "role": "CATALOG_ADMIN"},
    }
    assert payload["customer"] == {"id": str(customer.id), "balance": "100.00"}
    after = await ledger(gql, admin, customer.id)
    assert after["balance"] == "100.00"
    assert [(t["sequence"], t["kind"], t["amount"]) for t in after["transactions"]["nodes"]] == [
        (1, "GRANT", "100.00")
    ]


async def test_withdrawal_amount_is_signed_negative(gql, admin):
    """A withdrawal of 40 from 100 is an entry of "-40.00" leaving "60.00"."""
    # given: a customer with 100 credits
    customer = await make_customer(balance=100, by=admin)

    # when: 40 are withdrawn
    payload = await change(
        gql, "withdrawCredits", admin, {"customerId": str(customer.id), "amount": 40, "note": "correction"}
    )

    # then: the second entry is a WITHDRAWAL of -40.00
    assert payload["userErrors"] == []
    transaction = payload["transaction"]
    assert transaction["sequence"] == 2
    assert transaction["kind"] == "WITHDRAWAL"
    assert transaction["amount"] == "-40.00"
    assert transaction["balanceAfter"] == "60.00"
    assert transaction["note"] == "correction"
    assert transaction["actor"] == {"id": str(admin.user.id), "role": "CATALOG_ADMIN"}
    assert payload["customer"] == {"id": str(customer.id), "balance": "60.00"}


async def test_grant_without_note_has_null_note(gql, admin):
    """The note is optional and reads back as null."""
    # given: a customer
    customer = await make_customer()

    # when: credits are granted without a note, in cents
    payload = await change(gql, "grantCredits", admin, {"customerId": str(customer.id), "amount": "0.01"})

    # then: the note is null and a hundredth was granted
    assert payload["userErrors"] == []
    assert payload["transaction"]["note"] is None
    assert payload["transaction"]["amount"] == "0.01"
    assert payload["customer"]["balance"] == "0.01"


async def test_withdrawal_may_take_the_balance_below_zero_without_limit(gql, admin):
    """100 → -50 → -1000000000049.99: no floor on withdrawals."""
    # given: a customer with 100 credits
    customer = await make_customer(balance=100, by=admin)
    cid = str(customer.id)

    # when: 150 are withdrawn, then the largest allowed amount
    first = await change(gql, "withdrawCredits", admin, {"customerId": cid, "amount": "150"})
    second = await change(gql, "withdrawCredits", admin, {"customerId": cid, "amount": "999999999999.99"})

    # then: both succeed and the balance is far below zero
    assert first["userErrors"] == [] and second["userErrors"] == []
    assert first["transaction"]["balanceAfter"] == "-50.00"
    assert second["transaction"]["amount"] == "-999999999999.99"
    assert second["transaction"]["balanceAfter"] == "-1000000000049.99"
    after = await ledger(gql, admin, cid)
    assert after["balance"] == "-1000000000049.99"
    assert [t["balanceAfter"] for t in after["transactions"]["nodes"]] == [
        "-1000000000049.99",
        "-50.00",
        "100.00",
    ]


async def test_a_grant_brings_a_negative_balance_back(gql, admin):
    """Grants and withdrawals add up exactly in hundredths."""
    # given: a customer at -15.50
    customer = await make_customer(by=admin)
    cid = str(customer.id)
    await change(gql, "withdrawCredits", admin, {"customerId": cid, "amount": "15.5"})

    # when: 15.51 is granted
    payload = await change(gql, "grantCredits", admin, {"customerId": cid, "amount": "15.51"})

    # then: the balance is one hundredth
    assert payload["transaction"]["balanceAfter"] == "0.01"
    assert payload["customer"]["balance"] == "0.01"


@pytest.mark.parametrize("operation", ["grantCredits", "withdrawCredits"])
@pytest.mark.parametrize("amount", BAD_AMOUNTS, ids=repr)
async def test_bad_amount_is_invalid_amount_and_changes_nothing(gql, admin, operation, amount):
    """Zero, negatives, too many decimals, NaN, exponents, 10^12, text, floats and true are refused."""
    # given: a customer with 100 credits
    customer = await make_customer(balance=100, by=admin)
    before = await ledger(gql, admin, customer.id)

    # when: a bad amount is sent as a JSON variable
    payload = await change(gql, operation, admin, {"customerId": str(customer.id), "amount": amount})

    # then: INVALID_AMOUNT on input.amount, no object, nothing changed
    assert payload["transaction"] is None
    assert payload["customer"] is None
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
        ("INVALID_AMOUNT", ["input", "amount"])
    ]
    assert payload["userErrors"][0]["message"]
    assert await ledger(gql, admin, customer.id) == before
    assert before["balance"] == "100.00"


@pytest.mark.parametrize("document", [GRANT_INLINE_FLOAT, GRANT_INLINE_TRUE, WITHDRAW_INLINE_FLOAT])
async def test_inline_float_or_boolean_literal_is_invalid_amount(gql, admin, document):
    """`amount: 1.5` and `amount: true` written in the document are INVALID_AMOUNT, not a top-level error."""
    # given: a customer with 100 credits
    customer = await make_customer(balance=100, by=admin)
    before = await ledger(gql, admin, customer.id)

    # when: the amount is an inline float or boolean literal
    data = await gql(document, {"customerId": str(customer.id)}, token=admin.token)

    # then: INVALID_AMOUNT on input.amount and nothing changed
    (payload,) = data.values()
    assert payload["transaction"] is None
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
        ("INVALID_AMOUNT", ["input", "amount"])
    ]
    assert await ledger(gql, admin, customer.id) == before


@pytest.mark.parametrize("operation", ["grantCredits", "withdrawCredits"])
@pytest.mark.parametrize("customer_id", [str(uuid.UUID(int=0)), "random", "garbage", ""])
async def test_unknown_customer_is_not_found(gql, admin, operation, customer_id):
    """A random UUID or a malformed id is NOT_FOUND on input.customerId."""
    # given: an existing customer whose ledger must not move
    customer = await make_customer(balance=100, by=admin)
    before = await ledger(gql, admin, customer.id)
    target = str(uuid.uuid4()) if customer_id == "random" else customer_id

    # when: credits are moved for an unknown customer
    payload = await change(gql, operation, admin, {"customerId": target, "amount": "10"})

    # then: NOT_FOUND on input.customerId, nothing changed
    assert payload["transaction"] is None
    assert payload["customer"] is None
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
        ("NOT_FOUND", ["input", "customerId"])
    ]
    assert await ledger(gql, admin, customer.id) == before


@pytest.mark.parametrize("operation", ["grantCredits", "withdrawCredits"])
async def test_credit_management_off_refuses_and_changes_nothing(gql, admin, operation):
    """While credit management is off, grants and withdrawals are CREDIT_MANAGEMENT_DISABLED."""
    # given: a customer with 100 credits, then credit management turned off
    customer = await make_customer(balance=100, by=admin)
    before = await ledger(gql, admin, customer.id)
    await enable_credits(False)

    # when: credits are moved
    payload = await change(gql, operation, admin, {"customerId": str(customer.id), "amount": "10"})

    # then: CREDIT_MANAGEMENT_DISABLED and nothing changed
    assert payload["transaction"] is None
    assert payload["customer"] is None
    assert [e["code"] for e in payload["userErrors"]] == ["CREDIT_MANAGEMENT_DISABLED"]
    assert payload["userErrors"][0]["field"] is None
    assert await ledger(gql, admin, customer.id) == before


async def test_credit_management_off_on_a_fresh_install(gql):
    """A fresh install has credit management off: the first grant is refused."""
    # given: a fresh install (no setting stored) with a customer
    admin = await make_catalog_admin()
    customer = await make_customer()

    # when: credits are granted
    payload = await change(gql, "grantCredits", admin, {"customerId": str(customer.id), "amount": "10"})

    # then: refused, balance still zero with no entries
    assert [e["code"] for e in payload["userErrors"]] == ["CREDIT_MANAGEMENT_DISABLED"]
    assert await ledger(gql, admin, customer.id) == {"balance": "0.00", "transactions": {"nodes": []}}


@pytest.mark.parametrize("operation", ["grantCredits", "withdrawCredits"])
async def test_note_over_1000_characters_is_invalid_input(gql, admin, operation):
    """A note of 1001 characters is INVALID_INPUT on input.note; 1000 is accepted."""
    # given: a customer with 100 credits
    customer = await make_customer(balance=100, by=admin)
    cid = str(customer.id)
    before = await ledger(gql, admin, cid)

    # when: the note is 1001 characters long
    payload = await change(gql, operation, admin, {"customerId": cid, "amount": "1", "note": "n" * 1001})

    # then: INVALID_INPUT on input.note and nothing changed
    assert payload["transaction"] is None
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [("INVALID_INPUT", ["input", "note"])]
    assert await ledger(gql, admin, cid) == before

    # when: the note is exactly 1000 characters
    accepted = await change(gql, operation, admin, {"customerId": cid, "amount": "1", "note": "n" * 1000})

    # then: it is stored in full
    assert accepted["userErrors"] == []
    assert accepted["transaction"]["note"] == "n" * 1000


@pytest.mark.parametrize("role", [Role.CUSTOMER_ADMIN, Role.END_USER])
@pytest.mark.parametrize("operation", ["grantCredits", "withdrawCredits"])
async def test_only_catalog_administrators_move_credits(gql, admin, role, operation):
    """Customer roles calling grant/withdraw get a top-level FORBIDDEN and nothing changes."""
    # given: a customer with 100 credits and one of its users
    customer = await make_customer(balance=100, by=admin)
    user = await make_user(role, customer)
    before = await ledger(gql, admin, customer.id)

    # when: the user tries to move credits on its own customer
    body = await gql.raw(
        MUTATIONS[operation], {"input": {"customerId": str(customer.id), "amount": "10"}}, token=user.token
    )

    # then: FORBIDDEN, and the ledger is untouched
    assert error_codes(body) == ["FORBIDDEN"]
    assert await ledger(gql, admin, customer.id) == before
