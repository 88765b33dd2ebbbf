"""/metrics: Prometheus text format, request/ledger/event/outbox/mail counters, websocket gauges.

Every test compares a scrape taken before with one taken after, since the counters live in the
process-wide registry and other tests move them too.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import httpx
import pytest
from graphql import parse
from prometheus_client.parser import text_string_to_metric_families

import metrics
from api import app as server_app
from api.request_metrics import operation_label, root_field_names
from api.schema import schema
from models import webhooks
from models.idempotency import IdempotencyRecord
from models.ledger import TransactionKind
from models.user import Role
from models.webhook_outbox import WebhookDelivery
from notifications import wire
from notifications.bus import Subscription
from notifications.mail import MailDispatcher
from settings import Settings
from tests.client import GraphQLClient
from tests.documents import (
    BALANCE_SEQUENCES,
    CREDIT_ALERTS,
    CUSTOMER_BALANCE,
    GRANT_CREDITS,
    REQUEST_SERVICE,
    WITHDRAW_CREDITS,
)
from tests.factories import enable_credits, make_catalog_admin, make_customer, make_service, make_user
from tests.polling import eventually
from tests.smtp import SmtpServer
from tests.ws_client import TRANSPORT_WS, GraphQLSocket, until_subscribed

NAMED_VIEWER = "query ClientChoseThisName { viewer { id } }"
SYNTAX_ERROR = "query { viewer { id }"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


# --- helpers -----------------------------------------------------------------------------------


def parse_samples(text: str) -> Samples:
    """Every sample of an exposition, keyed by sample name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value (0 when absent)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def rise(before: Samples, after: Samples, name: str, **labels: str) -> float:
    """How much a sample grew between two scrapes."""
    return value(after, name, **labels) - value(before, name, **labels)


def requests_rise(before: Samples, after: Samples, operation: str, outcome: str = "ok") -> float:
    """How many more `operation` requests with `outcome` the second scrape counted."""
    return rise(before, after, "credits_graphql_requests_total", operation=operation, outcome=outcome)


async def scrape(http: httpx.AsyncClient) -> Samples:
    """GET /metrics, parsed."""
    response = await http.get("/metrics")
    assert response.status_code == 200, response.text
    return parse_samples(response.text)


# --- the endpoint ------------------------------------------------------------------------------


async def test_metrics_answer_in_the_prometheus_text_format(http: httpx.AsyncClient) -> None:
    """200, text format 0.0.4, our metrics with every bounded label, and the process collectors."""
    # when
    response = await http.get("/metrics")

    # then
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples = parse_samples(response.text)
    names = {name for name, _ in samples}
    assert {
        "credits_websocket_connections",
        "credits_subscribers_dropped_total",
        "credits_emails_sent_total",
        "credits_email_send_failures_total",
        "credits_outbox_backlog",
        "process_cpu_seconds_total",
        "python_gc_objects_collected_total",
    } <= names
    for kind in ("GRANT", "WITHDRAWAL", "SERVICE_CHARGE", "REFUND"):
        assert ("credits_ledger_operations_total", (("kind", kind),)) in samples
    for event_type in ("balance", "alert", "notification"):
        assert ("credits_events_published_total", (("type", event_type),)) in samples
        assert ("credits_events_delivered_total", (("type", event_type),)) in samples
    for field in ("balanceChanged", "creditAlerts", "notificationAdded"):
        assert ("credits_subscriptions_active", (("field", field),)) in samples
    assert not any(name.endswith("_created") for name in names)


