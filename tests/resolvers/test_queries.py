"""Root queries and connections: pagination, search, services, settings, notifications, customer()."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from models.credits import change_balance
from models.customer import Customer
from models.ledger import TransactionKind
from models.notification import AlertKind, Notification
from models.service import ServiceRequest
from models.service_requests import request_service
from models.user import Role
from tests.client import GraphQLClient, error_codes
from tests.documents import CREDIT_SETTINGS, SET_CREDIT_MANAGEMENT
from tests.factories import Login, enable_credits, make_catalog_admin, make_customer, make_service, make_user

PAGE_INFO = "pageInfo { hasNextPage endCursor hasPreviousPage startCursor }"
CUSTOMERS = f"""
query ($first: Int, $after: String, $search: String) {{
  customers(first: $first, after: $after, search: $search) {{
    nodes {{ id name }} edges {{ cursor node {{ id name }} }} {PAGE_INFO}
  }}
}}"""
CUSTOMERS_DEFAULT = "query { customers { nodes { id } pageInfo { hasNextPage } } }"
TRANSACTIONS = f"""
query ($id: ID!, $first: Int, $after: String) {{
  customer(id: $id) {{
    transactions(first: $first, after: $after) {{
      nodes {{ sequence kind amount balanceAfter }}
      edges {{ cursor node {{ sequence kind amount balanceAfter }} }}
      {PAGE_INFO}
    }}
  }}
}}"""
SERVICE_REQUESTS = f"""
query ($id: ID!, $first: Int, $after: String, $status: ServiceRequestStatus) {{
  customer(id: $id) {{
    serviceRequests(first: $first, after: $after, status: $status) {{
      nodes {{ id status }} edges {{ cursor node {{ id status }} }} {PAGE_INFO}
    }}
  }}
}}"""
NOTIFICATIONS = f"""
query ($first: Int, $after: String, $unreadOnly: Boolean) {{
  notifications(first: $first, after: $after, unreadOnly: $unreadOnly) {{
    nodes {{ id kind balance threshold message read customer {{ id }} }}
    edges {{ cursor node {{ id kind balance threshold message read customer {{ id }} }} }}
    {PAGE_INFO}
  }}
}}"""
SERVICES = "query { services { id name creditPrice } }"
UNREAD_COUNT = "query { viewer { id unreadNotificationCount } }"
REQUESTED_BY = """
query ($id: ID!) { serviceRequest(id: $id) { requestedBy { id unreadNotificationCount } } }
"""
MARK_READ = """
mutation ($ids: [ID!]) { markNotificationsRead(ids: $ids) { count userErrors { code field message } } }
"""
OWN_CUSTOMER = "query { customer { id name balance } }"
CUSTOMER_BY_ID = "query ($id: ID) { customer(id: $id) { id name } }"

NO_PAGE = {"hasNextPage": False, "endCursor": None, "hasPreviousPage": False, "startCursor": None}
T0 = dt.datetime(2030, 1, 1, 12, 0, 0, tzinfo=dt.UTC)


# --- helpers -------------------------------------------------------------------------------


async def walk(
    gql: GraphQLClient,
    document: str,
    variables: dict[str, Any],
    extract: Callable[[dict[str, Any]], dict[str, Any]],
    *,
    first: int,
    token: str,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Follow `endCursor` until the last page; return every node and each page's pageInfo."""
    nodes: list[dict[str, Any]] = []
    pages: list[dict[str, Any]] = []
    after: str | None = None
    for _ in range(100):
        page_vars = {**variables, "first": first, **({"after": after} if after else {})}
        conn = extract(await gql(document, page_vars, token=token))
        info = conn["pageInfo"]
        assert conn["nodes"] == [e["node"] for e in conn["edges"]]
        if conn["edges"]:
            assert info["startCursor"] == conn["edges"][0]["cursor"]
            assert info["endCursor"] == conn["edges"][-1]["cursor"]
        nodes.extend(conn["nodes"])
        pages.append({**info, "size": len(conn["nodes"])})
        if not info["hasNextPage"]:
            return nodes, pages
        after = info["endCursor"]
    raise AssertionError("pagination did not end")


def page_shape(pages: list[dict[str, Any]]) -> list[tuple[int, bool, bool]]:
    """(size, hasPreviousPage, hasNextPage) of each page."""
    return [(p["size"], p["hasPreviousPage"], p["hasNextPage"]) for p in pages]


