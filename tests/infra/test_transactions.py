"""A transaction whose BEGIN fails leaves nothing behind: the same task's next transaction commits.

Tortoise alone left the dead connection as the task's current transaction (PostgreSQL: every later
transaction of a long-lived task, such as the webhook dispatcher, failed for ever after a database
restart) or its lock taken (SQLite: every later transaction waited for ever).
"""

from __future__ import annotations

import asyncio

import pytest
from tortoise import connections
from tortoise.backends.asyncpg.client import TransactionWrapper
from tortoise.backends.base.client import TransactionalDBClient
from tortoise.backends.sqlite.client import SqliteTransactionWrapper
from tortoise.exceptions import TransactionManagementError

from models.customer import Customer
from models.unit_of_work import unit_of_work


@pytest.fixture
def connection_dies_at_the_next_begin(monkeypatch: pytest.MonkeyPatch) -> list[TransactionalDBClient]:
    """The next BEGIN fails as it would when the database goes away at that moment; later ones work."""
    postgres = connections.get("default").capabilities.dialect == "postgres"
    wrapper = TransactionWrapper if postgres else SqliteTransactionWrapper
    real_begin = wrapper.begin
    failed: list[TransactionalDBClient] = []

    async def begin(self: TransactionalDBClient) -> None:
        if not failed:
            failed.append(self)
            if postgres:
                self._connection.terminate()  # type: ignore[attr-defined]  # asyncpg: "connection is closed"
            else:
                raise TransactionManagementError("disk I/O error")  # SQLite's BEGIN failing
        await real_begin(self)

    monkeypatch.setattr(wrapper, "begin", begin)
    return failed


async def test_the_task_whose_begin_failed_commits_its_next_transaction(
    connection_dies_at_the_next_begin: list[TransactionalDBClient],
) -> None:
    # given: a transaction that could not begin
    with pytest.raises(Exception):  # noqa: B017  # whichever error the driver raises
        async with unit_of_work():
            pass
    assert connection_dies_at_the_next_begin

    # when: the same task runs its next transaction (bounded: a lock left taken would wait for ever)
    async with asyncio.timeout(30), unit_of_work() as uow:
        customer = await Customer.create(name="After the failed BEGIN", using_db=uow.conn)

    # then: it committed on a live connection, and the task's current connection is not the dead one
    assert await Customer.exists(id=customer.id)
    assert connections.get("default") is not connection_dies_at_the_next_begin[0]
    assert not isinstance(connections.get("default"), TransactionalDBClient)
