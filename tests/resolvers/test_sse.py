"""Subscriptions over Server-Sent Events (graphql-sse, distinct connections mode) against a real server."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from models.user import ApiToken, Role
from tests.client import GraphQLClient
from tests.documents import (
    BALANCE_CHANGED,
    BALANCE_SEQUENCES,
    CREATE_API_TOKEN,
    CREDIT_ALERTS,
    REVOKE_API_TOKEN,
    SET_USER_ACTIVE,
)
from tests.factories import enable_credits, make_catalog_admin, make_customer, make_service, make_user
from tests.processes import ServerProcess
from tests.resolvers.test_subscriptions import (
    NOTIFICATION_ADDED,
    grant,
    grant_many,
    request_service,
    short_lived_jwt,
)
from tests.sse_client import EVENT_STREAM, Event, EventStream, sse_headers, subscribe, until_streams
from tests.ws_client import TRANSPORT_WS, until_subscribed, ws_url

pytestmark = pytest.mark.slow

HEARTBEAT_SECONDS = 0.3
# 90 aliases of a 1000-character note: ~90 KB per event, so 400 events (36 MB) overflow every buffer
# between the server and a client that stops reading (kernel buffers hold a few MB), and the
# client, reading again, gets through what was buffered at full speed.
FATTER_BALANCE_CHANGED = (
    "subscription ($customerId: ID, $afterSequence: Int) {"
    " balanceChanged(customerId: $customerId, afterSequence: $afterSequence) {"
    " customerId balance sequence transaction { " + " ".join(f"n{i}: note" for i in range(90)) + " } } }"
)
COMPLETE = Event("complete", None)


# --- fixtures and helpers -------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(server_env: dict[str, str]) -> Iterator[ServerProcess]:
    """One real server for the module, with frequent heartbeats."""
    with ServerProcess({**server_env, "CREDITS_SSE_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS)}) as process:
        yield process


@pytest.fixture
async def http(server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the real server (streams and plain requests alike)."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        yield client


@pytest.fixture
def api(http: httpx.AsyncClient) -> GraphQLClient:
    """GraphQL over HTTP against the real server, so that its bus publishes the events."""
    return GraphQLClient(http)


async def registered(server: ServerProcess, field: str = "balanceChanged", count: int = 1) -> None:
    """Wait until the server has registered the subscription(s) on its bus."""
    await until_subscribed(server.base_url, field, count)


def codes(payload: dict) -> list[str]:
    """The `extensions.code` of a payload's errors."""
    return [e["extensions"]["code"] for e in payload.get("errors") or []]


def sequences(results: list[dict]) -> list[int]:
    """The sequence numbers of balanceChanged results."""
    return [result["balanceChanged"]["sequence"] for result in results]


# --- live events ----------------------------------------------------------------------------


async def test_a_grant_arrives_live_on_the_event_stream(server, http, api):
    """balanceChanged over SSE: a `next` event equal to the committed entry, heartbeats while idle."""
    # given
    admin = await make_catalog_admin()
    customer = await make_customer(balance=10)
    async with subscribe(http, BALANCE_CHANGED, {"customerId": str(customer.id)}, admin.token) as stream:
        assert stream.response.status_code == 200
        assert stream.response.headers["content-type"].startswith(EVENT_STREAM)
        assert stream.response.headers["cache-control"] == "no-cache, no-transform"
        await registered(server)

        # when
        committed = await grant(api, admin, customer, "25.50", note="top-up")

        # then
        assert (await stream.next())["balanceChanged"] == {
            "customerId": str(customer.id),
            "balance": "35.50",
            "sequence": 2,
            "transaction": {
                "id": committed["id"],
                "sequence": 2,
                "kind": "GRANT",
                "amount": "25.50",
                "balanceAfter": "35.50",
                "note": "top-up",
            },
        }

        # then: an idle stream carries `: ping` comments, so that proxies keep it open
        await stream.expect_silence(HEARTBEAT_SECONDS * 3)
        assert stream.comments
        assert set(stream.comments) == {"ping"}


