"""Shared feeds: one execution per (document, variables, role, customer), each socket served apart."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from api.context import Context
from api.feeds import TOO_SLOW, Feeds, _Member, feed_key, shared_shape
from api.schema import schema
from models.customer import Customer
from models.user import Role
from notifications.bus import EventBus
from tests.client import GraphQLClient
from tests.documents import GRANT_CREDITS
from tests.factories import Login, make_catalog_admin, make_customer, make_user
from tests.ws_client import TRANSPORT_WS, GraphQLSocket, ws_url

BALANCE_CHANGED = """
subscription ($customerId: ID, $afterSequence: Int) {
  balanceChanged(customerId: $customerId, afterSequence: $afterSequence) {
    customerId balance sequence transaction { amount }
  }
}"""
BALANCE = "subscription { balanceChanged { sequence } }"
BALANCED = ("balanceChanged", None)


# --- which operations share ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "operation_name", "shape"),
    [
        (BALANCE, None, ("balanceChanged", None)),
        ("subscription { creditAlerts { id } }", None, ("creditAlerts", None)),
        ("subscription { b: balanceChanged(afterSequence: null) { sequence } }", None, BALANCED),
        (BALANCE_CHANGED, None, ("balanceChanged", "afterSequence")),
        (f"query Q {{ viewer {{ id }} }} {BALANCE.replace('subscription', 'subscription S')}", "S", BALANCED),
        # a replay from a literal position is one subscriber's own
        ("subscription { balanceChanged(afterSequence: 3) { sequence } }", None, None),
        # the caller's own notifications, two root fields, a fragment or a directive at the root
        ("subscription { notificationAdded { id } }", None, None),
        ("subscription { a: balanceChanged { sequence } b: balanceChanged { balance } }", None, None),
        ("subscription { ...F } fragment F on Subscription { balanceChanged { sequence } }", None, None),
        ("subscription { balanceChanged @include(if: true) { sequence } }", None, None),
        # not a subscription, no such operation, two without a name, or no document at all
        ("query Q { viewer { id } } subscription S { balanceChanged { sequence } }", "Q", None),
        (BALANCE, "Other", None),
        ("subscription A { balanceChanged { sequence } } subscription B { creditAlerts { id } }", None, None),
        ("subscription { balanceChanged {", None, None),
    ],
)
def test_only_replay_free_balance_and_alert_subscriptions_share(
    query: str, operation_name: str | None, shape: tuple[str, str | None] | None
) -> None:
    # given / when / then
    assert shared_shape(query, operation_name) == shape


def operation(query: str, variables: Any = None) -> Any:
    """What `feed_key` reads of a Strawberry operation."""
    return SimpleNamespace(query=query, variables=variables, operation_name=None)


def actor(role: Role, customer_id: uuid.UUID | None) -> Any:
    return SimpleNamespace(role=role, customer_id=customer_id, user_id=uuid.uuid4())


def test_the_key_holds_document_variables_role_and_customer_but_not_the_user() -> None:
    # given: two administrators of one customer, an end user of it, and one of another customer
    mine, theirs = uuid.uuid4(), uuid.uuid4()
    first, second = actor(Role.CUSTOMER_ADMIN, mine), actor(Role.CUSTOMER_ADMIN, mine)
    end_user, stranger = actor(Role.END_USER, mine), actor(Role.CUSTOMER_ADMIN, theirs)
    watch = operation(BALANCE_CHANGED, {"customerId": str(mine)})

    # when / then: the two administrators share; the end user and the stranger do not
    assert feed_key(watch, first) == feed_key(watch, second) is not None
    assert feed_key(watch, end_user) != feed_key(watch, first)
    assert feed_key(watch, stranger) != feed_key(watch, first)
    # variables in any order are the same; other variables are not
    reordered = operation(BALANCE_CHANGED, {"afterSequence": None, "customerId": str(mine)})
    ordered = operation(BALANCE_CHANGED, {"customerId": str(mine), "afterSequence": None})
    assert feed_key(reordered, first) == feed_key(ordered, first)
    assert feed_key(operation(BALANCE_CHANGED, {"customerId": str(theirs)}), first) != feed_key(watch, first)


@pytest.mark.parametrize(
    ("variables", "who"),
    [
        ({"afterSequence": 4}, Role.CUSTOMER_ADMIN),  # a replay
        ([1, 2], Role.CUSTOMER_ADMIN),  # not an object: Strawberry answers it
        ({"customerId": {1, 2}}, Role.CUSTOMER_ADMIN),  # nothing JSON could key
        (None, None),  # nobody
    ],
)
def test_replays_odd_variables_and_anonymous_callers_run_on_their_own(
    variables: Any, who: Role | None
) -> None:
    # given / when / then
    caller = actor(who, uuid.uuid4()) if who else None
    assert feed_key(operation(BALANCE_CHANGED, variables), caller) is None


def test_an_end_users_credit_alerts_never_joins_a_feed() -> None:
    # given: an end user and an administrator of one customer asking for its alerts
    mine = uuid.uuid4()
    alerts = operation("subscription { creditAlerts { id } }")

    # when / then: the end user's runs on its own (its resolver refuses it); the administrator's shares
    assert feed_key(alerts, actor(Role.END_USER, mine)) is None
    assert feed_key(alerts, actor(Role.CUSTOMER_ADMIN, mine)) is not None


def test_a_member_too_far_behind_is_told_to_close_with_1013_and_nothing_else() -> None:
    # given: a member that holds two items
    member = _Member(limit=2)

    # when: a third arrives, then more
    for n in range(5):
        member.offer(("next", f'{{"n":{n}}}'))

    # then: what it held is dropped for the close, which is all it gets
    assert member.overflowed
    assert member.take() == ("close", (TOO_SLOW, "subscriber too slow"))
    assert member.take() is None


# --- a feed in process -----------------------------------------------------------------------


@pytest.fixture
async def small_bus() -> AsyncIterator[EventBus]:
    """A bus of its own whose subscribers hold two messages."""
    bus = EventBus("memory://", queue_size=2)
    await bus.start()
    yield bus
    await bus.stop()


async def test_a_feed_that_falls_behind_closes_every_member_with_1013(small_bus: EventBus) -> None:
    # given: two members of one feed, running against a bus that holds two messages per subscriber
    admin = await make_catalog_admin()
    customer = await make_customer()
    watch = operation(BALANCE_CHANGED, {"customerId": str(customer.id)})
    handler = SimpleNamespace(
        schema=schema, context=Context(request=None, response=None, actor=admin.actor, bus=small_bus)
    )
    feeds = Feeds()
    key = feed_key(watch, admin.actor)
    feed, first = feeds.join(key, handler, watch)
    same, second = feeds.join(key, handler, watch)
    async with asyncio.timeout(5):
        while small_bus.subscriber_count() < 1:
            await asyncio.sleep(0.01)

    # when: more messages arrive at once than the feed's queue holds
    for sequence in range(2, 6):
        small_bus._dispatch({"t": "balance", "k": str(customer.id), "sequence": sequence})

    # then: both members are told to close with 1013 (they resume with afterSequence); the feed ended
    async with asyncio.timeout(5):
        while first.take() is None:
            await first.arrival()
    assert same is feed and len(feeds) == 0
    assert second.take() == ("close", (TOO_SLOW, "subscriber too slow"))
    await asyncio.wait_for(asyncio.shield(feed.task), 5)


# --- over real websockets --------------------------------------------------------------------


async def feeds_running(base_url: str) -> float:
    """The server's `credits_subscription_feeds` gauge."""
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        text = (await client.get("/metrics")).text
    for family in text_string_to_metric_families(text):
        if family.name == "credits_subscription_feeds":
            return family.samples[0].value
    raise AssertionError("no credits_subscription_feeds gauge")


