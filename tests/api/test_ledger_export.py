"""The ledger's CSV export: its content and escaping, who may read it, and its one-time links."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import httpx
import jwt
import pytest

from models.credits import change_balance
from models.ledger import TransactionKind
from models.service_requests import request_service
from models.transaction import CreditTransaction
from models.user import User
from settings import get_settings
from tests.client import error_codes
from tests.factories import World, make_world

DAY = dt.timedelta(days=1)
START = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)


def export_url(customer_id: str, **query: str) -> str:
    """The export's path with a query string."""
    return f"/exports/ledger/{customer_id}.csv" + ("?" + str(httpx.QueryParams(query)) if query else "")


def rows(response: httpx.Response) -> list[dict[str, str]]:
    """The CSV body as dictionaries by header."""
    return list(csv.DictReader(io.StringIO(response.text)))


def bearer(token: str) -> dict[str, str]:
    """An Authorization header."""
    return {"Authorization": f"Bearer {token}"}


async def dated_ledger(world: World) -> None:
    """The first tenant's ledger (a grant from `make_world`, then a note-y grant, a charge), one day apart."""
    admin, customer = world.admin, world.customer
    await change_balance(admin.actor, TransactionKind.GRANT, customer.id, 1550, '=HYPERLINK("x")', None)
    await request_service(world.customer_admin.actor, customer.id, world.service.id, 1, None)
    for entry in await CreditTransaction.filter(customer_id=customer.id):
        await CreditTransaction.filter(id=entry.id).update(created_at=START + (entry.sequence - 1) * DAY)


async def link_for(http: httpx.AsyncClient, customer_id: str, token: str, **query: str) -> dict[str, Any]:
    """A one-time link's JSON."""
    response = await http.post(f"/exports/ledger/{customer_id}/link", params=query, headers=bearer(token))
    assert response.status_code == 200, response.text
    return response.json()


async def test_the_export_is_every_entry_oldest_first_with_service_request_and_actor(http):
    # given: a grant, a grant with a formula for a note and a service charge
    world = await make_world("acme", balance=100, service_name="Translation")
    await dated_ledger(world)
    # when: the catalog administrator exports the ledger
    response = await http.get(export_url(world.cid), headers=bearer(world.admin.token))
    # then: an attachment with a row per entry, in sequence order
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == f'attachment; filename="ledger-{world.cid}.csv"'
    assert (
        response.text.splitlines()[0]
        == "sequence,createdAt,kind,amount,balanceAfter,service,serviceRequestId,note,actor"
    )
    got = rows(response)
    assert [(r["sequence"], r["kind"], r["amount"], r["balanceAfter"]) for r in got] == [
        ("1", "GRANT", "100.00", "100.00"),
        ("2", "GRANT", "15.50", "115.50"),
        ("3", "SERVICE_CHARGE", "-40.00", "75.50"),
    ]
    assert got[0]["createdAt"] == "2026-11-01T12:00:00Z"
    charge = await CreditTransaction.get(customer_id=world.customer.id, sequence=3)
    assert (got[2]["service"], got[2]["serviceRequestId"]) == ("Translation", str(charge.service_request_id))
    assert got[2]["actor"] == world.customer_admin.user.email
    assert got[0]["service"] == got[0]["serviceRequestId"] == ""


async def test_text_cells_that_a_spreadsheet_would_run_as_formulas_are_defused(http):
    # given: a note starting with "=" and one with a comma, quotes and a line break
    world = await make_world("acme", balance=100)
    await change_balance(
        world.admin.actor, TransactionKind.GRANT, world.customer.id, 100, '=HYPERLINK("x")', None
    )
    await change_balance(
        world.admin.actor, TransactionKind.WITHDRAWAL, world.customer.id, 100, 'a, "b"\nc', None
    )
    await change_balance(world.admin.actor, TransactionKind.GRANT, world.customer.id, 100, "@SUM(A1)", None)
    # when: exported
    response = await http.get(export_url(world.cid), headers=bearer(world.admin.token))
    # then: the formulas are text with a leading quote, the rest survives quoting; amounts stay numbers
    got = rows(response)
    assert [r["note"] for r in got[1:]] == ['\'=HYPERLINK("x")', 'a, "b"\nc', "'@SUM(A1)"]
    assert got[2]["amount"] == "-1.00"
    assert '"a, ""b""\nc"' in response.text


async def test_since_and_until_narrow_the_export_as_they_narrow_the_query(http):
    # given: entries on 1, 2 and 3 November
    world = await make_world("acme", balance=100)
    await dated_ledger(world)
    # when: exported from 2 November, before 3 November
    since, until = (
        (START + DAY).date().isoformat() + "T00:00:00Z",
        (START + 2 * DAY).date().isoformat() + "T00:00Z",
    )
    response = await http.get(
        export_url(world.cid, since=since, until=until), headers=bearer(world.admin.token)
    )
    # then: the second entry only
    assert [r["sequence"] for r in rows(response)] == ["2"]


