"""Balance alerts (API.md rule 5): crossings fire once, re-arm, notify every customer administrator."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from models.alerts import CreditAlert
from models.customer import Customer
from models.ledger import CreditTransaction
from models.notification import Notification
from models.outbox import EmailOutbox, EmailStatus
from models.service import ServiceRequest
from models.user import Role
from tests import factories
from tests.client import GraphQLClient, error_codes
from tests.conftest import requires_postgres
from tests.documents import (
    CANCEL_REQUEST,
    GRANT_CREDITS,
    REQUEST_SERVICE,
    SET_CREDIT_ALERT,
    SET_USER_ACTIVE,
    WITHDRAW_CREDITS,
)
from tests.factories import Login, enable_credits, make_catalog_admin, make_service, make_user

ALERTS = """
query ($id: ID!) {
  customer(id: $id) {
    balance alertThreshold
    alerts(first: 100) {
      nodes { id kind customerId balance threshold createdAt }
      edges { cursor node { id } }
    }
  }
}"""
NOTIFICATIONS = """
query {
  viewer { unreadNotificationCount }
  notifications(first: 100) {
    nodes { id kind customer { id name } balance threshold message read }
  }
}"""


@dataclass
class Tenant:
    """A customer with two customer administrators, an end user and a catalog administrator."""

    customer: Customer
    admin: Login
    customer_admins: list[Login]
    end_user: Login

    @property
    def id(self) -> str:
        """The customer's id as the API spells it."""
        return str(self.customer.id)


async def make_tenant(name: str = "Acme", balance: int = 0, admin: Login | None = None) -> Tenant:
    """Credits on; a customer with `balance` credits, two customer administrators and an end user."""
    await enable_credits()
    admin = admin or await make_catalog_admin()
    people = await factories.make_tenant(name, balance=balance, admins=2, by=admin)
    return Tenant(people.customer, admin, people.admins, people.end_user)


async def grant(gql: GraphQLClient, tenant: Tenant, amount: str) -> str:
    """Grant credits as the catalog administrator; returns the new balance."""
    variables = {"input": {"customerId": tenant.id, "amount": amount}}
    payload = (await gql(GRANT_CREDITS, variables, token=tenant.admin.token))["grantCredits"]
    assert payload["userErrors"] == []
    return payload["customer"]["balance"]


async def withdraw(gql: GraphQLClient, tenant: Tenant, amount: str) -> str:
    """Withdraw credits as the catalog administrator; returns the new balance."""
    variables = {"input": {"customerId": tenant.id, "amount": amount}}
    payload = (await gql(WITHDRAW_CREDITS, variables, token=tenant.admin.token))["withdrawCredits"]
    assert payload["userErrors"] == []
    return payload["customer"]["balance"]


async def request(gql: GraphQLClient, tenant: Tenant, service_id: str) -> dict[str, Any]:
    """Request a service as the end user; returns the request."""
    variables = {"input": {"serviceId": service_id}}
    payload = (await gql(REQUEST_SERVICE, variables, token=tenant.end_user.token))["requestService"]
    assert payload["userErrors"] == []
    return payload["serviceRequest"]


async def set_alert(gql: GraphQLClient, tenant: Tenant, threshold: Any, token: str | None = None) -> dict:
    """Set the customer's threshold (by default as the catalog administrator); returns the customer."""
    variables = {"customerId": tenant.id, "threshold": threshold}
    payload = (await gql(SET_CREDIT_ALERT, variables, token=token or tenant.admin.token))["setCreditAlert"]
    assert payload["userErrors"] == []
    return payload["customer"]


async def alerts(gql: GraphQLClient, tenant: Tenant, token: str | None = None) -> list[dict[str, Any]]:
    """The customer's alerts through the API, newest first."""
    customer = (await gql(ALERTS, {"id": tenant.id}, token=token or tenant.admin.token))["customer"]
    return customer["alerts"]["nodes"]


async def kinds(gql: GraphQLClient, tenant: Tenant) -> list[tuple[str, str, str | None]]:
    """(kind, balance, threshold) of each alert, newest first."""
    return [(a["kind"], a["balance"], a["threshold"]) for a in await alerts(gql, tenant)]


