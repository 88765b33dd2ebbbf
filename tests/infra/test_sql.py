"""The hand-written SQL helper speaks both dialects: numbered placeholders, UUIDs, RETURNING rows."""

from __future__ import annotations

import uuid

from tortoise import connections

from infra import sql
from tests.factories import make_customer


async def test_placeholders_are_numbered_so_values_may_appear_in_any_order() -> None:
    # given / when
    rows = await sql.fetch(
        connections.get("default"), "SELECT CAST({1} AS INTEGER) AS b, CAST({0} AS INTEGER) AS a", 1, 2
    )

    # then
    assert rows == [{"b": 2, "a": 1}]


async def test_uuids_match_stored_ids_and_update_returns_its_rows() -> None:
    # given
    customer = await make_customer()

    # when
    rows = await sql.fetch(
        connections.get("default"),
        'UPDATE "customer" SET "name" = {1} WHERE "id" = {0} RETURNING "name"',
        customer.id,
        "Renamed",
    )

    # then
    assert rows == [{"name": "Renamed"}]
    missing = 'SELECT 1 AS x FROM "customer" WHERE "id" = {0}'
    assert await sql.fetch(connections.get("default"), missing, uuid.uuid4()) == []


async def test_among_matches_the_ids_of_a_list_and_nothing_else() -> None:
    # given: three customers
    first, _, third = [await make_customer(name) for name in ("A", "B", "C")]
    conn = connections.get("default")

    # when: two of them and an unknown id are asked for
    query = 'SELECT "name" FROM "customer" WHERE "id" ' + sql.among(conn, 0) + ' ORDER BY "name"'
    rows = await sql.fetch(conn, query, [first.id, third.id, uuid.uuid4()])

    # then: exactly those two; an empty list matches none
    assert rows == [{"name": "A"}, {"name": "C"}]
    assert await sql.fetch(conn, query, []) == []
