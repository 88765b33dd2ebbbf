"""The webhook dispatcher: signs and sends recorded deliveries, retrying with backoff.

Sending is scheduled for fairness (notifications/webhook_slots.py): each process keeps a pool of
send slots filled as attempts end, with a share per endpoint and per customer, so a slow receiver
holds its own slots and never the others'. A claim is a lease written in a short transaction:
the delivery's `next_attempt_at` moves to the end of the lease (so it is not due meanwhile) and
`lease_until` marks it as out. No row lock is held while a request is out; the sender renews the
leases of slow attempts, so a process that dies leaves its deliveries due again within a lease
(SQLite, one process: a start also takes back the leases of the run before). Before every attempt
the destination is checked again, and the request goes to an address that check accepted (no DNS
rebinding between check and connect). Redirects are not followed; at most `BODY_LIMIT` bytes of an
answer are read.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid
from dataclasses import dataclass

from tortoise.expressions import F
from tortoise.queryset import QuerySet

import metrics
from infra import sql
from models import destinations, webhook_secrets
from models.errors import DomainError
from models.unit_of_work import UnitOfWork, run_in_transaction, unit_of_work
from models.webhook_outbox import DeliveryStatus, WebhookDelivery
from models.webhooks import WebhookEndpoint, disable_endpoint
from notifications import webhook_http
from notifications.dispatch import PLAN_FOR_BACKLOG, OutboxDispatcher, hold_claims_for
from notifications.webhook_slots import Slots
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
# While attempts are out, a pass waits this long first, so outcomes are saved (and their slots
# refilled) several at a time: one short transaction per few deliveries, not one per delivery.
LINGER_SECONDS = 0.005
# Outcomes a failing pass could not save are kept for this many passes, then dropped (their
# deliveries are sent again once their leases run out), so one that cannot be saved stops nothing.
KEEP_OUTCOMES_FOR_PASSES = 10
# PostgreSQL settings of a dispatcher's transactions (outcomes, lease renewals, claims).
CLAIM_SETTINGS = {
    **PLAN_FOR_BACKLOG,
    # An outcome or a lease lost in a crash only means the delivery is sent again, which
    # at-least-once allows; so these commits do not wait for their WAL flush, nor do charges behind.
    "synchronous_commit": "off",
}
_SAVE_OUTCOMES = (
    'UPDATE "webhook_delivery" AS d SET "status" = x.status, "attempts" = x.attempts, '
    '"last_status_code" = x.last_status_code, "last_error" = x.last_error, '
    '"next_attempt_at" = x.next_attempt_at, "lease_until" = x.lease_until, "delivered_at" = x.delivered_at '
    "FROM unnest({0}::uuid[], {1}::text[], {2}::int[], {3}::int[], {4}::text[], {5}::timestamptz[], "
    "{6}::timestamptz[], {7}::timestamptz[], {8}::int[]) "
    "AS x(id, status, attempts, last_status_code, last_error, next_attempt_at, lease_until, delivered_at, "
    "claimed) "
    'WHERE d.id = x.id AND d."attempts" = x.claimed AND d."lease_until" IS NOT NULL'
)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def _short(uow: UnitOfWork) -> None:
    """PostgreSQL: a dispatcher transaction's settings (it holds row locks briefly, never over a send)."""
    if uow.conn.capabilities.dialect == "postgres":
        await hold_claims_for(uow.conn, 0, **CLAIM_SETTINGS)


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

# An endpoint ready for its claimed attempts: its checked destination and its signing secrets.
Ready = tuple[destinations.Destination, list[str]]


def signature_header(secrets: list[str], message_id: str, timestamp: int, body: str) -> str:
    """`webhook-signature`: one `v1,…` per secret, space-separated."""
    return " ".join(webhook_secrets.sign(s, message_id, timestamp, body) for s in secrets)


@dataclass(frozen=True, eq=False)
class Claim:
    """A delivery leased for one attempt, with its endpoint as the claim read it.

    `attempts` is the count the claim wrote: an outcome is saved only while the row still has it
    and a lease (a redelivery or another sender's claim since then means someone else owns it).
    """

    delivery: WebhookDelivery
    endpoint: WebhookEndpoint
    attempts: int