async def inbox(gql: GraphQLClient, login: Login) -> tuple[int | None, list[dict[str, Any]]]:
    """A user's unread count and notifications, newest first."""
    data = await gql(NOTIFICATIONS, token=login.token)
    return data["viewer"]["unreadNotificationCount"], data["notifications"]["nodes"]


# --- BELOW_ZERO --------------------------------------------------------------------------------


async def test_a_request_crossing_zero_fires_below_zero(gql):
    """A request that takes the balance from ≥ 0 to < 0 fires one BELOW_ZERO alert."""
    # given: 10 credits and a service priced 40.00
    tenant = await make_tenant(balance=10)
    service = await make_service("40.00")

    # when: the end user requests it
    await request(gql, tenant, str(service.id))

    # then: one alert with the balance after the move and no threshold
    found = await alerts(gql, tenant)
    assert len(found) == 1
    alert = found[0]
    assert uuid.UUID(alert.pop("id"))
    assert alert.pop("createdAt")
    assert alert == {"kind": "BELOW_ZERO", "customerId": tenant.id, "balance": "-30.00", "threshold": None}


async def test_a_withdrawal_crossing_zero_fires_below_zero(gql):
    """A withdrawal crossing zero fires BELOW_ZERO just like a request."""
    # given: 10 credits
    tenant = await make_tenant(balance=10)

    # when: 15 credits are withdrawn
    assert await withdraw(gql, tenant, "15") == "-5.00"

    # then: one BELOW_ZERO alert at -5.00
    assert await kinds(gql, tenant) == [("BELOW_ZERO", "-5.00", None)]


async def test_reaching_exactly_zero_does_not_fire(gql):
    """Zero is not below zero: 10 → 0 fires nothing."""
    # given: 10 credits
    tenant = await make_tenant(balance=10)

    # when: all of it is withdrawn
    assert await withdraw(gql, tenant, "10") == "0.00"

    # then: no alert, no notification, no email
    assert await kinds(gql, tenant) == []
    assert await Notification.all().count() == 0
    assert await EmailOutbox.all().count() == 0


async def test_below_zero_does_not_fire_again_while_below(gql):
    """Further debits below zero, and grants that stay below, fire nothing more."""
    # given: a balance already crossed to -5.00
    tenant = await make_tenant(balance=10)
    service = await make_service("5.00")
    await withdraw(gql, tenant, "15")

    # when: it goes further down by a request and a withdrawal, and partly up again
    await request(gql, tenant, str(service.id))
    await withdraw(gql, tenant, "20")
    assert await grant(gql, tenant, "29.99") == "-0.01"

    # then: still the one alert
    assert await kinds(gql, tenant) == [("BELOW_ZERO", "-5.00", None)]
    assert await Notification.all().count() == 2
    assert await EmailOutbox.all().count() == 2


async def test_below_zero_rearms_at_zero_and_fires_on_the_next_crossing(gql):
    """Back at exactly 0.00 re-arms the limit; the next crossing fires a second alert."""
    # given: a balance crossed to -5.00
    tenant = await make_tenant(balance=10)
    await withdraw(gql, tenant, "15")

    # when: a grant brings it back to exactly zero, then a withdrawal crosses again
    assert await grant(gql, tenant, "5") == "0.00"
    assert await withdraw(gql, tenant, "0.01") == "-0.01"

    # then: two alerts, newest first
    assert await kinds(gql, tenant) == [("BELOW_ZERO", "-0.01", None), ("BELOW_ZERO", "-5.00", None)]


async def test_a_refund_rearms_and_the_next_request_fires_again(gql):
    """Whatever moves the balance counts: a cancel's refund re-arms, the next request fires."""
    # given: 30 credits, a service priced 40.00, one request that crossed zero
    tenant = await make_tenant(balance=30)
    service_id = str((await make_service("40.00")).id)
    first = await request(gql, tenant, service_id)

    # when: it is cancelled (refund back to 30.00) and requested again
    cancelled = (await gql(CANCEL_REQUEST, {"id": first["id"]}, token=tenant.end_user.token))[
        "cancelServiceRequest"
    ]
    assert cancelled["userErrors"] == []
    await request(gql, tenant, service_id)

    # then: two BELOW_ZERO alerts at -10.00
    assert await kinds(gql, tenant) == [("BELOW_ZERO", "-10.00", None), ("BELOW_ZERO", "-10.00", None)]


