"""The email dispatcher: sends the outbox with aiosmtplib, retrying until the SMTP server is back.

On PostgreSQL a row is claimed as a row lock (`FOR UPDATE SKIP LOCKED`) of a transaction kept
open while it is sent and committed with the outcome: other processes skip it meanwhile, and a
process that dies mid-send drops its connection, which releases the row at once. SQLite serves
one process: its rows are claimed with a lease, and a start takes back the leases of the run
before. A temporary failure (connection refused, 4xx) backs off exponentially; a permanent one
(5xx) or too many tries marks the row FAILED and logs it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.utils import format_datetime

import aiosmtplib
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q
from tortoise.queryset import QuerySet

import metrics
from infra.email_address import Address, InvalidAddress, parse_address
from infra.transactions import transaction
from models.outbox import EmailOutbox, EmailStatus
from notifications.dispatch import PLAN_FOR_BACKLOG, OutboxDispatcher, hold_claims_for

log = logging.getLogger("credits.mail")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def outbox_backlog() -> int:
    """How many alert emails wait to be sent (PENDING rows), for the metrics."""
    return await EmailOutbox.filter(status=EmailStatus.PENDING).count()


# What would end a header line (str.splitlines' breaks) or hide in one: C0, DEL, C1, U+2028/9.
_NOT_IN_A_HEADER = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def one_line(text: str) -> str:
    """Header text on one line: a customer's name cannot add a header (or make the row unsendable)."""
    return _NOT_IN_A_HEADER.sub(" ", text).strip()


def _header_address(address: Address, display_name: str = "") -> HeaderAddress:
    """An address header's value built from its parts (a non-ASCII local part has no addr_spec parse)."""
    username, domain = address.smtp.rsplit("@", 1)
    return HeaderAddress(display_name=display_name, username=username, domain=domain)


def build_message(row: EmailOutbox, sender: Address, recipient: Address) -> EmailMessage:
    """The MIME message for an outbox row: plain text with an HTML alternative."""
    message = EmailMessage()
    message["From"] = _header_address(sender, one_line(sender.display_name or ""))
    message["To"] = _header_address(recipient)
    message["Subject"] = one_line(row.subject)
    message["Message-ID"] = row.message_id
    message["Date"] = format_datetime(row.created_at)
    message.set_content(row.text_body)
    message.add_alternative(row.html_body, subtype="html")
    return message


