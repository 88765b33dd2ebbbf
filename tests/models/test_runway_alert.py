"""RUNWAY_LOW: once per crossing of runwayAlertDays, re-armed when the runway leaves it, time passing too."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

from infra import clock
from models import runway_alert
from models.credit_alert import CreditAlert
from models.customer import Customer
from models.ledger import TransactionKind, post
from models.notification import AlertKind, Notification
from models.unit_of_work import unit_of_work
from models.webhook_outbox import WebhookDelivery, WebhookEventType
from models.webhooks import create_endpoint
from notifications.mail import MailDispatcher
from settings import Settings
from tests.factories import World, grant_lot, make_world
from tests.smtp import SmtpServer
from tests.webhook_receiver import WebhookReceiver

DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)


def _start() -> dt.datetime:
    """A whole minute now: the lots' expiries are checked against the real time when granted."""
    return dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)


async def _charge(customer: Customer, cents: int, at: dt.datetime) -> None:
    with clock.set_to(at):
        async with unit_of_work() as uow:
            await post(uow, customer.id, cents, TransactionKind.SERVICE_CHARGE, actor=None)


async def _runway_alerts(customer: Customer) -> list[CreditAlert]:
    return await CreditAlert.filter(customer_id=customer.id, kind=AlertKind.RUNWAY_LOW).order_by("created_at")


async def _fired(customer: Customer) -> bool:
    await customer.refresh_from_db()
    return customer.runway_low_fired


async def _world_with_100(start: dt.datetime, days: int) -> World:
    """A customer with 100.00 in one lot without expiry and two administrators, alerting at `days`."""
    world = await make_world("Acme", admins=2)
    await grant_lot(world.customer, 10_000, None, by=world.admin)
    with clock.set_to(start):
        await runway_alert.set_runway_alert(world.customer.id, days)
    return world


