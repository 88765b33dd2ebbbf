"""DataLoaders for the rows nested fields read: one query per kind of row, however long the page.

A set lives for one execution: an HTTP request, one operation on a socket, one event of a
subscription (`begin_execution`, from the schema extension in `api/context.py`). Each root
field of a mutation gets a set of its own, so a field never sees rows cached before an earlier
field of the same document changed them. The set is found through a ContextVar, not the
context: Strawberry builds one context per websocket, shared by all of its operations.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Hashable
from contextvars import ContextVar
from typing import Any, Generic, TypeVar

from graphql import OperationType
from strawberry.dataloader import DataLoader
from strawberry.types import Info
from tortoise import connections
from tortoise.backends.base.client import TransactionalDBClient
from tortoise.exceptions import DoesNotExist
from tortoise.models import Model

from infra import clock
from models.customer import Customer
from models.ledger import CreditTransaction
from models.lots import CreditAllocation, CreditLot, allocations_of
from models.node_ids import models_of
from models.runway import Runway
from models.runway_reads import balances_at, runways
from models.service import Service, ServiceRequest
from models.spend_settings import LimitState, limit_states
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
    """Rows of one model by id, batched and cached for one execution.

    The DataLoader is made on the first `load`: most executions only prime rows (a mutation's
    payload) or read none of this kind, and a DataLoader is several objects.
    """

    __slots__ = ("_loader", "_model", "_primed")

    def __init__(self, model: type[Row]) -> None:
        self._model = model
        self._loader: DataLoader[uuid.UUID, Row] | None = None
        self._primed: dict[uuid.UUID, Row] = {}

    async def load(self, id: uuid.UUID) -> Row:
        """The row with this id; batched with the other loads of the same tick.

        The batch runs in a task of its own: awaited inside a transaction it would deadlock on
        SQLite and silently read outside the transaction on PostgreSQL, so that is refused.
        """
        _outside_transactions()
        primed = self._primed.get(id)
        if primed is not None:
            return primed
        if self._loader is None:
            self._loader = DataLoader(_batch_of(self._model), max_batch_size=MAX_BATCH)
        return await self._loader.load(id)

    def prime(self, row: Row) -> None:
        """Serve this row (read or written by the caller) without a query, instead of any loaded before."""
        self._primed[row.pk] = row


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


async def _request_entries(request_ids: list[uuid.UUID]) -> list[list[CreditTransaction]]:
    found: dict[uuid.UUID, list[CreditTransaction]] = {i: [] for i in request_ids}
    for row in await CreditTransaction.filter(service_request_id__in=request_ids).order_by("sequence"):
        found[row.service_request_id].append(row)
    return [found[i] for i in request_ids]


class RequestEntriesLoader:
    """Service requests' ledger entries (charge, refund) in sequence order, batched for one execution."""

    __slots__ = ("_loader",)

    def __init__(self) -> None:
        self._loader: DataLoader[uuid.UUID, list[CreditTransaction]] = DataLoader(
            _request_entries, max_batch_size=MAX_BATCH
        )

    async def load(self, request_id: uuid.UUID) -> list[CreditTransaction]:
        """The request's entries; batched with the other requests of the same tick."""
        _outside_transactions()
        return await self._loader.load(request_id)


class RunwayLoader:
    """Customers' runways at the clock's now, from the balance each was loaded with; one statement."""

    __slots__ = ("_balances", "_loader")

    def __init__(self) -> None:
        self._balances: dict[uuid.UUID, int] = {}
        self._loader: DataLoader[uuid.UUID, Runway] = DataLoader(self._batch, max_batch_size=MAX_BATCH)

    async def _batch(self, ids: list[uuid.UUID]) -> list[Runway]:
        found = await runways(connections.get("default"), {i: self._balances[i] for i in ids}, clock.now())
        return [found[i] for i in ids]

    async def load(self, customer: Customer) -> Runway:
        """The customer's runway; batched with the other customers of the same tick."""
        _outside_transactions()
        self._balances.setdefault(customer.id, customer.balance)
        return await self._loader.load(customer.id)


class BalanceAtLoader:
    """Customers' balances at a moment (`balanceAt`), batched: one statement per distinct moment."""

    __slots__ = ("_loader",)

    def __init__(self) -> None:
        self._loader: DataLoader[tuple[uuid.UUID, dt.datetime], int] = DataLoader(
            self._batch, max_batch_size=MAX_BATCH
        )

    @staticmethod
    async def _batch(keys: list[tuple[uuid.UUID, dt.datetime]]) -> list[int]:
        found: dict[tuple[uuid.UUID, dt.datetime], int] = {}
        for moment in dict.fromkeys(time for _, time in keys):
            ids = [customer_id for customer_id, time in keys if time == moment]
            balances = await balances_at(connections.get("default"), ids, moment)
            found.update(((i, moment), balances.get(i, 0)) for i in ids)
        return [found[key] for key in keys]

    async def load(self, customer_id: uuid.UUID, time: dt.datetime) -> int:
        """The customer's balance at `time` (no offset: UTC); batched with the same tick's others."""
        _outside_transactions()
        moment = time.replace(tzinfo=dt.UTC) if time.tzinfo is None else time.astimezone(dt.UTC)
        return await self._loader.load((customer_id, moment))


