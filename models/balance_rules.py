"""What follows when a balance moves: the rules a posting batch runs once its entries are applied.

The ledger calls `follow` once per batch, inside the batch's transaction. Each rule sees every
entry in ledger order, with the locked customer at that entry's balance, and names the customer
fields it changed; the changes are saved in one statement per customer. Alerts, the live balance
event, the expiry warning of a credited lot and the webhook outbox are rules here.

Before a batch is written, `GUARDS` decide each debit (models/spend_controls.py): the auto
top-up written before it, the minimum balance and the user's spend limit that may refuse it.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence

from infra import clock
from models import alerts, expiry_warning, webhook_outbox
from models.customer import Customer, CustomerState
from models.errors import DomainError
from models.events import BalanceChanged
from models.spend_controls import Controls, Debit, Guarded, auto_top_up, floor, spend_limit
from models.transaction import CreditTransaction
from models.unit_of_work import UnitOfWork

# A rule: given the unit of work, the customer at the entry's balance and the entry, it acts
# (inside the transaction, or through events after the commit) and returns the fields it changed.
Rule = Callable[[UnitOfWork, Customer, CreditTransaction], Awaitable[Iterable[str]]]
# A posted batch: each locked customer with its entries in ledger order.
Batch = Sequence[tuple[Customer, Sequence[CreditTransaction]]]
# A rule that looks at the whole batch at once (after every entry's rules).
BatchRule = Callable[[UnitOfWork, Batch], Awaitable[None]]


async def _alerts(uow: UnitOfWork, customer: Customer, entry: CreditTransaction) -> Iterable[str]:
    """Fire the limits the entry's balance crossed downwards, re-arm those it crossed back."""
    return await alerts.evaluate(uow, customer)


async def _live_balance(uow: UnitOfWork, customer: Customer, entry: CreditTransaction) -> Iterable[str]:
    """The entry goes out live (balanceChanged) after the commit, with the customer as it left it."""
    uow.events.append(BalanceChanged(entry, CustomerState.of(customer)))
    return ()


async def _webhook(uow: UnitOfWork, customer: Customer, entry: CreditTransaction) -> Iterable[str]:
    """credit_transaction.created for the endpoints that want it, recorded in the transaction."""
    webhook_outbox.record(uow, webhook_outbox.transaction_created(entry))
    return ()


# In this order for each entry: an alert's events precede its entry's, as they always have.
RULES: tuple[Rule, ...] = (_alerts, _live_balance, _webhook)


async def _expiring(uow: UnitOfWork, batch: Batch) -> None:
    """CREDITS_EXPIRING for the lots the batch credited that expire within 7 days (a grant made so).

    Once per batch, not per entry: one query for a batch of many grants.
    """
    credited = {
        part.lot_id: customer
        for customer, entries in batch
        for entry in entries
        for part in entry.lot_allocations
        if part.lot_id is not None and part.amount > 0
    }
    if credited:
        await expiry_warning.warn_credited(uow, credited, clock.now())


# Once per batch, after every entry's rules, with each customer at its last entry's balance.
BATCH_RULES: tuple[BatchRule, ...] = (_expiring,)


# A guard: given the batch's controls and a debit at its customer's running balance, it refuses
# the debit (an error) or lets it pass, possibly deciding a top-up to write before it.
Guard = Callable[[Controls, Debit], DomainError | None]
# In this order: the top-up first, since the floor is checked after it.
GUARDS: tuple[Guard, ...] = (auto_top_up, floor, spend_limit)


def guard(controls: Controls, debit: Debit) -> DomainError | None:
    """Run the guards on a debit; the first refusal, or None (then the debit is counted as accepted)."""
    for rule in GUARDS:
        refusal = rule(controls, debit)
        if refusal is not None:
            return refusal
    controls.accept(debit)
    return None


async def follow(uow: UnitOfWork, batch: Batch, guarded: Mapping[uuid.UUID, Guarded] | None = None) -> None:
    """Run every rule on every entry of a posted batch, then the batch rules.

    `guarded` is what the guards changed per customer (top-up counters, a cap alert to fire).
    Leaves each customer at its last entry's balance, its changed fields saved.
    """
    guarded = guarded or {}
    for customer, entries in batch:
        changed: set[str] = set()
        done = guarded.get(customer.id)
        if done is not None:
            changed.update(done.changed)
            if done.limit_reached:
                await alerts.top_up_limit_reached(uow, customer)
        for entry in entries:
            customer.balance = entry.balance_after
            for rule in RULES:
                changed.update(await rule(uow, customer, entry))
        if changed:
            await customer.save(using_db=uow.conn, update_fields=sorted(changed))
    for batch_rule in BATCH_RULES:
        await batch_rule(uow, batch)
