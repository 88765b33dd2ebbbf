"""The spend controls through the API: who may set them, bad input, and who sees a spend limit."""

from __future__ import annotations

from typing import Any

import pytest

from models.customer import Customer
from models.user import Role, User
from tests.client import GraphQLClient, error_codes, user_errors
from tests.documents import REQUEST_SERVICE
from tests.factories import Login, World, make_user, make_world
from tests.query_counter import QueryCounter

CUSTOMER_FIELDS = """
customer {
  id minimumBalance
  autoTopUp { threshold amount priority expiresInDays maxPerDay toppedUpToday }
}
userErrors { code field message }
"""
SET_MINIMUM = f"""
mutation ($input: SetMinimumBalanceInput!) {{ setMinimumBalance(input: $input) {{ {CUSTOMER_FIELDS} }} }}
"""
SET_TOP_UP = f"""
mutation ($input: SetAutoTopUpInput!) {{ setAutoTopUp(input: $input) {{ {CUSTOMER_FIELDS} }} }}
"""
DISABLE_TOP_UP = f"""
mutation ($id: ID!) {{ disableAutoTopUp(customerId: $id) {{ {CUSTOMER_FIELDS} }} }}
"""
SET_LIMIT = """
mutation ($input: SetSpendLimitInput!) {
  setSpendLimit(input: $input) {
    user { id spendLimit { amount period spent resetsAt } }
    userErrors { code field message }
  }
}"""
VIEWER_LIMIT = "{ viewer { id spendLimit { amount period spent } } }"
NODE_LIMIT = """
query ($id: ID!) { node(id: $id) { ... on User { id spendLimit { amount period spent } } } }
"""
WITHDRAW = """
mutation ($input: BalanceChangeInput!) {
  withdrawCredits(input: $input) { transaction { id } userErrors { code field } }
}"""


@pytest.fixture
async def world() -> World:
    """Credits on, a catalog administrator, a 1.00 service, a customer "shop" with 100.00 and its people."""
    return await make_world("shop", price="1.00", balance=100)


def top_up_input(world: World, **overrides: Any) -> dict[str, Any]:
    """A valid setAutoTopUp input for the first customer, with `overrides`."""
    return {"customerId": world.cid, "threshold": "50.00", "amount": "100.00", **overrides}


async def test_the_catalog_administrator_sets_the_floor_and_the_top_up(
    gql: GraphQLClient, world: World
) -> None:
    # given: the catalog administrator
    token = world.admin.token

    # when: it sets a floor of -50.00, then a top-up rule, then turns the rule off
    floor = await gql(SET_MINIMUM, {"input": {"customerId": world.cid, "minimumBalance": "-50"}}, token=token)
    rule = await gql(
        SET_TOP_UP, {"input": top_up_input(world, priority=10, expiresInDays=30, maxPerDay=2)}, token=token
    )
    off = await gql(DISABLE_TOP_UP, {"id": world.cid}, token=token)

    # then: each payload shows the customer as it left it
    assert floor["setMinimumBalance"]["customer"]["minimumBalance"] == "-50.00"
    assert rule["setAutoTopUp"]["customer"]["autoTopUp"] == {
        "threshold": "50.00",
        "amount": "100.00",
        "priority": 10,
        "expiresInDays": 30,
        "maxPerDay": 2,
        "toppedUpToday": 0,
    }
    assert off["disableAutoTopUp"] == {
        "customer": {"id": world.cid, "minimumBalance": "-50.00", "autoTopUp": None},
        "userErrors": [],
    }


async def test_the_top_up_rule_defaults_to_priority_50_no_expiry_and_3_a_day(
    gql: GraphQLClient, world: World
) -> None:
    # when: only threshold and amount are given
    payload = (await gql(SET_TOP_UP, {"input": top_up_input(world)}, token=world.admin.token))["setAutoTopUp"]

    # then: the contract's defaults
    rule = payload["customer"]["autoTopUp"]
    assert (rule["priority"], rule["expiresInDays"], rule["maxPerDay"]) == (50, None, 3)