async def _node_models(ids: list[uuid.UUID]) -> list[type[Model] | None]:
    found = await models_of(ids)
    return [found.get(i) for i in ids]


class NodeModelLoader:
    """Which model (table) holds each id, for `node`/`nodes`: one query per batch, whatever the types."""

    __slots__ = ("_loader",)

    def __init__(self) -> None:
        self._loader: DataLoader[uuid.UUID, type[Model] | None] = DataLoader(
            _node_models, max_batch_size=MAX_BATCH
        )

    async def load(self, id: uuid.UUID) -> type[Model] | None:
        """The model whose table holds `id`, or None; batched with the other ids of the same tick."""
        _outside_transactions()
        return await self._loader.load(id)


class SpendLimitLoader:
    """Users' spend limits with what their period took: one query for a page of users."""

    __slots__ = ("_loader",)

    def __init__(self) -> None:
        self._loader: DataLoader[User, LimitState | None] = DataLoader(
            limit_states, max_batch_size=MAX_BATCH, cache_key_fn=lambda user: user.id
        )

    async def load(self, user: User) -> LimitState | None:
        """The user's limit as of now; batched with the other users of the same tick."""
        _outside_transactions()
        return await self._loader.load(user)


class Loaders:
    """One execution's loaders, one per kind of row a nested field reads, each made on first use."""

    __slots__ = (
        "_allocations",
        "_balances_at",
        "_customers",
        "_lots",
        "_node_models",
        "_other_rows",
        "_request_entries",
        "_requests",
        "_runways",
        "_services",
        "_spend_limits",
        "_transactions",
        "_users",
        "_webhook_backlogs",
    )

    def __init__(self) -> None:
        self._allocations: AllocationLoader | None = None
        self._balances_at: BalanceAtLoader | None = None
        self._transactions: RowLoader[CreditTransaction] | None = None
        self._customers: RowLoader[Customer] | None = None
        self._lots: RowLoader[CreditLot] | None = None
        self._services: RowLoader[Service] | None = None
        self._requests: RowLoader[ServiceRequest] | None = None
        self._request_entries: RequestEntriesLoader | None = None
        self._users: RowLoader[User] | None = None
        self._webhook_backlogs: BacklogLoader | None = None
        self._node_models: NodeModelLoader | None = None
        self._runways: RunwayLoader | None = None
        self._spend_limits: SpendLimitLoader | None = None
        self._other_rows: dict[type[Model], RowLoader[Any]] = {}

    @property
    def allocations(self) -> AllocationLoader:
        """Ledger entries' allocations by entry id."""
        if self._allocations is None:
            self._allocations = AllocationLoader()
        return self._allocations

    @property
    def transactions(self) -> RowLoader[CreditTransaction]:
        """Ledger entries by id."""
        if self._transactions is None:
            self._transactions = RowLoader(CreditTransaction)
        return self._transactions

    @property
    def customers(self) -> RowLoader[Customer]:
        """Customers by id."""
        if self._customers is None:
            self._customers = RowLoader(Customer)
        return self._customers

    @property
    def lots(self) -> RowLoader[CreditLot]:
        """Credit lots by id."""
        if self._lots is None:
            self._lots = RowLoader(CreditLot)
        return self._lots

    @property
    def services(self) -> RowLoader[Service]:
        """Services by id."""
        if self._services is None:
            self._services = RowLoader(Service)
        return self._services

    @property
    def requests(self) -> RowLoader[ServiceRequest]:
        """Service requests by id."""
        if self._requests is None:
            self._requests = RowLoader(ServiceRequest)
        return self._requests

    @property
    def request_entries(self) -> RequestEntriesLoader:
        """Service requests' ledger entries by request id."""
        if self._request_entries is None:
            self._request_entries = RequestEntriesLoader()
        return self._request_entries

    @property
    def users(self) -> RowLoader[User]:
        """Users by id."""
        if self._users is None:
            self._users = RowLoader(User)
        return self._users

    @property
    def webhook_backlogs(self) -> BacklogLoader:
        """Webhook endpoints' backlogs by endpoint id."""
        if self._webhook_backlogs is None:
            self._webhook_backlogs = BacklogLoader()
        return self._webhook_backlogs

    @property
    def node_models(self) -> NodeModelLoader:
        """The model of any id the API exposes."""
        if self._node_models is None:
            self._node_models = NodeModelLoader()
        return self._node_models

    @property
    def balances_at(self) -> BalanceAtLoader:
        """Customers' balances at a moment, by customer and moment."""
        if self._balances_at is None:
            self._balances_at = BalanceAtLoader()
        return self._balances_at

    @property
    def runways(self) -> RunwayLoader:
        """Customers' runways by customer."""
        if self._runways is None:
            self._runways = RunwayLoader()
        return self._runways

    @property
    def spend_limits(self) -> SpendLimitLoader:
        """Users' spend limits (with what was spent) by user."""
        if self._spend_limits is None:
            self._spend_limits = SpendLimitLoader()
        return self._spend_limits

    def rows(self, model: type[Row]) -> RowLoader[Row]:
        """Rows of a model the properties above do not name, by id."""
        loader = self._other_rows.get(model)
        if loader is None:
            loader = self._other_rows[model] = RowLoader(model)
        return loader


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
