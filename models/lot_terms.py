"""Changing a lot's terms (`updateCreditLot`): its priority and expiry, and the warning that follows."""

from __future__ import annotations

import datetime as dt
import uuid

from models import expiry_warning
from models.customer import Customer
from models.errors import DomainError, ErrorCode, invalid_input, not_found
from models.lots import CreditLot, LotStatus, check_expiry, check_priority
from models.unit_of_work import UnitOfWork, run_in_transaction


async def update_lot(
    lot_id: uuid.UUID,
    *,
    priority: int | None,
    expires_at: dt.datetime | None,
    change_priority: bool,
    change_expiry: bool,
) -> CreditLot:
    """Change an ACTIVE lot's priority or expiry (None removes it); INVALID_STATE otherwise.

    One conditional UPDATE: a posting that holds the customer's lock only writes `remaining`
    and `status`, so neither loses the other's change, and a lot that stopped being ACTIVE
    meanwhile is refused. The balance does not move: no entry. An expiry moved out of the
    warning window re-arms CREDITS_EXPIRING; one moved into it warns, in the same transaction.
    """
    if change_priority:
        if priority is None:
            raise invalid_input("priority cannot be null", "priority")
        check_priority(priority)
    if change_expiry:
        expires_at = check_expiry(expires_at)
    updates: dict[str, object] = {}
    if change_priority:
        updates["priority"] = priority
    if change_expiry:
        updates["expires_at"] = expires_at

    async def work(uow: UnitOfWork) -> CreditLot:
        return await _update(uow, lot_id, updates, dt.datetime.now(dt.UTC))

    return await run_in_transaction(work)


async def _update(
    uow: UnitOfWork, lot_id: uuid.UUID, updates: dict[str, object], now: dt.datetime
) -> CreditLot:
    """Apply `updates` to the lot if it is ACTIVE, then re-arm or warn as its new expiry asks."""
    lot = await CreditLot.filter(id=lot_id).using_db(uow.conn).first()
    if lot is None:
        raise not_found("credit lot", "id")
    moved = "expires_at" in updates
    new_expiry = updates.get("expires_at")
    into_window = moved and isinstance(new_expiry, dt.datetime) and expiry_warning.in_window(new_expiry, now)
    if moved and not into_window:
        updates = {**updates, "expiring_warned": False}
    active = CreditLot.filter(id=lot_id, status=LotStatus.ACTIVE).using_db(uow.conn)
    changed = await (active.update(**updates) if updates else active.count())
    await lot.refresh_from_db(using_db=uow.conn)
    if not changed:
        raise DomainError(ErrorCode.INVALID_STATE, f"the lot is {lot.status}, not ACTIVE", "id")
    if into_window:
        customer = await Customer.get(id=lot.customer_id).using_db(uow.conn)
        await expiry_warning.warn_due(uow, customer, [lot.id], now)
    return lot