@pytest.mark.parametrize("who", ["customer_admin", "end_user"])
async def test_only_catalog_administrators_set_the_floor_and_the_top_up(
    gql: GraphQLClient, world: World, who: str
) -> None:
    # given: a customer administrator or end user of the customer
    token = getattr(world, who).token

    # when: it tries each of the three mutations on its own customer
    bodies = [
        await gql.raw(SET_MINIMUM, {"input": {"customerId": world.cid, "minimumBalance": "0"}}, token=token),
        await gql.raw(SET_TOP_UP, {"input": top_up_input(world)}, token=token),
        await gql.raw(DISABLE_TOP_UP, {"id": world.cid}, token=token),
    ]

    # then: FORBIDDEN each time, and nothing changed
    assert [error_codes(body) for body in bodies] == [["FORBIDDEN"]] * 3
    customer = await Customer.get(id=world.customer.id)
    assert customer.minimum_balance is None and customer.top_up_threshold is None


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"amount": "0"}, "INVALID_INPUT", "amount"),
        ({"amount": "-1.00"}, "INVALID_INPUT", "amount"),
        ({"amount": "abc"}, "INVALID_AMOUNT", "amount"),
        ({"threshold": "1.234"}, "INVALID_AMOUNT", "threshold"),
        ({"maxPerDay": 0}, "INVALID_INPUT", "maxPerDay"),
        ({"maxPerDay": 25}, "INVALID_INPUT", "maxPerDay"),
        ({"expiresInDays": 0}, "INVALID_INPUT", "expiresInDays"),
        ({"expiresInDays": 3651}, "INVALID_INPUT", "expiresInDays"),
        ({"priority": -1}, "INVALID_INPUT", "priority"),
        ({"priority": 101}, "INVALID_INPUT", "priority"),
        ({"customerId": "nope"}, "NOT_FOUND", "customerId"),
    ],
)
async def test_a_top_up_rule_out_of_range_changes_nothing(
    gql: GraphQLClient, world: World, overrides: dict[str, Any], code: str, field: str
) -> None:
    # when: the catalog administrator sends a rule with one bad argument
    payload = (await gql(SET_TOP_UP, {"input": top_up_input(world, **overrides)}, token=world.admin.token))[
        "setAutoTopUp"
    ]

    # then: that argument's error, the customer null, and no rule
    assert user_errors(payload) == [(code, ["input", field])]
    assert payload["customer"] is None
    assert (await Customer.get(id=world.customer.id)).top_up_threshold is None


@pytest.mark.parametrize(
    ("minimum", "code"),
    [("abc", "INVALID_AMOUNT"), ("1.234", "INVALID_AMOUNT"), ("1000000000000", "INVALID_AMOUNT")],
)
async def test_a_bad_minimum_balance_changes_nothing(
    gql: GraphQLClient, world: World, minimum: str, code: str
) -> None:
    # when: the catalog administrator sends a malformed floor
    body = await gql(
        SET_MINIMUM, {"input": {"customerId": world.cid, "minimumBalance": minimum}}, token=world.admin.token
    )

    # then: INVALID_AMOUNT on it, nothing set
    assert user_errors(body["setMinimumBalance"]) == [(code, ["input", "minimumBalance"])]
    assert (await Customer.get(id=world.customer.id)).minimum_balance is None


async def test_an_unknown_customer_is_not_found(gql: GraphQLClient, world: World) -> None:
    # given: an id that is no customer's (the catalog administrator's own user id)
    unknown = str(world.admin.user.id)

    # when: each customer mutation names it
    minimum = await gql(
        SET_MINIMUM, {"input": {"customerId": unknown, "minimumBalance": "0"}}, token=world.admin.token
    )
    off = await gql(DISABLE_TOP_UP, {"id": unknown}, token=world.admin.token)

    # then: NOT_FOUND on customerId
    assert user_errors(minimum["setMinimumBalance"]) == [("NOT_FOUND", ["input", "customerId"])]
    assert user_errors(off["disableAutoTopUp"]) == [("NOT_FOUND", ["customerId"])]


# --- spend limits ------------------------------------------------------------------------------


async def set_limit(gql: GraphQLClient, by: Login, user: Login, **fields: Any) -> dict[str, Any]:
    """setSpendLimit on `user` by `by`; its payload."""
    variables = {"input": {"userId": str(user.user.id), **fields}}
    return (await gql(SET_LIMIT, variables, token=by.token))["setSpendLimit"]


async def test_a_customer_administrator_limits_a_user_of_its_customer(
    gql: GraphQLClient, world: World
) -> None:
    # when: the customer administrator limits its end user to 20.00 a day
    payload = await set_limit(gql, world.customer_admin, world.end_user, amount="20", period="DAY")

    # then: the limit, nothing spent yet; a null amount removes it again
    assert payload["userErrors"] == []
    limit = payload["user"]["spendLimit"]
    assert (limit["amount"], limit["period"], limit["spent"]) == ("20.00", "DAY", "0.00")
    assert limit["resetsAt"].endswith("T00:00:00+00:00")
    removed = await set_limit(gql, world.customer_admin, world.end_user, amount=None)
    assert removed["user"]["spendLimit"] is None


async def test_another_customers_user_is_not_found(gql: GraphQLClient, world: World) -> None:
    # given: a second customer's end user, and a catalog administrator
    other = await world.add("other")
    catalog_admin = await make_user(Role.CATALOG_ADMIN)

    # when: the first customer's administrator tries to limit them
    payloads = [
        await set_limit(gql, world.customer_admin, other.end_user, amount="10"),
        await set_limit(gql, world.customer_admin, catalog_admin, amount="10"),
    ]

    # then: NOT_FOUND, as for an unknown user
    assert [user_errors(p) for p in payloads] == [[("NOT_FOUND", ["input", "userId"])]] * 2
    assert [p["user"] for p in payloads] == [None, None]


async def test_an_end_user_may_not_set_a_limit(gql: GraphQLClient, world: World) -> None:
    # when: the end user tries to lift its own limit
    body = await gql.raw(
        SET_LIMIT,
        {"input": {"userId": str(world.end_user.user.id), "amount": None}},
        token=world.end_user.token,
    )

    # then: FORBIDDEN
    assert error_codes(body) == ["FORBIDDEN"]


