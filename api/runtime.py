"""What runs beside the requests: database, event bus, outbox dispatchers, socket guard, housekeeping,
and `publish`, the post-commit hand-off of the domain's events to notifications/.

A serving process sends mail and webhooks itself unless CREDITS_OUTBOX_DISPATCH=separate; then it
only tells the bus, and `server.py dispatch` processes (role "dispatch": no requests) send."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import resource
from collections.abc import Sequence
from typing import Literal

import metrics
from api.socket_auth import SocketGuard
from api.socket_limits import SocketLimits, default_max_websockets
from infra import db
from infra.tasks import cancel_and_wait
from models import idempotency
from models.accounts import ensure_first_admin
from models.alerts import EmailQueued
from models.ledger import BalanceChanged
from models.unit_of_work import add_event_sink, remove_event_sink
from models.webhooks import WebhooksQueued, prune_deliveries
from notifications import wire
from notifications.bus import EventBus
from notifications.dispatch import OutboxDispatcher, wake_on_bus
from notifications.mail import MailDispatcher
from notifications.webhooks import WebhookDispatcher
from settings import Settings

log = logging.getLogger("credits.server")

Role = Literal["serve", "dispatch"]


class Runtime:
    """What runs beside the requests (role "serve") or instead of them (role "dispatch")."""

    def __init__(self, settings: Settings, *, demo: bool = False, role: Role = "serve") -> None:
        self.settings = settings
        self.demo = demo
        self.role = role
        # Whether this process sends mail and webhooks (else it wakes the dispatch processes).
        self.sends = role == "dispatch" or settings.outbox_dispatch == "inline"
        self.bus = EventBus(
            settings.broadcast_url,
            queue_size=settings.subscriber_queue_size,
            heartbeat_seconds=settings.bus_heartbeat_seconds,
            liveness_seconds=settings.bus_liveness_seconds,
            channel=settings.bus_channel,
        )
        self.mailer = MailDispatcher(settings)
        self.webhooks = WebhookDispatcher(settings)
        self.outboxes: dict[str, OutboxDispatcher] = {
            wire.MAIL_OUTBOX: self.mailer,
            wire.WEBHOOK_OUTBOX: self.webhooks,
        }
        self.sockets = SocketGuard(settings.ws_auth_recheck_seconds, self.bus)
        descriptors = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        self.socket_limits = SocketLimits(
            settings.max_websockets or default_max_websockets(descriptors, settings.db_pool_max),
            settings.max_unauthenticated_websockets_per_address,
            settings.max_streams_per_user,
            settings.max_streams_per_customer,
        )
        self.housekeeping: asyncio.Task[None] | None = None
        self.wake_ups: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Open the database, migrate, ensure a catalog administrator, then start the side effects."""
        await db.init_db(self.settings)
        await db.migrate(self.settings)
        await ensure_first_admin(
            self.settings.admin_email, self.settings.admin_password, development=self.settings.is_development
        )
        if self.demo:
            from models.demo import load_demo

            await load_demo()
        await self.bus.start()
        add_event_sink(self.publish)
        if self.role == "serve":
            self.sockets.start()
        if self.sends:
            for dispatcher in self.outboxes.values():
                dispatcher.start()
        if self.role == "dispatch":
            wakers = {outbox: dispatcher.wake for outbox, dispatcher in self.outboxes.items()}
            self.wake_ups = asyncio.create_task(wake_on_bus(self.bus, wakers, log), name="outbox-wake-ups")
        self.housekeeping = asyncio.create_task(self._keep_house(), name="housekeeping")

    async def stop(self) -> None:
        """Stop in reverse order; pending mail stays in the outbox for the next start."""
        await cancel_and_wait(self.housekeeping)
        self.housekeeping = None
        await cancel_and_wait(self.wake_ups)
        self.wake_ups = None
        remove_event_sink(self.publish)
        await self.sockets.stop()
        for dispatcher in self.outboxes.values():
            await dispatcher.stop()
        await self.bus.stop()
        await db.close_db()

    async def keep_house(self) -> int:
        """Prune idempotency records past their retention (returns how many went), then old webhooks."""
        retention = dt.timedelta(hours=self.settings.idempotency_retention_hours)
        pruned = await idempotency.prune(dt.datetime.now(dt.UTC) - retention)
        metrics.IDEMPOTENCY_PRUNED.inc(pruned)
        if pruned:
            log.info("pruned %d idempotency records older than %s", pruned, retention)
        await self.prune_webhook_deliveries()
        return pruned

    async def prune_webhook_deliveries(self) -> int:
        """Delete delivered and failed webhook deliveries past CREDITS_WEBHOOK_RETENTION_DAYS."""
        retention = dt.timedelta(days=self.settings.webhook_retention_days)
        pruned = await prune_deliveries(dt.datetime.now(dt.UTC) - retention)
        metrics.WEBHOOK_DELIVERIES_PRUNED.inc(pruned)
        if pruned:
            log.info("pruned %d webhook deliveries older than %s", pruned, retention)
        return pruned

    async def _keep_house(self) -> None:
        """`keep_house` at start and every CREDITS_HOUSEKEEPING_SECONDS; a failure waits for the next."""
        while True:
            try:
                await self.keep_house()
            except Exception:
                log.exception("housekeeping failed; retrying at the next interval")
            await asyncio.sleep(self.settings.housekeeping_seconds)

    async def publish(self, events: Sequence[object]) -> None:
        """After commit: the events to the bus in one publish; new outbox rows wake a dispatcher."""
        messages = []
        outboxes: set[str] = set()
        for event in events:
            if isinstance(event, EmailQueued):
                outboxes.add(wire.MAIL_OUTBOX)
                continue
            if isinstance(event, WebhooksQueued):
                outboxes.add(wire.WEBHOOK_OUTBOX)
                continue
            if isinstance(event, BalanceChanged):
                metrics.ledger_operation(event.transaction.kind)
            if (message := wire.encode(event)) is not None:
                metrics.event_published(message["t"])
                messages.append(message)
        for outbox in sorted(outboxes):
            if self.sends:
                self.outboxes[outbox].wake()
            else:
                messages.append(wire.outbox_message(outbox))
        await self.bus.publish_many(messages)
