"""The email outbox: alert mail written in the ledger's transaction, sent later by a dispatcher."""

from __future__ import annotations

import datetime as dt
import html
import uuid
from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model

from models.customer import Customer
from models.lots import CreditLot
from models.money import format_amount
from models.notification import AlertKind
from models.user import User


class EmailStatus(StrEnum):
    """PENDING until sent (or retried); SENDING while a dispatcher holds its lease (SQLite only)."""

    PENDING = "PENDING"
    SENDING = "SENDING"
    SENT = "SENT"
    FAILED = "FAILED"


class EmailOutbox(Model):
    """One email to one recipient, with a stable Message-ID so a resend is recognisable."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    recipient = fields.CharField(max_length=254)
    subject = fields.CharField(max_length=300)
    text_body = fields.TextField()
    html_body = fields.TextField()
    message_id = fields.CharField(max_length=200, unique=True)
    alert_id = fields.UUIDField(null=True)
    status = fields.CharEnumField(EmailStatus, max_length=10, default=EmailStatus.PENDING)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField(auto_now_add=True)
    lease_until = fields.DatetimeField(null=True)
    last_error = fields.TextField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    sent_at = fields.DatetimeField(null=True)

    class Meta:
        table = "email_outbox"
        indexes = (("status", "next_attempt_at"),)


def render_alert_email(
    recipient: User, customer: Customer, kind: AlertKind, message: str, alert_id: uuid.UUID
) -> dict[str, Any]:
    """The outbox row's fields for one alert email: subject naming customer and balance."""
    balance = format_amount(customer.balance)
    limit = "below zero" if kind == AlertKind.BELOW_ZERO else "below its alert threshold"
    subject = f"{customer.name}: credit balance {balance} is {limit}"
    if kind == AlertKind.AUTO_TOP_UP_LIMIT_REACHED:
        subject = f"{customer.name}: auto top-up reached its daily limit (balance {balance})"
    text = (
        f"Hello {recipient.name},\n\n{message}\n\n"
        f"Customer: {customer.name}\nBalance: {balance} credits\n\n"
        "Grant credits or adjust the threshold in the dashboard.\n"
    )
    body = (
        f"<p>Hello {html.escape(recipient.name)},</p><p>{html.escape(message)}</p>"
        f"<table><tr><th align=left>Customer</th><td>{html.escape(customer.name)}</td></tr>"
        f"<tr><th align=left>Balance</th><td>{balance} credits</td></tr></table>"
        "<p>Grant credits or adjust the threshold in the dashboard.</p>"
    )
    return _alert_row(recipient, subject, text, body, alert_id)


def format_expiry(moment: dt.datetime | None) -> str:
    """An expiry as people read it in mail and notifications: `2026-12-13 08:00 UTC`."""
    return "never" if moment is None else moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def render_expiring_email(
    recipient: User, customer: Customer, lot: CreditLot, message: str, alert_id: uuid.UUID
) -> dict[str, Any]:
    """The outbox row's fields for one CREDITS_EXPIRING email: the lot's remaining credits and expiry."""
    remaining = format_amount(lot.remaining)
    when = format_expiry(lot.expires_at)
    subject = f"{customer.name}: {remaining} credits expire on {when}"
    text = (
        f"Hello {recipient.name},\n\n{message}\n\n"
        f"Customer: {customer.name}\nCredits expiring: {remaining}\nExpires on: {when}\n"
        f"Lot: {lot.id}\n\nUse them before then, or ask for the expiry to be moved.\n"
    )
    body = (
        f"<p>Hello {html.escape(recipient.name)},</p><p>{html.escape(message)}</p>"
        f"<table><tr><th align=left>Customer</th><td>{html.escape(customer.name)}</td></tr>"
        f"<tr><th align=left>Credits expiring</th><td>{remaining}</td></tr>"
        f"<tr><th align=left>Expires on</th><td>{when}</td></tr>"
        f"<tr><th align=left>Lot</th><td>{lot.id}</td></tr></table>"
        "<p>Use them before then, or ask for the expiry to be moved.</p>"
    )
    return _alert_row(recipient, subject, text, body, alert_id)


def render_runway_email(
    recipient: User,
    customer: Customer,
    depletes_at: dt.datetime,
    expiring: int,
    message: str,
    alert_id: uuid.UUID,
) -> dict[str, Any]:
    """The outbox row's fields for one RUNWAY_LOW email: when credits run out, what expires unused first."""
    when = format_expiry(depletes_at)
    balance = format_amount(customer.balance)
    unused = format_amount(expiring)
    subject = f"{customer.name}: credits run out on {when} at the current rate"
    text = (
        f"Hello {recipient.name},\n\n{message}\n\n"
        f"Customer: {customer.name}\nBalance: {balance} credits\nRuns out on: {when}\n"
        f"Expiring unused first: {unused}\n\nGrant credits or adjust the runway alert in the dashboard.\n"
    )
    body = (
        f"<p>Hello {html.escape(recipient.name)},</p><p>{html.escape(message)}</p>"
        f"<table><tr><th align=left>Customer</th><td>{html.escape(customer.name)}</td></tr>"
        f"<tr><th align=left>Balance</th><td>{balance} credits</td></tr>"
        f"<tr><th align=left>Runs out on</th><td>{when}</td></tr>"
        f"<tr><th align=left>Expiring unused first</th><td>{unused}</td></tr></table>"
        "<p>Grant credits or adjust the runway alert in the dashboard.</p>"
    )
    return _alert_row(recipient, subject, text, body, alert_id)


def _alert_row(recipient: User, subject: str, text: str, body: str, alert_id: uuid.UUID) -> dict[str, Any]:
    email_id = uuid.uuid4()
    return {
        "id": email_id,
        "recipient": recipient.email,
        "subject": subject,
        "text_body": text,
        "html_body": body,
        "message_id": f"<alert-{alert_id}-{email_id}@credits>",
        "alert_id": alert_id,
        "next_attempt_at": dt.datetime.now(dt.UTC),
    }
