"""What follows a balance change: every rule sees each entry of a posting batch, once, in ledger order."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from models import balance_rules
from models.customer import Customer
from models.events import AlertRaised, BalanceChanged
from models.ledger import Movement, TransactionKind, post_batch
from models.transaction import CreditTransaction
from models.unit_of_work import UnitOfWork, unit_of_work
from tests.factories import Login, enable_credits, make_catalog_admin, make_customer


def _charge(cents: int, admin: Login) -> Movement:
    return Movement(cents, TransactionKind.SERVICE_CHARGE, admin.actor)


async def test_a_rule_sees_every_entry_of_a_batch_in_order_at_its_balance(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A rule added to RULES runs once per entry, the customer at that entry's balance."""
    # given: a rule that records what it sees, beside the existing ones
    seen: list[tuple[str, int, int]] = []

    async def recording(uow: UnitOfWork, customer: Customer, entry: CreditTransaction) -> Iterable[str]:
        seen.append((customer.name, entry.sequence, customer.balance))
        return ()

    await enable_credits()
    admin = await make_catalog_admin()
    acme = await make_customer("Acme", balance=10, by=admin)
    globex = await make_customer("Globex")
    monkeypatch.setattr(balance_rules, "RULES", (*balance_rules.RULES, recording))

    # when: one batch charges Acme twice and Globex once
    async with unit_of_work() as uow:
        await post_batch(
            uow,
            [(acme.id, [_charge(300, admin), _charge(900, admin)]), (globex.id, [_charge(150, admin)])],
        )

    # then: the rule saw each entry once, in ledger order, at the balance the entry left
    assert seen == [("Acme", 2, 700), ("Acme", 3, -200), ("Globex", 1, -150)]


async def test_an_alert_precedes_the_entry_that_fired_it_and_its_state_is_saved_once() -> None:
    """The alert rule runs before the live event of the entry whose balance crossed zero."""
    # given: Acme at 10.00
    await enable_credits()
    admin = await make_catalog_admin()
    acme = await make_customer("Acme", balance=10, by=admin)

    # when: two charges, the second crossing zero
    async with unit_of_work() as uow:
        await post_batch(uow, [(acme.id, [_charge(300, admin), _charge(900, admin)])])

    # then: entry 2's live event, then the alert, then entry 3's live event
    order = [
        ("balance", e.transaction.sequence) if isinstance(e, BalanceChanged) else ("alert", e.alert.balance)
        for e in uow.events
        if isinstance(e, BalanceChanged | AlertRaised)
    ]
    assert order == [("balance", 2), ("alert", -200), ("balance", 3)]
    # and: the fired limit is stored with the balance
    stored = await Customer.get(id=acme.id)
    assert (stored.balance, stored.below_zero_fired) == (-200, True)