async def test_fires_once_per_crossing_in_app_by_email_and_webhook(
    receiver: WebhookReceiver, smtp: SmtpServer, mail_settings: Settings
) -> None:
    # given: 100.00, a runway alert at 30 days, a webhook endpoint, 7.00 charged: 1.00 a day, 93 days left
    start = _start()
    world = await _world_with_100(start, 30)
    await create_endpoint(receiver.url, None, [WebhookEventType.CREDIT_ALERT_FIRED], None)
    await _charge(world.customer, 700, start + HOUR)
    assert await runway_alert.sweep(start + 2 * HOUR) == 0

    # when: 56.00 more are charged (9.00 a day, 37.00 left: about 4 days) and the sweep runs twice
    await _charge(world.customer, 5_600, start + 3 * HOUR)
    first = await runway_alert.sweep(start + 4 * HOUR)
    second = await runway_alert.sweep(start + 5 * HOUR)

    # then: one RUNWAY_LOW alert with the forecast: 37.00 at 9.00 a day from the sweep's moment
    assert (first, second) == (1, 0)
    [alert] = await _runway_alerts(world.customer)
    depletes_at = start + 4 * HOUR + dt.timedelta(microseconds=37 * 86_400_000_000 // 9)
    assert (alert.balance, alert.depletes_at) == (3_700, depletes_at)
    assert await _fired(world.customer)
    # and: a notification for each administrator
    notes = await Notification.filter(kind=AlertKind.RUNWAY_LOW)
    assert sorted(n.user_id for n in notes) == sorted(a.user.id for a in world.tenant.admins)
    when = depletes_at.strftime("%Y-%m-%d %H:%M UTC")
    assert notes[0].message == f"At the current rate, the credits of Acme run out on {when}."
    # and: an email each, through SMTP
    assert await MailDispatcher(mail_settings).dispatch_once() == 2
    assert sorted(m["To"] for m in smtp.messages) == sorted(a.user.email for a in world.tenant.admins)
    assert {m["Subject"] for m in smtp.messages} == {f"Acme: credits run out on {when} at the current rate"}
    # and: credit_alert.fired with depletesAt
    [delivery] = await WebhookDelivery.filter(event_type=WebhookEventType.CREDIT_ALERT_FIRED.value)
    data = json.loads(delivery.payload)["data"]
    assert (data["kind"], data["id"], data["balance"]) == ("RUNWAY_LOW", str(alert.id), "37.00")
    assert data["depletesAt"] == depletes_at.isoformat().replace("+00:00", "Z")


async def test_a_customer_who_stops_spending_rearms_and_the_next_crossing_fires_again() -> None:
    # given: a fired alert (63.00 charged in a day: 37.00 left at 9.00 a day, alert at 30 days)
    start = _start()
    world = await _world_with_100(start, 30)
    await _charge(world.customer, 6_300, start + HOUR)
    assert await runway_alert.sweep(start + 2 * HOUR) == 1

    # when: nothing is charged for a week: the rate falls to 0, no depletion
    rearmed = await runway_alert.sweep(start + HOUR + 7 * DAY)

    # then: re-armed, nothing fired
    assert rearmed == 0 and not await _fired(world.customer)

    # when: 14.00 are charged (2.00 a day, 23.00 left: 11.5 days) and the sweep runs
    await _charge(world.customer, 1_400, start + 8 * DAY)
    fired = await runway_alert.sweep(start + 8 * DAY + HOUR)

    # then: a second alert for the second crossing
    assert fired == 1
    assert len(await _runway_alerts(world.customer)) == 2


async def test_time_passing_brings_a_lots_expiry_within_the_days_without_any_entry() -> None:
    # given: 100.00 expiring in 20 days, 7.00 charged today (1.00 a day), an alert at 15 days
    start = _start()
    world = await make_world("Acme", admins=1)
    await grant_lot(world.customer, 10_000, start + 20 * DAY, by=world.admin)
    with clock.set_to(start):
        await runway_alert.set_runway_alert(world.customer.id, 15)
    await _charge(world.customer, 700, start + HOUR)
    assert await runway_alert.sweep(start + 2 * HOUR) == 0

    # when: six days pass, nothing is written, and the sweep runs
    fired = await runway_alert.sweep(start + 6 * DAY)

    # then: the lot's expiry, its depletion, is now within 15 days (93.00 less 14 days at 1.00 expire)
    assert fired == 1
    [alert] = await _runway_alerts(world.customer)
    assert alert.depletes_at == start + 20 * DAY
    [note] = await Notification.filter(kind=AlertKind.RUNWAY_LOW)
    assert note.message.endswith("; 79.00 will expire unused first.")


async def test_setting_the_alert_inside_the_runway_fires_at_once_and_null_turns_it_off() -> None:
    # given: 100.00 and 63.00 charged this week: about 4 days left
    start = _start()
    world = await _world_with_100(start, 30)
    await runway_alert.set_runway_alert(world.customer.id, None)
    await _charge(world.customer, 6_300, start + HOUR)

    # when: the alert is set at 10 days
    with clock.set_to(start + 2 * HOUR):
        customer = await runway_alert.set_runway_alert(world.customer.id, 10)

    # then: it fires in the same transaction
    assert (customer.runway_alert_days, customer.runway_low_fired) == (10, True)
    assert len(await _runway_alerts(world.customer)) == 1

    # when: the same value again, then null
    with clock.set_to(start + 3 * HOUR):
        await runway_alert.set_runway_alert(world.customer.id, 10)
        off = await runway_alert.set_runway_alert(world.customer.id, None)

    # then: nothing more fires; off, and the sweep passes it by
    assert (off.runway_alert_days, off.runway_low_fired) == (None, False)
    assert await runway_alert.sweep(start + 4 * HOUR) == 0
    assert len(await _runway_alerts(world.customer)) == 1


async def test_sweeps_of_two_processes_racing_fire_once() -> None:
    # given: a customer whose runway came within its days (the alert set before the charges)
    start = _start()
    world = await _world_with_100(start, 30)
    await _charge(world.customer, 6_300, start + HOUR)

    # when: two sweeps run at once (as two processes' housekeeping would)
    fired = await asyncio.gather(*(runway_alert.sweep(start + 2 * HOUR) for _ in range(2)))

    # then: one alert: the second found the flag set under the customer's lock
    assert sorted(fired) == [0, 1]
    assert len(await _runway_alerts(world.customer)) == 1
