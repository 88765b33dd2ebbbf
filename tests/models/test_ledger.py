"""The ledger function: several customers' entries posted in one statement, each ledger on its own."""

from __future__ import annotations

import uuid

import pytest

from models.customer import Customer
from models.errors import DomainError, ErrorCode
from models.events import BalanceChanged
from models.ledger import CreditTransaction, Movement, TransactionKind, post_batch
from models.unit_of_work import unit_of_work
from tests.factories import Login, enable_credits, make_catalog_admin, make_customer


def _charge(cents: int, admin: Login) -> Movement:
    return Movement(cents, TransactionKind.SERVICE_CHARGE, admin.actor)


async def _ledger(customer_id: uuid.UUID) -> list[tuple[int, int, int]]:
    """(sequence, amount, balance after) of each entry, in order."""
    entries = await CreditTransaction.filter(customer_id=customer_id).order_by("sequence")
    return [(e.sequence, e.amount, e.balance_after) for e in entries]


async def test_a_batch_of_several_customers_appends_to_each_ledger_in_order() -> None:
    """Two customers in one post_batch: each gets its next sequences and its own running balance."""
    # given: Acme at 10.00 (one entry) and Globex at 0 (no entry)
    await enable_credits()
    admin = await make_catalog_admin()
    acme = await make_customer("Acme", balance=10, by=admin)
    globex = await make_customer("Globex")

    # when: Acme is charged 3.00 then 9.00 and Globex 1.50, in one posting
    async with unit_of_work() as uow:
        postings = await post_batch(
            uow,
            [(acme.id, [_charge(300, admin), _charge(900, admin)]), (globex.id, [_charge(150, admin)])],
        )

    # then: each group's postings carry its own old and new balances
    assert [[(p.old_balance, p.new_balance) for p in group] for group in postings] == [
        [(1000, 700), (700, -200)],
        [(0, -150)],
    ]
    # and: the ledgers continue each customer's sequence
    assert await _ledger(acme.id) == [(1, 1000, 1000), (2, -300, 700), (3, -900, -200)]
    assert await _ledger(globex.id) == [(1, -150, -150)]
    # and: the balances and sequences are stored
    stored = {c.id: (c.balance, c.last_sequence) for c in await Customer.all()}
    assert stored == {acme.id: (-200, 3), globex.id: (-150, 1)}
    # and: one BalanceChanged event per entry, in posting order
    assert [e.transaction.amount for e in uow.events if isinstance(e, BalanceChanged)] == [-300, -900, -150]


async def test_a_batch_naming_an_unknown_customer_changes_no_one() -> None:
    """NOT_FOUND for the batch, and the known customer's entry is rolled back with it."""
    # given: Acme at 10.00
    await enable_credits()
    admin = await make_catalog_admin()
    acme = await make_customer("Acme", balance=10, by=admin)

    # when: one posting charges Acme and a customer that does not exist
    with pytest.raises(DomainError) as raised:
        async with unit_of_work() as uow:
            await post_batch(uow, [(acme.id, [_charge(300, admin)]), (uuid.uuid4(), [_charge(100, admin)])])

    # then
    assert raised.value.code == ErrorCode.NOT_FOUND
    assert await _ledger(acme.id) == [(1, 1000, 1000)]
    assert (await Customer.get(id=acme.id)).balance == 1000


@pytest.mark.parametrize(
    "groups",
    [
        pytest.param("empty", id="no groups"),
        pytest.param("no entries", id="a customer without entries"),
        pytest.param("twice", id="one customer in two groups"),
        pytest.param("zero", id="a zero amount"),
    ],
)
async def test_a_malformed_batch_is_refused_before_any_write(groups: str) -> None:
    """Programming errors, not user input: refused with ValueError, nothing written."""
    # given
    await enable_credits()
    admin = await make_catalog_admin()
    acme = await make_customer("Acme", balance=10, by=admin)
    batch = {
        "empty": [],
        "no entries": [(acme.id, [])],
        "twice": [(acme.id, [_charge(100, admin)]), (acme.id, [_charge(100, admin)])],
        "zero": [(acme.id, [_charge(0, admin)])],
    }[groups]

    # when / then
    with pytest.raises(ValueError):
        async with unit_of_work() as uow:
            await post_batch(uow, batch)
    assert await _ledger(acme.id) == [(1, 1000, 1000)]