def newest_first(rows: list[Any]) -> list[str]:
    """Ids in the contract's order: newest first, ties broken by id (descending)."""
    return [str(r.id) for r in sorted(rows, key=lambda r: (r.created_at, str(r.id)), reverse=True)]


async def make_notification(
    user: Login, customer: Customer, created_at: dt.datetime, *, read: bool = False, balance: int = -500
) -> Notification:
    """A notification row made directly (alerts create them in a later issue)."""
    return await Notification.create(
        user_id=user.user.id,
        customer_id=customer.id,
        kind=AlertKind.BELOW_ZERO,
        balance=balance,
        threshold=None,
        message=f"Balance fell to {balance / 100:.2f}",
        created_at=created_at,
        read_at=created_at if read else None,
    )


def cursor(values: list[Any]) -> str:
    """A cursor in the service's encoding (base64url JSON list), for forging bad ones."""
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


# --- customers -----------------------------------------------------------------------------


async def test_customers_walks_every_customer_once_by_name_then_id(gql: GraphQLClient) -> None:
    """Pages of 2 over 7 customers (three share a name) follow name, then id."""
    # given
    admin = await make_catalog_admin()
    names = ["Delta", "Beta", "Alpha", "Beta", "Echo", "Charlie", "Beta"]
    customers = [await make_customer(n) for n in names]
    expected = [
        {"id": str(c.id), "name": c.name} for c in sorted(customers, key=lambda c: (c.name, str(c.id)))
    ]

    # when
    nodes, pages = await walk(gql, CUSTOMERS, {}, lambda d: d["customers"], first=2, token=admin.token)

    # then
    assert nodes == expected
    assert page_shape(pages) == [(2, False, True), (2, True, True), (2, True, True), (1, True, False)]


async def test_customers_on_an_empty_catalog_is_an_empty_page(gql: GraphQLClient) -> None:
    """No customers: no nodes, no cursors, no further pages."""
    # given
    admin = await make_catalog_admin()

    # when
    data = await gql(CUSTOMERS, {}, token=admin.token)

    # then
    assert data == {"customers": {"nodes": [], "edges": [], "pageInfo": NO_PAGE}}


async def test_customers_default_page_size_is_50(gql: GraphQLClient) -> None:
    """Without `first`, 50 of 51 customers and hasNextPage."""
    # given
    admin = await make_catalog_admin()
    await Customer.bulk_create([Customer(name=f"Customer {i:03}") for i in range(51)])

    # when
    data = (await gql(CUSTOMERS_DEFAULT, token=admin.token))["customers"]

    # then
    assert len(data["nodes"]) == 50
    assert data["pageInfo"] == {"hasNextPage": True}


async def test_customers_first_100_is_allowed_and_the_last_page_has_no_next(gql: GraphQLClient) -> None:
    """The upper bound itself is a valid page size."""
    # given
    admin = await make_catalog_admin()
    await Customer.bulk_create([Customer(name=f"Customer {i:03}") for i in range(100)])

    # when
    data = await gql(CUSTOMERS, {"first": 100}, token=admin.token)

    # then
    assert [n["name"] for n in data["customers"]["nodes"]] == [f"Customer {i:03}" for i in range(100)]
    assert data["customers"]["pageInfo"]["hasNextPage"] is False


async def test_customers_search_is_a_case_insensitive_substring(gql: GraphQLClient) -> None:
    """`acme` finds Acme, ACME and wACMEister, in name order."""
    # given
    admin = await make_catalog_admin()
    for name in ["Wacmeister", "Globex", "Acme Corp", "Big ACME", "Initech"]:
        await make_customer(name)

    # when
    data = await gql(CUSTOMERS, {"search": "aCmE"}, token=admin.token)

    # then
    assert [n["name"] for n in data["customers"]["nodes"]] == ["Acme Corp", "Big ACME", "Wacmeister"]
    assert data["customers"]["pageInfo"]["hasNextPage"] is False


@pytest.mark.parametrize(("search", "expected"), [("%", ["100% Juice"]), ("_", ["Snake_case Ltd"])])
async def test_customers_search_treats_wildcards_literally(
    gql: GraphQLClient, search: str, expected: list[str]
) -> None:
    """SQL LIKE wildcards in `search` match themselves only."""
    # given
    admin = await make_catalog_admin()
    for name in ["100% Juice", "Snake_case Ltd", "Plain"]:
        await make_customer(name)

    # when
    data = await gql(CUSTOMERS, {"search": search}, token=admin.token)

    # then
    assert [n["name"] for n in data["customers"]["nodes"]] == expected


