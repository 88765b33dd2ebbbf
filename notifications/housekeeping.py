"""Housekeeping: what is past its retention is pruned, at start and every CREDITS_HOUSEKEEPING_SECONDS;
the lot sweep (expiries, expiry warnings) runs on its own short period, CREDITS_LOT_SWEEP_SECONDS,
and the runway alert sweep on CREDITS_RUNWAY_SWEEP_SECONDS.

Every process runs it (serving processes and `server.py dispatch`); each step is safe to run in
several at once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

import metrics
from infra import clock
from infra.tasks import cancel_and_wait
from models import console_sessions, idempotency, lot_expiry, runway_alert
from models.webhooks import prune_deliveries
from settings import Settings

log = logging.getLogger("credits.server")


class Housekeeping:
    """The periodic pruning of idempotency records and old webhook deliveries, the lot and runway sweeps."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.task: asyncio.Task[None] | None = None
        self.sweep_task: asyncio.Task[None] | None = None
        self.runway_task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Keep house, sweep lots and runways in the background until `stop`."""
        self.task = asyncio.create_task(self._keep_house(), name="housekeeping")
        self.sweep_task = asyncio.create_task(self._sweep_lots(), name="lot-sweep")
        self.runway_task = asyncio.create_task(self._sweep_runways(), name="runway-sweep")

    async def stop(self) -> None:
        """Cancel the background tasks and wait for them."""
        await cancel_and_wait(self.task)
        await cancel_and_wait(self.sweep_task)
        await cancel_and_wait(self.runway_task)
        self.task = self.sweep_task = self.runway_task = None

    async def sweep_lots(self) -> tuple[int, int]:
        """Expire the lots past their expiry and warn of those within 7 days of it (how many of each)."""
        expired, warned = await lot_expiry.sweep(dt.datetime.now(dt.UTC))
        metrics.LOTS_EXPIRED.inc(expired)
        metrics.LOT_EXPIRY_WARNINGS.inc(warned)
        return expired, warned

    async def sweep_runways(self) -> int:
        """Fire RUNWAY_LOW for the customers whose runway came within their alert days; how many fired."""
        fired = await runway_alert.sweep(clock.now())
        metrics.RUNWAY_ALERTS.inc(fired)
        return fired

    async def keep_house(self) -> int:
        """Prune idempotency records past their retention (returns how many went), then old webhooks."""
        retention = dt.timedelta(hours=self.settings.idempotency_retention_hours)
        pruned = await idempotency.prune(dt.datetime.now(dt.UTC) - retention)
        metrics.IDEMPOTENCY_PRUNED.inc(pruned)
        if pruned:
            log.info("pruned %d idempotency records older than %s", pruned, retention)
        await self.prune_webhook_deliveries()
        await console_sessions.prune(dt.datetime.now(dt.UTC))  # expired: no cookie can use them
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

    async def _sweep_lots(self) -> None:
        """`sweep_lots` at start and every CREDITS_LOT_SWEEP_SECONDS; a failure waits for the next."""
        while True:
            try:
                await self.sweep_lots()
            except Exception:
                log.exception("lot sweep failed; retrying at the next interval")
            await asyncio.sleep(self.settings.lot_sweep_seconds)

    async def _sweep_runways(self) -> None:
        """`sweep_runways` at start and every CREDITS_RUNWAY_SWEEP_SECONDS; a failure waits for the next."""
        while True:
            try:
                await self.sweep_runways()
            except Exception:
                log.exception("runway sweep failed; retrying at the next interval")
            await asyncio.sleep(self.settings.runway_sweep_seconds)