class WebhookDispatcher(OutboxDispatcher):
    """Background sender of webhook deliveries; one per process.

    A loop keeps up to `CREDITS_WEBHOOK_MAX_IN_FLIGHT` attempts out (no more than
    `CREDITS_WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT` to one endpoint, `…_PER_CUSTOMER` to one customer's):
    each pass of the loop saves the outcomes that came back, renews the leases of slow attempts and
    claims due deliveries for the free slots, all in one short transaction, then starts their sends.
    """

    what = "webhooks"
    log = log

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._pool = webhook_http.Pool()
        self._slots = Slots(
            settings.webhook_max_in_flight,
            settings.webhook_max_in_flight_per_endpoint,
            settings.webhook_max_in_flight_per_customer,
        )
        self._sending: dict[asyncio.Task[Outcome], Claim] = {}
        self._leases: dict[Claim, dt.datetime] = {}
        self._done: list[tuple[Claim, Outcome]] = []
        self._more = True  # whether a claim may find due deliveries the last one left
        self._wakes = 0  # wake-ups so far: one during a claim may bring rows its read did not see
        self._window_full = False
        self._skipped = False
        # After a claim that found nothing to take past the due rows of endpoints whose slots are
        # full (a slow receiver's backlog: about 0.4 µs a row), wake-ups and polls wait nine times
        # as long as it took before the next; an attempt that ends (a slot freed) does not wait.
        self._claim_after = 0.0

    @property
    def batch_size(self) -> int:
        """CREDITS_WEBHOOK_BATCH_SIZE: the most one claim takes."""
        return self.settings.webhook_batch_size

    @property
    def poll_seconds(self) -> float:
        """CREDITS_WEBHOOK_POLL_SECONDS."""
        return self.settings.webhook_poll_seconds

    @property
    def _lease(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.settings.webhook_lease_seconds)

    def wake(self) -> None:
        """New deliveries were committed: claim now instead of at the next poll."""
        self._more = True
        self._wakes += 1
        super().wake()

    async def stop(self) -> None:
        """Stop, and close the kept-alive connections."""
        await super().stop()
        self._pool.close()

    async def take_back_leases(self) -> int:
        """SQLite (one process): deliveries a previous run left mid-send are due now; returns how many.

        A delivery parked meanwhile (its endpoint disabled: no next attempt) stays parked.
        """
        leased = WebhookDelivery.filter(status=DeliveryStatus.PENDING, lease_until__not_isnull=True)
        taken = await leased.filter(next_attempt_at__not_isnull=True).update(
            lease_until=None, next_attempt_at=_now()
        )
        await leased.update(lease_until=None)
        if taken:
            log.warning("took back %d webhook deliveries a previous run left mid-send", taken)
        return taken

    def _due(self, now: dt.datetime, skip: set[uuid.UUID] | None = None) -> QuerySet[WebhookDelivery]:
        """Due deliveries in the due index's order, but none to an endpoint in `skip` (its slots are full).

        A leased delivery is not due: its claim moved `next_attempt_at` to the end of the lease, so
        the index alone says what may be claimed, and an expired lease makes it due again. A
        disabled endpoint's deliveries wait with no next attempt (`park`), so they are not due either.
        """
        due = WebhookDelivery.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
        if skip:
            due = due.exclude(endpoint_id__in=sorted(skip))
        return due.order_by("next_attempt_at").limit(self.settings.webhook_batch_size)

    # --- the loop ---------------------------------------------------------------------------------

    async def _run(self) -> None:
        """Take back a previous run's leases (SQLite), then keep the send slots filled until cancelled."""
        if self.settings.is_sqlite:
            try:
                await self.take_back_leases()
            except Exception:
                log.exception("could not take back leased webhooks; they wait for their lease")
        failures = 0
        try:
            while True:
                if self._sending and len(self._done) < len(self._sending):
                    await asyncio.sleep(LINGER_SECONDS)  # let more outcomes come back: fewer, larger passes
                self._wake.clear()
                try:
                    await self._pass()
                    failures = 0
                except asyncio.CancelledError:
                    raise
                except Exception:
                    failures += 1
                    log.exception("webhook dispatch failed (%d in a row); trying again", failures)
                    if failures >= KEEP_OUTCOMES_FOR_PASSES:  # perhaps one of them: they are sent again
                        log.warning("dropping %d unsaved webhook outcomes", len(self._done))
                        self._done.clear()
                    await asyncio.sleep(min(self.poll_seconds, 1.0))
                    self._more = True
                    continue
                if self._may_claim():
                    continue
                try:
                    await asyncio.wait_for(self._wake.wait(), self._idle_seconds())
                except TimeoutError:
                    self._more = True
        finally:
            await self._wind_down()

    def _may_claim(self) -> bool:
        """Whether a claim now could find something: free slots, more due, not waiting after a long walk."""
        return self._more and self._slots.room > 0 and time.monotonic() >= self._claim_after

    def _idle_seconds(self) -> float:
        """Until the next poll, or sooner when a lease needs renewing or a claim may run again."""
        wait = self.poll_seconds
        if self._leases:
            renew_at = min(self._leases.values()) - self._lease * 2 / 3
            wait = min(wait, (renew_at - _now()).total_seconds())
        if self._more and self._slots.room:
            wait = min(wait, self._claim_after - time.monotonic())
        return max(wait, 0.0)

    async def _pass(self) -> None:
        """Save what came back, renew what is slow, claim for the free slots: one short transaction."""
        done, self._done = self._done, []
        now = _now()
        renew = [c for c, until in self._leases.items() if until - now <= self._lease * 2 / 3]
        room = self._slots.room if self._may_claim() else 0
        wakes = self._wakes
        if not (done or renew or room):
            return
        claimed: list[Claim] = []

        async def work(uow: UnitOfWork) -> None:
            self._give_back(claimed)  # an attempt of this transaction that was aborted
            claimed.clear()
            await _short(uow)
            if done:
                await self._record(uow, done)
            if renew:
                await self._renew(uow, renew)
            if room:
                started = time.monotonic()
                claimed.extend(await self._claim(uow, room))
                if self._skipped and not claimed:
                    self._claim_after = time.monotonic() + 9 * (time.monotonic() - started)

        try:
            await run_in_transaction(work)
        except BaseException:
            self._give_back(claimed)  # never started; their leases run out
            self._done[:0] = done  # saved by a later pass, if their claims are still theirs then
            raise
        if room:
            self._more = self._window_full or self._wakes != wakes
        self._start(claimed)

    def _give_back(self, claimed: list[Claim]) -> None:
        """Free the slots of claims that will not be sent (or were sent by `dispatch_once`)."""
        for claim in claimed:
            self._slots.give_back(claim.endpoint.id, claim.endpoint.customer_id)

    def _start(self, claimed: list[Claim]) -> None:
        """Send each claimed delivery in a task of its own; each endpoint's destination checked once."""
        prepared: dict[uuid.UUID, asyncio.Future[Ready | Outcome]] = {}
        for claim in claimed:
            endpoint = claim.endpoint
            if endpoint.id not in prepared:
                prepared[endpoint.id] = asyncio.ensure_future(self._prepare(endpoint))
            task = asyncio.create_task(self._send(claim, prepared[endpoint.id]))
            self._sending[task] = claim
            self._leases[claim] = claim.delivery.lease_until or _now()
            task.add_done_callback(self._sent)

    async def _send(self, claim: Claim, ready: asyncio.Future[Ready | Outcome]) -> Outcome:
        return await self._attempt(claim.delivery, await ready)

    def _sent(self, task: asyncio.Task[Outcome]) -> None:
        """An attempt ended: its slot is free now, its outcome saved by the next pass."""
        claim = self._sending.pop(task)
        self._leases.pop(claim, None)
        self._slots.give_back(claim.endpoint.id, claim.endpoint.customer_id)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            log.error("webhook %s: the attempt failed unexpectedly", claim.delivery.id, exc_info=error)
            outcome = Outcome(None, f"{type(error).__name__}: {error}"[:BODY_LIMIT])
        else:
            outcome = task.result()
        self._done.append((claim, outcome))
        self._more = True
        self._claim_after = 0.0
        self._wake.set()

    async def _wind_down(self) -> None:
        """Stopping: cancel the sends still out; save what came back and release the rest's leases."""
        unfinished = list(self._sending.values())
        for task in list(self._sending):
            task.cancel()
        await asyncio.gather(*self._sending, return_exceptions=True)
        done, self._done = self._done, []
        unfinished = [c for c in unfinished if all(c is not d for d, _ in done)]
        self._leases.clear()
        if not (done or unfinished):
            return
        try:
            async with asyncio.timeout(5), unit_of_work() as uow:
                if done:
                    await self._record(uow, done)
                await self._release(uow, unfinished)
        except Exception:
            log.warning("could not save webhook outcomes while stopping; they are sent again", exc_info=True)

    # --- one claim, send and record, for tests and tools --------------------------------------------

    async def dispatch_once(self) -> int:
        """Claim due deliveries for the free slots, try each once, save the outcomes; returns how many."""
        claimed: list[Claim] = []

        async def claim(uow: UnitOfWork) -> None:
            self._give_back(claimed)
            claimed.clear()
            await _short(uow)
            claimed.extend(await self._claim(uow, self._slots.room))

        await run_in_transaction(claim)
        try:
            endpoints = {c.endpoint.id: c.endpoint for c in claimed}
            ready = dict(
                zip(endpoints, await asyncio.gather(*map(self._prepare, endpoints.values())), strict=True)
            )
            outcomes = await asyncio.gather(
                *(self._attempt(c.delivery, ready[c.endpoint.id]) for c in claimed)
            )
        finally:
            self._give_back(claimed)

        async def record(uow: UnitOfWork) -> None:
            await _short(uow)
            await self._record(uow, list(zip(claimed, outcomes, strict=True)))

        if claimed:
            await run_in_transaction(record)
        return len(claimed)

    # --- claims and leases ------------------------------------------------------------------------

    async def _claim(self, uow: UnitOfWork, room: int) -> list[Claim]:
        """Lease due deliveries for up to `room` free slots, each endpoint and customer within its share.

        The due rows are read in the due index's order, past the endpoints whose slots are full;
        on PostgreSQL `FOR UPDATE SKIP LOCKED` keeps two processes' claims apart for the moment
        this transaction lasts, and the lease (a later `next_attempt_at`) keeps them apart after.
        """
        if room <= 0:
            return []
        now = _now()
        skip = self._slots.full_endpoints() | await self._endpoints_of(uow, self._slots.full_customers())
        self._skipped = bool(skip)
        limit = min(room, self.settings.webhook_batch_size)
        rows = await self._due(now, skip).limit(limit).select_for_update(skip_locked=True).using_db(uow.conn)
        # More may be due: the window was full (some of it perhaps over an endpoint's or customer's share).
        self._window_full = len(rows) >= limit
        if not rows:
            return []
        ids = {r.endpoint_id for r in rows}
        endpoints = {e.id: e for e in await WebhookEndpoint.filter(id__in=ids).using_db(uow.conn)}
        taken = [r for r in rows if self._slots.take(r.endpoint_id, endpoints[r.endpoint_id].customer_id)]
        if not taken:
            return []
        lease = now + self._lease
        await (
            WebhookDelivery.filter(id__in=[r.id for r in taken])
            .using_db(uow.conn)
            .update(lease_until=lease, next_attempt_at=lease, attempts=F("attempts") + 1)
        )
        claims = []
        for row in taken:
            row.attempts += 1
            row.lease_until = row.next_attempt_at = lease
            claims.append(Claim(row, endpoints[row.endpoint_id], row.attempts))
        return claims

    async def _endpoints_of(self, uow: UnitOfWork, customers: set[uuid.UUID]) -> set[uuid.UUID]:
        if not customers:
            return set()
        found = (
            await WebhookEndpoint.filter(customer_id__in=customers)
            .using_db(uow.conn)
            .values_list("id", flat=True)
        )
        return {sql.as_uuid(i) for i in found}

    async def _renew(self, uow: UnitOfWork, claims: list[Claim]) -> None:
        """Move the leases of attempts still out to a full lease from now (a parked one stays parked)."""
        lease = _now() + self._lease
        await (
            WebhookDelivery.filter(
                id__in=[c.delivery.id for c in claims],
                status=DeliveryStatus.PENDING,
                lease_until__not_isnull=True,
                next_attempt_at__not_isnull=True,
            )
            .using_db(uow.conn)
            .update(lease_until=lease, next_attempt_at=lease)
        )
        for claim in claims:
            if claim in self._leases:
                self._leases[claim] = lease

    async def _release(self, uow: UnitOfWork, claims: list[Claim]) -> None:
        """Attempts cut short by a stop: due again now (unless parked meanwhile)."""
        for claim in claims:
            await (
                WebhookDelivery.filter(
                    id=claim.delivery.id, attempts=claim.attempts, lease_until__not_isnull=True
                )
                .filter(next_attempt_at__not_isnull=True)
                .using_db(uow.conn)
                .update(lease_until=None, next_attempt_at=_now())
            )

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

    async def _record(self, uow: UnitOfWork, done: list[tuple[Claim, Outcome]]) -> None:
        """Apply each outcome to its delivery and its endpoint (read again), then save the deliveries.

        The endpoints are locked for this short transaction (`FOR NO KEY UPDATE`: deliveries can
        still be inserted for them), in id order, so the failure streak and disabling never lose a
        change made while the attempts were out. A delivery is saved only if it is still this
        claim's (`Claim.attempts`, a lease): a redelivery or another sender took it over otherwise.
        """
        if all(o.delivered and c.endpoint.failing_since is None for c, o in done):
            # Nothing to change on an endpoint, and nothing left pending to park: the claim's
            # endpoints will do (a deleted one's deliveries are gone, so none is saved).
            endpoints = {c.endpoint.id: c.endpoint for c, _ in done}
        else:
            ids = sorted({c.endpoint.id for c, _ in done})
            locked = WebhookEndpoint.filter(id__in=ids).order_by("id").select_for_update(no_key=True)
            endpoints = {e.id: e for e in await locked.using_db(uow.conn)}
        mine = [(c, o) for c, o in done if c.endpoint.id in endpoints]  # else deleted, deliveries with it
        for claim, outcome in mine:
            await self._apply(uow, claim, endpoints[claim.endpoint.id], outcome)
        for claim, _ in mine:
            if not endpoints[claim.endpoint.id].enabled and claim.delivery.status == DeliveryStatus.PENDING:
                claim.delivery.next_attempt_at = None  # disabled (here or meanwhile): it waits
        claims = [c for c, _ in mine]
        if not claims:
            return
        if uow.conn.capabilities.dialect != "postgres":
            for claim in claims:
                d = claim.delivery
                await (
                    WebhookDelivery.filter(id=d.id, attempts=claim.attempts, lease_until__not_isnull=True)
                    .using_db(uow.conn)
                    .update(**{name: getattr(d, name) for name in _OUTCOME_FIELDS})
                )
            return
        # Plain arrays: Tortoise's bulk_update builds a CASE per field and row (a quarter of the
        # dispatcher's CPU in the profile).
        deliveries = [c.delivery for c in claims]
        columns = [[getattr(d, name) for d in deliveries] for name in ("id", *_OUTCOME_FIELDS)]
        columns[1] = [str(status) for status in columns[1]]
        await sql.fetch(uow.conn, _SAVE_OUTCOMES, *columns, [c.attempts for c in claims])

    async def _apply(
        self, uow: UnitOfWork, claim: Claim, endpoint: WebhookEndpoint, outcome: Outcome
    ) -> None:
        """One attempt's outcome on the delivery (saved by the caller): DELIVERED, a retry, or FAILED."""
        delivery = claim.delivery
        now = _now()
        scale = self.settings.webhook_backoff_scale
        delivery.lease_until = None
        if outcome is PARKED:  # claimed, never tried: it waits for the endpoint to be enabled
            delivery.attempts = claim.attempts - 1
            delivery.next_attempt_at = None
            return
        delivery.last_status_code = outcome.status_code
        delivery.last_error = outcome.error
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