async def test_customers_search_pages_through_the_matches_only(gql: GraphQLClient) -> None:
    """Search and cursors combine: every match once, nothing else."""
    # given
    admin = await make_catalog_admin()
    for name in ["Acme 1", "Other", "Acme 2", "Acme 3", "Nope"]:
        await make_customer(name)

    # when
    nodes, pages = await walk(
        gql, CUSTOMERS, {"search": "acme"}, lambda d: d["customers"], first=2, token=admin.token
    )

    # then
    assert [n["name"] for n in nodes] == ["Acme 1", "Acme 2", "Acme 3"]
    assert page_shape(pages) == [(2, False, True), (1, True, False)]


@pytest.mark.parametrize("first", [0, -1, 101])
async def test_customers_first_outside_1_to_100_is_invalid_input(gql: GraphQLClient, first: int) -> None:
    """A top-level INVALID_INPUT naming the bounds."""
    # given
    admin = await make_catalog_admin()
    await make_customer("Acme")

    # when
    body = await gql.raw(CUSTOMERS, {"first": first}, token=admin.token)

    # then
    assert body["data"] is None
    assert error_codes(body) == ["INVALID_INPUT"]
    assert body["errors"][0]["message"] == "first must be between 1 and 100"


@pytest.mark.parametrize(
    "after",
    [
        "not a cursor!",
        "bm90LWpzb24",  # base64 of "not-json"
        cursor(["only one value"]),
        cursor({"name": "Acme"}),
        cursor(["Acme", "id", "extra"]),
        cursor(["Acme", "not-a-uuid"]),
        "",
    ],
)
async def test_customers_malformed_after_is_invalid_input(gql: GraphQLClient, after: str) -> None:
    """A cursor the service did not make is a top-level INVALID_INPUT."""
    # given
    admin = await make_catalog_admin()
    await make_customer("Acme")

    # when
    body = await gql.raw(CUSTOMERS, {"first": 10, "after": after}, token=admin.token)

    # then
    assert body["data"] is None
    assert error_codes(body) == ["INVALID_INPUT"]
    assert body["errors"][0]["message"] == "after is not a valid cursor"


async def test_customers_is_forbidden_for_a_customer_admin(gql: GraphQLClient) -> None:
    """Only catalog administrators list customers."""
    # given
    customer_admin = await make_user(Role.CUSTOMER_ADMIN, await make_customer())

    # when
    body = await gql.raw(CUSTOMERS, {}, token=customer_admin.token)

    # then
    assert body["data"] is None
    assert error_codes(body) == ["FORBIDDEN"]


# --- Customer.transactions -----------------------------------------------------------------


async def test_transactions_walk_newest_first(gql: GraphQLClient) -> None:
    """Five ledger entries in pages of 2: sequence 5, 4, 3, 2, 1."""
    # given
    admin = await make_catalog_admin()
    customer = await make_customer(balance=100, by=admin)
    for kind, cents in [
        (TransactionKind.WITHDRAWAL, -3000),
        (TransactionKind.GRANT, 1050),
        (TransactionKind.WITHDRAWAL, -10000),
        (TransactionKind.GRANT, 25),
    ]:
        await change_balance(admin.actor, kind, customer.id, abs(cents), None, None)

    # when
    nodes, pages = await walk(
        gql,
        TRANSACTIONS,
        {"id": str(customer.id)},
        lambda d: d["customer"]["transactions"],
        first=2,
        token=admin.token,
    )

    # then
    assert nodes == [
        {"sequence": 5, "kind": "GRANT", "amount": "0.25", "balanceAfter": "-19.25"},
        {"sequence": 4, "kind": "WITHDRAWAL", "amount": "-100.00", "balanceAfter": "-19.50"},
        {"sequence": 3, "kind": "GRANT", "amount": "10.50", "balanceAfter": "80.50"},
        {"sequence": 2, "kind": "WITHDRAWAL", "amount": "-30.00", "balanceAfter": "70.00"},
        {"sequence": 1, "kind": "GRANT", "amount": "100.00", "balanceAfter": "100.00"},
    ]
    assert page_shape(pages) == [(2, False, True), (2, True, True), (1, True, False)]


