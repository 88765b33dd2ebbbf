"""Live subscriptions over real websockets (both protocols) against a real uvicorn process."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from api.context import Context
from api.schema import schema
from models.customer import Customer
from models.user import Role
from settings import Settings
from tests.client import GraphQLClient
from tests.documents import (
    BALANCE_CHANGED,
    BALANCE_SEQUENCES,
    CREATE_API_TOKEN,
    CREDIT_ALERTS,
    CUSTOMER_BALANCE,
    GRANT_CREDITS,
    REQUEST_SERVICE,
    REVOKE_API_TOKEN,
    SET_USER_ACTIVE,
)
from tests.factories import (
    Login,
    enable_credits,
    make_catalog_admin,
    make_customer,
    make_service,
    make_user,
    make_world,
)
from tests.processes import ServerProcess
from tests.ws_client import (
    PROTOCOLS,
    TRANSPORT_WS,
    ConnectionRejected,
    GraphQLSocket,
    SocketClosed,
    Subscription,
    auth_params,
    init_message,
    start_message,
    until_subscribed,
    ws_url,
)

NOTIFICATION_ADDED = """
subscription { notificationAdded { id kind balance threshold read customer { id } } }
"""
# 40 aliases of a 1000-character note: ~40 KB per event, so a socket that never reads fills every
# buffer between the server and it (kernel send buffer up to 4 MB) after a hundred events or so.
FAT_BALANCE_CHANGED = (
    "subscription ($customerId: ID, $afterSequence: Int) {"
    " balanceChanged(customerId: $customerId, afterSequence: $afterSequence) {"
    " customerId balance sequence transaction { " + " ".join(f"n{i}: note" for i in range(40)) + " } } }"
)

FORBIDDEN_CLOSE = 4403
TOO_SLOW_CLOSE = 1013

pytestmark = pytest.mark.slow


# --- fixtures and helpers -------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(server_env: dict[str, str]) -> Iterator[ServerProcess]:
    """One real server for the module (it keeps no state between tests: the database is emptied)."""
    with ServerProcess(server_env) as process:
        yield process


async def registered(url: str, field: str = "balanceChanged", count: int = 1) -> None:
    """Wait until the server has registered the subscription(s): nothing on the wire says so."""
    await until_subscribed(url, field, count)


async def grant(api: GraphQLClient, admin: Login, customer: Customer, amount: str, note: str | None = None):
    """grantCredits through the real server; the committed transaction."""
    input = {"customerId": str(customer.id), "amount": amount, "note": note}
    payload = (await api(GRANT_CREDITS, {"input": input}, token=admin.token))["grantCredits"]
    assert payload["userErrors"] == []
    return payload["transaction"]


async def grant_many(
    api: GraphQLClient,
    admin: Login,
    customer: Customer,
    count: int,
    *,
    amount: str = "0.01",
    note: str | None = None,
    batch: int = 25,
    concurrency: int = 8,
) -> None:
    """`count` grants: `batch` aliased mutations per request, `concurrency` requests at a time."""
    gate = asyncio.Semaphore(concurrency)
    input = {"customerId": str(customer.id), "amount": amount, "note": note}

    async def one_request(size: int) -> None:
        fields = " ".join(
            f"g{i}: grantCredits(input: $input) {{ userErrors {{ code }} }}" for i in range(size)
        )
        async with gate:
            data = await api(
                f"mutation ($input: BalanceChangeInput!) {{ {fields} }}", {"input": input}, token=admin.token
            )
        assert all(payload["userErrors"] == [] for payload in data.values())

    sizes = [batch] * (count // batch) + ([count % batch] if count % batch else [])
    await asyncio.gather(*(one_request(size) for size in sizes))


async def request_service(api: GraphQLClient, user: Login, service_id: object) -> dict[str, Any]:
    """requestService through the real server; the request."""
    payload = (await api(REQUEST_SERVICE, {"input": {"serviceId": str(service_id)}}, token=user.token))[
        "requestService"
    ]
    assert payload["userErrors"] == []
    return payload["serviceRequest"]


async def balance(api: GraphQLClient, admin: Login, customer: Customer) -> str:
    """The customer's balance as the API reports it."""
    return (await api(CUSTOMER_BALANCE, {"id": str(customer.id)}, token=admin.token))["customer"]["balance"]