async def test_credit_alerts_and_notifications_arrive_live(server, http, api):
    """creditAlerts and notificationAdded over SSE, for a customer administrator."""
    # given
    customer = await make_customer(balance=10)
    service = await make_service("15.00")
    customer_admin = await make_user(Role.CUSTOMER_ADMIN, customer)
    user = await make_user(Role.END_USER, customer)
    async with (
        subscribe(http, CREDIT_ALERTS, {}, customer_admin.token) as alerts,
        subscribe(http, NOTIFICATION_ADDED, {}, customer_admin.token) as notes,
    ):
        await registered(server, "creditAlerts")
        await registered(server, "notificationAdded")

        # when
        await request_service(api, user, service.id)

        # then
        alert = (await alerts.next())["creditAlerts"]
        assert (alert["kind"], alert["customerId"], alert["balance"]) == (
            "BELOW_ZERO",
            str(customer.id),
            "-5.00",
        )
        note = (await notes.next())["notificationAdded"]
        assert (note["kind"], note["balance"], note["customer"]) == (
            "BELOW_ZERO",
            "-5.00",
            {"id": str(customer.id)},
        )
        await alerts.expect_silence()


# --- authentication and access --------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [None, "Basic abc", "Bearer not-a-token", "Bearer crd_not-an-api-token"],
    ids=["no-token", "not-bearer", "bad-jwt", "bad-api-token"],
)
async def test_a_stream_without_a_valid_token_is_401(server, http, authorization):
    """No or a bad token: HTTP 401 with a top-level UNAUTHENTICATED error, and no event."""
    # given
    headers = {"Accept": EVENT_STREAM} | ({"Authorization": authorization} if authorization else {})

    # when
    body = {"query": NOTIFICATION_ADDED}
    response = await http.post("/graphql", json=body, headers=headers)

    # then
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json"
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {
        "errors": [
            {
                "message": "Authentication required: send a valid bearer token.",
                "extensions": {"code": "UNAUTHENTICATED"},
            }
        ]
    }


async def test_an_expired_jwt_gets_401(server, http, settings):
    """A JWT that has expired opens no stream."""
    # given
    user = await make_user(Role.CATALOG_ADMIN)
    token = short_lived_jwt(settings, user.user.id, int(time.time()) - 1)

    # when
    response = await http.post("/graphql", json={"query": NOTIFICATION_ADDED}, headers=sse_headers(token))

    # then
    assert response.status_code == 401


@pytest.mark.parametrize(
    "document", [BALANCE_SEQUENCES, CREDIT_ALERTS], ids=["balanceChanged", "creditAlerts"]
)
async def test_another_customer_is_forbidden(server, http, document):
    """Another customer's id, an unknown one and a malformed one: one FORBIDDEN result, then complete."""
    # given
    own, other = await make_customer(balance=5), await make_customer(balance=7)
    admin = await make_user(Role.CUSTOMER_ADMIN, own)
    for customer_id in (str(other.id), str(uuid.uuid4()), "not-an-id"):
        # when
        async with subscribe(http, document, {"customerId": customer_id}, admin.token) as stream:
            # then
            payload = await stream.payload()
            assert codes(payload) == ["FORBIDDEN"], customer_id
            assert str(other.id) not in json.dumps(payload)
            assert [e for e in await stream.rest() if e.kind != "comment"] == [COMPLETE]


async def test_end_users_may_not_subscribe_to_credit_alerts(server, http):
    """creditAlerts is FORBIDDEN for end users, with or without their own customer's id."""
    # given
    customer = await make_customer(balance=10)
    user = await make_user(Role.END_USER, customer)
    for variables in ({}, {"customerId": str(customer.id)}):
        # when
        async with subscribe(http, CREDIT_ALERTS, variables, user.token) as stream:
            # then
            assert codes(await stream.payload()) == ["FORBIDDEN"], variables


async def test_document_limits_apply(server, http, settings):
    """A document longer than CREDITS_MAX_QUERY_LENGTH or with too many aliases does not run."""
    # given
    admin = await make_catalog_admin()
    too_long = "#" + "x" * settings.max_query_length + "\nsubscription { notificationAdded { id } }"
    aliases = " ".join(f"a{i}: id" for i in range(settings.max_query_aliases + 1))
    too_many_aliases = "subscription { notificationAdded { " + aliases + " } }"

    for document, message in ((too_long, "Source contains more than"), (too_many_aliases, "aliases")):
        # when
        async with subscribe(http, document, {}, admin.token) as stream:
            payload = await stream.payload()

        # then
        assert payload["data"] is None
        assert message in payload["errors"][0]["message"]
    await registered(server, "notificationAdded", count=0)