@pytest.mark.parametrize("first", [0, 101])
async def test_transactions_first_outside_1_to_100_is_invalid_input(gql: GraphQLClient, first: int) -> None:
    """A nested connection's bad `first` is a top-level INVALID_INPUT too."""
    # given
    admin = await make_catalog_admin()
    customer = await make_customer(balance=10, by=admin)

    # when
    body = await gql.raw(TRANSACTIONS, {"id": str(customer.id), "first": first}, token=admin.token)

    # then
    assert error_codes(body) == ["INVALID_INPUT"]
    assert body["errors"][0]["message"] == "first must be between 1 and 100"
    assert body["errors"][0]["path"] == ["customer", "transactions"]
    assert body["data"] == {"customer": None}


@pytest.mark.parametrize("after", ["%%%", cursor(["not-a-number"]), cursor(["1", "2"])])
async def test_transactions_malformed_after_is_invalid_input(gql: GraphQLClient, after: str) -> None:
    """A sequence cursor that is not a number, or of the wrong shape."""
    # given
    admin = await make_catalog_admin()
    customer = await make_customer(balance=10, by=admin)

    # when
    body = await gql.raw(
        TRANSACTIONS, {"id": str(customer.id), "first": 5, "after": after}, token=admin.token
    )

    # then
    assert error_codes(body) == ["INVALID_INPUT"]
    assert body["errors"][0]["message"] == "after is not a valid cursor"
    assert body["data"] == {"customer": None}


# --- Customer.serviceRequests --------------------------------------------------------------


async def test_service_requests_walk_newest_first_with_ties_broken_by_id(gql: GraphQLClient) -> None:
    """Six requests, three created at the same instant: each appears once, newest first."""
    # given
    await enable_credits()
    customer = await make_customer(balance=1000)
    admin = await make_user(Role.CUSTOMER_ADMIN, customer)
    service = await make_service("1.00")
    made = [await request_service(admin.actor, customer.id, service.id, 1, None) for _ in range(6)]
    stamps = [
        T0,
        T0 + dt.timedelta(seconds=1),
        T0 + dt.timedelta(seconds=1),
        T0 + dt.timedelta(seconds=1),
        T0 + dt.timedelta(seconds=2, microseconds=500),
        T0 - dt.timedelta(days=1),
    ]
    for request, stamp in zip(made, stamps, strict=True):
        await ServiceRequest.filter(id=request.id).update(created_at=stamp)
    rows = await ServiceRequest.filter(customer_id=customer.id)

    # when
    nodes, pages = await walk(
        gql,
        SERVICE_REQUESTS,
        {"id": str(customer.id)},
        lambda d: d["customer"]["serviceRequests"],
        first=2,
        token=admin.token,
    )

    # then
    assert [n["id"] for n in nodes] == newest_first(rows)
    assert (nodes[0]["id"], nodes[-1]["id"]) == (str(made[4].id), str(made[5].id))
    assert {n["status"] for n in nodes} == {"REQUESTED"}
    assert page_shape(pages) == [(2, False, True), (2, True, True), (2, True, False)]


async def test_service_requests_status_filter_pages_through_matches(gql: GraphQLClient) -> None:
    """`status` narrows the list; newest first still holds."""
    # given
    customer = await make_customer()
    admin = await make_user(Role.CUSTOMER_ADMIN, customer)
    service = await make_service(None)
    made = [await request_service(admin.actor, customer.id, service.id, 1, None) for _ in range(4)]
    for i, request in enumerate(made):
        await ServiceRequest.filter(id=request.id).update(created_at=T0 + dt.timedelta(minutes=i))
    await ServiceRequest.filter(id__in=[made[0].id, made[2].id]).update(status="COMPLETED")

    # when
    nodes, _ = await walk(
        gql,
        SERVICE_REQUESTS,
        {"id": str(customer.id), "status": "COMPLETED"},
        lambda d: d["customer"]["serviceRequests"],
        first=1,
        token=admin.token,
    )

    # then
    assert nodes == [
        {"id": str(made[2].id), "status": "COMPLETED"},
        {"id": str(made[0].id), "status": "COMPLETED"},
    ]


