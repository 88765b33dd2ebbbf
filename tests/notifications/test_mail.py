"""Alert email: the outbox dispatcher against a real SMTP server (aiosmtpd), in-process and end to end."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import signal
import socket
from collections import Counter
from collections.abc import AsyncIterator, Callable
from email.message import EmailMessage

import httpx
import pytest
from tortoise import connections
from tortoise.transactions import in_transaction

from models.outbox import EmailOutbox, EmailStatus
from models.user import User
from notifications.dispatch import PLAN_FOR_BACKLOG, hold_claims_for
from notifications.mail import MailDispatcher
from settings import Settings
from tests import factories
from tests.client import GraphQLClient
from tests.conftest import requires_postgres
from tests.documents import GRANT_CREDITS, WITHDRAW_CREDITS
from tests.factories import Login, enable_credits, make_catalog_admin
from tests.polling import eventually
from tests.processes import ServerProcess, free_port
from tests.smtp import SmtpServer

BACKOFF = 0.2


@pytest.fixture
def mail_settings(mail_settings: Settings) -> Settings:
    """The shared mail settings (tests/conftest.py), with short backoffs."""
    return mail_settings.model_copy(
        update={"mail_backoff_seconds": BACKOFF, "mail_backoff_max_seconds": 10.0, "mail_max_attempts": 5}
    )


# --- helpers -----------------------------------------------------------------------------------


async def rows() -> list[EmailOutbox]:
    """Every outbox row, by recipient."""
    return await EmailOutbox.all().order_by("recipient")


async def only_row() -> EmailOutbox:
    """The single outbox row."""
    [row] = await EmailOutbox.all()
    return row


async def received(smtp: SmtpServer, n: int) -> bool:
    """At least `n` messages have arrived."""
    return len(smtp.handler.envelopes) >= n


async def wait_until_due(row: EmailOutbox) -> None:
    """Sleep until a row's next attempt is due."""
    delay = (row.next_attempt_at - dt.datetime.now(dt.UTC)).total_seconds()
    await asyncio.sleep(max(delay, 0) + 0.02)


class Tenant:
    """A customer at 10.00 credits with its customer administrators and a catalog administrator."""

    def __init__(self, customer_id: str, admin: Login, customer_admins: list[Login]) -> None:
        self.customer_id = customer_id
        self.admin = admin
        self.customer_admins = customer_admins

    @property
    def emails(self) -> list[str]:
        """The administrators' addresses, sorted."""
        return sorted(a.user.email for a in self.customer_admins)


async def make_tenant(admins: int = 2, name: str = "Acme") -> Tenant:
    """Credits on; a customer with 10 credits and `admins` customer administrators."""
    await enable_credits()
    admin = await make_catalog_admin()
    people = await factories.make_tenant(name, balance=10, admins=admins, end_users=0, by=admin)
    return Tenant(people.id, admin, people.admins)


async def cross_zero(gql: GraphQLClient, tenant: Tenant, refill: bool = False) -> None:
    """Withdraw 25.00 from 10.00 (BELOW_ZERO at -15.00); with `refill`, grant it back first."""
    if refill:
        variables = {"input": {"customerId": tenant.customer_id, "amount": "25"}}
        payload = await gql(GRANT_CREDITS, variables, token=tenant.admin.token)
        assert payload["grantCredits"]["customer"]["balance"] == "10.00"
    variables = {"input": {"customerId": tenant.customer_id, "amount": "25"}}
    payload = (await gql(WITHDRAW_CREDITS, variables, token=tenant.admin.token))["withdrawCredits"]
    assert payload["customer"]["balance"] == "-15.00"


def body_of(message: EmailMessage, subtype: str) -> str:
    """The text of a message's part of type text/`subtype`, with the wire's CRLF made LF."""
    part = message.get_body(preferencelist=(subtype,))
    assert part is not None and part.get_content_type() == f"text/{subtype}"
    return part.get_content().replace("\r\n", "\n")


# --- the dispatcher, driven directly -----------------------------------------------------------


