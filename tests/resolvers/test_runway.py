"""The runway through the GraphQL API: Customer.runway, balanceAt, setRunwayAlert, CreditAlert.depletesAt."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from infra import clock
from models import runway_alert
from models.customer import Customer
from models.ledger import TransactionKind, post
from models.unit_of_work import unit_of_work
from tests.client import GraphQLClient, error_codes, user_errors
from tests.factories import Login, grant_lot, make_world

RUNWAY = """
query ($id: ID!) {
  customer(id: $id) { balance runwayAlertDays runway { burnRatePerDay depletesAt expiringBeforeDepletion } }
}"""
RUNWAYS = """
query { customers(first: 100) { nodes { id runway { burnRatePerDay depletesAt } } } }"""
BALANCE_AT = "query ($id: ID!, $time: DateTime!) { customer(id: $id) { balanceAt(time: $time) } }"
SET_RUNWAY_ALERT = """
mutation ($customerId: ID!, $days: Int) {
  setRunwayAlert(input: {customerId: $customerId, days: $days}) {
    customer { id runwayAlertDays } userErrors { code field }
  }
}"""
ALERTS = """
query ($id: ID!) { customer(id: $id) { alerts(first: 10) { nodes { kind balance depletesAt } } } }"""
DAY = dt.timedelta(days=1)


async def _charge(customer: Customer, cents: int, at: dt.datetime | None = None) -> None:
    with clock.set_to(at or dt.datetime.now(dt.UTC)):
        async with unit_of_work() as uow:
            await post(uow, customer.id, cents, TransactionKind.SERVICE_CHARGE, actor=None)


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat()


async def _set(gql: GraphQLClient, login: Login, customer_id: str, days: Any) -> dict[str, Any]:
    variables = {"customerId": customer_id, "days": days}
    return (await gql(SET_RUNWAY_ALERT, variables, token=login.token))["setRunwayAlert"]


async def test_the_runway_is_readable_by_whoever_reads_the_balance(gql: GraphQLClient) -> None:
    # given: the contract's example: 80.00 expiring in a day, 20.00 never, 70.00 charged this week
    # (from the lot of 150.00 that expires first)
    world = await make_world("shop")
    now = dt.datetime.now(dt.UTC)
    await grant_lot(world.customer, 15_000, now + DAY, by=world.admin)
    await grant_lot(world.customer, 2_000, None, by=world.admin)
    await _charge(world.customer, 7_000, now - DAY)

    # when: the catalog administrator, the customer administrator and an end user ask at one moment
    with clock.set_to(now):
        answers = [
            (await gql(RUNWAY, {"id": world.cid}, token=login.token))["customer"]
            for login in (world.admin, world.customer_admin, world.end_user)
        ]

    # then: all see the same runway: 10 used from the first lot, 70 expires, the 20 last 2 more days
    assert all(answer == answers[0] for answer in answers)
    assert answers[0]["balance"] == "100.00"
    runway = answers[0]["runway"]
    assert (runway["burnRatePerDay"], runway["expiringBeforeDepletion"]) == ("10.00", "70.00")
    assert dt.datetime.fromisoformat(runway["depletesAt"]) == now + 3 * DAY


async def test_another_customers_user_cannot_read_its_runway(gql: GraphQLClient) -> None:
    # given: two customers
    world = await make_world("shop", "other")

    # when: the other customer's administrator asks for the first one's runway
    body = await gql.raw(RUNWAY, {"id": world.cid}, token=world.tenants["other"].admin.token)

    # then: as for its balance, no such customer
    assert body["data"]["customer"] is None or error_codes(body) == ["NOT_FOUND"]


async def test_runways_of_a_page_of_customers_cost_one_statement(gql: GraphQLClient, queries: Any) -> None:
    # given: five customers with lots and charges
    world = await make_world("a", "b", "c", "d", "e")
    for tenant in world.tenants.values():
        await grant_lot(tenant.customer, 10_000, None, by=world.admin)
        await _charge(tenant.customer, 700)

    # when: the catalog administrator lists them with their runways
    with queries.counting() as sent:
        data = await gql(RUNWAYS, token=world.admin.token)

    # then: every runway is there, read with one statement besides the page's own
    assert {n["runway"]["burnRatePerDay"] for n in data["customers"]["nodes"]} == {"1.00"}
    runway_reads = [q for q in sent if "credit_lot" in q or "SUM(" in q.upper()]
    assert len(runway_reads) == 1


async def test_balance_at_answers_the_balance_after_the_last_entry_at_or_before_the_time(
    gql: GraphQLClient,
) -> None:
    # given: 100.00 granted, then 30.00 charged a day later
    world = await make_world("shop")
    start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    with clock.set_to(start):
        await grant_lot(world.customer, 10_000, None, by=world.admin)
    await _charge(world.customer, 3_000, start + DAY)

    async def at(moment: dt.datetime) -> str:
        data = await gql(BALANCE_AT, {"id": world.cid, "time": _iso(moment)}, token=world.end_user.token)
        return data["customer"]["balanceAt"]

    # when / then: before the first entry, at each, between them
    assert await at(start - DAY) == "0.00"
    assert await at(start) == "100.00"
    assert await at(start + DAY / 2) == "100.00"
    assert await at(start + DAY) == "70.00"


async def test_balances_at_a_moment_for_a_page_of_customers_cost_one_statement(
    gql: GraphQLClient, queries: Any
) -> None:
    # given: three customers granted 10.00, 20.00 and 30.00 at START, a fourth without entries
    world = await make_world("a", "b", "c", "d")
    start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    with clock.set_to(start):
        for n, key in enumerate("abc", start=1):
            await grant_lot(world.tenants[key].customer, 1_000 * n, None, by=world.admin)
    document = 'query { customers(first: 10) { nodes { name balanceAt(time: "2026-11-02T00:00:00") } } }'

    # when: the catalog administrator lists them with their balance a day later
    with queries.counting() as sent:
        data = await gql(document, token=world.admin.token)

    # then: each balance, read with one statement
    balances = {n["name"]: n["balanceAt"] for n in data["customers"]["nodes"]}
    assert balances == {"a": "10.00", "b": "20.00", "c": "30.00", "d": "0.00"}
    assert len([q for q in sent if "balance_after" in q]) == 1


async def test_administrators_of_the_customer_set_the_runway_alert(gql: GraphQLClient) -> None:
    # given: a customer
    world = await make_world("shop")

    # when: its administrator sets 14 days, then the catalog administrator turns it off
    mine = await _set(gql, world.customer_admin, world.cid, 14)
    catalog = await _set(gql, world.admin, world.cid, None)

    # then
    assert mine == {"customer": {"id": world.cid, "runwayAlertDays": 14}, "userErrors": []}
    assert catalog == {"customer": {"id": world.cid, "runwayAlertDays": None}, "userErrors": []}


async def test_end_users_may_not_set_the_runway_alert_and_others_customers_are_not_found(
    gql: GraphQLClient,
) -> None:
    # given: two customers
    world = await make_world("shop", "other")

    # when: an end user tries, and the other customer's administrator tries
    body = await gql.raw(SET_RUNWAY_ALERT, {"customerId": world.cid, "days": 7}, token=world.end_user.token)
    other = await _set(gql, world.tenants["other"].admin, world.cid, 7)

    # then: FORBIDDEN at the top; NOT_FOUND on customerId; nothing set
    assert error_codes(body) == ["FORBIDDEN"]
    assert other["customer"] is None
    assert user_errors(other) == [("NOT_FOUND", ["input", "customerId"])]
    await world.customer.refresh_from_db()
    assert world.customer.runway_alert_days is None


@pytest.mark.parametrize("days", [0, -1, 366, 100_000])
async def test_days_outside_1_to_365_are_invalid_input_on_days(gql: GraphQLClient, days: int) -> None:
    # given: a customer alerting at 30 days
    world = await make_world("shop")
    await _set(gql, world.customer_admin, world.cid, 30)

    # when
    payload = await _set(gql, world.customer_admin, world.cid, days)

    # then: refused on `days`, nothing changed
    assert payload["customer"] is None
    assert user_errors(payload) == [("INVALID_INPUT", ["input", "days"])]
    await world.customer.refresh_from_db()
    assert world.customer.runway_alert_days == 30


async def test_a_runway_alert_shows_its_forecast(gql: GraphQLClient) -> None:
    # given: 100.00 and 63.00 charged this week, an alert at 10 days, the sweep run
    world = await make_world("shop")
    await grant_lot(world.customer, 10_000, None, by=world.admin)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    await _charge(world.customer, 6_300, now - DAY)
    await _set(gql, world.customer_admin, world.cid, 10)
    await runway_alert.sweep(now)

    # when
    data = await gql(ALERTS, {"id": world.cid}, token=world.customer_admin.token)

    # then: RUNWAY_LOW with depletesAt; 37.00 at 9.00 a day
    [alert] = data["customer"]["alerts"]["nodes"]
    assert alert["kind"] == "RUNWAY_LOW" and alert["balance"] == "37.00"
    assert dt.datetime.fromisoformat(alert["depletesAt"]) > dt.datetime.now(dt.UTC) + 4 * DAY