@pytest.mark.parametrize("first", [0, 101])
async def test_service_requests_first_outside_1_to_100_is_invalid_input(
    gql: GraphQLClient, first: int
) -> None:
    """Same bounds on every connection."""
    # given
    customer = await make_customer()
    admin = await make_user(Role.CUSTOMER_ADMIN, customer)

    # when
    body = await gql.raw(SERVICE_REQUESTS, {"id": str(customer.id), "first": first}, token=admin.token)

    # then
    assert error_codes(body) == ["INVALID_INPUT"]
    assert body["data"] == {"customer": None}


@pytest.mark.parametrize(
    "after",
    [
        cursor(["yesterday", str(uuid.uuid4())]),
        cursor([T0.isoformat(), "not-a-uuid"]),
        cursor([T0.isoformat()]),
        "garbage!",
    ],
)
async def test_service_requests_malformed_after_is_invalid_input(gql: GraphQLClient, after: str) -> None:
    """A bad date or id inside the cursor is the client's error, not an unexpected one."""
    # given
    customer = await make_customer()
    admin = await make_user(Role.CUSTOMER_ADMIN, customer)
    await request_service(admin.actor, customer.id, (await make_service(None)).id, 1, None)

    # when
    body = await gql.raw(
        SERVICE_REQUESTS, {"id": str(customer.id), "first": 5, "after": after}, token=admin.token
    )

    # then
    assert error_codes(body) == ["INVALID_INPUT"]
    assert body["errors"][0]["message"] == "after is not a valid cursor"


# --- notifications -------------------------------------------------------------------------


async def test_notifications_walk_newest_first_and_only_the_viewers(gql: GraphQLClient) -> None:
    """Five of the viewer's notifications in pages of 2, a tie across a page break; others' are absent."""
    # given
    customer = await make_customer()
    viewer = await make_user(Role.CUSTOMER_ADMIN, customer)
    other = await make_user(Role.CUSTOMER_ADMIN, customer)
    stamps = [
        T0 + dt.timedelta(microseconds=1),
        T0 + dt.timedelta(hours=1),
        T0 + dt.timedelta(hours=1),
        T0 - dt.timedelta(hours=1),
        T0 + dt.timedelta(hours=2),
    ]
    mine = [await make_notification(viewer, customer, s, read=i == 1) for i, s in enumerate(stamps)]
    await make_notification(other, customer, T0 + dt.timedelta(days=1))

    # when
    nodes, pages = await walk(
        gql, NOTIFICATIONS, {}, lambda d: d["notifications"], first=2, token=viewer.token
    )

    # then
    assert [n["id"] for n in nodes] == newest_first(mine)
    assert nodes[-1] == {
        "id": str(mine[3].id),
        "kind": "BELOW_ZERO",
        "balance": "-5.00",
        "threshold": None,
        "message": "Balance fell to -5.00",
        "read": False,
        "customer": {"id": str(customer.id)},
    }
    assert [n["read"] for n in nodes if n["id"] == str(mine[1].id)] == [True]
    assert page_shape(pages) == [(2, False, True), (2, True, True), (1, True, False)]


async def test_notifications_unread_only(gql: GraphQLClient) -> None:
    """unreadOnly leaves out the read ones."""
    # given
    customer = await make_customer()
    viewer = await make_user(Role.CUSTOMER_ADMIN, customer)
    made = [
        await make_notification(viewer, customer, T0 + dt.timedelta(minutes=i), read=i % 2 == 0)
        for i in range(5)
    ]

    # when
    unread = (await gql(NOTIFICATIONS, {"unreadOnly": True}, token=viewer.token))["notifications"]
    everything = (await gql(NOTIFICATIONS, {"unreadOnly": False}, token=viewer.token))["notifications"]

    # then
    assert [n["id"] for n in unread["nodes"]] == [str(made[3].id), str(made[1].id)]
    assert {n["read"] for n in unread["nodes"]} == {False}
    assert [n["id"] for n in everything["nodes"]] == [str(m.id) for m in reversed(made)]


@pytest.mark.parametrize("first", [0, 101])
async def test_notifications_first_outside_1_to_100_is_invalid_input(gql: GraphQLClient, first: int) -> None:
    """A top-level INVALID_INPUT."""
    # given
    viewer = await make_user(Role.CUSTOMER_ADMIN, await make_customer())

    # when
    body = await gql.raw(NOTIFICATIONS, {"first": first}, token=viewer.token)

    # then
    assert body["data"] is None
    assert error_codes(body) == ["INVALID_INPUT"]


