"""What runs beside the requests, wired together: database, event bus, outbox dispatchers, socket guard,
housekeeping (notifications/housekeeping.py), and the post-commit hand-off of the domain's events
to notifications/publishing.py.

A serving process sends mail and webhooks itself unless CREDITS_OUTBOX_DISPATCH=separate; then it
only tells the bus, and `server.py dispatch` processes (role "dispatch": no requests) send."""

from __future__ import annotations

import asyncio
import logging
import resource
from collections.abc import Sequence
from typing import Literal

from api.socket_auth import SocketGuard
from api.socket_limits import SocketLimits, default_max_websockets
from infra import db
from infra.tasks import cancel_and_wait
from models.accounts import ensure_first_admin
from models.demo import load_demo
from models.events import DomainEvent
from models.unit_of_work import add_event_sink, remove_event_sink
from notifications import publishing, wire
from notifications.bus import EventBus
from notifications.dispatch import OutboxDispatcher, wake_on_bus
from notifications.housekeeping import Housekeeping
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
        self.housekeeping = Housekeeping(settings)
        self.wake_ups: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Open the database, migrate, ensure a catalog administrator, then start the side effects."""
        await db.init_db(self.settings)
        await db.migrate(self.settings)
        await ensure_first_admin(
            self.settings.admin_email, self.settings.admin_password, development=self.settings.is_development
        )
        if self.demo:
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
        self.housekeeping.start()

    async def stop(self) -> None:
        """Stop in reverse order; pending mail stays in the outbox for the next start."""
        await self.housekeeping.stop()
        await cancel_and_wait(self.wake_ups)
        self.wake_ups = None
        remove_event_sink(self.publish)
        await self.sockets.stop()
        for dispatcher in self.outboxes.values():
            await dispatcher.stop()
        await self.bus.stop()
        await db.close_db()

    async def publish(self, events: Sequence[DomainEvent]) -> None:
        """After commit: the events to the bus; new outbox rows wake this process's dispatchers or the bus."""
        await publishing.publish(self.bus, events, self.outboxes if self.sends else None)