async def test_dispatch_sends_each_alert_email_with_text_and_html(gql, smtp, mail_settings):
    """Each outbox row arrives once, to its recipient, with From, Subject, Message-ID and both bodies."""
    # given: an alert for a customer with two administrators
    tenant = await make_tenant()
    await cross_zero(gql, tenant)
    queued = await rows()

    # when: the dispatcher runs once
    sent = await MailDispatcher(mail_settings).dispatch_once()

    # then: both emails arrived, each as the outbox row says
    assert sent == 2
    assert sorted(m["To"] for m in smtp.messages) == tenant.emails
    assert sorted(e.rcpt_tos[0] for e in smtp.handler.envelopes) == tenant.emails
    assert {e.mail_from for e in smtp.handler.envelopes} == {"alerts@credits.test"}
    by_recipient = {m["To"]: m for m in smtp.messages}
    for row in queued:
        message = by_recipient[row.recipient]
        assert message["From"] == "alerts@credits.test"
        assert message["Subject"] == row.subject
        assert message["Subject"] == "Acme: credit balance -15.00 is below zero"
        assert message["Message-ID"] == row.message_id
        assert message["Date"] is not None
        assert message.get_content_type() == "multipart/alternative"
        assert body_of(message, "plain") == row.text_body
        assert body_of(message, "html").strip() == row.html_body
        assert "-15.00" in body_of(message, "plain") and "Acme" in body_of(message, "html")
    assert smtp.per_message_id() == {r.message_id: 1 for r in queued}

    # then: the rows are SENT after one attempt, and nothing is claimed again
    for row in await rows():
        assert (row.status, row.attempts, row.last_error, row.lease_until) == (
            EmailStatus.SENT,
            1,
            None,
            None,
        )
        assert row.sent_at is not None
    assert await MailDispatcher(mail_settings).dispatch_once() == 0
    assert len(smtp.messages) == 2


async def test_each_email_goes_to_exactly_one_recipient_from_a_named_sender(gql, smtp, mail_settings):
    """The envelope is built from the row, never parsed from headers: one RCPT per email."""
    # given: an alert for two administrators, and a sender with a name
    tenant = await make_tenant()
    await cross_zero(gql, tenant)
    named = mail_settings.model_copy(update={"mail_from": '"Credits, Alerts" <alerts@credits.test>'})

    # when
    assert await MailDispatcher(named).dispatch_once() == 2

    # then: one RCPT each, the bare address as MAIL FROM, the name only in the header
    assert sorted(tuple(e.rcpt_tos) for e in smtp.handler.envelopes) == [(a,) for a in tenant.emails]
    assert {e.mail_from for e in smtp.handler.envelopes} == {"alerts@credits.test"}
    assert {str(m["From"]) for m in smtp.messages} == {'"Credits, Alerts" <alerts@credits.test>'}


async def test_a_stored_address_list_is_never_mailed_and_fails_its_row(gql, smtp, mail_settings, caplog):
    """An account stored before addresses were checked (`boss,outsider@evil.test`) is skipped, logged."""
    # given: two administrators, one with an address the old rule let through
    tenant = await make_tenant()
    legacy, other = tenant.customer_admins
    await User.filter(id=legacy.user.id).update(email="boss,outsider@evil.test")
    await cross_zero(gql, tenant)
    caplog.set_level(logging.WARNING, logger="credits.mail")

    # when: the dispatcher runs, and again later
    assert await MailDispatcher(mail_settings).dispatch_once() == 2
    assert await MailDispatcher(mail_settings).dispatch_once() == 0

    # then: only the valid address received mail; the other row failed for good, with its reason
    assert [e.rcpt_tos for e in smtp.handler.envelopes] == [[other.user.email]]
    skipped = await EmailOutbox.get(recipient="boss,outsider@evil.test")
    assert (skipped.status, skipped.attempts) == (EmailStatus.FAILED, 1)
    assert (skipped.last_error or "").startswith("recipient is not one valid address, not sent")
    assert (await EmailOutbox.get(recipient=other.user.email)).status == EmailStatus.SENT
    logged = [r for r in caplog.records if r.name == "credits.mail" and r.levelno == logging.ERROR]
    errors = [r.getMessage() for r in logged]
    assert len(errors) == 1 and skipped.message_id in errors[0]


async def test_a_line_break_in_a_customer_name_adds_no_header(gql, smtp, mail_settings):
    """The subject names the customer: its CR/LF (or NEL, U+2028) become spaces, not a Bcc."""
    # given: a customer whose name tries to start a header
    tenant = await make_tenant(admins=1, name="Acme\r\nBcc: outsider@evil.test\u2028X-Evil: 1")
    await cross_zero(gql, tenant)

    # when
    assert await MailDispatcher(mail_settings).dispatch_once() == 1

    # then: one RCPT, no extra header, the subject on one line
    [envelope] = smtp.handler.envelopes
    [message] = smtp.messages
    assert envelope.rcpt_tos == tenant.emails
    assert message["Bcc"] is None and message["X-Evil"] is None
    # (a subject this long is folded after "Subject:", which the parser reads back as a leading space)
    subject = message["Subject"].strip()
    assert subject == "Acme Bcc: outsider@evil.test X-Evil: 1: credit balance -15.00 is below zero"
    assert (await only_row()).status == EmailStatus.SENT