async def test_unread_notification_count_is_the_viewers_own(gql: GraphQLClient) -> None:
    """The viewer's unread count; null on another user reached through a request."""
    # given
    customer = await make_customer()
    customer_admin = await make_user(Role.CUSTOMER_ADMIN, customer)
    end_user = await make_user(Role.END_USER, customer)
    for i in range(3):
        await make_notification(customer_admin, customer, T0 + dt.timedelta(minutes=i), read=i == 0)
    await make_notification(end_user, customer, T0)
    request = await request_service(end_user.actor, customer.id, (await make_service(None)).id, 1, None)

    # when
    own = (await gql(UNREAD_COUNT, token=customer_admin.token))["viewer"]
    theirs = (await gql(REQUESTED_BY, {"id": str(request.id)}, token=customer_admin.token))["serviceRequest"]
    self_seen = (await gql(REQUESTED_BY, {"id": str(request.id)}, token=end_user.token))["serviceRequest"]

    # then
    assert own == {"id": str(customer_admin.user.id), "unreadNotificationCount": 2}
    assert theirs == {"requestedBy": {"id": str(end_user.user.id), "unreadNotificationCount": None}}
    assert self_seen == {"requestedBy": {"id": str(end_user.user.id), "unreadNotificationCount": 1}}


async def test_unread_notification_count_is_zero_without_notifications(gql: GraphQLClient) -> None:
    """Zero, not null, for the viewer itself."""
    # given
    viewer = await make_catalog_admin()

    # when
    data = await gql(UNREAD_COUNT, token=viewer.token)

    # then
    assert data == {"viewer": {"id": str(viewer.user.id), "unreadNotificationCount": 0}}


async def test_mark_notifications_read_marks_only_the_viewers_own(gql: GraphQLClient) -> None:
    """Others' ids, already read ones, unknown and malformed ids change nothing."""
    # given
    customer = await make_customer()
    viewer = await make_user(Role.CUSTOMER_ADMIN, customer)
    other = await make_user(Role.CUSTOMER_ADMIN, customer)
    mine = [await make_notification(viewer, customer, T0 + dt.timedelta(minutes=i)) for i in range(3)]
    already_read = await make_notification(viewer, customer, T0 - dt.timedelta(minutes=1), read=True)
    theirs = await make_notification(other, customer, T0)
    ids = [str(mine[0].id), str(mine[2].id), str(already_read.id), str(theirs.id), str(uuid.uuid4()), "bogus"]

    # when
    result = (await gql(MARK_READ, {"ids": ids}, token=viewer.token))["markNotificationsRead"]

    # then
    assert result == {"count": 2, "userErrors": []}
    assert (await gql(UNREAD_COUNT, token=viewer.token))["viewer"]["unreadNotificationCount"] == 1
    assert (await gql(UNREAD_COUNT, token=other.token))["viewer"]["unreadNotificationCount"] == 1
    assert (await Notification.get(id=theirs.id)).read_at is None
    unread = (await gql(NOTIFICATIONS, {"unreadOnly": True}, token=viewer.token))["notifications"]["nodes"]
    assert [n["id"] for n in unread] == [str(mine[1].id)]

    # when: the same ids again
    again = (await gql(MARK_READ, {"ids": ids}, token=viewer.token))["markNotificationsRead"]

    # then: nothing changed this time
    assert again == {"count": 0, "userErrors": []}


async def test_mark_notifications_read_with_null_ids_marks_all_of_the_viewers(gql: GraphQLClient) -> None:
    """ids null: every unread notification of the viewer, nobody else's."""
    # given
    customer = await make_customer()
    viewer = await make_user(Role.CUSTOMER_ADMIN, customer)
    other = await make_user(Role.CUSTOMER_ADMIN, customer)
    for i in range(4):
        await make_notification(viewer, customer, T0 + dt.timedelta(minutes=i), read=i == 0)
    await make_notification(other, customer, T0)

    # when
    result = (await gql(MARK_READ, {"ids": None}, token=viewer.token))["markNotificationsRead"]

    # then
    assert result == {"count": 3, "userErrors": []}
    assert (await gql(UNREAD_COUNT, token=viewer.token))["viewer"]["unreadNotificationCount"] == 0
    assert (await gql(UNREAD_COUNT, token=other.token))["viewer"]["unreadNotificationCount"] == 1