# --- BELOW_THRESHOLD ---------------------------------------------------------------------------


async def test_below_threshold_fires_once_rearms_and_fires_again(gql):
    """BELOW_THRESHOLD: fires on crossing, not again while below, re-arms at the threshold."""
    # given: 100 credits and a threshold of 50 set by a customer administrator
    tenant = await make_tenant(balance=100)
    assert await set_alert(gql, tenant, "50", token=tenant.customer_admins[0].token) == {
        "id": tenant.id,
        "balance": "100.00",
        "alertThreshold": "50.00",
    }
    assert await kinds(gql, tenant) == []

    # when: it drops to 40, then 30 (still below), back to exactly 50, then 49.99
    await withdraw(gql, tenant, "60")
    await withdraw(gql, tenant, "10")
    first_two = await kinds(gql, tenant)
    assert await grant(gql, tenant, "20") == "50.00"
    assert await withdraw(gql, tenant, "0.01") == "49.99"

    # then: one alert after the first two moves, a second one after the re-armed crossing
    assert first_two == [("BELOW_THRESHOLD", "40.00", "50.00")]
    assert await kinds(gql, tenant) == [
        ("BELOW_THRESHOLD", "49.99", "50.00"),
        ("BELOW_THRESHOLD", "40.00", "50.00"),
    ]


async def test_one_move_fires_both_limits(gql):
    """A single debit crossing the threshold and zero fires two alerts, two notifications each."""
    # given: 30 credits and a threshold of 20
    tenant = await make_tenant(balance=30)
    await set_alert(gql, tenant, "20")

    # when: 40 credits are withdrawn at once
    assert await withdraw(gql, tenant, "40") == "-10.00"

    # then: both limits fired by that one move
    assert sorted(await kinds(gql, tenant)) == [
        ("BELOW_THRESHOLD", "-10.00", "20.00"),
        ("BELOW_ZERO", "-10.00", None),
    ]
    for customer_admin in tenant.customer_admins:
        unread, notes = await inbox(gql, customer_admin)
        assert unread == 2
        assert sorted(n["kind"] for n in notes) == ["BELOW_THRESHOLD", "BELOW_ZERO"]
        assert await EmailOutbox.filter(recipient=customer_admin.user.email).count() == 2


async def test_setting_a_threshold_above_the_balance_fires_at_once(gql):
    """A new threshold the balance is already below fires at once; the same value again does not."""
    # given: 10 credits, no threshold
    tenant = await make_tenant(balance=10)

    # when: a threshold of 50 is set
    customer = await set_alert(gql, tenant, "50")

    # then: it fires immediately, without any ledger move
    assert customer["alertThreshold"] == "50.00"
    assert await kinds(gql, tenant) == [("BELOW_THRESHOLD", "10.00", "50.00")]
    assert await CreditTransaction.filter(customer_id=tenant.customer.id).count() == 1

    # when: the same value is set again, spelled differently
    for same in ("50.00", 50, "50"):
        assert (await set_alert(gql, tenant, same))["alertThreshold"] == "50.00"

    # then: nothing changed
    assert await kinds(gql, tenant) == [("BELOW_THRESHOLD", "10.00", "50.00")]
    assert await Notification.all().count() == 2
    assert await EmailOutbox.all().count() == 2


async def test_the_same_threshold_again_does_not_rearm(gql):
    """Setting the fired threshold again keeps it fired: the next debit below it fires nothing."""
    # given: a threshold of 50 that fired at 40
    tenant = await make_tenant(balance=100)
    await set_alert(gql, tenant, "50")
    await withdraw(gql, tenant, "60")

    # when: the same threshold is set again and the balance drops further
    await set_alert(gql, tenant, "50.00")
    await withdraw(gql, tenant, "10")

    # then: still only the first alert
    assert await kinds(gql, tenant) == [("BELOW_THRESHOLD", "40.00", "50.00")]


