"""The lot sweep: lots past their expiry become EXPIRATION entries, lots near it are warned.

Every process that keeps house runs it every CREDITS_LOT_SWEEP_SECONDS (notifications/
housekeeping.py). Nothing here needs to be exclusive: an expiry is an EXPIRATION movement
posted through the ledger, which locks the customer and expires the lot only while it is not
yet EXPIRED, so two sweeps racing write one entry per lot; a warning claims its lot first
(models/expiry_warning.py). All state is in the lots' rows: a restart neither loses nor repeats.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid

from infra import sql
from models import expiry_warning
from models.customer import Customer
from models.ledger import Movement, TransactionKind, post_batch
from models.lots import CreditLot, LotStatus
from models.unit_of_work import UnitOfWork, run_in_transaction

log = logging.getLogger("credits.lots")

# Lots per transaction: 500 customers' lots post in one round of the ledger's statements, and
# 10,000 lots due in one second are 20 transactions.
BATCH = 500


async def expire_due(now: dt.datetime, batch: int = BATCH) -> int:
    """Expire every lot whose expiry is at or before `now`, `batch` per transaction; returns how many.

    Due lots are read on the (status, expires_at) index, soonest first. A lot with credits left
    becomes an EXPIRATION entry of them; a DEPLETED one turns EXPIRED without an entry.
    """
    done = 0
    seen: set[uuid.UUID] = set()
    while True:
        rows = (
            await CreditLot.filter(status__in=[LotStatus.ACTIVE, LotStatus.DEPLETED], expires_at__lte=now)
            .order_by("expires_at")
            .limit(batch)
            .values_list("id", "customer_id")
        )
        due = [(sql.as_uuid(lot_id), sql.as_uuid(customer_id)) for lot_id, customer_id in rows]
        if not due or seen.issuperset(lot_id for lot_id, _ in due):
            return done  # none left (or only lots that would not expire: never loop on them)
        seen.update(lot_id for lot_id, _ in due)
        groups: dict[uuid.UUID, list[Movement]] = {}
        for lot_id, customer_id in due:
            groups.setdefault(customer_id, []).append(
                Movement(0, TransactionKind.EXPIRATION, None, lot_id=lot_id)
            )

        async def work(uow: UnitOfWork, groups: dict[uuid.UUID, list[Movement]] = groups) -> None:
            await post_batch(uow, list(groups.items()))

        await run_in_transaction(work)
        done += len(due)
        if len(due) < batch:
            return done


async def warn_expiring(now: dt.datetime, batch: int = BATCH) -> int:
    """Warn about every ACTIVE lot with credits that came within 7 days of its expiry; returns how many."""
    warned = 0
    while True:
        rows = (
            await CreditLot.filter(
                status=LotStatus.ACTIVE,
                expiring_warned=False,
                expires_at__lte=now + expiry_warning.WINDOW,
                remaining__gt=0,
            )
            .order_by("expires_at")
            .limit(batch)
            .values_list("id", "customer_id")
        )
        due = [(sql.as_uuid(lot_id), sql.as_uuid(customer_id)) for lot_id, customer_id in rows]
        if not due:
            return warned

        async def work(uow: UnitOfWork, due: list[tuple[uuid.UUID, uuid.UUID]] = due) -> int:
            lots = await expiry_warning.claim(uow, [lot_id for lot_id, _ in due], now)
            ids = list({lot.customer_id for lot in lots})
            customers = {c.id: c for c in await Customer.filter(id__in=ids).using_db(uow.conn)}
            for lot in lots:
                await expiry_warning.warn(uow, customers[sql.as_uuid(lot.customer_id)], lot)
            return len(lots)

        claimed = await run_in_transaction(work)
        warned += claimed
        if len(due) < batch or not claimed:  # the rest are held by another process: its warnings
            return warned


async def sweep(now: dt.datetime) -> tuple[int, int]:
    """Expire what is due, then warn what comes near; (expired, warned)."""
    expired = await expire_due(now)
    warned = await warn_expiring(now)
    if expired or warned:
        log.info("lots: %d expired, %d warned of their expiry", expired, warned)
    return expired, warned
