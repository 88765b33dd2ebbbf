"""`Customer.transactions(since:, until:)`: a half-open date range over the ledger, pageable."""

from __future__ import annotations

import datetime as dt
from typing import Any

from models.credits import change_balance
from models.ledger import TransactionKind
from models.transaction import CreditTransaction
from tests.client import GraphQLClient, error_codes
from tests.factories import World, make_world

START = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
RANGE = """
query Range($id: ID, $since: DateTime, $until: DateTime, $first: Int, $after: String) {
  customer(id: $id) {
    transactions(since: $since, until: $until, first: $first, after: $after) {
      nodes { sequence }
      pageInfo { hasNextPage endCursor }
    }
  }
}"""


async def daily_ledger(days: int) -> World:
    """A customer with one entry a day at midnight UTC from 1 November (entry n on day n)."""
    world = await make_world("acme", balance=1)
    for _ in range(days - 1):
        await change_balance(world.admin.actor, TransactionKind.GRANT, world.customer.id, 100, None, None)
    for entry in await CreditTransaction.filter(customer_id=world.customer.id):
        await CreditTransaction.filter(id=entry.id).update(
            created_at=START + dt.timedelta(days=entry.sequence - 1)
        )
    return world


def day(n: int) -> str:
    """Midnight UTC of November `n`, as a DateTime."""
    return (START + dt.timedelta(days=n - 1)).isoformat()


async def sequences(gql: GraphQLClient, world: World, **variables: Any) -> list[int]:
    """The sequences of one page."""
    data = await gql(RANGE, {"id": world.cid, **variables}, token=world.admin.token)
    return [n["sequence"] for n in data["customer"]["transactions"]["nodes"]]


async def test_since_is_inclusive_and_until_exclusive(gql):
    # given: entries on 1 … 6 November
    world = await daily_ledger(6)
    # when: 2 November to 5 November
    got = await sequences(gql, world, since=day(2), until=day(5))
    # then: the entries of 2, 3 and 4 November, newest first
    assert got == [4, 3, 2]


async def test_either_end_may_stay_open(gql):
    # given
    world = await daily_ledger(4)
    # when / then
    assert await sequences(gql, world, since=day(3)) == [4, 3]
    assert await sequences(gql, world, until=day(3)) == [2, 1]


async def test_a_moment_without_time_zone_is_utc(gql):
    # given
    world = await daily_ledger(4)
    # when: since "2026-11-03T00:00:00" and the same moment in UTC+02:00
    naive = await sequences(gql, world, since="2026-11-03T00:00:00")
    offset = await sequences(gql, world, since="2026-11-03T02:00:00+02:00")
    # then: the same entries
    assert naive == offset == [4, 3]


async def test_pages_of_a_range_walk_the_range_only(gql):
    # given: entries on 1 … 9 November
    world = await daily_ledger(9)
    # when: 2 to 8 November, two at a time, following the cursors
    seen, after = [], None
    while True:
        data = await gql(
            RANGE,
            {"id": world.cid, "since": day(2), "until": day(8), "first": 2, "after": after},
            token=world.admin.token,
        )
        page = data["customer"]["transactions"]
        seen += [n["sequence"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    # then: every entry of the range once, and nothing outside it
    assert seen == [7, 6, 5, 4, 3, 2]


async def test_until_before_since_is_invalid_input_and_equal_ends_are_empty(gql):
    # given
    world = await daily_ledger(3)
    # when
    backward = await gql.raw(
        RANGE, {"id": world.cid, "since": day(3), "until": day(2)}, token=world.admin.token
    )
    empty = await sequences(gql, world, since=day(2), until=day(2))
    # then
    assert error_codes(backward) == ["INVALID_INPUT"]
    assert backward["data"]["customer"] is None
    assert empty == []


async def test_a_moment_beyond_utcs_calendar_is_invalid_input_not_an_error(gql):
    # given
    world = await daily_ledger(1)
    # when: moments that exist only in their own zone (before year 1 or after 9999 in UTC)
    early = await gql.raw(
        RANGE, {"id": world.cid, "since": "0001-01-01T00:00:00+01:00"}, token=world.admin.token
    )
    late = await gql.raw(
        RANGE, {"id": world.cid, "until": "9999-12-31T23:59:59-01:00"}, token=world.admin.token
    )
    # then
    assert error_codes(early) == error_codes(late) == ["INVALID_INPUT"]
