"""DataLoaders for the rows nested fields read: one query per kind of row, however long the page.

A set lives for one execution: an HTTP request, one operation on a socket, one event of a
subscription (`begin_execution`, from the schema extension in `api/context.py`). Each root
field of a mutation gets a set of its own, so a field never sees rows cached before an earlier
field of the same document changed them. The set is found through a ContextVar, not the
context: Strawberry builds one context per websocket, shared by all of its operations.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Hashable
from contextvars import ContextVar
from typing import Generic, TypeVar

from graphql import OperationType
from strawberry.dataloader import DataLoader
from strawberry.types import Info
from tortoise import connections
from tortoise.backends.base.client import TransactionalDBClient
from tortoise.exceptions import DoesNotExist
from tortoise.models import Model

from models.customer import Customer
from models.ledger import CreditTransaction
from models.lots import CreditAllocation, CreditLot, allocations_of
from models.service import Service, ServiceRequest
from models.user import User
from models.webhook_outbox import Backlog, backlogs

Row = TypeVar("Row", bound=Model)
MAX_BATCH = 500  # ids per query: well below SQLite's 32,766 parameters

_WHOLE_OPERATION: Hashable = None
_sets: ContextVar[dict[Hashable, Loaders] | None] = ContextVar("loaders", default=None)


class InsideTransactionError(RuntimeError):
    """A loader was awaited inside a transaction (SQLite: a deadlock; PostgreSQL: outside it)."""


def _batch_of(model: type[Row]) -> Callable[[list[uuid.UUID]], Awaitable[list[Row | BaseException]]]:
    async def load(ids: list[uuid.UUID]) -> list[Row | BaseException]:
        rows = {row.pk: row for row in await model.filter(id__in=ids)}
        return [rows[i] if i in rows else DoesNotExist(model) for i in ids]

    return load


class RowLoader(Generic[Row]):
    """Rows of one model by id, batched and cached for one execution."""

    __slots__ = ("_loader",)

    def __init__(self, model: type[Row]) -> None:
        self._loader: DataLoader[uuid.UUID, Row] = DataLoader(_batch_of(model), max_batch_size=MAX_BATCH)

    async def load(self, id: uuid.UUID) -> Row:
        """The row with this id; batched with the other loads of the same tick.

        The batch runs in a task of its own: awaited inside a transaction it would deadlock on
        SQLite and silently read outside the transaction on PostgreSQL, so that is refused.
        """
        _outside_transactions()
        return await self._loader.load(id)

    def prime(self, row: Row) -> None:
        """Serve this row (read or written by the caller) without a query."""
        self._loader.prime(row.pk, row, force=True)


def _outside_transactions() -> None:
    if isinstance(connections.get("default"), TransactionalDBClient):
        raise InsideTransactionError("a DataLoader was awaited inside a transaction")


async def _backlogs(endpoint_ids: list[uuid.UUID]) -> list[Backlog]:
    found = await backlogs(endpoint_ids)
    return [found.get(i, Backlog()) for i in endpoint_ids]


class BacklogLoader:
    """Webhook endpoints' pending deliveries (how many, the oldest), batched for one execution."""

    __slots__ = ("_loader",)

    def __init__(self) -> None:
        self._loader: DataLoader[uuid.UUID, Backlog] = DataLoader(_backlogs, max_batch_size=MAX_BATCH)

    async def load(self, endpoint_id: uuid.UUID) -> Backlog:
        """The endpoint's backlog; batched with the other endpoints of the same tick."""
        _outside_transactions()
        return await self._loader.load(endpoint_id)


async def _allocations(transaction_ids: list[uuid.UUID]) -> list[list[CreditAllocation]]:
    found = await allocations_of(transaction_ids)
    return [found.get(i, []) for i in transaction_ids]


class AllocationLoader:
    """Ledger entries' allocations (with their lots), batched for one execution."""

    __slots__ = ("_loader",)

    def __init__(self) -> None:
        self._loader: DataLoader[uuid.UUID, list[CreditAllocation]] = DataLoader(
            _allocations, max_batch_size=MAX_BATCH
        )

    async def load(self, transaction_id: uuid.UUID) -> list[CreditAllocation]:
        """The entry's allocations; batched with the other entries of the same tick."""
        _outside_transactions()
        return await self._loader.load(transaction_id)


class Loaders:
    """One execution's loaders, one per kind of row a nested field reads."""

    __slots__ = (
        "allocations",
        "customers",
        "lots",
        "requests",
        "services",
        "transactions",
        "users",
        "webhook_backlogs",
    )

    def __init__(self) -> None:
        self.allocations = AllocationLoader()
        self.transactions = RowLoader(CreditTransaction)
        self.customers = RowLoader(Customer)
        self.lots = RowLoader(CreditLot)
        self.services = RowLoader(Service)
        self.requests = RowLoader(ServiceRequest)
        self.users = RowLoader(User)
        self.webhook_backlogs = BacklogLoader()


def begin_execution() -> None:
    """Start a new execution: whatever loaded before is forgotten (the sets are made on first use)."""
    _sets.set({})


def loaders(info: Info) -> Loaders:
    """The loaders of the execution `info` belongs to (of its root field, in a mutation)."""
    sets = _sets.get()
    if sets is None:  # outside an execution begun by the schema: batch nothing, cache nothing
        return Loaders()
    key = _WHOLE_OPERATION
    if info.operation.operation == OperationType.MUTATION:
        path = info.path
        while path.prev is not None:
            path = path.prev
        key = path.key
    found = sets.get(key)
    if found is None:
        found = sets[key] = Loaders()
    return found