async def test_smtp_down_backs_off_exponentially_then_delivers(gql, smtp, mail_settings):
    """With the server stopped the row stays PENDING, retried after 0.2, 0.4, 0.8 s; then delivered."""
    # given: one alert email and a stopped SMTP server
    tenant = await make_tenant(admins=1)
    await cross_zero(gql, tenant)
    smtp.stop()
    dispatcher = MailDispatcher(mail_settings)

    # when / then: each failed attempt keeps it PENDING and doubles the wait before the next
    for attempt, backoff in ((1, BACKOFF), (2, 2 * BACKOFF), (3, 4 * BACKOFF)):
        before = dt.datetime.now(dt.UTC)
        assert await dispatcher.dispatch_once() == 1
        after = dt.datetime.now(dt.UTC)
        row = await only_row()
        assert (row.status, row.attempts, row.lease_until) == (EmailStatus.PENDING, attempt, None)
        assert (row.last_error or "").startswith("SMTPConnectError: "), row.last_error
        wait = dt.timedelta(seconds=backoff)
        assert before + wait <= row.next_attempt_at <= after + wait
        # not due yet: nobody claims it
        assert await dispatcher.dispatch_once() == 0
        await wait_until_due(row)

    # when: the server is back and the row is due
    smtp.start()
    assert await dispatcher.dispatch_once() == 1

    # then: delivered once, on the fourth attempt
    row = await only_row()
    assert (row.status, row.attempts, row.last_error) == (EmailStatus.SENT, 4, None)
    assert smtp.per_message_id() == {row.message_id: 1}
    assert [m["To"] for m in smtp.messages] == tenant.emails


async def test_a_4xx_answer_is_retried(gql, smtp, mail_settings):
    """451 is temporary: PENDING with a backoff and the error kept; sent once the server accepts."""
    # given: one alert email and a server that answers DATA with 451
    tenant = await make_tenant(admins=1)
    await cross_zero(gql, tenant)
    smtp.handler.reply = "451 4.3.0 Try again later"
    dispatcher = MailDispatcher(mail_settings)

    # when: the dispatcher tries
    assert await dispatcher.dispatch_once() == 1

    # then: kept for a retry
    row = await only_row()
    assert (row.status, row.attempts) == (EmailStatus.PENDING, 1)
    assert row.last_error == "451 4.3.0 Try again later"
    assert row.next_attempt_at > dt.datetime.now(dt.UTC)
    assert smtp.messages == []

    # when: the server accepts again and the retry is due
    smtp.handler.reply = None
    await wait_until_due(row)
    assert await dispatcher.dispatch_once() == 1

    # then: delivered exactly once
    row = await only_row()
    assert (row.status, row.attempts, row.last_error) == (EmailStatus.SENT, 2, None)
    assert smtp.per_message_id() == {row.message_id: 1}


