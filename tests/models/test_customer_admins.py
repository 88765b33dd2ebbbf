"""Telling a customer's administrators: one notification each, an email only when one is given."""

from __future__ import annotations

from models.customer_admins import notify_customer_admins
from models.events import EmailQueued, NotificationCreated
from models.notification import AlertKind, Notification
from models.outbox import EmailOutbox
from models.unit_of_work import unit_of_work
from models.user import User
from tests.factories import make_tenant


async def test_each_active_administrator_gets_a_notification_and_no_mail_without_an_email() -> None:
    """The webhook-disabled notice: in the app only."""
    # given: a customer with two administrators (one deactivated) and an end user
    tenant = await make_tenant("Acme", admins=2)
    await User.filter(id=tenant.admins[1].user.id).update(active=False)

    # when: its administrators are told, without an email
    async with unit_of_work() as uow:
        await notify_customer_admins(uow, tenant.customer, AlertKind.WEBHOOK_DISABLED, "disabled")

    # then: the active administrator alone has a notification, and no mail is queued
    notes = await Notification.all()
    assert [(n.user_id, n.message) for n in notes] == [(tenant.admins[0].user.id, "disabled")]
    assert await EmailOutbox.all().count() == 0
    assert [type(e) for e in uow.events] == [NotificationCreated]


async def test_with_an_email_each_administrator_also_gets_one_and_the_dispatcher_is_woken_once() -> None:
    """An alert: a notification and an email each, one EmailQueued for them all."""
    # given: a customer with two administrators
    tenant = await make_tenant("Acme", admins=2)
    await make_tenant("Globex")  # another customer's administrator: not told

    # when: its administrators are told, with an email
    async with unit_of_work() as uow:
        await notify_customer_admins(
            uow,
            tenant.customer,
            AlertKind.BELOW_ZERO,
            "below zero",
            email=lambda admin: {
                "recipient": admin.email,
                "subject": "s",
                "text_body": "t",
                "html_body": "h",
                "message_id": f"<{admin.id}@test>",
            },
        )

    # then: two notifications, two emails, one wake-up counting both
    assert await Notification.all().count() == 2
    assert sorted(await EmailOutbox.all().values_list("recipient", flat=True)) == sorted(
        a.user.email for a in tenant.admins
    )
    assert [e.count for e in uow.events if isinstance(e, EmailQueued)] == [2]
