"""Shared feeds: one live subscription executed once for every socket that asked the same of it.

A dashboard's `balanceChanged` over graphql-transport-ws would otherwise run one GraphQL
operation per socket: its extensions, graphql-core's execution state, the resolver's generators
and a bus queue, some 20 KB per subscriber, and every event executed and serialised once per
subscriber. A feed runs the operation once per (document, variables, role, customer), serialises
each result once and hands the text to every member, which writes it with its own operation id.

What may share: a subscription whose only root field is `balanceChanged` or `creditAlerts`,
without `afterSequence`. Their resolvers read nothing of the caller but its role and customer,
so the feed runs as a viewer holding just those (no user id, no token); and a socket that joins a
running feed wants what happens from then on, which is what it gets. A replay (`afterSequence`)
is one subscriber's own, as is everything else: those run per operation, as Strawberry does.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from contextlib import aclosing
from functools import lru_cache
from typing import Any, NamedTuple

from graphql import (
    FieldNode,
    GraphQLError,
    NullValueNode,
    OperationDefinitionNode,
    OperationType,
    VariableNode,
    parse,
)
from starlette.websockets import WebSocketDisconnect
from strawberry.schema.base import BaseSchema
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError

import metrics
from api.context import Context
from api.error_codes import BAD_REQUEST
from api.ws_protocol import close_malformed, malformed
from models.actor import Actor
from models.permissions import can_see_ledger
from models.user import Role, User
from settings import get_settings

log = logging.getLogger("credits.feeds")

SHARED_FIELDS = frozenset({"balanceChanged", "creditAlerts"})
TOO_SLOW = 1013

# What a feed hands its members, in order: ("next", payload JSON), ("error", [errors]),
# ("complete", None) or ("close", (code, reason)); the last three end the member's operation.
Item = tuple[str, Any]


# Client text keys the cache: 1,000 entries of at most this many characters (query and operation
# name) keep at most ~16 MB alive, whatever the clients send; longer documents are parsed each time.
SHAPE_CACHE_MAX_CHARS = 4096


def shared_shape(query: str, operation_name: str | None) -> tuple[str, str | None] | None:
    """(root field, name of the afterSequence variable if any) when the document may share a feed."""
    if len(query) + len(operation_name or "") > SHAPE_CACHE_MAX_CHARS:
        return _shape(query, operation_name)
    return _cached_shape(query, operation_name)


@lru_cache(maxsize=1000)
def _cached_shape(query: str, operation_name: str | None) -> tuple[str, str | None] | None:
    """`_shape`, remembered for short documents."""
    return _shape(query, operation_name)


def _shape(query: str, operation_name: str | None) -> tuple[str, str | None] | None:
    """What `shared_shape` answers, computed."""
    try:
        document = parse(query, max_tokens=get_settings().max_query_tokens)
    except GraphQLError:
        return None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name is not None and o.name.value == operation_name]
    if len(operations) != 1 or operations[0].operation != OperationType.SUBSCRIPTION:
        return None
    selections = operations[0].selection_set.selections
    field = selections[0] if len(selections) == 1 else None
    if not isinstance(field, FieldNode) or field.directives or field.name.value not in SHARED_FIELDS:
        return None
    after = next((a.value for a in field.arguments or () if a.name.value == "afterSequence"), None)
    if after is None or isinstance(after, NullValueNode):
        return field.name.value, None
    if isinstance(after, VariableNode):
        return field.name.value, after.name.value
    return None  # a replay from a literal position


class FeedKey(NamedTuple):
    """Everything a shared feed's results depend on."""

    field: str
    query: str
    operation_name: str | None
    variables: str  # canonical JSON
    role: Role
    customer_id: uuid.UUID | None


