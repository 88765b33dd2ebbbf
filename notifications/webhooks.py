"""The webhook dispatcher: signs and sends recorded deliveries, retrying with backoff.

Claims work like the mail dispatcher's: on PostgreSQL a batch of due deliveries is locked
(`FOR UPDATE SKIP LOCKED`) by a transaction kept open while they are sent and committed with
the outcomes, so other processes skip them and a process that dies releases them at once; on
SQLite (one process) they are leased, and a start takes back the leases of the run before.
Before every attempt the destination is checked again, and the request goes to an address that
check accepted (no DNS rebinding between check and connect). Redirects are not followed; at
most `BODY_LIMIT` bytes of an answer are read.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import time
from dataclasses import dataclass

from tortoise.expressions import F, Q
from tortoise.queryset import QuerySet

import metrics
from infra import sql
from models import destinations, webhook_secrets
from models.errors import DomainError
from models.unit_of_work import UnitOfWork, unit_of_work
from models.webhooks import DeliveryStatus, WebhookDelivery, WebhookEndpoint, disable_endpoint
from notifications import webhook_http
from notifications.dispatch import PLAN_FOR_BACKLOG, OutboxDispatcher, hold_claims_for
from settings import Settings

log = logging.getLogger("credits.webhooks")

# Seconds before the 2nd … 8th attempt (times CREDITS_WEBHOOK_BACKOFF_SCALE); then FAILED.
SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 36000)
# An endpoint whose attempts all failed for this long is disabled (also scaled).
DISABLE_AFTER = dt.timedelta(days=5)
BODY_LIMIT = 4096
_OUTCOME_FIELDS = (
    "status",
    "attempts",
    "last_status_code",
    "last_error",
    "next_attempt_at",
    "lease_until",
    "delivered_at",
)
USER_AGENT = "credits-webhooks/1"
# PostgreSQL settings of a batch's transaction (claim, sends, outcomes).
CLAIM_SETTINGS = {
    **PLAN_FOR_BACKLOG,
    # An outcome lost in a crash only means the delivery is sent again, which at-least-once
    # allows; so a batch's commit does not wait for its WAL flush, nor do charges behind it.
    "synchronous_commit": "off",
}
_SAVE_OUTCOMES = (
    'UPDATE "webhook_delivery" AS d SET "status" = x.status, "attempts" = x.attempts, '
    '"last_status_code" = x.last_status_code, "last_error" = x.last_error, '
    '"next_attempt_at" = x.next_attempt_at, "lease_until" = x.lease_until, "delivered_at" = x.delivered_at '
    "FROM unnest({0}::uuid[], {1}::text[], {2}::int[], {3}::int[], {4}::text[], {5}::timestamptz[], "
    "{6}::timestamptz[], {7}::timestamptz[]) "
    "AS x(id, status, attempts, last_status_code, last_error, next_attempt_at, lease_until, delivered_at) "
    "WHERE d.id = x.id"
)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Outcome:
    """One attempt: the status code (if any answer came) and the error (None when delivered)."""

    status_code: int | None
    error: str | None

    @property
    def delivered(self) -> bool:
        """A 2xx answer."""
        return self.error is None


# Not an attempt: the endpoint is disabled, so the delivery waits until it is enabled again.
PARKED = Outcome(None, "the endpoint is disabled")

# An endpoint ready for a batch's attempts: its checked destination and its signing secrets.
Ready = tuple[destinations.Destination, list[str]]


def signature_header(secrets: list[str], message_id: str, timestamp: int, body: str) -> str:
    """`webhook-signature`: one `v1,…` per secret, space-separated."""
    return " ".join(webhook_secrets.sign(s, message_id, timestamp, body) for s in secrets)


class WebhookDispatcher(OutboxDispatcher):
    """Background sender of webhook deliveries; one per process."""

    what = "webhooks"
    log = log

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._pool = webhook_http.Pool()

    @property
    def batch_size(self) -> int:
        """CREDITS_WEBHOOK_BATCH_SIZE."""
        return self.settings.webhook_batch_size

    @property
    def poll_seconds(self) -> float:
        """CREDITS_WEBHOOK_POLL_SECONDS."""
        return self.settings.webhook_poll_seconds

    async def stop(self) -> None:
        """Stop, and close the kept-alive connections."""
        await super().stop()
        self._pool.close()

    async def take_back_leases(self) -> int:
        """SQLite (one process): deliveries a previous run left mid-send are due now; returns how many."""
        taken = await WebhookDelivery.filter(
            status=DeliveryStatus.PENDING, lease_until__not_isnull=True
        ).update(lease_until=None, next_attempt_at=_now())
        if taken:
            log.warning("took back %d webhook deliveries a previous run left mid-send", taken)
        return taken

    def _due(self, now: dt.datetime) -> QuerySet[WebhookDelivery]:
        # A disabled endpoint's deliveries wait with no next attempt (`park`), so they are not due.
        return (
            WebhookDelivery.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at")
            .limit(self.settings.webhook_batch_size)
        )

    async def dispatch_once(self) -> int:
        """Claim due deliveries, try each once (concurrently), record the outcomes; returns how many."""
        if self.settings.is_sqlite:
            claimed = await self._claim()
            if claimed:
                outcomes = await self._send_all(claimed)
                async with unit_of_work() as uow:
                    await self._record_all(uow, claimed, outcomes)
            return len(claimed)
        async with unit_of_work() as uow:
            await hold_claims_for(uow.conn, self._batch_seconds(), **CLAIM_SETTINGS)
            rows = await self._due(_now()).select_for_update(skip_locked=True).using_db(uow.conn)
            if not rows:
                return 0
            for row in rows:
                row.attempts += 1
            claimed = await self._with_endpoints(rows, uow)
            outcomes = await self._send_all(claimed)
            await self._record_all(uow, claimed, outcomes)
        return len(rows)

    def _batch_seconds(self) -> float:
        """The longest a batch may take: its deliveries to one destination go a pool's width at a time."""
        rounds = math.ceil(self.settings.webhook_batch_size / self._pool.per_destination)
        return self.settings.webhook_timeout_seconds * rounds

    async def _claim(self) -> list[tuple[WebhookDelivery, WebhookEndpoint]]:
        """SQLite: lease a batch of due deliveries (not due again until `lease_until`)."""
        now = _now()
        async with unit_of_work() as uow:
            free = Q(lease_until=None) | Q(lease_until__lt=now)
            rows = await self._due(now).filter(free).using_db(uow.conn)
            if not rows:
                return []
            lease = now + dt.timedelta(seconds=self.settings.webhook_lease_seconds)
            await (
                WebhookDelivery.filter(id__in=[r.id for r in rows])
                .using_db(uow.conn)
                .update(lease_until=lease, attempts=F("attempts") + 1)
            )
            for row in rows:
                row.attempts += 1
                row.lease_until = lease
            return await self._with_endpoints(rows, uow)

    async def _with_endpoints(
        self, rows: list[WebhookDelivery], uow: UnitOfWork
    ) -> list[tuple[WebhookDelivery, WebhookEndpoint]]:
        ids = {r.endpoint_id for r in rows}
        endpoints = {e.id: e for e in await WebhookEndpoint.filter(id__in=ids).using_db(uow.conn)}
        return [(r, endpoints[r.endpoint_id]) for r in rows]

    async def _send_all(self, claimed: list[tuple[WebhookDelivery, WebhookEndpoint]]) -> list[Outcome]:
        """Send a claimed batch concurrently; each endpoint's destination checked and secrets opened once."""
        endpoints = {e.id: e for _, e in claimed}
        prepared = await asyncio.gather(*map(self._prepare, endpoints.values()))
        ready = dict(zip(endpoints, prepared, strict=True))
        return list(await asyncio.gather(*(self._attempt(d, ready[e.id]) for d, e in claimed)))

    async def _prepare(self, endpoint: WebhookEndpoint) -> Ready | Outcome:
        """The endpoint's checked destination and signing secrets, or why nothing can be sent now."""
        s = self.settings
        if not endpoint.enabled:  # disabled after the delivery was scheduled: it waits, untried
            return PARKED
        try:
            destination = await destinations.check(
                endpoint.url,
                production=not s.is_development,
                allow_private=s.webhooks_may_reach_private_networks,
            )
        except DomainError as error:
            return Outcome(None, destinations.refusal(error))
        try:
            return destination, endpoint.signing_secrets(_now())
        except Exception:  # a changed CREDITS_WEBHOOK_SECRET_KEY: say so, never the secret
            log.error("cannot open the signing secret of webhook endpoint %s", endpoint.id)
            return Outcome(
                None, "the signing secret cannot be opened (was CREDITS_WEBHOOK_SECRET_KEY changed?)"
            )

    async def attempt(self, delivery: WebhookDelivery, endpoint: WebhookEndpoint) -> Outcome:
        """Check the destination, sign, and POST once to an address the check accepted."""
        return await self._attempt(delivery, await self._prepare(endpoint))

    async def _attempt(self, delivery: WebhookDelivery, ready: Ready | Outcome) -> Outcome:
        if isinstance(ready, Outcome):
            return ready
        destination, secrets = ready
        timestamp = int(time.time())
        message_id = str(delivery.id)
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature_header(secrets, message_id, timestamp, delivery.payload),
        }
        body = delivery.payload.encode()
        try:
            answer = await webhook_http.post(
                destination, headers, body, BODY_LIMIT, self._pool, self.settings.webhook_timeout_seconds
            )
        except (OSError, TimeoutError, ValueError, webhook_http.ProtocolError) as error:
            return Outcome(None, f"{type(error).__name__}: {error}"[:BODY_LIMIT])
        if 200 <= answer.status < 300:
            return Outcome(answer.status, None)
        return Outcome(answer.status, f"HTTP {answer.status}: {answer.body}"[:BODY_LIMIT])

    async def _record_all(
        self, uow: UnitOfWork, claimed: list[tuple[WebhookDelivery, WebhookEndpoint]], outcomes: list[Outcome]
    ) -> None:
        """Apply each outcome, then save the batch's deliveries in one statement."""
        for (delivery, endpoint), outcome in zip(claimed, outcomes, strict=True):
            await self._record(uow, delivery, endpoint, outcome)
        for delivery, endpoint in claimed:
            if not endpoint.enabled and delivery.status == DeliveryStatus.PENDING:
                delivery.next_attempt_at = None  # disabled by this batch (410, five days): it waits
        deliveries = [d for d, _ in claimed]
        if uow.conn.capabilities.dialect != "postgres":
            await WebhookDelivery.bulk_update(deliveries, fields=_OUTCOME_FIELDS, using_db=uow.conn)
            return
        # Plain arrays: Tortoise's bulk_update builds a CASE per field and row (a quarter of the
        # dispatcher's CPU in the profile).
        columns = [[getattr(d, name) for d in deliveries] for name in ("id", *_OUTCOME_FIELDS)]
        columns[1] = [str(status) for status in columns[1]]
        await sql.fetch(uow.conn, _SAVE_OUTCOMES, *columns)

    async def _record(
        self, uow: UnitOfWork, delivery: WebhookDelivery, endpoint: WebhookEndpoint, outcome: Outcome
    ) -> None:
        """One attempt's outcome on the delivery (saved by the caller): DELIVERED, a retry, or FAILED."""
        now = _now()
        scale = self.settings.webhook_backoff_scale
        if outcome is PARKED:  # claimed, never tried: it waits for the endpoint to be enabled
            delivery.attempts -= 1
            delivery.lease_until = delivery.next_attempt_at = None
            return
        delivery.last_status_code = outcome.status_code
        delivery.last_error = outcome.error
        delivery.lease_until = None
        if outcome.delivered:
            metrics.WEBHOOK_ATTEMPTS.labels("delivered").inc()
            delivery.status, delivery.delivered_at, delivery.next_attempt_at = (
                DeliveryStatus.DELIVERED,
                now,
                None,
            )
            if endpoint.failing_since is not None:
                endpoint.failing_since = None
                await endpoint.save(using_db=uow.conn, update_fields=["failing_since"])
        else:
            step = delivery.attempts - delivery.schedule_start
            if outcome.status_code == 410 or step > len(SCHEDULE):
                delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
                metrics.WEBHOOK_ATTEMPTS.labels("failed").inc()
            else:
                metrics.WEBHOOK_ATTEMPTS.labels("retry").inc()
                delivery.next_attempt_at = now + dt.timedelta(seconds=SCHEDULE[step - 1] * scale)
            log.warning(
                "webhook %s to endpoint %s not delivered (attempt %d): %s",
                delivery.id,
                endpoint.id,
                delivery.attempts,
                outcome.error,
            )
            await self._endpoint_failed(uow, endpoint, outcome, now)

    async def _endpoint_failed(
        self, uow: UnitOfWork, endpoint: WebhookEndpoint, outcome: Outcome, now: dt.datetime
    ) -> None:
        """410 disables at once; failures without a success for five days disable too."""
        if not endpoint.enabled:
            return
        if outcome.status_code == 410:
            await disable_endpoint(uow, endpoint, "the receiver answered 410 Gone")
            return
        if endpoint.failing_since is None:
            endpoint.failing_since = now
            await endpoint.save(using_db=uow.conn, update_fields=["failing_since"])
        elif now - endpoint.failing_since >= DISABLE_AFTER * self.settings.webhook_backoff_scale:
            await disable_endpoint(uow, endpoint, "every delivery failed for 5 days")
