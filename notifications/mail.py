"""The email dispatcher: sends the outbox with aiosmtplib, retrying until the SMTP server is back.

Rows are claimed with a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL), so several server
processes never send the same row at once, and a process killed mid-send leaves a row that is
claimed again once its lease runs out. A temporary failure (connection refused, 4xx) backs off
exponentially; a permanent one (5xx) or too many tries marks the row FAILED and logs it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from contextlib import suppress
from email.message import EmailMessage
from email.utils import format_datetime

import aiosmtplib
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

import metrics
from models.outbox import EmailOutbox, EmailStatus
from notifications.tasks import cancel_and_wait
from settings import Settings

log = logging.getLogger("credits.mail")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def outbox_backlog() -> int:
    """How many alert emails wait to be sent (PENDING rows), for the metrics."""
    return await EmailOutbox.filter(status=EmailStatus.PENDING).count()


def build_message(row: EmailOutbox, sender: str) -> EmailMessage:
    """The MIME message for an outbox row: plain text with an HTML alternative."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = row.recipient
    message["Subject"] = row.subject
    message["Message-ID"] = row.message_id
    message["Date"] = format_datetime(row.created_at)
    message.set_content(row.text_body)
    message.add_alternative(row.html_body, subtype="html")
    return message


class MailDispatcher:
    """Background sender of the email outbox."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        """Mail leaves only with an SMTP host configured."""
        return self.settings.emails_enabled

    def start(self) -> None:
        """Start sending in the background (or say why not)."""
        if not self.enabled:
            log.warning("no SMTP server configured (CREDITS_SMTP_HOST): alert emails stay in the outbox")
            return
        self._task = asyncio.create_task(self._run(), name="mail-dispatcher")

    async def stop(self) -> None:
        """Stop sending; claimed rows are released when their lease runs out."""
        await cancel_and_wait(self._task)
        self._task = None

    def wake(self) -> None:
        """New mail was committed: send now instead of at the next poll."""
        self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                busy = await self.dispatch_once() == self.settings.mail_batch_size
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("mail dispatch failed; retrying")
                busy = False
            if busy:
                continue
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.mail_poll_seconds)
            self._wake.clear()

    async def dispatch_once(self) -> int:
        """Claim due rows and try each once; returns how many were claimed."""
        rows = await self._claim()
        for row in rows:
            await self._send(row)
        return len(rows)

    async def _claim(self) -> list[EmailOutbox]:
        now = _now()
        due = Q(status=EmailStatus.PENDING, next_attempt_at__lte=now) | Q(
            status=EmailStatus.SENDING, lease_until__lt=now
        )
        async with in_transaction() as conn:
            query = EmailOutbox.filter(due).order_by("created_at").limit(self.settings.mail_batch_size)
            if not self.settings.is_sqlite:
                query = query.select_for_update(skip_locked=True)
            rows = await query.using_db(conn)
            lease = now + dt.timedelta(seconds=self.settings.mail_lease_seconds)
            for row in rows:
                row.status = EmailStatus.SENDING
                row.lease_until = lease
                row.attempts += 1
                await row.save(using_db=conn, update_fields=["status", "lease_until", "attempts"])
        return rows

    async def _send(self, row: EmailOutbox) -> None:
        s = self.settings
        try:
            await aiosmtplib.send(
                build_message(row, s.mail_from),
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_username,
                password=s.smtp_password,
                start_tls=s.smtp_starttls,
                timeout=s.mail_timeout_seconds,
            )
        except aiosmtplib.SMTPResponseException as exc:
            await self._failed(row, f"{exc.code} {exc.message}", permanent=exc.code >= 500)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            await self._failed(row, f"{type(exc).__name__}: {exc}", permanent=False)
        else:
            metrics.EMAILS_SENT.inc()
            row.status, row.sent_at, row.lease_until, row.last_error = EmailStatus.SENT, _now(), None, None
            await row.save(update_fields=["status", "sent_at", "lease_until", "last_error"])
            log.info("sent alert email %s to %s", row.message_id, row.recipient)

    async def _failed(self, row: EmailOutbox, error: str, *, permanent: bool) -> None:
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
        await row.save(update_fields=["status", "last_error", "lease_until", "next_attempt_at"])
