"""CREDITS_EXPIRING: one alert per lot when its credits come within 7 days of their expiry.

A lot is due for a warning while it is ACTIVE, holds credits, expires within `WINDOW` and has not
been warned for its current expiry (`expiring_warned`). Three places bring a lot there: a grant
(or refund) that credits it (a balance rule, in the posting's transaction), `updateCreditLot`
moving its expiry into the window (in that update's transaction), and time passing (the sweep,
models/lot_expiry.py). Each claims the lot with a conditional row lock before warning, so two of
them racing warn once; moving the expiry out of the window re-arms it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence

from models.alerts import raise_alert
from models.customer import Customer
from models.lots import CreditLot, LotStatus
from models.money import format_amount
from models.notification import AlertKind
from models.outbox import format_expiry, render_expiring_email
from models.unit_of_work import UnitOfWork

WINDOW = dt.timedelta(days=7)


def in_window(expires_at: dt.datetime | None, now: dt.datetime) -> bool:
    """Whether an expiry lies within `WINDOW` of `now` (a lot without expiry never does)."""
    return expires_at is not None and expires_at <= now + WINDOW


async def claim(uow: UnitOfWork, lot_ids: Sequence[uuid.UUID], now: dt.datetime) -> list[CreditLot]:
    """Mark the lots among `lot_ids` that are due a warning as warned; returns them, by id.

    On PostgreSQL the rows are locked (FOR UPDATE re-checks the condition on the newest version)
    and rows another transaction holds are skipped: that one, or the next sweep, warns them.
    """
    if not lot_ids:
        return []
    due = (
        await CreditLot.filter(
            id__in=list(lot_ids),
            status=LotStatus.ACTIVE,
            remaining__gt=0,
            expires_at__lte=now + WINDOW,
            expiring_warned=False,
        )
        .order_by("id")
        .select_for_update(skip_locked=True)
        .using_db(uow.conn)
    )
    if due:
        await CreditLot.filter(id__in=[lot.id for lot in due]).using_db(uow.conn).update(expiring_warned=True)
    return due


async def warn_due(
    uow: UnitOfWork, customer: Customer, lot_ids: Sequence[uuid.UUID], now: dt.datetime
) -> int:
    """Warn about each of the customer's lots among `lot_ids` that is due; returns how many."""
    return await warn_credited(uow, dict.fromkeys(lot_ids, customer), now)


async def warn_credited(uow: UnitOfWork, owners: Mapping[uuid.UUID, Customer], now: dt.datetime) -> int:
    """Warn about each lot among `owners` (lot id: its customer) that is due; returns how many."""
    lots = await claim(uow, list(owners), now)
    for lot in lots:
        await warn(uow, owners[lot.id], lot)
    return len(lots)


def _message(customer: Customer, lot: CreditLot) -> str:
    when = format_expiry(lot.expires_at)
    return f"{format_amount(lot.remaining)} credits of {customer.name} expire on {when}."


async def warn(uow: UnitOfWork, customer: Customer, lot: CreditLot) -> None:
    """The CREDITS_EXPIRING alert for a claimed lot: alert row, webhook, notification and email."""
    message = _message(customer, lot)
    await raise_alert(
        uow,
        customer,
        AlertKind.CREDITS_EXPIRING,
        message,
        lambda admin, alert_id: render_expiring_email(admin, customer, lot, message, alert_id),
        lot=lot,
    )