async def test_a_new_threshold_value_starts_afresh(gql):
    """A different value starts the limit afresh: fires at once if below, otherwise armed."""
    # given: a threshold of 50 fired at 10 credits
    tenant = await make_tenant(balance=10)
    await set_alert(gql, tenant, "50")

    # when: it is raised to 60 (still above the balance)
    await set_alert(gql, tenant, "60")

    # then: a second alert at once, against the new threshold
    assert await kinds(gql, tenant) == [
        ("BELOW_THRESHOLD", "10.00", "60.00"),
        ("BELOW_THRESHOLD", "10.00", "50.00"),
    ]

    # when: it is lowered to 5 (below the balance): armed, nothing fires; then 10 → 4
    await set_alert(gql, tenant, "5")
    assert len(await kinds(gql, tenant)) == 2
    await withdraw(gql, tenant, "6")

    # then: the crossing of the new value fires
    assert (await kinds(gql, tenant))[0] == ("BELOW_THRESHOLD", "4.00", "5.00")
    assert len(await kinds(gql, tenant)) == 3


async def test_null_turns_threshold_alerts_off(gql):
    """With the threshold set to null, crossing the old value fires nothing; zero still alerts."""
    # given: 100 credits and a threshold of 50, then turned off
    tenant = await make_tenant(balance=100)
    await set_alert(gql, tenant, "50")
    customer = await set_alert(gql, tenant, None)
    assert customer["alertThreshold"] is None

    # when: the balance drops below the old threshold, then below zero
    await withdraw(gql, tenant, "60")
    no_threshold_alert = await kinds(gql, tenant)
    await withdraw(gql, tenant, "50")

    # then: only BELOW_ZERO
    assert no_threshold_alert == []
    assert await kinds(gql, tenant) == [("BELOW_ZERO", "-10.00", None)]


async def test_a_negative_threshold_fires_below_it(gql):
    """A threshold of -20: zero fires first, the threshold only when the balance passes -20."""
    # given: 10 credits and a threshold of -20
    tenant = await make_tenant(balance=10)
    assert (await set_alert(gql, tenant, "-20"))["alertThreshold"] == "-20.00"

    # when: the balance goes to -10, then to -20 (not below), then to -20.01
    await withdraw(gql, tenant, "20")
    after_first = await kinds(gql, tenant)
    assert await withdraw(gql, tenant, "10") == "-20.00"
    at_threshold = await kinds(gql, tenant)
    assert await withdraw(gql, tenant, "0.01") == "-20.01"

    # then: BELOW_ZERO at -10.00, then BELOW_THRESHOLD at -20.01
    assert after_first == [("BELOW_ZERO", "-10.00", None)]
    assert at_threshold == after_first
    assert await kinds(gql, tenant) == [
        ("BELOW_THRESHOLD", "-20.01", "-20.00"),
        ("BELOW_ZERO", "-10.00", None),
    ]


# --- who sees what -----------------------------------------------------------------------------


async def test_customer_alerts_newest_first_and_empty_for_end_users(gql):
    """Customer.alerts lists newest first for administrators; an end user gets an empty connection."""
    # given: three alerts in order: threshold, zero, threshold again
    tenant = await make_tenant(balance=10)
    await set_alert(gql, tenant, "5")
    await withdraw(gql, tenant, "6")  # 4.00: BELOW_THRESHOLD
    await withdraw(gql, tenant, "5")  # -1.00: BELOW_ZERO
    await grant(gql, tenant, "11")  # 10.00: both re-armed
    await withdraw(gql, tenant, "8")  # 2.00: BELOW_THRESHOLD

    # when: each role reads the customer's alerts
    by_catalog_admin = await alerts(gql, tenant)
    by_customer_admin = await alerts(gql, tenant, token=tenant.customer_admins[1].token)
    data = await gql(ALERTS, {"id": tenant.id}, token=tenant.end_user.token)

    # then: administrators see them newest first; the end user sees the balance but no alerts
    expected = [
        ("BELOW_THRESHOLD", "2.00", "5.00"),
        ("BELOW_ZERO", "-1.00", None),
        ("BELOW_THRESHOLD", "4.00", "5.00"),
    ]
    assert [(a["kind"], a["balance"], a["threshold"]) for a in by_catalog_admin] == expected
    assert by_customer_admin == by_catalog_admin
    created = [a["createdAt"] for a in by_catalog_admin]
    assert created == sorted(created, reverse=True)
    assert data["customer"]["balance"] == "2.00"
    assert data["customer"]["alerts"] == {"nodes": [], "edges": []}