async def test_a_5xx_answer_fails_the_email_for_good(gql, smtp, mail_settings, caplog):
    """550 is permanent: FAILED after one attempt, logged, never tried again."""
    # given: one alert email and a server that refuses it with 550
    tenant = await make_tenant(admins=1)
    await cross_zero(gql, tenant)
    smtp.handler.reply = "550 5.1.1 Mailbox unavailable"
    dispatcher = MailDispatcher(mail_settings)
    caplog.set_level(logging.WARNING, logger="credits.mail")

    # when: the dispatcher tries, then runs again after what would have been a backoff
    assert await dispatcher.dispatch_once() == 1
    await asyncio.sleep(BACKOFF * 2)
    smtp.handler.reply = None
    again = await dispatcher.dispatch_once()

    # then: FAILED at once, with the answer kept and logged; not retried, not delivered
    row = await only_row()
    assert (row.status, row.attempts) == (EmailStatus.FAILED, 1)
    assert row.last_error == "550 5.1.1 Mailbox unavailable"
    assert again == 0
    assert smtp.messages == []
    errors = [r for r in caplog.records if r.name == "credits.mail" and r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert row.message_id in errors[0].getMessage()
    assert "550" in errors[0].getMessage()


async def test_after_max_attempts_the_email_is_failed_and_logged(gql, smtp, mail_settings, caplog):
    """With the server down, the mail_max_attempts-th failure marks the row FAILED and logs an error."""
    # given: one alert email, at most 3 attempts, the SMTP server stopped
    tenant = await make_tenant(admins=1)
    await cross_zero(gql, tenant)
    smtp.stop()
    dispatcher = MailDispatcher(mail_settings.model_copy(update={"mail_max_attempts": 3}))
    caplog.set_level(logging.WARNING, logger="credits.mail")

    # when: three attempts fail
    statuses = []
    for _ in range(3):
        assert await dispatcher.dispatch_once() == 1
        row = await only_row()
        statuses.append(row.status)
        await wait_until_due(row)

    # then: PENDING twice with a warning each, then FAILED with one error naming the email
    assert statuses == [EmailStatus.PENDING, EmailStatus.PENDING, EmailStatus.FAILED]
    assert row.attempts == 3
    records = [r for r in caplog.records if r.name == "credits.mail"]
    assert [r.levelno for r in records] == [logging.WARNING, logging.WARNING, logging.ERROR]
    assert row.message_id in records[-1].getMessage()
    assert "after 3 tries" in records[-1].getMessage()

    # then: even with the server back, a FAILED row is not sent
    smtp.start()
    assert await dispatcher.dispatch_once() == 0
    assert smtp.messages == []


async def test_concurrent_dispatchers_never_send_a_row_twice(gql, smtp, mail_settings):
    """Three dispatchers claiming at once (SKIP LOCKED on PostgreSQL): 30 rows, each sent exactly once."""
    # given: ten customer administrators and three crossings: 30 outbox rows
    tenant = await make_tenant(admins=10)
    for crossing in range(3):
        await cross_zero(gql, tenant, refill=crossing > 0)
    assert await EmailOutbox.all().count() == 30
    small_batches = mail_settings.model_copy(update={"mail_batch_size": 4})
    dispatchers = [MailDispatcher(small_batches) for _ in range(3)]

    async def drain(dispatcher: MailDispatcher) -> int:
        claimed = 0
        while count := await dispatcher.dispatch_once():
            claimed += count
        return claimed

    # when: all three drain the outbox at the same time
    claimed = await asyncio.gather(*(drain(d) for d in dispatchers))

    # then: 30 claims in all, 30 messages, each Message-ID once, every row SENT after one attempt
    assert sum(claimed) == 30
    outbox = await rows()
    assert smtp.per_message_id() == {r.message_id: 1 for r in outbox}
    assert {(r.status, r.attempts) for r in outbox} == {(EmailStatus.SENT, 1)}
    assert Counter(m["To"] for m in smtp.messages) == {email: 3 for email in tenant.emails}


async def test_without_smtp_the_dispatcher_does_not_start(settings, caplog):
    """No CREDITS_SMTP_HOST: start() says so and runs nothing; mail stays in the outbox."""
    # given: settings without an SMTP host
    dispatcher = MailDispatcher(settings.model_copy(update={"smtp_host": None}))
    caplog.set_level(logging.WARNING, logger="credits.mail")

    # when: it is started
    dispatcher.start()

    # then: disabled, no background task, a warning naming the setting
    assert dispatcher.enabled is False
    assert dispatcher._task is None
    messages = [r.getMessage() for r in caplog.records if r.name == "credits.mail"]
    assert len(messages) == 1
    assert "no SMTP server configured" in messages[0] and "CREDITS_SMTP_HOST" in messages[0]
    await dispatcher.stop()


async def test_the_dispatcher_task_sends_when_woken(gql, smtp, mail_settings):
    """Started in the background, the dispatcher sends committed mail without waiting for its poll."""
    # given: a running dispatcher with a long poll interval
    dispatcher = MailDispatcher(mail_settings.model_copy(update={"mail_poll_seconds": 60}))
    dispatcher.start()
    try:
        # when: an alert is committed and the dispatcher is woken
        tenant = await make_tenant()
        await cross_zero(gql, tenant)
        dispatcher.wake()

        # then: both emails arrive well before the poll interval
        await eventually(lambda: received(smtp, 2), within=10, what="two emails")
    finally:
        await dispatcher.stop()
    assert sorted(m["To"] for m in smtp.messages) == tenant.emails


# --- end to end: real server processes ---------------------------------------------------------


def mail_env(server_env: dict[str, str], smtp_port: int, **extra: str) -> dict[str, str]:
    """A server environment sending to 127.0.0.1:`smtp_port` without TLS, polling and retrying fast."""
    return {
        **server_env,
        "CREDITS_SMTP_HOST": "127.0.0.1",
        "CREDITS_SMTP_PORT": str(smtp_port),
        "CREDITS_SMTP_STARTTLS": "false",
        "CREDITS_MAIL_FROM": "alerts@credits.test",
        "CREDITS_MAIL_POLL_SECONDS": "0.2",
        "CREDITS_MAIL_BACKOFF_SECONDS": "0.2",
        "CREDITS_MAIL_BACKOFF_MAX_SECONDS": "0.5",
        "CREDITS_MAIL_LEASE_SECONDS": "2",
        "CREDITS_MAIL_TIMEOUT_SECONDS": "5",
        **extra,
    }


@pytest.fixture
async def http_client() -> AsyncIterator[Callable[[str], GraphQLClient]]:
    """GraphQL clients for spawned servers: `client(base_url)`."""
    clients: list[httpx.AsyncClient] = []

    def make(base_url: str) -> GraphQLClient:
        clients.append(httpx.AsyncClient(base_url=base_url, timeout=30))
        return GraphQLClient(clients[-1])

    yield make
    for client in clients:
        await client.aclose()


async def all_sent(n: int) -> bool:
    """Every one of `n` outbox rows is SENT."""
    return await EmailOutbox.filter(status=EmailStatus.SENT).count() == n


@pytest.mark.slow
async def test_a_running_server_emails_every_customer_admin(smtp, server_env, http_client):
    """A real server with SMTP configured: an alert reaches both administrators' mailboxes."""
    # given: a server process sending to the SMTP server, and a customer with two administrators
    tenant = await make_tenant()
    with ServerProcess(mail_env(server_env, smtp.port)) as server:
        # when: the balance crosses zero through that server
        await cross_zero(http_client(server.base_url), tenant)

        # then: both emails arrive, once each, and the rows are SENT
        await eventually(lambda: received(smtp, 2), what="two emails")
        await eventually(lambda: all_sent(2), what="rows SENT")
    assert sorted(m["To"] for m in smtp.messages) == tenant.emails
    assert {m["Subject"] for m in smtp.messages} == {"Acme: credit balance -15.00 is below zero"}
    assert smtp.per_message_id() == {r.message_id: 1 for r in await rows()}


@pytest.mark.slow
async def test_mail_waits_for_the_smtp_server_to_come_back(smtp, server_env, http_client):
    """SMTP down when the alert fires: retried with backoff, delivered once it is back."""
    # given: a server process and a stopped SMTP server
    tenant = await make_tenant()
    with ServerProcess(mail_env(server_env, smtp.port)) as server:
        smtp.stop()

        # when: an alert fires and the server has tried to send it
        await cross_zero(http_client(server.base_url), tenant)

        async def tried() -> bool:
            outbox = await rows()
            return len(outbox) == 2 and all(r.attempts >= 1 and r.last_error for r in outbox)

        await eventually(tried, what="a failed attempt")
        assert {r.status for r in await rows()} <= {EmailStatus.PENDING, EmailStatus.SENDING}
        assert smtp.messages == []

        # when: the SMTP server is back
        smtp.start()

        # then: both emails arrive, exactly once each
        await eventually(lambda: all_sent(2), what="rows SENT")
        await asyncio.sleep(0.5)  # a few more polls: nothing is sent again
    assert smtp.per_message_id() == {r.message_id: 1 for r in await rows()}
    assert sorted(m["To"] for m in smtp.messages) == tenant.emails


@pytest.mark.slow
async def test_pending_mail_of_a_killed_server_is_sent_once_after_restart(smtp, server_env, http_client):
    """SMTP misconfigured, server killed (SIGKILL): a restart with the right SMTP sends it exactly once."""
    # given: a server process whose SMTP points at a port nobody listens on
    tenant = await make_tenant()
    dead_port = free_port()
    crashed = ServerProcess(mail_env(server_env, dead_port))
    crashed.start()
    try:
        # when: an alert fires, the server fails to send it, and is killed
        await cross_zero(http_client(crashed.base_url), tenant)

        async def tried() -> bool:
            outbox = await rows()
            return len(outbox) == 2 and all(r.attempts >= 1 for r in outbox)

        await eventually(tried, what="a failed attempt")
    finally:
        crashed.stop(signal.SIGKILL)
    assert crashed.proc is not None and crashed.proc.returncode == -signal.SIGKILL
    assert await EmailOutbox.filter(status=EmailStatus.SENT).count() == 0

    # when: it is restarted with the right SMTP settings
    with ServerProcess(mail_env(server_env, smtp.port)):
        # then: the pending emails are sent, exactly once each
        await eventually(lambda: all_sent(2), what="rows SENT")
        await asyncio.sleep(1)
    assert smtp.per_message_id() == {r.message_id: 1 for r in await rows()}
    assert sorted(m["To"] for m in smtp.messages) == tenant.emails


@pytest.mark.slow
async def test_mail_claimed_by_a_killed_server_is_sent_once_at_restart_long_before_its_lease(
    smtp, server_env, http_client, settings
):
    """Killed mid-send: the next start sends the row at once, exactly once, however long the lease.

    PostgreSQL: the claim was a row lock of the dead connection's transaction, gone with it.
    SQLite (one process): the start takes back the leases of the run before.
    """
    # given: an SMTP "server" that accepts connections but never greets, so a send hangs
    black_hole = socket.socket()
    black_hole.bind(("127.0.0.1", 0))
    black_hole.listen(16)
    black_hole.setblocking(False)
    long_lease = {"CREDITS_MAIL_LEASE_SECONDS": "600", "CREDITS_MAIL_TIMEOUT_SECONDS": "120"}
    hung = ServerProcess(mail_env(server_env, black_hole.getsockname()[1], **long_lease))
    clients: list[socket.socket] = []
    tenant = await make_tenant(admins=1)
    hung.start()
    try:
        # when: an alert fires and the server is killed while it is sending the email
        await cross_zero(http_client(hung.base_url), tenant)
        await eventually(lambda: accepted(black_hole, clients), what="the dispatcher's SMTP connection")
    finally:
        hung.stop(signal.SIGKILL)
        for client in clients:
            client.close()
        black_hole.close()
    row = await only_row()
    assert row.status in (EmailStatus.PENDING, EmailStatus.SENDING) and row.sent_at is None

    # when: a server with the right SMTP settings (and the same long lease) starts
    with ServerProcess(mail_env(server_env, smtp.port, **long_lease)):
        # then: the email is sent well within the lease, exactly once
        await eventually(lambda: all_sent(1), within=60, what="row SENT")
        sent = await only_row()
        await asyncio.sleep(1)  # a few more polls: nothing is sent again
    # The killed attempt counts on SQLite (its lease was committed); on PostgreSQL it rolled back.
    assert sent.attempts == (2 if settings.is_sqlite else 1)
    assert smtp.per_message_id() == {row.message_id: 1}
    assert [m["To"] for m in smtp.messages] == tenant.emails


async def accepted(listener: socket.socket, clients: list[socket.socket]) -> bool:
    """Whether a client has connected to the (non-blocking) listening socket; kept open in `clients`."""
    with contextlib.suppress(BlockingIOError):
        clients.append(listener.accept()[0])
    return bool(clients)


@requires_postgres
async def test_a_backlog_of_mail_is_claimed_in_due_order_without_sorting_it(mail_settings: Settings) -> None:
    """Each email's claim reads the due index in order and stops: a long outage costs no sort per email."""
    # given: 3,000 emails due, more than the planner's statistics know of
    conn = connections.get("default")
    await conn.execute_query(
        "INSERT INTO email_outbox (id, recipient, subject, text_body, html_body, message_id, status, "
        "attempts, next_attempt_at, created_at) "
        "SELECT gen_random_uuid(), 'a@example.com', 's', 't', 'h', 'm-' || n, 'PENDING', 0, "
        "now() - n * interval '1 millisecond', now() FROM generate_series(1, 3000) AS n"
    )
    dispatcher = MailDispatcher(mail_settings)

    # when: PostgreSQL plans the claim, in a transaction set up as the dispatcher sets up its own
    claim = dispatcher._due_locked().limit(1).select_for_update(skip_locked=True)
    async with in_transaction() as tx:
        await hold_claims_for(tx, 1.0, **PLAN_FOR_BACKLOG)
        (row,) = (await tx.execute_query(f"EXPLAIN (FORMAT JSON) {claim.sql(params_inline=True)}"))[1]
    plan = row["QUERY PLAN"] if isinstance(row["QUERY PLAN"], str) else json.dumps(row["QUERY PLAN"])

    # then: an ordered index scan, limited to the one email
    assert '"Node Type": "Index Scan"' in plan
    assert '"Node Type": "Sort"' not in plan and '"Node Type": "Incremental Sort"' not in plan
