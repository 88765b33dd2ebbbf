"""CREDITS_EXPIRING: one alert per lot as its credits come within 7 days of their expiry."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid

from models import lot_expiry
from models.credit_alert import CreditAlert
from models.credits import change_balance
from models.ledger import TransactionKind
from models.lot_terms import update_lot
from models.lots import CreditLot
from models.notification import AlertKind, Notification
from models.outbox import EmailOutbox
from models.webhook_outbox import WebhookDelivery, WebhookEventType
from models.webhooks import create_endpoint
from tests.client import GraphQLClient
from tests.conftest import requires_postgres
from tests.factories import enable_credits, grant_lot, make_catalog_admin, make_customer, make_world
from tests.webhook_receiver import WebhookReceiver

DAY = dt.timedelta(days=1)


def _in(delta: dt.timedelta) -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0) + delta


async def _warnings(customer_id: uuid.UUID) -> list[CreditAlert]:
    query = CreditAlert.filter(customer_id=customer_id, kind=AlertKind.CREDITS_EXPIRING)
    return await query.order_by("created_at")


async def _move(lot: CreditLot, expires_at: dt.datetime | None) -> None:
    await update_lot(lot.id, priority=None, expires_at=expires_at, change_priority=False, change_expiry=True)


async def test_a_grant_expiring_within_7_days_warns_at_once_in_app_by_email_and_webhook(
    receiver: WebhookReceiver,
) -> None:
    # given: a customer with two administrators, and a webhook endpoint
    world = await make_world("shop", admins=2)
    await create_endpoint(receiver.url, None, [WebhookEventType.CREDIT_ALERT_FIRED], None)
    expires_at = _in(3 * DAY)

    # when: 25.00 are granted expiring in three days
    lot = await grant_lot(world.customer, 2500, expires_at, by=world.admin)

    # then: one CREDITS_EXPIRING alert naming the lot
    [alert] = await _warnings(world.customer.id)
    assert (alert.lot_id, alert.balance) == (lot.id, 2500)
    # and: a notification naming it for each administrator
    notes = await Notification.filter(kind=AlertKind.CREDITS_EXPIRING)
    assert sorted(n.user_id for n in notes) == sorted(a.user.id for a in world.tenant.admins)
    assert {n.lot_id for n in notes} == {lot.id}
    day = expires_at.strftime("%Y-%m-%d %H:%M UTC")
    assert notes[0].message == f"25.00 credits of shop expire on {day}."
    # and: an email each, naming the remaining credits and the expiry
    mails = await EmailOutbox.filter(alert_id=alert.id)
    assert sorted(m.recipient for m in mails) == sorted(a.user.email for a in world.tenant.admins)
    assert all("25.00" in m.subject and day in m.subject and day in m.text_body for m in mails)
    # and: credit_alert.fired with the lot, what is left in it and when it expires
    [delivery] = await WebhookDelivery.filter(event_type=WebhookEventType.CREDIT_ALERT_FIRED.value)
    data = json.loads(delivery.payload)["data"]
    assert (data["kind"], data["id"]) == ("CREDITS_EXPIRING", str(alert.id))
    assert data["lot"] == {
        "id": str(lot.id),
        "remaining": "25.00",
        "expiresAt": expires_at.isoformat().replace("+00:00", "Z"),
    }

    # when: the sweep runs, and runs again
    assert await lot_expiry.warn_expiring(dt.datetime.now(dt.UTC)) == 0

    # then: still one warning for the lot
    assert len(await _warnings(world.customer.id)) == 1


async def test_time_passing_brings_a_lot_into_the_window_and_the_sweep_warns_once() -> None:
    # given: a lot expiring in ten days (not warned), a lot without expiry and a spent one
    await enable_credits()
    admin = await make_catalog_admin()
    customer = await make_customer()
    lot = await grant_lot(customer, 1000, _in(10 * DAY), by=admin)
    await grant_lot(customer, 1000, None, by=admin)
    spent = await make_customer()
    await grant_lot(spent, 500, _in(10 * DAY), by=admin)
    await change_balance(admin.actor, TransactionKind.WITHDRAWAL, spent.id, 500, None, None)
    assert await _warnings(customer.id) == []

    # when: the sweep runs two days later, then four days later, then again
    now = dt.datetime.now(dt.UTC)
    early = await lot_expiry.warn_expiring(now + 2 * DAY)
    due = await lot_expiry.warn_expiring(now + 4 * DAY)
    again = await lot_expiry.warn_expiring(now + 5 * DAY)

    # then: only the lot with credits and an expiry, once, when it came within 7 days
    assert (early, due, again) == (0, 1, 0)
    assert [a.lot_id for a in await _warnings(customer.id)] == [lot.id]
    assert await _warnings(spent.id) == []


async def test_moving_the_expiry_out_of_the_window_and_back_in_warns_again() -> None:
    # given: a lot granted expiring in three days (warned)
    admin = await make_catalog_admin()
    customer = await make_customer()
    lot = await grant_lot(customer, 1000, _in(3 * DAY), by=admin)
    assert len(await _warnings(customer.id)) == 1

    # when: its expiry moves within the window, then out of it, then back in
    await _move(lot, _in(2 * DAY))
    within = len(await _warnings(customer.id))
    await _move(lot, _in(30 * DAY))
    out = len(await _warnings(customer.id))
    await _move(lot, _in(5 * DAY))

    # then: moving within the window did not warn, moving out did not, coming back in did
    assert (within, out) == (1, 1)
    warnings = await _warnings(customer.id)
    assert [a.lot_id for a in warnings] == [lot.id, lot.id]


async def test_removing_the_expiry_rearms_and_the_sweep_warns_when_one_comes_near_again() -> None:
    # given: a warned lot whose expiry was removed
    admin = await make_catalog_admin()
    customer = await make_customer()
    lot = await grant_lot(customer, 1000, _in(3 * DAY), by=admin)
    await _move(lot, None)

    # when: an expiry 20 days out is set, and the sweep runs 14 days later
    await _move(lot, _in(20 * DAY))
    assert len(await _warnings(customer.id)) == 1
    warned = await lot_expiry.warn_expiring(dt.datetime.now(dt.UTC) + 14 * DAY)

    # then: a second warning
    assert warned == 1
    assert len(await _warnings(customer.id)) == 2


ALERT_LOTS = """
query ($id: ID!) {
  customer(id: $id) { alerts(first: 10) { nodes { kind lot { id remaining expiresAt } } } }
  notifications(first: 10) { nodes { kind lot { id remaining } } }
}"""


async def test_the_alert_and_the_notification_name_the_lot_in_graphql(gql: GraphQLClient) -> None:
    # given: a lot of 12.50 expiring in two days, warned
    world = await make_world("shop")
    lot = await grant_lot(world.customer, 1250, _in(2 * DAY), by=world.admin)

    # when: the customer administrator reads the alerts and notifications
    data = await gql(ALERT_LOTS, {"id": world.cid}, token=world.customer_admin.token)

    # then: both name the lot
    [alert] = data["customer"]["alerts"]["nodes"]
    assert alert["kind"] == "CREDITS_EXPIRING"
    assert (alert["lot"]["id"], alert["lot"]["remaining"]) == (str(lot.id), "12.50")
    [note] = data["notifications"]["nodes"]
    assert note == {"kind": "CREDITS_EXPIRING", "lot": {"id": str(lot.id), "remaining": "12.50"}}


@requires_postgres
async def test_two_sweeps_racing_on_postgres_warn_once_per_lot() -> None:
    # given: 30 customers with two lots each expiring in ten days
    admin = await make_catalog_admin()
    customers = [await make_customer() for _ in range(30)]
    for customer in customers:
        for _ in range(2):
            await grant_lot(customer, 100, _in(10 * DAY), by=admin)

    # when: two sweeps run at once four days later, in small batches
    later = dt.datetime.now(dt.UTC) + 4 * DAY
    first, second = await asyncio.gather(
        lot_expiry.warn_expiring(later, batch=7), lot_expiry.warn_expiring(later, batch=7)
    )

    # then: one warning per lot in all
    assert first + second == 60
    lots = [lot_id for c in customers for lot_id in [a.lot_id for a in await _warnings(c.id)]]
    assert len(lots) == len(set(lots)) == 60