async def test_until_before_since_is_invalid_input(http):
    # given
    world = await make_world("acme")
    # when
    response = await http.get(
        export_url(world.cid, since="2026-11-02T00:00:00Z", until="2026-11-01T00:00:00Z"),
        headers=bearer(world.admin.token),
    )
    # then
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


@pytest.mark.parametrize(
    ("who", "status"),
    [("catalog admin", 200), ("own admin", 200), ("other admin", 404), ("end user", 403), ("nobody", 401)],
)
async def test_the_export_follows_the_ledgers_reading_rules(http, who, status):
    # given: two tenants
    world = await make_world("acme", "globex", balance=10)
    logins = {
        "catalog admin": world.admin,
        "own admin": world.customer_admin,
        "other admin": world.tenants["globex"].admin,
        "end user": world.end_user,
    }
    headers = bearer(logins[who].token) if who in logins else {}
    # when: each asks for acme's ledger, by bearer token and for a link
    response = await http.get(export_url(world.cid), headers=headers)
    link = await http.post(f"/exports/ledger/{world.cid}/link", headers=headers)
    # then: the same answer for both
    assert response.status_code == link.status_code == status
    if status == 200:
        assert len(rows(response)) == 1


async def test_an_unknown_customer_is_not_found(http):
    # given
    world = await make_world()
    # when
    response = await http.get(export_url("not-a-uuid"), headers=bearer(world.admin.token))
    missing = await http.get(
        export_url("6f1b8a52-1111-4222-8333-444455556666"), headers=bearer(world.admin.token)
    )
    # then
    assert response.status_code == missing.status_code == 404


async def test_a_link_downloads_once_without_a_header_and_keeps_its_range(http):
    # given: a link for 2 November only
    world = await make_world("acme", balance=100)
    await dated_ledger(world)
    link = await link_for(
        http,
        world.cid,
        world.customer_admin.token,
        since="2026-11-02T00:00:00Z",
        until="2026-11-03T00:00:00Z",
    )
    # when: the link is followed twice, with no Authorization header
    first = await http.get(link["url"])
    second = await http.get(link["url"])
    # then: the first download is the range; the second is refused
    assert first.status_code == 200
    assert [r["sequence"] for r in rows(first)] == ["2"]
    assert second.status_code == 403
    assert dt.datetime.fromisoformat(link["expiresAt"]) <= dt.datetime.now(dt.UTC) + dt.timedelta(seconds=60)


async def test_a_link_is_for_its_customer_only(http):
    # given: a catalog administrator's link for acme
    world = await make_world("acme", "globex", balance=10)
    link = await link_for(http, world.cid, world.admin.token)
    # when: its token is presented for globex
    token = httpx.URL(link["url"]).params["link"]
    response = await http.get(export_url(world.tenants["globex"].id, link=token))
    # then: refused
    assert response.status_code == 403


async def test_an_altered_or_expired_link_is_refused(http):
    # given: a link
    world = await make_world("acme", balance=10)
    token = httpx.URL((await link_for(http, world.cid, world.admin.token))["url"]).params["link"]
    header, payload, signature = token.split(".")
    secret = get_settings().resolved_jwt_secret()
    claims = jwt.decode(token, secret, algorithms=["HS256"], audience="credits:ledger-export")
    expired = jwt.encode(
        {**claims, "exp": dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)}, secret, "HS256"
    )
    widened = jwt.encode({**claims, "since": None}, "another secret, long enough for HMAC-SHA256", "HS256")
    flipped = f"{header}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    # when / then: each alteration is refused, and none of them used up the real link
    for bad in (expired, widened, flipped, "garbage"):
        assert (await http.get(export_url(world.cid, link=bad))).status_code == 403, bad
    assert (await http.get(export_url(world.cid, link=token))).status_code == 200


async def test_a_link_dies_with_its_viewers_access(http):
    # given: a customer administrator's link, then the administrator is deactivated
    world = await make_world("acme", balance=10)
    link = await link_for(http, world.cid, world.customer_admin.token)
    await User.filter(id=world.customer_admin.user.id).update(active=False)
    # when
    response = await http.get(link["url"])
    # then
    assert response.status_code == 403


async def test_a_link_is_no_bearer_token_and_a_session_is_no_link(http, gql):
    # given: a link and a session token
    world = await make_world("acme", balance=10)
    token = httpx.URL((await link_for(http, world.cid, world.admin.token))["url"]).params["link"]
    # when: each is used as the other
    as_session = await gql.raw("{ viewer { id } }", token=token)
    as_link = await http.get(export_url(world.cid, link=world.admin.token))
    # then: neither works
    assert error_codes(as_session) == ["UNAUTHENTICATED"]
    assert as_link.status_code == 403
