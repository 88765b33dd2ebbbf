"""Prometheus metrics: every metric object of the service and the small helpers that update them.

Each server process exposes its own metrics on /metrics (Prometheus scrapes every instance). They
live in prometheus-client's default registry, beside its process and Python runtime collectors.
Label values come from bounded sets only (schema fields, ledger kinds, event types), never from
what a client chose.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator

from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

log = logging.getLogger("credits.metrics")

# `_created` timestamps would double the series without telling a dashboard anything.
disable_created_metrics()

# The classic text format every Prometheus version reads (names here need no UTF-8 escaping).
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
BACKLOG_TIMEOUT_SECONDS = 2.0
"""A scrape waits at most this long for the outbox count, then answers without it."""

# Mirrors models.ledger.TransactionKind and the topics of notifications.wire (tests check both), so
# that every series exists from the start and this module imports nothing of the domain.
LEDGER_KINDS = ("GRANT", "WITHDRAWAL", "SERVICE_CHARGE", "REFUND", "EXPIRATION", "AUTO_TOP_UP")
EVENT_TYPES = ("balance", "alert", "notification", "access")
OTHER = "other"
UNKNOWN_OPERATION = "unknown"
MULTIPLE_OPERATIONS = "multiple"
OUTCOMES = ("ok", "user_error", "error")

REQUESTS = Counter(
    "credits_graphql_requests",
    "GraphQL queries and mutations by root field (operation) and outcome (ok, user_error, error).",
    ["operation", "outcome"],
)
REQUEST_SECONDS = Histogram(
    "credits_graphql_request_seconds",
    "Time to parse, validate and execute a GraphQL query or mutation, by root field.",
    ["operation"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
WEBSOCKETS = Gauge("credits_websocket_connections", "Open websockets on /graphql.")
SSE_STREAMS = Gauge("credits_sse_streams", "Open Server-Sent Events streams on /graphql (graphql-sse).")
WEBSOCKETS_MAX = Gauge(
    "credits_websocket_connections_max", "The cap on open websockets (CREDITS_MAX_WEBSOCKETS)."
)
WEBSOCKETS_REFUSED = Counter(
    "credits_websockets_refused",
    "Websockets and SSE streams refused: process cap reached (capacity), too many not yet "
    "authenticated from one client address (address), or too many open for one user (user) or "
    "one customer's users (customer).",
    ["reason"],
)
STREAM_HOLDERS = Gauge(
    "credits_stream_holders",
    "Users (user) and customers (customer) holding authenticated websockets or SSE streams, each "
    "capped (CREDITS_MAX_STREAMS_PER_USER, CREDITS_MAX_STREAMS_PER_CUSTOMER); 0 once all are closed.",
    ["kind"],
)
REPLAYS = Gauge(
    "credits_subscription_replays",
    "afterSequence replays running, and waiting their turn (CREDITS_MAX_REPLAYS_PER_USER).",
    ["state"],
)
for _state in ("running", "waiting"):
    REPLAYS.labels(_state)
SUBSCRIPTIONS = Gauge("credits_subscriptions_active", "Running GraphQL subscriptions by field.", ["field"])
SUBSCRIPTION_FEEDS = Gauge(
    "credits_subscription_feeds", "Shared subscription feeds running, each executed once for its subscribers."
)
EVENTS_PUBLISHED = Counter(
    "credits_events_published", "Committed events handed to the event bus by this process.", ["type"]
)
EVENTS_DELIVERED = Counter(
    "credits_events_delivered",
    "Events queued for a local bus subscriber (a shared feed counts once for all its sockets).",
    ["type"],
)
SUBSCRIBERS_DROPPED = Counter(
    "credits_subscribers_dropped", "Subscribers closed with 1013 because they could not keep up."
)
EMAILS_SENT = Counter("credits_emails_sent", "Alert emails the SMTP server accepted.")
EMAIL_SEND_FAILURES = Counter(
    "credits_email_send_failures", "Failed attempts to send an alert email (retried or given up)."
)
WEBHOOK_ATTEMPTS = Counter(
    "credits_webhook_attempts",
    "Webhook attempts by outcome: delivered (2xx), retry (scheduled again), failed (given up or 410).",
    ["outcome"],
)
LEDGER_OPERATIONS = Counter("credits_ledger_operations", "Committed ledger entries by kind.", ["kind"])
IDEMPOTENCY_PRUNED = Counter(
    "credits_idempotency_records_pruned",
    "Idempotency records deleted after CREDITS_IDEMPOTENCY_RETENTION_HOURS.",
)
WEBHOOK_DELIVERIES_PRUNED = Counter(
    "credits_webhook_deliveries_pruned",
    "Delivered and failed webhook deliveries deleted after CREDITS_WEBHOOK_RETENTION_DAYS.",
)
LOTS_EXPIRED = Counter(
    "credits_lots_expired",
    "Lots the sweep of this process found past their expiry and expired (or found expired by another).",
)
LOT_EXPIRY_WARNINGS = Counter(
    "credits_lot_expiry_warnings",
    "CREDITS_EXPIRING alerts the sweep of this process raised for lots that came within 7 days of expiry.",
)
RUNWAY_ALERTS = Counter(
    "credits_runway_alerts",
    "RUNWAY_LOW alerts the runway sweep of this process raised (depletesAt came within the set days).",
)

_ledger = {kind: LEDGER_OPERATIONS.labels(kind) for kind in LEDGER_KINDS}
_published = {kind: EVENTS_PUBLISHED.labels(kind) for kind in (*EVENT_TYPES, OTHER)}
_delivered = {kind: EVENTS_DELIVERED.labels(kind) for kind in (*EVENT_TYPES, OTHER)}
_requests: dict[tuple[str, str], tuple[Counter, Histogram]] = {}


def observe_request(operation: str, outcome: str, seconds: float) -> None:
    """Count one query or mutation and record its duration (`operation` from a bounded set)."""
    children = _requests.get((operation, outcome))
    if children is None:
        children = (REQUESTS.labels(operation, outcome), REQUEST_SECONDS.labels(operation))
        _requests[(operation, outcome)] = children
    children[0].inc()
    children[1].observe(seconds)


def active_subscriptions(field: str) -> Gauge:
    """The gauge of running `field` subscriptions (`.track_inprogress()` or inc/dec around one)."""
    return SUBSCRIPTIONS.labels(field)


def ledger_operation(kind: str) -> None:
    """Count one committed ledger entry of `kind`."""
    child = _ledger.get(kind)
    (child if child is not None else LEDGER_OPERATIONS.labels(kind)).inc()


def event_published(event_type: object) -> None:
    """Count one event handed to the bus."""
    _published.get(event_type, _published[OTHER]).inc()  # type: ignore[call-overload]


def events_delivered(event_type: object, subscribers: int) -> None:
    """Count one event queued for `subscribers` local subscribers."""
    if subscribers:
        _delivered.get(event_type, _delivered[OTHER]).inc(subscribers)  # type: ignore[call-overload]


class _ScrapeGauge(Collector):
    """A gauge measured for the current scrape (`value`); absent when the measurement failed."""

    def __init__(self, name: str, help: str) -> None:
        self.name = name
        self.help = help
        self.value: float | None = None

    def describe(self) -> Iterator[Metric]:
        """The metric's name, for the registry's duplicate check."""
        yield GaugeMetricFamily(self.name, self.help)

    def collect(self) -> Iterator[Metric]:
        """The last measurement, unless it failed."""
        if self.value is not None:
            yield GaugeMetricFamily(self.name, self.help, value=self.value)


_backlog = _ScrapeGauge(
    "credits_outbox_backlog", "Alert emails waiting to be sent (PENDING outbox rows), counted at scrape time."
)
_webhook_lag = _ScrapeGauge(
    "credits_webhook_oldest_pending_seconds",
    "Seconds the longest-waiting due webhook delivery has been due (0: none is due), read at scrape "
    "time from the due index. Growing under load means sending lags behind recording.",
)
REGISTRY.register(_backlog)
REGISTRY.register(_webhook_lag)


async def _measured(what: str, measure: Callable[[], Awaitable[float]] | None) -> float | None:
    """`measure()` within BACKLOG_TIMEOUT_SECONDS, or None (logged) if it fails or takes longer."""
    if measure is None:
        return None
    try:
        return await asyncio.wait_for(measure(), BACKLOG_TIMEOUT_SECONDS)
    except Exception as exc:
        log.warning("metrics: %s not measured: %s: %s", what, type(exc).__name__, exc)
        return None


async def exposition(
    outbox_backlog: Callable[[], Awaitable[int]],
    webhook_lag: Callable[[], Awaitable[float]] | None = None,
) -> bytes:
    """Every metric in the text format; the database gauges are read now, and left out if that fails.

    Each read is bounded by BACKLOG_TIMEOUT_SECONDS so a scrape answers while the database is down.
    """
    backlog, lag = await asyncio.gather(
        _measured("outbox backlog", outbox_backlog), _measured("webhook lag", webhook_lag)
    )
    # No await between setting and rendering: concurrent scrapes cannot mix their values.
    _backlog.value, _webhook_lag.value = backlog, lag
    return generate_latest(REGISTRY)