async def test_alerts_of_another_customer_are_not_visible(gql):
    """Another customer's administrator reads null for the customer, and its own alerts stay empty."""
    # given: Acme crossed zero; Globex has administrators of its own
    acme = await make_tenant("Acme", balance=10)
    globex = await make_tenant("Globex", balance=10, admin=acme.admin)
    await withdraw(gql, acme, "20")

    # when: Globex's administrator asks for Acme and for its own customer
    foreign = await gql(ALERTS, {"id": acme.id}, token=globex.customer_admins[0].token)
    own = await alerts(gql, globex, token=globex.customer_admins[0].token)

    # then: Acme is "not there"; Globex has no alerts
    assert foreign == {"customer": None}
    assert own == []


async def test_each_customer_admin_gets_one_notification_and_one_email(gql):
    """Every active customer administrator: one notification, one unread, one outbox email."""
    # given: Acme with two administrators plus a deactivated one; Globex with its own administrators
    acme = await make_tenant("Acme", balance=10)
    globex = await make_tenant("Globex", balance=10, admin=acme.admin)
    inactive = await make_user(Role.CUSTOMER_ADMIN, acme.customer)
    deactivated = await gql(
        SET_USER_ACTIVE, {"id": str(inactive.user.id), "active": False}, token=acme.admin.token
    )
    assert deactivated["setUserActive"]["userErrors"] == []

    # when: Acme's balance crosses zero
    await withdraw(gql, acme, "25.50")

    # then: each active Acme administrator has exactly one unread notification about it
    [alert] = await alerts(gql, acme)
    for customer_admin in acme.customer_admins:
        unread, notes = await inbox(gql, customer_admin)
        assert unread == 1
        assert len(notes) == 1
        note = notes[0]
        assert uuid.UUID(note.pop("id"))
        assert note == {
            "kind": "BELOW_ZERO",
            "customer": {"id": acme.id, "name": "Acme"},
            "balance": "-15.50",
            "threshold": None,
            "message": "The credit balance of Acme fell below zero: -15.50.",
            "read": False,
        }

    # then: one outbox email per active administrator, addressed to it, about Acme and -15.50
    rows = await EmailOutbox.all().order_by("recipient")
    assert sorted(r.recipient for r in rows) == sorted(a.user.email for a in acme.customer_admins)
    assert len({r.message_id for r in rows}) == 2
    for row in rows:
        assert row.status == EmailStatus.PENDING
        assert row.attempts == 0
        assert str(row.alert_id) == alert["id"]
        assert "Acme" in row.subject and "-15.50" in row.subject
        assert "Acme" in row.text_body and "-15.50" in row.text_body
        assert "Acme" in row.html_body and "-15.50" in row.html_body
        assert row.html_body.startswith("<")
        assert row.message_id.startswith("<") and row.message_id.endswith(">")

    # then: nobody else got anything: the deactivated admin, the catalog admin, the end user, Globex
    for other in (acme.admin, acme.end_user, *globex.customer_admins, globex.end_user):
        assert await inbox(gql, other) == (0, [])
    assert await Notification.filter(user_id=inactive.user.id).count() == 0
    assert await EmailOutbox.filter(recipient=inactive.user.email).count() == 0
    assert await Notification.filter(customer_id=globex.customer.id).count() == 0
    assert await alerts(gql, globex) == []


async def test_a_later_alert_adds_one_notification_per_admin(gql):
    """A second alert gives each administrator a second notification, newest first."""
    # given: a first BELOW_ZERO alert, read by the first administrator
    tenant = await make_tenant(balance=10)
    await withdraw(gql, tenant, "20")
    first, second = tenant.customer_admins
    marked = await gql("mutation { markNotificationsRead(ids: null) { count } }", token=first.token)
    assert marked["markNotificationsRead"]["count"] == 1

    # when: a threshold of 0 is set (balance -10.00 is below it: fires at once)
    await set_alert(gql, tenant, "0")

    # then: two notifications each, newest first; unread counts follow what each has read
    unread_first, notes_first = await inbox(gql, first)
    unread_second, notes_second = await inbox(gql, second)
    assert [(n["kind"], n["read"]) for n in notes_first] == [("BELOW_THRESHOLD", False), ("BELOW_ZERO", True)]
    assert [(n["kind"], n["read"]) for n in notes_second] == [
        ("BELOW_THRESHOLD", False),
        ("BELOW_ZERO", False),
    ]
    assert (unread_first, unread_second) == (1, 2)
    assert await EmailOutbox.all().count() == 4