async def test_metrics_are_not_served_when_disabled(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CREDITS_METRICS_ENABLED=false: no /metrics route, so 404."""
    # given
    monkeypatch.setenv("CREDITS_METRICS_ENABLED", "false")
    disabled = Settings()
    app = server_app.create_app(settings.model_copy(update={"metrics_enabled": disabled.metrics_enabled}))

    # when
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        response = await http.get("/metrics")

    # then
    assert disabled.metrics_enabled is False
    assert response.status_code == 404


# --- requests and ledger -----------------------------------------------------------------------


async def test_a_grant_and_a_service_request_count_requests_and_ledger_operations(
    http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    """grantCredits and requestService: GRANT and SERVICE_CHARGE +1, both operations counted and timed."""
    # given
    await enable_credits()
    admin = await make_catalog_admin()
    customer = await make_customer()
    user = await make_user(Role.END_USER, customer)
    service = await make_service("2.50")
    before = await scrape(http)

    # when
    grant = {"customerId": str(customer.id), "amount": "10.00"}
    assert (await gql(GRANT_CREDITS, {"input": grant}, token=admin.token))["grantCredits"]["userErrors"] == []
    request = {"serviceId": str(service.id)}
    assert (await gql(REQUEST_SERVICE, {"input": request}, token=user.token))["requestService"][
        "userErrors"
    ] == []

    # then
    after = await scrape(http)
    assert rise(before, after, "credits_ledger_operations_total", kind="GRANT") == 1
    assert rise(before, after, "credits_ledger_operations_total", kind="SERVICE_CHARGE") == 1
    assert rise(before, after, "credits_ledger_operations_total", kind="REFUND") == 0
    for operation in ("grantCredits", "requestService"):
        assert requests_rise(before, after, operation) == 1
        assert rise(before, after, "credits_graphql_request_seconds_count", operation=operation) == 1
        assert rise(before, after, "credits_graphql_request_seconds_sum", operation=operation) > 0
        assert (
            rise(before, after, "credits_graphql_request_seconds_bucket", operation=operation, le="5.0") == 1
        )


async def test_pruned_idempotency_records_are_counted(
    http: httpx.AsyncClient, gql: GraphQLClient, runtime
) -> None:
    """Housekeeping adds what it pruned to credits_idempotency_records_pruned."""
    # given: two keyed grants, claimed three days ago
    await enable_credits()
    admin = await make_catalog_admin()
    customer = await make_customer()
    for key in ("a", "b"):
        grant = {"customerId": str(customer.id), "amount": "1.00", "idempotencyKey": key}
        assert (await gql(GRANT_CREDITS, {"input": grant}, token=admin.token))["grantCredits"][
            "userErrors"
        ] == []
    await IdempotencyRecord.all().update(created_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=3))
    before = await scrape(http)

    # when
    await runtime.housekeeping.keep_house()

    # then
    after = await scrape(http)
    assert rise(before, after, "credits_idempotency_records_pruned_total") == 2


async def test_user_errors_count_as_user_error(http: httpx.AsyncClient, gql: GraphQLClient) -> None:
    """A payload with userErrors is outcome=user_error, and moves no ledger counter."""
    # given
    await enable_credits()
    admin = await make_catalog_admin()
    customer = await make_customer()
    before = await scrape(http)

    # when
    grant = {"customerId": str(customer.id), "amount": "1.234"}
    payload = await gql(GRANT_CREDITS, {"input": grant}, token=admin.token)

    # then
    assert [e["code"] for e in payload["grantCredits"]["userErrors"]] == ["INVALID_AMOUNT"]
    after = await scrape(http)
    assert requests_rise(before, after, "grantCredits", "user_error") == 1
    assert requests_rise(before, after, "grantCredits", "ok") == 0
    assert rise(before, after, "credits_ledger_operations_total", kind="GRANT") == 0


async def test_top_level_errors_count_as_error_under_schema_field_names_only(
    http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    """UNAUTHENTICATED: error on its field; a syntax error: `unknown`; an operationName is never a label."""
    # given
    customer = await make_customer()
    before = await scrape(http)

    # when
    unauthenticated = await gql.raw(CUSTOMER_BALANCE, {"id": str(customer.id)})
    syntax = await gql.raw(SYNTAX_ERROR)
    named = await gql.raw(NAMED_VIEWER)

    # then
    assert unauthenticated["errors"] and syntax["errors"] and named["errors"]
    after = await scrape(http)
    assert requests_rise(before, after, "customer", "error") == 1
    assert requests_rise(before, after, "unknown", "error") == 1
    assert requests_rise(before, after, "viewer", "error") == 1
    assert "ClientChoseThisName" not in (await http.get("/metrics")).text


@pytest.mark.parametrize(
    ("document", "name", "label"),
    [
        ("{ viewer { id } }", None, "viewer"),
        ("{ a: viewer { id } b: viewer { id } __typename }", None, "viewer"),
        ("{ viewer { id } creditSettings { creditManagementEnabled } }", None, "multiple"),
        ("query A { viewer { id } } query B { services { totalCount } }", "B", "services"),
        ("query A { viewer { id } } query B { services { totalCount } }", None, "unknown"),
        ("{ ...F } fragment F on Query { ... on Query { viewer { id } } }", None, "viewer"),
        ("{ ...Missing }", None, "unknown"),
        ("{ notAField }", None, "unknown"),
        ("{ __schema { queryType { name } } }", None, "__schema"),
        ('mutation { login(email: "a", password: "b") { token } }', None, "login"),
        ("subscription { balanceChanged { sequence } }", None, None),
    ],
)
def test_operation_label_is_the_root_field_from_the_schema(
    document: str, name: str | None, label: str | None
):
    """The label is one root field of the schema, `multiple`, `unknown`, or None for a subscription."""
    # when / then
    assert operation_label(parse(document), name, root_field_names(schema)) == label


def test_bounded_label_values_mirror_the_domain() -> None:
    """metrics.py lists the ledger kinds and event types itself: they must match the domain's."""
    # then
    assert metrics.LEDGER_KINDS == tuple(kind.value for kind in TransactionKind)
    assert metrics.EVENT_TYPES == (wire.BALANCE, wire.ALERT, wire.NOTIFICATION, wire.ACCESS)


# --- events ------------------------------------------------------------------------------------


async def test_a_balance_event_is_published_once_and_delivered_to_each_subscriber(
    http: httpx.AsyncClient, gql: GraphQLClient, app
) -> None:
    """A grant with two local subscribers of its customer: published +1, delivered +2."""
    # given
    await enable_credits()
    admin = await make_catalog_admin()
    customer = await make_customer()
    bus = app.state.runtime.bus
    async with (
        bus.subscribe(wire.BALANCE, str(customer.id)) as first,
        bus.subscribe(wire.BALANCE, str(customer.id)) as second,
    ):
        before = await scrape(http)

        # when
        await gql(
            GRANT_CREDITS, {"input": {"customerId": str(customer.id), "amount": "3.00"}}, token=admin.token
        )
        received = [await asyncio.wait_for(s.get(), 5) for s in (first, second)]

        # then
        assert [m["k"] for m in received] == [str(customer.id)] * 2  # type: ignore[index]
        after = await scrape(http)
        assert rise(before, after, "credits_events_published_total", type="balance") == 1
        assert rise(before, after, "credits_events_delivered_total", type="balance") == 2


async def test_an_overflowing_subscriber_counts_as_dropped(http: httpx.AsyncClient) -> None:
    """A subscriber whose queue overflows is dropped once, however many messages follow."""
    # given
    subscription = Subscription(wire.BALANCE, None, 1, on_overflow=None)
    before = await scrape(http)

    # when
    queued = [subscription.offer({"t": wire.BALANCE, "k": "x", "sequence": n}) for n in range(3)]

    # then
    assert queued == [True, False, False]
    after = await scrape(http)
    assert rise(before, after, "credits_subscribers_dropped_total") == 1


# --- outbox and mail ---------------------------------------------------------------------------


async def test_outbox_backlog_counts_pending_emails(http: httpx.AsyncClient, gql: GraphQLClient) -> None:
    """Crossing zero with two customer administrators queues two emails: the backlog shows 2."""
    # given: no SMTP server in the test app, so the mail stays PENDING
    await enable_credits()
    admin = await make_catalog_admin()
    customer = await make_customer(balance=10, by=admin)
    for _ in range(2):
        await make_user(Role.CUSTOMER_ADMIN, customer)
    assert value(await scrape(http), "credits_outbox_backlog") == 0

    # when
    variables = {"input": {"customerId": str(customer.id), "amount": "25.00"}}
    payload = (await gql(WITHDRAW_CREDITS, variables, token=admin.token))["withdrawCredits"]

    # then
    assert payload["customer"]["balance"] == "-15.00"
    assert value(await scrape(http), "credits_outbox_backlog") == 2


async def test_a_scrape_answers_without_the_backlog_when_the_database_hangs(
    http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A count that does not answer in time is left out; the rest of the metrics are served at once."""

    # given
    async def hanging() -> int:
        await asyncio.sleep(60)
        return 0

    monkeypatch.setattr(server_app, "outbox_backlog", hanging)
    monkeypatch.setattr(metrics, "BACKLOG_TIMEOUT_SECONDS", 0.2)

    # when
    started = time.monotonic()
    samples = await scrape(http)

    # then
    assert time.monotonic() - started < 5
    assert ("credits_outbox_backlog", ()) not in samples
    assert ("credits_websocket_connections", ()) in samples


@pytest.mark.usefixtures("no_local_webhook_dispatcher")
async def test_webhook_lag_is_how_long_the_oldest_due_delivery_has_waited(http: httpx.AsyncClient) -> None:
    """credits_webhook_oldest_pending_seconds: 0 with nothing due; then the age of the most overdue one."""
    # given: an endpoint with a delivery waiting for a retry later, and one parked (endpoint disabled)
    endpoint = (await webhooks.create_endpoint("http://127.0.0.1:9/x", None, None, None)).endpoint
    now = dt.datetime.now(dt.UTC)
    for next_attempt_at in (now + dt.timedelta(hours=1), None):
        await WebhookDelivery.create(
            endpoint_id=endpoint.id, event_type="webhook.test", payload="{}", next_attempt_at=next_attempt_at
        )
    assert value(await scrape(http), "credits_webhook_oldest_pending_seconds") == 0

    # when: two deliveries have been due for 90 and 30 seconds
    for seconds in (90, 30):
        await WebhookDelivery.create(
            endpoint_id=endpoint.id,
            event_type="webhook.test",
            payload="{}",
            next_attempt_at=now - dt.timedelta(seconds=seconds),
        )
    lag = value(await scrape(http), "credits_webhook_oldest_pending_seconds")

    # then: the oldest one's wait (the scrape came a moment later)
    assert 90 <= lag < 3600


async def test_sent_and_failed_emails_are_counted(
    http: httpx.AsyncClient, gql: GraphQLClient, settings: Settings, smtp: SmtpServer
) -> None:
    """Two emails sent: sent +2; with the SMTP server down, each failed attempt: failures +1."""
    # given: two alert emails queued
    await enable_credits()
    admin = await make_catalog_admin()
    customer = await make_customer(balance=10, by=admin)
    for _ in range(2):
        await make_user(Role.CUSTOMER_ADMIN, customer)
    variables = {"input": {"customerId": str(customer.id), "amount": "25.00"}}
    await gql(WITHDRAW_CREDITS, variables, token=admin.token)
    mail = settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp.port,
            "smtp_starttls": False,
            "mail_timeout_seconds": 5,
        }
    )
    before = await scrape(http)

    # when: sent
    assert await MailDispatcher(mail).dispatch_once() == 2

    # then
    after_sending = await scrape(http)
    assert rise(before, after_sending, "credits_emails_sent_total") == 2
    assert value(after_sending, "credits_outbox_backlog") == 0

    # when: one more alert (refill, cross again) and the server down
    await gql(
        GRANT_CREDITS, {"input": {"customerId": str(customer.id), "amount": "25.00"}}, token=admin.token
    )
    await gql(WITHDRAW_CREDITS, variables, token=admin.token)
    smtp.stop()
    assert await MailDispatcher(mail).dispatch_once() == 2

    # then
    after_failing = await scrape(http)
    assert rise(after_sending, after_failing, "credits_email_send_failures_total") == 2
    assert rise(after_sending, after_failing, "credits_emails_sent_total") == 0
    assert value(after_failing, "credits_outbox_backlog") == 2


# --- a real server -----------------------------------------------------------------------------


@pytest.mark.slow
async def test_a_real_server_serves_metrics_with_socket_and_subscription_gauges(live_server: str) -> None:
    """Open sockets and subscriptions show in the gauges until stopped or closed; events are counted."""
    # given
    await enable_credits()
    admin = await make_catalog_admin()
    customer = await make_customer()
    async with httpx.AsyncClient(base_url=live_server, timeout=30) as http:
        response = await http.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
        before = parse_samples(response.text)
        assert value(before, "credits_websocket_connections") == 0

        async with GraphQLSocket(live_server, TRANSPORT_WS, admin.token) as ws:
            balance = await ws.subscribe(BALANCE_SEQUENCES, {"customerId": str(customer.id)})
            await ws.subscribe(CREDIT_ALERTS, {"customerId": str(customer.id)})
            await until_subscribed(live_server, "balanceChanged")
            await until_subscribed(live_server, "creditAlerts")

            # when
            opened = await scrape(http)
            api = GraphQLClient(http)
            await api(
                GRANT_CREDITS,
                {"input": {"customerId": str(customer.id), "amount": "4.00"}},
                token=admin.token,
            )
            event = (await balance.next())["balanceChanged"]

            # then
            assert event == {"customerId": str(customer.id), "sequence": 1, "balance": "4.00"}
            assert value(opened, "credits_websocket_connections") == 1
            assert value(opened, "credits_subscriptions_active", field="balanceChanged") == 1
            assert value(opened, "credits_subscriptions_active", field="creditAlerts") == 1
            delivered = await scrape(http)
            assert rise(before, delivered, "credits_events_published_total", type="balance") == 1
            assert rise(before, delivered, "credits_events_delivered_total", type="balance") == 1
            assert rise(before, delivered, "credits_ledger_operations_total", kind="GRANT") == 1
            assert requests_rise(before, delivered, "grantCredits") == 1

            # when: the client stops one subscription
            await balance.stop()

            # then: only that one ends
            async def balance_ended() -> bool:
                return value(await scrape(http), "credits_subscriptions_active", field="balanceChanged") == 0

            await eventually(balance_ended, what="the balanceChanged gauge back at 0")
            assert value(await scrape(http), "credits_subscriptions_active", field="creditAlerts") == 1

        # when: the socket closes with a subscription still running, then both gauges drop
        async def socket_closed() -> bool:
            samples = await scrape(http)
            return (
                value(samples, "credits_websocket_connections") == 0
                and value(samples, "credits_subscriptions_active", field="creditAlerts") == 0
            )

        await eventually(socket_closed, what="the websocket and creditAlerts gauges back at 0")