class MailDispatcher(OutboxDispatcher):
    """Background sender of the email outbox."""

    what = "mail"
    log = log

    @property
    def enabled(self) -> bool:
        """Mail leaves only with an SMTP host configured."""
        return self.settings.emails_enabled

    @property
    def batch_size(self) -> int:
        """CREDITS_MAIL_BATCH_SIZE."""
        return self.settings.mail_batch_size

    @property
    def poll_seconds(self) -> float:
        """CREDITS_MAIL_POLL_SECONDS."""
        return self.settings.mail_poll_seconds

    def start(self) -> None:
        """Start sending in the background (or say why not)."""
        if not self.enabled:
            log.warning("no SMTP server configured (CREDITS_SMTP_HOST): alert emails stay in the outbox")
            return
        super().start()

    async def take_back_leases(self) -> int:
        """SQLite (one process): rows a previous run left mid-send are due now; returns how many."""
        taken = await EmailOutbox.filter(status=EmailStatus.SENDING).update(
            status=EmailStatus.PENDING, lease_until=None, next_attempt_at=_now()
        )
        if taken:
            log.warning("took back %d alert emails a previous run left mid-send", taken)
        return taken

    async def dispatch_once(self) -> int:
        """Claim due rows and try each once; returns how many were claimed."""
        if not self.settings.is_sqlite:
            return await self._dispatch_locked()
        rows = await self._claim()
        for row in rows:
            await self._record(row, await self._deliver(row))
        return len(rows)

    def _due(self) -> QuerySet[EmailOutbox]:
        now = _now()
        due = Q(status=EmailStatus.PENDING, next_attempt_at__lte=now) | Q(
            status=EmailStatus.SENDING, lease_until__lt=now
        )
        return EmailOutbox.filter(due).order_by("created_at")

    def _due_locked(self) -> QuerySet[EmailOutbox]:
        """PostgreSQL (no leases, so no SENDING rows): the due rows in the order of their index."""
        return EmailOutbox.filter(status=EmailStatus.PENDING, next_attempt_at__lte=_now()).order_by(
            "next_attempt_at"
        )

    async def _dispatch_locked(self) -> int:
        """PostgreSQL: each row locked by its own transaction while it is sent, committed with the outcome.

        A dead process's connection drops and its lock with it; the server ends a transaction left
        idle past the send timeout (plus a margin), so a stalled process cannot hold a row forever.
        """
        tried = 0
        while tried < self.settings.mail_batch_size:
            async with transaction() as conn:
                await hold_claims_for(conn, self.settings.mail_timeout_seconds, **PLAN_FOR_BACKLOG)
                query = self._due_locked().limit(1).select_for_update(skip_locked=True)
                row = await query.using_db(conn).first()
                if row is None:
                    break
                row.attempts += 1
                await self._record(row, await self._deliver(row), conn)
            tried += 1
        return tried

    async def _claim(self) -> list[EmailOutbox]:
        """SQLite: lease a batch of due rows (SENDING until `lease_until`)."""
        async with transaction() as conn:
            rows = await self._due().limit(self.settings.mail_batch_size).using_db(conn)
            lease = _now() + dt.timedelta(seconds=self.settings.mail_lease_seconds)
            for row in rows:
                row.status = EmailStatus.SENDING
                row.lease_until = lease
                row.attempts += 1
                await row.save(using_db=conn, update_fields=["status", "lease_until", "attempts"])
        return rows

    async def _deliver(self, row: EmailOutbox) -> tuple[str, bool] | None:
        """Send one row, bounded by the send timeout; None when accepted, else (error, permanent).

        The envelope names the sender and the one recipient explicitly, never read from headers.
        A stored recipient that is not one valid address (a row or an account older than the
        check) fails for good without being sent.
        """
        s = self.settings
        try:
            recipient = parse_address(row.recipient)
        except InvalidAddress as exc:
            return f"recipient is not one valid address, not sent: {exc}", True
        try:
            sender = parse_address(s.mail_from, display_name=True)
        except InvalidAddress as exc:  # server.py refuses to start so; an embedding app may not
            return f"CREDITS_MAIL_FROM is not one valid address: {exc}", False
        try:
            async with asyncio.timeout(s.mail_timeout_seconds):
                await aiosmtplib.send(
                    build_message(row, sender, recipient),
                    sender=sender.smtp,
                    recipients=[recipient.smtp],
                    hostname=s.smtp_host,
                    port=s.smtp_port,
                    username=s.smtp_username,
                    password=s.smtp_password,
                    start_tls=s.smtp_starttls,
                    timeout=s.mail_timeout_seconds,
                )
        except aiosmtplib.SMTPResponseException as exc:
            return f"{exc.code} {exc.message}", exc.code >= 500
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            return f"{type(exc).__name__}: {exc}", False
        return None

    async def _record(
        self, row: EmailOutbox, failure: tuple[str, bool] | None, conn: BaseDBAsyncClient | None = None
    ) -> None:
        """Save the attempt's outcome: SENT, or the failure with its retry or FAILED."""
        if failure is not None:
            error, permanent = failure
            await self._failed(row, error, permanent=permanent, conn=conn)
            return
        metrics.EMAILS_SENT.inc()
        row.status, row.sent_at, row.lease_until, row.last_error = EmailStatus.SENT, _now(), None, None
        await row.save(
            using_db=conn, update_fields=["status", "sent_at", "lease_until", "last_error", "attempts"]
        )
        log.info("sent alert email %s to %s", row.message_id, row.recipient)

    async def _failed(
        self, row: EmailOutbox, error: str, *, permanent: bool, conn: BaseDBAsyncClient | None
    ) -> None:
        s = self.settings
        metrics.EMAIL_SEND_FAILURES.inc()
        row.last_error = error[:1000]
        row.lease_until = None
        if permanent or row.attempts >= s.mail_max_attempts:
            row.status = EmailStatus.FAILED
            log.error(
                "giving up on email %s to %s after %d tries: %s",
                row.message_id,
                row.recipient,
                row.attempts,
                error,
            )
        else:
            row.status = EmailStatus.PENDING
            backoff = min(s.mail_backoff_seconds * 2 ** (row.attempts - 1), s.mail_backoff_max_seconds)
            row.next_attempt_at = _now() + dt.timedelta(seconds=backoff)
            log.warning(
                "email %s to %s not sent (%s); retry in %.1fs", row.message_id, row.recipient, error, backoff
            )
        await row.save(
            using_db=conn,
            update_fields=["status", "last_error", "lease_until", "next_attempt_at", "attempts"],
        )