# --- atomicity ---------------------------------------------------------------------------------


async def test_a_failing_request_leaves_no_alert(gql, monkeypatch):
    """When the transaction fails after the alert was written, neither the charge nor the alert stays."""
    # given: 10 credits, a service priced 40.00, and an outbox that breaks inside the transaction
    tenant = await make_tenant(balance=10)
    service_id = str((await make_service("40.00")).id)

    async def broken_create(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("outbox unavailable")

    monkeypatch.setattr(EmailOutbox, "create", broken_create)

    # when: the end user requests the service
    body = await gql.raw(REQUEST_SERVICE, {"input": {"serviceId": service_id}}, token=tenant.end_user.token)

    # then: the request failed as a masked error, and nothing of it stayed
    assert body["data"] is None
    assert error_codes(body) == ["INTERNAL_SERVER_ERROR"]
    assert "outbox unavailable" not in str(body)
    assert (await Customer.get(id=tenant.customer.id)).balance == 1000
    assert await CreditTransaction.filter(customer_id=tenant.customer.id).count() == 1
    assert await ServiceRequest.all().count() == 0
    assert await CreditAlert.all().count() == 0
    assert await Notification.all().count() == 0
    assert await EmailOutbox.all().count() == 0

    # when: the outbox works again and the same request is made
    monkeypatch.undo()
    await request(gql, tenant, service_id)

    # then: the limit was still armed: the crossing fires now, exactly once
    assert await kinds(gql, tenant) == [("BELOW_ZERO", "-30.00", None)]
    assert await EmailOutbox.all().count() == 2


# --- races on a live server (PostgreSQL) -------------------------------------------------------


@pytest.fixture
async def live(live_server: str) -> AsyncIterator[GraphQLClient]:
    """A GraphQL client on a real server process, with room for many simultaneous connections."""
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx.AsyncClient(base_url=live_server, limits=limits, timeout=120) as http:
        yield GraphQLClient(http)


async def race_requests(live: GraphQLClient, tenant: Tenant, service_id: str, count: int) -> None:
    """`count` concurrent requestService calls by the end user, all succeeding."""
    results = await asyncio.gather(
        *(
            live(REQUEST_SERVICE, {"input": {"serviceId": service_id}}, token=tenant.end_user.token)
            for _ in range(count)
        )
    )
    assert all(r["requestService"]["userErrors"] == [] for r in results)


@requires_postgres
@pytest.mark.slow
async def test_concurrent_charges_crossing_zero_fire_one_alert(live):
    """50 concurrent charges crossing zero together: one alert, one notification and email per admin."""
    # given: 10 credits, two customer administrators, a service priced 1.00
    tenant = await make_tenant(balance=10)
    service_id = str((await make_service("1.00")).id)

    # when: 50 requests race through a real server
    await race_requests(live, tenant, service_id, 50)

    # then: -40.00 and exactly one BELOW_ZERO alert, at the first negative balance
    found = await alerts(live, tenant)
    assert (await Customer.get(id=tenant.customer.id)).balance == -4000
    assert [(a["kind"], a["balance"]) for a in found] == [("BELOW_ZERO", "-1.00")]
    for customer_admin in tenant.customer_admins:
        unread, notes = await inbox(live, customer_admin)
        assert (unread, len(notes)) == (1, 1)
    assert Counter(r.recipient for r in await EmailOutbox.all()) == {
        a.user.email: 1 for a in tenant.customer_admins
    }

    # when: a grant brings it back to 5.00 and another 50 charges race
    assert await grant(live, tenant, "45") == "5.00"
    await race_requests(live, tenant, service_id, 50)

    # then: exactly one more alert, notification and email per administrator
    assert [(a["kind"], a["balance"]) for a in await alerts(live, tenant)] == [
        ("BELOW_ZERO", "-1.00"),
        ("BELOW_ZERO", "-1.00"),
    ]
    assert await CreditAlert.all().count() == 2
    for customer_admin in tenant.customer_admins:
        assert (await inbox(live, customer_admin))[0] == 2
    assert Counter(r.recipient for r in await EmailOutbox.all()) == {
        a.user.email: 2 for a in tenant.customer_admins
    }
    assert len({r.message_id for r in await EmailOutbox.all()}) == 4