async def until_feeds(base_url: str, count: int) -> None:
    async with asyncio.timeout(10):
        while await feeds_running(base_url) != count:
            await asyncio.sleep(0.05)


async def grant(api: GraphQLClient, admin: Login, customer: Customer, amount: str) -> None:
    input = {"customerId": str(customer.id), "amount": amount}
    assert (await api(GRANT_CREDITS, {"input": input}, token=admin.token))["grantCredits"]["userErrors"] == []


@pytest.mark.slow
async def test_sockets_of_one_role_and_customer_share_a_feed_and_each_gets_its_own_events(
    live_server: str,
) -> None:
    # given: two administrators and an end user of one customer, and an administrator of another
    admin = await make_catalog_admin()
    customer, other = await make_customer(balance=10), await make_customer(balance=10)
    first = await make_user(Role.CUSTOMER_ADMIN, customer)
    second = await make_user(Role.CUSTOMER_ADMIN, customer)
    end_user = await make_user(Role.END_USER, customer)
    stranger = await make_user(Role.CUSTOMER_ADMIN, other)
    url = ws_url(live_server)
    async with (
        httpx.AsyncClient(base_url=live_server, timeout=30) as http,
        GraphQLSocket(url, TRANSPORT_WS, first.token) as a,
        GraphQLSocket(url, TRANSPORT_WS, second.token) as b,
        GraphQLSocket(url, TRANSPORT_WS, end_user.token) as c,
        GraphQLSocket(url, TRANSPORT_WS, stranger.token) as d,
    ):
        api = GraphQLClient(http)
        subs = [await s.subscribe(BALANCE_CHANGED) for s in (a, b, c, d)]
        await until_feeds(live_server, 3)  # the administrators', the end user's, the stranger's

        # when
        await grant(api, admin, customer, "2.50")

        # then: each gets the event with its own operation id, as its role may see it
        seen = {"customerId": str(customer.id), "balance": "12.50", "sequence": 2}
        assert await subs[0].next() == {"balanceChanged": {**seen, "transaction": {"amount": "2.50"}}}
        assert await subs[1].next() == {"balanceChanged": {**seen, "transaction": {"amount": "2.50"}}}
        assert await subs[2].next() == {"balanceChanged": {**seen, "transaction": None}}
        await subs[3].expect_silence()

        # when: one administrator completes; the other keeps the feed
        await subs[0].stop()
        await grant(api, admin, customer, "1.00")

        # then
        assert (await subs[1].next())["balanceChanged"]["sequence"] == 3
        await subs[0].expect_silence()
        assert await feeds_running(live_server) == 3

    # then: the last member to leave stops each feed
    await until_feeds(live_server, 0)