async def test_a_mutation_over_get_never_runs_on_a_stream(server, http):
    """GET with Accept: text/event-stream carrying a mutation: an error result, nothing created."""
    # given
    admin = await make_catalog_admin()
    query = 'mutation { createApiToken(name: "ci") { token } }'

    # when
    headers = sse_headers(admin.token)
    async with http.stream("GET", "/graphql", params={"query": query}, headers=headers) as response:
        events = [e for e in await EventStream(response).rest() if e.kind != "comment"]

    # then
    assert [e.kind for e in events] == ["next", "complete"]
    assert events[0].data == {
        "data": None,
        "errors": [{"message": "mutations are not allowed", "extensions": {"code": "BAD_REQUEST"}}],
    }
    assert await ApiToken.all().count() == 0


# --- afterSequence --------------------------------------------------------------------------


async def test_resuming_with_after_sequence_loses_nothing(server, http, api):
    """End the stream after N, 20 commits, resume after N: exactly those 20 in order, then live ones."""
    # given
    admin = await make_catalog_admin()
    customer = await make_customer(balance=100)
    variables = {"customerId": str(customer.id), "afterSequence": 0}
    async with subscribe(http, BALANCE_SEQUENCES, variables, admin.token) as stream:
        await grant(api, admin, customer, "1.00")
        seen = sequences(await stream.take(2))
    assert seen == [1, 2]
    await grant_many(api, admin, customer, 20, amount="0.50", batch=5, concurrency=4)

    # when
    variables["afterSequence"] = seen[-1]
    async with subscribe(http, BALANCE_SEQUENCES, variables, admin.token) as stream:
        replayed = [r["balanceChanged"] for r in await stream.take(20)]
        await grant(api, admin, customer, "2.00")
        live = (await stream.next())["balanceChanged"]

        # then
        assert [e["sequence"] for e in replayed] == list(range(3, 23))
        assert [e["balance"] for e in replayed] == [f"{101 + 0.5 * i:.2f}" for i in range(1, 21)]
        assert live == {"customerId": str(customer.id), "sequence": 23, "balance": "113.00"}
        await stream.expect_silence()


# --- an open stream loses its authentication ------------------------------------------------


async def _ended_by_the_guard(stream: EventStream) -> None:
    """The stream's last words: one UNAUTHENTICATED result, `complete`, the end."""
    rest = [e for e in await stream.rest(timeout=5) if e.kind != "comment"]
    assert [e.kind for e in rest] == ["next", "complete"]
    assert codes(rest[0].data) == ["UNAUTHENTICATED"]


async def test_deactivating_the_user_ends_its_stream(server, http, api):
    """An open stream of a user who is deactivated is ended at once."""
    # given
    admin = await make_catalog_admin()
    customer = await make_customer(balance=1)
    user = await make_user(Role.END_USER, customer)
    async with subscribe(http, BALANCE_SEQUENCES, {"afterSequence": 0}, user.token) as stream:
        assert sequences([await stream.next()]) == [1]

        # when
        payload = await api(SET_USER_ACTIVE, {"id": str(user.user.id), "active": False}, token=admin.token)
        assert payload["setUserActive"]["userErrors"] == []

        # then
        await _ended_by_the_guard(stream)
    await registered(server, count=0)


async def test_revoking_the_api_token_ends_the_stream(server, http, api):
    """An open stream authenticated by an API token is ended once the token is revoked."""
    # given
    admin = await make_catalog_admin()
    customer = await make_customer(balance=1)
    created = (await api(CREATE_API_TOKEN, {"name": "dashboard"}, token=admin.token))["createApiToken"]
    variables = {"customerId": str(customer.id), "afterSequence": 0}
    async with subscribe(http, BALANCE_SEQUENCES, variables, created["token"]) as stream:
        assert sequences([await stream.next()]) == [1]

        # when
        revoked = await api(REVOKE_API_TOKEN, {"id": created["apiToken"]["id"]}, token=admin.token)
        assert revoked["revokeApiToken"]["userErrors"] == []

        # then
        await _ended_by_the_guard(stream)


async def test_a_stream_ends_when_its_jwt_expires(server, http, settings):
    """A stream authenticated by a JWT is ended once the JWT expires, not before."""
    # given
    customer = await make_customer(balance=1)
    user = await make_user(Role.CUSTOMER_ADMIN, customer)
    expires = int(time.time()) + 2
    token = short_lived_jwt(settings, user.user.id, expires)
    async with subscribe(http, BALANCE_SEQUENCES, {"afterSequence": 0}, token) as stream:
        assert sequences([await stream.next()]) == [1]

        # when
        await _ended_by_the_guard(stream)

        # then
        assert expires <= time.time() < expires + 2