@pytest.mark.parametrize(("amount", "code"), [("-0.01", "INVALID_INPUT"), ("abc", "INVALID_AMOUNT")])
async def test_a_bad_limit_changes_nothing(gql: GraphQLClient, world: World, amount: str, code: str) -> None:
    # when: the catalog administrator sends a bad amount
    payload = await set_limit(gql, world.admin, world.end_user, amount=amount)

    # then: its error on amount, no limit
    assert user_errors(payload) == [(code, ["input", "amount"])]
    assert (await User.get(id=world.end_user.user.id)).spend_limit is None


async def test_a_limit_is_seen_by_its_user_and_those_who_may_set_it(gql: GraphQLClient, world: World) -> None:
    # given: the end user limited to 30.00 a month, 10.00 spent; a second end user of the customer
    await set_limit(gql, world.admin, world.end_user, amount="30")
    request = {"customerId": world.cid, "serviceId": world.service_id, "quantity": 10}
    await gql(REQUEST_SERVICE, {"input": request}, token=world.end_user.token)
    peer = await make_user(Role.END_USER, world.customer)
    variables = {"id": str(world.end_user.user.id)}

    # when: the user itself, its customer administrator, the catalog administrator and the peer look
    own = (await gql(VIEWER_LIMIT, token=world.end_user.token))["viewer"]["spendLimit"]
    by_admin = (await gql(NODE_LIMIT, variables, token=world.customer_admin.token))["node"]["spendLimit"]
    by_catalog = (await gql(NODE_LIMIT, variables, token=world.admin.token))["node"]["spendLimit"]
    by_peer = (await gql(NODE_LIMIT, variables, token=peer.token))["node"]

    # then: the first three see it with what was spent; the peer does not see the user at all
    expected = {"amount": "30.00", "period": "MONTH", "spent": "10.00"}
    assert own == by_admin == by_catalog == expected
    assert by_peer is None


async def test_refusals_come_back_as_user_errors_with_the_request_null(
    gql: GraphQLClient, world: World
) -> None:
    # given: a floor of 0.00 and the end user limited to 30.00
    await gql(
        SET_MINIMUM, {"input": {"customerId": world.cid, "minimumBalance": "0"}}, token=world.admin.token
    )
    await set_limit(gql, world.admin, world.end_user, amount="30")

    # when: the end user requests 40.00, the administrator 101.00, and 101.00 is withdrawn
    def request(quantity: int) -> dict[str, Any]:
        return {"input": {"customerId": world.cid, "serviceId": world.service_id, "quantity": quantity}}

    over_limit = await gql(REQUEST_SERVICE, request(40), token=world.end_user.token)
    over_floor = await gql(REQUEST_SERVICE, request(101), token=world.customer_admin.token)
    withdrawal = await gql(
        WITHDRAW, {"input": {"customerId": world.cid, "amount": "101"}}, token=world.admin.token
    )

    # then: SPEND_LIMIT_EXCEEDED, INSUFFICIENT_CREDITS twice, each with its object null
    assert [e["code"] for e in over_limit["requestService"]["userErrors"]] == ["SPEND_LIMIT_EXCEEDED"]
    assert over_limit["requestService"]["serviceRequest"] is None
    assert [e["code"] for e in over_floor["requestService"]["userErrors"]] == ["INSUFFICIENT_CREDITS"]
    assert over_floor["requestService"]["serviceRequest"] is None
    assert user_errors(withdrawal["withdrawCredits"]) == [("INSUFFICIENT_CREDITS", None)]
    assert withdrawal["withdrawCredits"]["transaction"] is None
    assert (await Customer.get(id=world.customer.id)).balance == 10000


USERS_PAGE = """
query ($id: ID!, $first: Int!) {
  customer(id: $id) { users(first: $first) { nodes { id spendLimit { amount spent } } } }
}"""


async def test_a_page_of_limited_users_costs_the_same_queries_for_3_as_for_12(
    gql: GraphQLClient, world: World, queries: QueryCounter
) -> None:
    # given: 12 more end users, each limited to 5.00 a day
    for _ in range(12):
        user = await make_user(Role.END_USER, world.customer)
        await set_limit(gql, world.admin, user, amount="5", period="DAY")
    variables = {"id": world.cid}

    # when: the catalog administrator reads 3, then 14 users with their limits
    with queries.counting() as three:
        small = await gql(USERS_PAGE, {**variables, "first": 3}, token=world.admin.token)
    with queries.counting() as all_of_them:
        large = await gql(USERS_PAGE, {**variables, "first": 14}, token=world.admin.token)

    # then: the same statements (one for all the limits' spending), and the limits as set
    assert len(all_of_them) == len(three), all_of_them
    nodes = large["customer"]["users"]["nodes"]
    assert len(small["customer"]["users"]["nodes"]) == 3 and len(nodes) == 14
    assert sorted(n["spendLimit"]["amount"] for n in nodes if n["spendLimit"]) == ["5.00"] * 12