async def events_of(sub: Subscription, customer_ids: set[str], count: int, timeout: float = 10) -> list[Any]:
    """The next `count` balanceChanged events of the given customers, skipping any others."""
    events: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while len(events) < count:
            event = (await sub.next(timeout))["balanceChanged"]
            if event["customerId"] in customer_ids:
                events.append(event)
    return events


def sequences(events: list[dict[str, Any]]) -> list[int]:
    """The sequence numbers of balanceChanged results."""
    return [event["balanceChanged"]["sequence"] for event in events]


def rss_kib(pid: int) -> int:
    """A process's resident memory (VmRSS) in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def short_lived_jwt(settings: Settings, user_id: uuid.UUID, exp: int) -> str:
    """A JWT for `user_id` expiring at the Unix time `exp` (whole seconds), signed with the test secret."""
    claims = {"sub": str(user_id), "iat": int(time.time()), "exp": exp, "jti": uuid.uuid4().hex[:16]}
    return jwt.encode(claims, settings.resolved_jwt_secret(), algorithm="HS256")


# --- a committed change is published ----------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_grant_produces_balance_event_with_transaction(api, url, protocol):
    """A grant reaches a subscriber as an event equal to the committed ledger entry."""
    # given
    admin = await make_catalog_admin()
    customer = await make_customer(balance=10)
    async with GraphQLSocket(url, protocol, admin.token) as ws:
        sub = await ws.subscribe(BALANCE_CHANGED, {"customerId": str(customer.id)})
        await registered(url)

        # when
        committed = await grant(api, admin, customer, "25.50", note="top-up")

        # then
        event = (await sub.next())["balanceChanged"]
        assert event == {
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
        assert event["balance"] == event["transaction"]["balanceAfter"]
        await sub.expect_silence()


# --- authentication of the socket -------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "a valid bearer token is required"),
        ({"Authorization": "Basic abc"}, "a valid bearer token is required"),
        ({"Authorization": 42}, "a valid bearer token is required"),
        ({"Authorization": "Bearer not-a-token"}, "invalid token"),
        ({"Authorization": "Bearer crd_not-an-api-token"}, "invalid token"),
    ],
    ids=["no-token", "not-bearer", "not-a-string", "bad-jwt", "bad-api-token"],
)
async def test_socket_without_valid_token_is_rejected(url, protocol, params, message):
    """No or a bad token in connection_init: 4403 (transport-ws) or connection_error with the message
    and UNAUTHENTICATED, then close (legacy)."""
    # given / when
    with pytest.raises(ConnectionRejected) as rejected:
        async with GraphQLSocket(url, protocol, params=params):
            pass

    # then
    if protocol == TRANSPORT_WS:
        assert (rejected.value.code, rejected.value.error) == (FORBIDDEN_CLOSE, None)
    else:
        # Strawberry's legacy handler closes with 1011 after connection_error.
        error = {"message": message, "extensions": {"code": "UNAUTHENTICATED"}}
        assert (rejected.value.code, rejected.value.error) == (1011, error)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_lower_case_authorization_key_is_accepted(api, url, protocol):
    """`authorization` in connection_init authenticates like `Authorization`."""
    # given
    admin = await make_catalog_admin()
    customer = await make_customer(balance=1)
    params = auth_params(admin.token, key="authorization")

    # when
    async with GraphQLSocket(url, protocol, params=params) as ws:
        if protocol == TRANSPORT_WS:
            await ws.ping()
        sub = await ws.subscribe(BALANCE_SEQUENCES, {"customerId": str(customer.id), "afterSequence": 0})

        # then
        assert await sub.next() == {
            "balanceChanged": {"customerId": str(customer.id), "sequence": 1, "balance": "1.00"}
        }


# --- tenant rules ---------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(
    "document", [BALANCE_SEQUENCES, CREDIT_ALERTS], ids=["balanceChanged", "creditAlerts"]
)
async def test_other_customer_and_unknown_ids_are_forbidden(url, protocol, document):
    """Another customer's id, an unknown id and a malformed id get the same FORBIDDEN."""
    # given
    own, other = await make_customer(balance=5), await make_customer(balance=7)
    admin = await make_user(Role.CUSTOMER_ADMIN, own)

    async with GraphQLSocket(url, protocol, admin.token) as ws:
        for customer_id in (str(other.id), str(uuid.uuid4()), "not-an-id"):
            # when
            sub = await ws.subscribe(document, {"customerId": customer_id})

            # then
            errors = await sub.errors()
            assert [e["extensions"]["code"] for e in errors] == ["FORBIDDEN"], customer_id
            assert str(other.id) not in json.dumps(errors)
        assert not ws.is_closed


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_end_users_may_not_subscribe_to_credit_alerts(api, url, protocol):
    """creditAlerts is FORBIDDEN for end users, with or without their own customer's id."""
    # given: an end user, and a customer administrator of the same customer watching its alerts
    customer = await make_customer(balance=10)
    user = await make_user(Role.END_USER, customer)
    customer_admin = await make_user(Role.CUSTOMER_ADMIN, customer)
    async with (
        GraphQLSocket(url, protocol, customer_admin.token) as watcher,
        GraphQLSocket(url, protocol, user.token) as ws,
    ):
        watching = await watcher.subscribe(CREDIT_ALERTS)
        await registered(url, "creditAlerts")
        for variables in ({}, {"customerId": str(customer.id)}):
            # when
            sub = await ws.subscribe(CREDIT_ALERTS, variables)

            # then
            assert [e["extensions"]["code"] for e in await sub.errors()] == ["FORBIDDEN"], variables
        assert not ws.is_closed
        # the administrators' alerts still flow (the end user's refusal ended no shared feed)
        await request_service(api, user, (await make_service("15.00")).id)
        assert (await watching.next())["creditAlerts"]["kind"] == "BELOW_ZERO"


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(
    "variables",
    [{"afterSequence": 0}, {"afterSequence": -1, "customerId": "own"}],
    ids=["no-customer", "negative"],
)
async def test_after_sequence_needs_a_customer_and_a_valid_number(url, protocol, variables):
    """afterSequence without a customer (catalog admin) or below 0 is INVALID_INPUT."""
    # given
    admin = await make_catalog_admin()
    customer = await make_customer(balance=3)
    variables = {k: str(customer.id) if v == "own" else v for k, v in variables.items()}

    async with GraphQLSocket(url, protocol, admin.token) as ws:
        # when
        sub = await ws.subscribe(BALANCE_SEQUENCES, variables)

        # then
        assert [e["extensions"]["code"] for e in await sub.errors()] == ["INVALID_INPUT"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_end_user_gets_own_customer_events_without_transaction(api, url, protocol):
    """An end user leaving out customerId gets its customer's events, transaction null."""
    # given
    admin = await make_catalog_admin()
    customer, other = await make_customer(balance=20), await make_customer(balance=20)
    user = await make_user(Role.END_USER, customer)
    async with GraphQLSocket(url, protocol, user.token) as ws:
        sub = await ws.subscribe(BALANCE_CHANGED)
        await registered(url)

        # when
        await grant(api, admin, other, "1.00")
        await grant(api, admin, customer, "2.00")

        # then
        assert await sub.next() == {
            "balanceChanged": {
                "customerId": str(customer.id),
                "balance": "22.00",
                "sequence": 2,
                "transaction": None,
            }
        }
        await sub.expect_silence()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_customer_admin_without_customer_id_gets_own_customer(api, url, protocol):
    """A customer administrator leaving out customerId watches its own customer, ledger included."""
    # given
    admin = await make_catalog_admin()
    customer, other = await make_customer(balance=5), await make_customer(balance=5)
    customer_admin = await make_user(Role.CUSTOMER_ADMIN, customer)
    async with GraphQLSocket(url, protocol, customer_admin.token) as ws:
        sub = await ws.subscribe(BALANCE_CHANGED)
        await registered(url)

        # when
        await grant(api, admin, other, "3.00")
        committed = await grant(api, admin, customer, "4.00")

        # then
        event = (await sub.next())["balanceChanged"]
        assert (event["customerId"], event["sequence"], event["balance"]) == (str(customer.id), 2, "9.00")
        assert event["transaction"]["id"] == committed["id"]
        await sub.expect_silence()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_catalog_admin_without_customer_id_receives_every_customer(api, url, protocol):
    """A catalog administrator leaving out customerId receives every customer's events."""
    # given
    admin = await make_catalog_admin()
    first, second = await make_customer(balance=1), await make_customer(balance=2)
    async with GraphQLSocket(url, protocol, admin.token) as ws:
        sub = await ws.subscribe(BALANCE_SEQUENCES)
        await registered(url)

        # when
        await grant(api, admin, first, "1.00")
        await grant(api, admin, second, "1.00")
        await grant(api, admin, first, "1.00")

        # then (test runs sharing one Redis see each other's customers too: keep ours)
        events = await events_of(sub, {str(first.id), str(second.id)}, 3)
        assert events == [
            {"customerId": str(first.id), "sequence": 2, "balance": "2.00"},
            {"customerId": str(second.id), "sequence": 2, "balance": "3.00"},
            {"customerId": str(first.id), "sequence": 3, "balance": "3.00"},
        ]


# --- replay and order -----------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_reconnect_with_after_sequence_loses_nothing(api, url, protocol):
    """Disconnect after N, 20 commits, resume after N: exactly those 20 in order, then live ones."""
    # given
    admin = await make_catalog_admin()
    customer = await make_customer(balance=100)
    async with GraphQLSocket(url, protocol, admin.token) as ws:
        sub = await ws.subscribe(BALANCE_SEQUENCES, {"customerId": str(customer.id), "afterSequence": 0})
        await grant(api, admin, customer, "1.00")
        seen = sequences(await sub.take(2))
    assert seen == [1, 2]
    last = seen[-1]
    await grant_many(api, admin, customer, 20, amount="0.50", batch=5, concurrency=4)

    # when
    async with GraphQLSocket(url, protocol, admin.token) as ws:
        sub = await ws.subscribe(BALANCE_SEQUENCES, {"customerId": str(customer.id), "afterSequence": last})
        replayed = [e["balanceChanged"] for e in await sub.take(20)]
        await grant(api, admin, customer, "2.00")
        live = (await sub.next())["balanceChanged"]

        # then
        assert [e["sequence"] for e in replayed] == list(range(3, 23))
        assert [e["balance"] for e in replayed] == [f"{101 + 0.5 * i:.2f}" for i in range(1, 21)]
        assert live == {"customerId": str(customer.id), "sequence": 23, "balance": "113.00"}
        await sub.expect_silence()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_after_sequence_zero_replays_the_whole_ledger(api, url, protocol):
    """afterSequence 0 replays every entry from the first, with its transaction."""
    # given
    admin = await make_catalog_admin()
    customer = await make_customer(balance=10)
    await grant(api, admin, customer, "5.00", note="second")
    await grant(api, admin, customer, "0.25", note="third")

    # when
    async with GraphQLSocket(url, protocol, admin.token) as ws:
        sub = await ws.subscribe(BALANCE_CHANGED, {"customerId": str(customer.id), "afterSequence": 0})
        events = [e["balanceChanged"] for e in await sub.take(3)]

        # then
        assert [(e["sequence"], e["balance"], e["transaction"]["note"]) for e in events] == [
            (1, "10.00", None),
            (2, "15.00", "second"),
            (3, "15.25", "third"),
        ]
        assert all(e["balance"] == e["transaction"]["balanceAfter"] for e in events)
        await sub.expect_silence()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_concurrent_charges_arrive_in_sequence_order(api, url, protocol):
    """30 concurrent requestService calls: events strictly in sequence order, none missing."""
    # given
    admin = await make_catalog_admin()
    customer = await make_customer(balance=100)
    service = await make_service("1.25")
    user = await make_user(Role.END_USER, customer)
    async with GraphQLSocket(url, protocol, admin.token) as ws:
        sub = await ws.subscribe(BALANCE_CHANGED, {"customerId": str(customer.id), "afterSequence": 1})

        # when
        await asyncio.gather(*(request_service(api, user, service.id) for _ in range(30)))

        # then
        events = [e["balanceChanged"] for e in await sub.take(30, timeout=20)]
        assert [e["sequence"] for e in events] == list(range(2, 32))
        assert [e["balance"] for e in events] == [f"{100 - 1.25 * i:.2f}" for i in range(1, 31)]
        assert {e["transaction"]["kind"] for e in events} == {"SERVICE_CHARGE"}
        assert all(e["transaction"]["amount"] == "-1.25" for e in events)
        await sub.expect_silence()
    assert await balance(api, admin, customer) == "62.50"


# --- alerts and notifications ---------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_charge_crossing_zero_gives_one_below_zero_alert(api, url, protocol):
    """A charge from 10 to -5 fires one BELOW_ZERO alert; a further charge below zero fires none."""
    # given
    world = await make_world("c", price="15.00", balance=10)
    customer, service, user = world.customer, world.service, world.end_user
    customer_admin = world.customer_admin
    async with GraphQLSocket(url, protocol, customer_admin.token) as ws:
        sub = await ws.subscribe(CREDIT_ALERTS)
        await registered(url, "creditAlerts")

        # when
        await request_service(api, user, service.id)
        await request_service(api, user, service.id)

        # then
        alert = (await sub.next())["creditAlerts"]
        assert {k: v for k, v in alert.items() if k != "id"} == {
            "kind": "BELOW_ZERO",
            "customerId": str(customer.id),
            "balance": "-5.00",
            "threshold": None,
        }
        await sub.expect_silence(0.5)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_customer_admin_receives_its_notification_live(api, url, protocol):
    """The customer administrator's in-app notification of a crossing arrives live."""
    # given
    world = await make_world("c", price="12.50", balance=10)
    customer, service, user = world.customer, world.service, world.end_user
    customer_admin = world.customer_admin
    async with GraphQLSocket(url, protocol, customer_admin.token) as ws:
        sub = await ws.subscribe(NOTIFICATION_ADDED)
        await registered(url, "notificationAdded")

        # when
        await request_service(api, user, service.id)

        # then
        note = (await sub.next())["notificationAdded"]
        assert {k: v for k, v in note.items() if k != "id"} == {
            "kind": "BELOW_ZERO",
            "balance": "-2.50",
            "threshold": None,
            "read": False,
            "customer": {"id": str(customer.id)},
        }
        await sub.expect_silence()


# --- an open socket loses its authentication -------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_revoking_the_api_token_closes_the_socket(api, url, protocol):
    """An open socket authenticated by an API token is closed with 4403 once the token is revoked."""
    # given
    admin = await make_catalog_admin()
    customer = await make_customer(balance=1)
    created = (await api(CREATE_API_TOKEN, {"name": "dashboard"}, token=admin.token))["createApiToken"]
    async with GraphQLSocket(url, protocol, created["token"]) as ws:
        sub = await ws.subscribe(BALANCE_SEQUENCES, {"customerId": str(customer.id), "afterSequence": 0})
        assert sequences([await sub.next()]) == [1]

        # when
        revoked = await api(REVOKE_API_TOKEN, {"id": created["apiToken"]["id"]}, token=admin.token)
        assert revoked["revokeApiToken"]["userErrors"] == []

        # then
        assert await ws.closed(timeout=5) == FORBIDDEN_CLOSE
        with pytest.raises(SocketClosed):
            await sub.next()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_deactivating_the_user_closes_its_socket(api, url, protocol):
    """An open socket of a user who is deactivated is closed with 4403."""
    # given
    admin = await make_catalog_admin()
    customer = await make_customer(balance=1)
    user = await make_user(Role.END_USER, customer)
    async with GraphQLSocket(url, protocol, user.token) as ws:
        sub = await ws.subscribe(BALANCE_SEQUENCES, {"afterSequence": 0})
        assert sequences([await sub.next()]) == [1]

        # when
        payload = await api(SET_USER_ACTIVE, {"id": str(user.user.id), "active": False}, token=admin.token)
        assert payload["setUserActive"]["userErrors"] == []

        # then
        assert await ws.closed(timeout=5) == FORBIDDEN_CLOSE


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_socket_is_closed_when_its_jwt_expires(url, settings, protocol):
    """A socket authenticated by a JWT is closed with 4403 once the JWT expires, not before."""
    # given
    customer = await make_customer(balance=1)
    user = await make_user(Role.CUSTOMER_ADMIN, customer)
    expires = int(time.time()) + 2
    token = short_lived_jwt(settings, user.user.id, expires)
    async with GraphQLSocket(url, protocol, token) as ws:
        sub = await ws.subscribe(BALANCE_SEQUENCES, {"afterSequence": 0})
        assert sequences([await sub.next()]) == [1]

        # when
        code = await ws.closed(timeout=5)

        # then
        assert code == FORBIDDEN_CLOSE
        assert expires <= time.time() < expires + 2


async def test_expired_jwt_is_rejected_at_connection(url, settings):
    """A JWT that has already expired does not open a socket."""
    # given
    user = await make_user(Role.CATALOG_ADMIN)
    token = short_lived_jwt(settings, user.user.id, int(time.time()) - 1)

    # when
    with pytest.raises(ConnectionRejected) as rejected:
        async with GraphQLSocket(url, TRANSPORT_WS, token):
            pass

    # then
    assert rejected.value.code == FORBIDDEN_CLOSE


# --- a subscriber too slow to keep up -------------------------------------------------------


def stalled_socket(base_url: str, protocol: str) -> Any:
    """A raw websocket that stops reading as soon as it is not asked to: a tiny TCP receive buffer,
    a one-frame client queue and no compression (so the server's buffers fill with real bytes)."""
    host, port = base_url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    sock.setblocking(False)
    return connect(
        ws_url(base_url), subprotocols=[protocol], sock=sock, max_queue=1, compression=None, open_timeout=5
    )


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_slow_subscriber_is_closed_with_1013_and_resumes(server_env, protocol):
    """A subscriber that never reads is closed with 1013; others get everything; memory stays bounded."""
    # given: a server with 20-message subscriber queues, a normal and a stalled subscriber
    total = 400
    admin = await make_catalog_admin()
    customer = await make_customer()
    await enable_credits()
    variables = {"customerId": str(customer.id), "afterSequence": 0}
    # The fat subscription document needs more aliases than the default limit allows.
    env = {**server_env, "CREDITS_SUBSCRIBER_QUEUE_SIZE": "20", "CREDITS_MAX_QUERY_ALIASES": "100"}
    with ServerProcess(env) as slow_server:
        url = ws_url(slow_server.base_url)
        async with (
            httpx.AsyncClient(base_url=slow_server.base_url, timeout=60) as http,
            GraphQLSocket(url, protocol, admin.token) as fast,
            stalled_socket(slow_server.base_url, protocol) as slow,
        ):
            await slow.send(json.dumps(init_message(auth_params(admin.token))))
            assert json.loads(await asyncio.wait_for(slow.recv(), 5))["type"] == "connection_ack"
            await slow.send(json.dumps(start_message(protocol, "slow", FAT_BALANCE_CHANGED, variables)))
            fast_sub = await fast.subscribe(BALANCE_SEQUENCES, variables)
            received: list[int] = []

            async def keep_reading() -> None:
                while len(received) < total:
                    received.append((await fast_sub.next(timeout=30))["balanceChanged"]["sequence"])

            reader = asyncio.create_task(keep_reading())
            rss_before = rss_kib(slow_server.proc.pid)

            # when
            await grant_many(GraphQLClient(http), admin, customer, total, note="x" * 1000)
            await asyncio.wait_for(reader, 30)
            rss_after = rss_kib(slow_server.proc.pid)

            # then: the normal subscriber got every event in order, and the server did not buffer
            # the stalled one's ~16 MB of events
            assert received == list(range(1, total + 1))
            assert rss_after - rss_before < 10 * 1024, (rss_before, rss_after)

            # then: the stalled one gets what was already on its way, then close 1013 (no `complete`)
            seen: list[int] = []
            others: list[dict[str, Any]] = []
            with pytest.raises(ConnectionClosed):
                async with asyncio.timeout(15):
                    while True:
                        message = json.loads(await slow.recv())
                        if message["type"] in ("next", "data"):
                            seen.append(message["payload"]["data"]["balanceChanged"]["sequence"])
                        else:
                            others.append(message)
            assert slow.close_code == TOO_SLOW_CLOSE
            assert others == []
            assert seen == list(range(1, len(seen) + 1))
            assert 0 < len(seen) < total

            # when: it resumes after the last event it saw
            async with GraphQLSocket(url, protocol, admin.token) as resumed:
                sub = await resumed.subscribe(
                    BALANCE_SEQUENCES, {"customerId": str(customer.id), "afterSequence": seen[-1]}
                )

                # then: the rest, exactly once
                rest = sequences(await sub.take(total - len(seen), timeout=20))
                assert rest == list(range(len(seen) + 1, total + 1))
                await sub.expect_silence()
        log = slow_server.log_path.read_text()
        assert "Traceback" not in log, log[max(0, log.find("Traceback") - 1500) :][:6000]


# --- in-process, through schema.subscribe ---------------------------------------------------


async def _first_result(stream: Any, bus: Any, before: int) -> asyncio.Task[Any]:
    """Start reading a subscription and return once it is registered on the bus."""
    task = asyncio.ensure_future(stream.__anext__())
    async with asyncio.timeout(5):
        while bus.subscriber_count() <= before and not task.done():
            await asyncio.sleep(0.01)
    return task


async def test_in_process_subscription_receives_a_grant(runtime, gql):
    """schema.subscribe with the runtime's bus yields the event of an in-process grant."""
    # given
    admin = await make_catalog_admin()
    customer = await make_customer(balance=2)
    context = Context(request=None, response=None, actor=admin.actor, bus=runtime.bus)
    stream = await schema.subscribe(
        BALANCE_CHANGED, variable_values={"customerId": str(customer.id)}, context_value=context
    )
    try:
        pending = await _first_result(stream, runtime.bus, runtime.bus.subscriber_count())

        # when
        variables = {"input": {"customerId": str(customer.id), "amount": "3"}}
        committed = (await gql(GRANT_CREDITS, variables, token=admin.token))["grantCredits"]["transaction"]

        # then
        result = await asyncio.wait_for(pending, 5)
        assert result.errors is None
        assert result.data == {
            "balanceChanged": {
                "customerId": str(customer.id),
                "balance": "5.00",
                "sequence": 2,
                "transaction": {
                    "id": committed["id"],
                    "sequence": 2,
                    "kind": "GRANT",
                    "amount": "3.00",
                    "balanceAfter": "5.00",
                    "note": None,
                },
            }
        }
    finally:
        await stream.aclose()


async def test_in_process_credit_alerts_are_forbidden_for_end_users(runtime):
    """schema.subscribe to creditAlerts as an end user answers FORBIDDEN."""
    # given
    customer = await make_customer()
    end_user = await make_user(Role.END_USER, customer)
    context = Context(request=None, response=None, actor=end_user.actor, bus=runtime.bus)

    # when
    stream = await schema.subscribe(CREDIT_ALERTS, context_value=context)
    try:
        result = await asyncio.wait_for(stream.__anext__(), 5)
    finally:
        await stream.aclose()

    # then
    assert result.data is None
    assert [e.extensions["code"] for e in result.errors] == ["FORBIDDEN"]


async def test_in_process_subscription_forbids_another_customer(runtime):
    """schema.subscribe for another customer's id answers FORBIDDEN."""
    # given
    own, other = await make_customer(), await make_customer()
    end_user = await make_user(Role.END_USER, own)
    context = Context(request=None, response=None, actor=end_user.actor, bus=runtime.bus)

    # when
    stream = await schema.subscribe(
        BALANCE_SEQUENCES, variable_values={"customerId": str(other.id)}, context_value=context
    )
    try:
        result = await asyncio.wait_for(stream.__anext__(), 5)
    finally:
        await stream.aclose()

    # then
    assert result.data is None
    assert [e.extensions["code"] for e in result.errors] == ["FORBIDDEN"]