# --- caps and slow subscribers --------------------------------------------------------------


async def test_streams_count_against_the_socket_cap(server_env):
    """With CREDITS_MAX_WEBSOCKETS=2, two open streams leave no room for a third or for a websocket."""
    # given
    admin = await make_catalog_admin()
    env = {**server_env, "CREDITS_MAX_WEBSOCKETS": "2"}
    with ServerProcess(env) as capped:
        async with httpx.AsyncClient(base_url=capped.base_url, timeout=30) as http:
            async with (
                subscribe(http, NOTIFICATION_ADDED, {}, admin.token) as first,
                subscribe(http, NOTIFICATION_ADDED, {}, admin.token) as second,
            ):
                assert (first.response.status_code, second.response.status_code) == (200, 200)

                # when
                async with subscribe(http, NOTIFICATION_ADDED, {}, admin.token) as third:
                    refused_stream = third.response
                with pytest.raises(InvalidStatus) as refused:
                    async with connect(ws_url(capped.base_url), subprotocols=[TRANSPORT_WS], open_timeout=5):
                        pass

                # then
                assert refused_stream.status_code == 503
                assert refused_stream.headers["retry-after"] == "5"
                assert refused.value.response.status_code == 503

            # then: closed streams give their places back
            await until_streams(capped.base_url, 0)
            async with subscribe(http, NOTIFICATION_ADDED, {}, admin.token) as again:
                assert again.response.status_code == 200


async def test_a_slow_subscriber_is_ended_and_resumes(server_env):
    """A stream that is not read is ended without `complete` (others get everything); it resumes after."""
    # given: a server with 20-message subscriber queues, a normal and a stalled subscriber
    total = 400
    admin = await make_catalog_admin()
    customer = await make_customer()
    await enable_credits()
    variables = {"customerId": str(customer.id), "afterSequence": 0}
    env = {**server_env, "CREDITS_SUBSCRIBER_QUEUE_SIZE": "20", "CREDITS_MAX_QUERY_ALIASES": "100"}
    with ServerProcess(env) as slow_server:
        async with (
            httpx.AsyncClient(base_url=slow_server.base_url, timeout=60) as http,
            httpx.AsyncClient(base_url=slow_server.base_url, timeout=60) as slow_http,
            subscribe(slow_http, FATTER_BALANCE_CHANGED, variables, admin.token) as slow,
            subscribe(http, BALANCE_SEQUENCES, variables, admin.token) as fast,
        ):
            received: list[int] = []

            async def keep_reading() -> None:
                while len(received) < total:
                    received.append((await fast.next(timeout=30))["balanceChanged"]["sequence"])

            reader = asyncio.create_task(keep_reading())

            # when
            await grant_many(GraphQLClient(http), admin, customer, total, note="x" * 1000)
            await asyncio.wait_for(reader, 30)

            # then: the normal subscriber got every event in order
            assert received == list(range(1, total + 1))

            # then: the stalled one gets what was already on its way, a comment, the end (no `complete`)
            rest = await slow.rest(timeout=15)
            seen = [e.data["data"]["balanceChanged"]["sequence"] for e in rest if e.kind == "next"]
            assert [e for e in rest if e.kind not in ("next", "comment")] == []
            assert rest[-1] == Event("comment", "subscriber too slow: resume with afterSequence")
            assert seen == list(range(1, len(seen) + 1))
            assert 0 < len(seen) < total

            # when: it resumes after the last event it saw
            variables["afterSequence"] = seen[-1]
            async with subscribe(http, BALANCE_SEQUENCES, variables, admin.token) as resumed:
                # then: the rest, exactly once
                rest_sequences = sequences(await resumed.take(total - len(seen), timeout=20))
                assert rest_sequences == list(range(len(seen) + 1, total + 1))
                await resumed.expect_silence()
        assert "Traceback" not in slow_server.log_path.read_text()


async def test_a_closed_stream_unsubscribes(server, http):
    """A client that goes away frees its subscription (the gauge returns to zero)."""
    # given
    admin = await make_catalog_admin()
    async with subscribe(http, NOTIFICATION_ADDED, {}, admin.token):
        await registered(server, "notificationAdded")

    # when: the client closed the response

    # then
    await registered(server, "notificationAdded", count=0)