async def test_mark_notifications_read_with_an_empty_list_changes_nothing(gql: GraphQLClient) -> None:
    """An empty list is not "all"."""
    # given
    customer = await make_customer()
    viewer = await make_user(Role.CUSTOMER_ADMIN, customer)
    await make_notification(viewer, customer, T0)

    # when
    result = (await gql(MARK_READ, {"ids": []}, token=viewer.token))["markNotificationsRead"]

    # then
    assert result == {"count": 0, "userErrors": []}
    assert (await gql(UNREAD_COUNT, token=viewer.token))["viewer"]["unreadNotificationCount"] == 1


# --- services, creditSettings, customer() --------------------------------------------------


async def test_services_lists_the_catalog_by_name(gql: GraphQLClient) -> None:
    """Every service with its price; an unpriced one is null, a free one "0.00"."""
    # given
    end_user = await make_user(Role.END_USER, await make_customer())
    translation = await make_service("40", name="Translation")
    archive = await make_service(None, name="Archive")
    free = await make_service("0", name="Free check")
    cheap = await make_service("0.5", name="Lookup")

    # when
    data = await gql(SERVICES, token=end_user.token)

    # then
    assert data == {
        "services": [
            {"id": str(archive.id), "name": "Archive", "creditPrice": None},
            {"id": str(free.id), "name": "Free check", "creditPrice": "0.00"},
            {"id": str(cheap.id), "name": "Lookup", "creditPrice": "0.50"},
            {"id": str(translation.id), "name": "Translation", "creditPrice": "40.00"},
        ]
    }


async def test_credit_settings_reflects_set_credit_management(gql: GraphQLClient) -> None:
    """Off on a fresh install; every role reads what the catalog administrator set."""
    # given
    admin = await make_catalog_admin()
    end_user = await make_user(Role.END_USER, await make_customer())
    off = {"creditSettings": {"creditManagementEnabled": False}}
    on = {"creditSettings": {"creditManagementEnabled": True}}
    assert await gql(CREDIT_SETTINGS, token=end_user.token) == off

    # when
    turned_on = (await gql(SET_CREDIT_MANAGEMENT, {"enabled": True}, token=admin.token))[
        "setCreditManagement"
    ]

    # then
    assert turned_on == {"creditSettings": {"creditManagementEnabled": True}, "userErrors": []}
    assert await gql(CREDIT_SETTINGS, token=end_user.token) == on
    assert await gql(CREDIT_SETTINGS, token=admin.token) == on

    # when
    await gql(SET_CREDIT_MANAGEMENT, {"enabled": False}, token=admin.token)

    # then
    assert await gql(CREDIT_SETTINGS, token=end_user.token) == off


@pytest.mark.parametrize("role", [Role.CUSTOMER_ADMIN, Role.END_USER])
async def test_customer_without_id_is_the_viewers_own(gql: GraphQLClient, role: Role) -> None:
    """Customer roles get their own customer."""
    # given
    customer = await make_customer("Acme", balance=25)
    await make_customer("Other", balance=5)
    login = await make_user(role, customer)

    # when
    data = await gql(OWN_CUSTOMER, token=login.token)

    # then
    assert data == {"customer": {"id": str(customer.id), "name": "Acme", "balance": "25.00"}}


async def test_customer_without_id_is_null_for_a_catalog_admin(gql: GraphQLClient) -> None:
    """A catalog administrator has no customer of its own."""
    # given
    admin = await make_catalog_admin()
    await make_customer("Acme")

    # when
    body = await gql.raw(OWN_CUSTOMER, token=admin.token)

    # then
    assert body == {"data": {"customer": None}}


async def test_customer_by_id_of_another_customer_is_null(gql: GraphQLClient) -> None:
    """Another customer, an unknown id and a malformed id look the same: null."""
    # given
    own = await make_customer("Acme")
    other = await make_customer("Other")
    login = await make_user(Role.CUSTOMER_ADMIN, own)

    # when
    answers = [
        await gql.raw(CUSTOMER_BY_ID, {"id": i}, token=login.token)
        for i in (str(other.id), str(uuid.uuid4()), "1")
    ]
    mine = await gql(CUSTOMER_BY_ID, {"id": str(own.id)}, token=login.token)

    # then
    assert answers == [{"data": {"customer": None}}] * 3
    assert mine == {"customer": {"id": str(own.id), "name": "Acme"}}