def feed_key(operation: Operation[Any, Any], actor: Actor | None) -> FeedKey | None:
    """The key of the feed this operation may share, or None when it runs on its own."""
    if actor is None or not (operation.variables is None or isinstance(operation.variables, dict)):
        return None
    if len(operation.query) > get_settings().max_query_length:
        return None  # refused when it runs
    shape = shared_shape(operation.query, operation.operation_name)
    if shape is None or (shape[0] == "creditAlerts" and not can_see_ledger(actor)):
        return None  # an end user's creditAlerts is refused by its resolver, never by a feed
    variables = operation.variables or {}
    if shape[1] is not None and variables.get(shape[1]) is not None:
        return None
    try:
        frozen = json.dumps(variables, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        return None
    return FeedKey(shape[0], operation.query, operation.operation_name, frozen, actor.role, actor.customer_id)


def _viewer(role: Role, customer_id: uuid.UUID | None) -> Actor:
    """A caller with the members' role and customer only, so nothing else of one member can leak."""
    return Actor(User(id=uuid.uuid4(), role=role, customer_id=customer_id, active=True))


class _Member:
    """One socket's operation in a feed: a bounded list of items and a future while it waits."""

    __slots__ = ("_items", "_limit", "_waiter", "overflowed")

    def __init__(self, limit: int) -> None:
        self._items: list[Item] = []
        self._limit = limit
        self._waiter: asyncio.Future[None] | None = None
        self.overflowed = False

    def offer(self, item: Item) -> None:
        """Queue without waiting; a member `limit` items behind is too slow (its socket closes)."""
        if self.overflowed:
            return
        if len(self._items) >= self._limit and item[0] == "next":
            self.overflowed = True
            self._items = [("close", (TOO_SLOW, "subscriber too slow"))]
        else:
            self._items.append(item)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
        self._waiter = None

    def take(self) -> Item | None:
        """The next item, or None when there is none yet (then await `arrival()`)."""
        return self._items.pop(0) if self._items else None

    def arrival(self) -> asyncio.Future[None]:
        """A future done when the next item is offered (awaited directly: no coroutine frame)."""
        self._waiter = asyncio.get_running_loop().create_future()
        return self._waiter


class _Feed:
    """One running subscription and the members it serves."""

    def __init__(self, feeds: Feeds, key: FeedKey) -> None:
        self.feeds = feeds
        self.key = key
        self.field = key.field
        self.members: dict[_Member, None] = {}
        self.too_slow = False
        self.task: asyncio.Task[None] | None = None

    def start(self, schema: BaseSchema, operation: Operation[Any, Any], context: Context) -> None:
        """Run the operation once, in a task of its own (no member's task owns it)."""
        viewer = _viewer(context.actor.role, context.actor.customer_id)  # type: ignore[union-attr]
        shared = Context(request=None, response=None, actor=viewer, bus=context.bus, shared=True)
        shared.on_too_slow = self._on_too_slow
        self.task = asyncio.get_running_loop().create_task(self._run(schema, operation, shared))

    def _on_too_slow(self) -> None:
        self.too_slow = True

    def _hand_out(self, item: Item) -> None:
        for member in self.members:
            member.offer(item)

    async def _run(self, schema: BaseSchema, operation: Operation[Any, Any], context: Context) -> None:
        try:
            source = await schema.stream(
                operation.query,
                variable_values=operation.variables,
                context_value=context,
                operation_name=operation.operation_name,
            )
            async with aclosing(source):
                first = True
                async for result in source:
                    if first and isinstance(result, PreExecutionError):
                        self._end(_pre_execution_end(result))
                        return
                    if not isinstance(result, ExecutionResult):
                        message = "Incremental delivery is not supported over graphql-transport-ws"
                        error = GraphQLError(message, extensions={"code": BAD_REQUEST})
                        self._end(("error", [error.formatted]))
                        return
                    first = False
                    self._hand_out(("next", _payload(result)))
            if self.too_slow:
                self._end(("close", (TOO_SLOW, "subscriber too slow")))
            else:
                self._end(("complete", None))
        except asyncio.CancelledError:
            self.feeds.forget(self)
            raise
        except Exception:
            log.exception("shared %s feed failed", self.field)
            self._end(("complete", None))

    def _end(self, item: Item) -> None:
        """No one joins an ended feed; its members get the last item."""
        self.feeds.forget(self)
        self._hand_out(item)

    def leave(self, member: _Member) -> None:
        """A member is gone; the last one to go stops the feed."""
        self.members.pop(member, None)
        if not self.members and self.task is not None and not self.task.done():
            self.feeds.forget(self)
            self.task.cancel()


def _pre_execution_end(result: PreExecutionError) -> Item:
    """What Strawberry's handler does with errors before execution: close 4400 or an `error`."""
    reason = BaseGraphQLTransportWSHandler._get_pre_execution_close_reason(result.errors[0])
    if reason:
        return ("close", (4400, reason))
    return ("error", [e.formatted for e in result.errors])


def _payload(result: ExecutionResult) -> str:
    """A `next` message's payload as JSON, the same for every member."""
    payload: dict[str, Any] = {"data": result.data}
    if result.errors:
        payload["errors"] = [e.formatted for e in result.errors]
    if result.extensions:
        payload["extensions"] = result.extensions
    return json.dumps(payload)


class Feeds:
    """This process's running feeds by key."""

    def __init__(self) -> None:
        self._running: dict[FeedKey, _Feed] = {}

    def __len__(self) -> int:
        return len(self._running)

    def forget(self, feed: _Feed) -> None:
        """Take an ending feed out of reach of new members."""
        if self._running.get(feed.key) is feed:
            del self._running[feed.key]

    def join(
        self, key: FeedKey, handler: BaseGraphQLTransportWSHandler[Any, Any], operation: Operation[Any, Any]
    ) -> tuple[_Feed, _Member]:
        """A new member of the feed of `key`, started for this operation if none runs."""
        feed = self._running.get(key)
        if feed is None:
            feed = self._running[key] = _Feed(self, key)
            feed.start(handler.schema, operation, handler.context)
        member = _Member(get_settings().subscriber_queue_size)
        feed.members[member] = None
        return feed, member


class SharedFeedHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """Strawberry's graphql-transport-ws handler; shareable subscriptions are served from feeds."""

    feeds = Feeds()

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        """Join (or start) the operation's feed; anything else runs as Strawberry runs it."""
        key = feed_key(operation, self.context.actor)
        if key is None:
            await super().run_operation(operation)
            return
        feed, member = self.feeds.join(key, self, operation)
        gauge = metrics.active_subscriptions(feed.field)
        gauge.inc()
        # One coroutine per member (no helpers awaited for its lifetime): it is what each
        # subscriber costs, 10,000 times over.
        prefix = '{"id":' + json.dumps(operation.id) + ',"type":"next","payload":'
        socket = self.websocket.ws  # type: ignore[attr-defined]
        try:
            while True:
                item = member.take()
                if item is None:
                    await member.arrival()
                    continue
                kind, value = item
                if operation.completed:
                    return
                if kind == "next":
                    await socket.send_text(prefix + value + "}")
                    continue
                if kind == "close":
                    self.operations.pop(operation.id, None)
                    await self.websocket.close(*value)
                    return
                message = {"id": operation.id, "type": kind}
                if kind == "error":
                    message["payload"] = value
                await operation.send_operation_message(message)  # type: ignore[arg-type]
                return
        except (WebSocketDisconnect, RuntimeError):
            pass  # the socket is gone: its handler cleans up
        finally:
            gauge.dec()
            feed.leave(member)

    async def handle_message(self, message: Any) -> None:
        """Close malformed frames with 4400; refuse untrusted documents when only trusted ones run."""
        if (reason := malformed(message, "subscribe")) is not None:
            await close_malformed(self.websocket, reason)
            return
        if message["type"] == "subscribe" and self.connection_acknowledged:
            refused = self.view.persisted_queries.socket_refusal(message["payload"]["query"])  # type: ignore[attr-defined]
            if refused is not None:  # only trusted documents run (api/persisted_queries.py)
                await self.websocket.send_json({"id": message["id"], "type": "error", "payload": [refused]})
                return
        await super().handle_message(message)

    async def handle_connection_init(self, message: Any) -> None:
        """As Strawberry; then stop the init timeout's task, which would otherwise sleep on."""
        await super().handle_connection_init(message)
        if self.connection_init_received and self.connection_init_timeout_task is not None:
            self.connection_init_timeout_task.cancel()
            self.connection_init_timeout_task = None  # a cancelled task would keep its traceback


metrics.SUBSCRIPTION_FEEDS.set_function(lambda: len(SharedFeedHandler.feeds))
