"""Hostile websocket clients (issue 11): re-authentication, init timeout, malformed and large frames,
revocations reaching open sockets at once, and caps on how many sockets a process holds."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from api.socket_limits import default_max_websockets
from models.user import Role
from tests.client import GraphQLClient
from tests.conftest import IS_REDIS, PROJECT_DIR
from tests.documents import (
    BALANCE_SEQUENCES,
    CREATE_API_TOKEN,
    CUSTOMER_BALANCE,
    GRANT_CREDITS,
    REQUEST_SERVICE,
    REVOKE_API_TOKEN,
    SET_USER_ACTIVE,
)
from tests.factories import make_catalog_admin, make_customer, make_service, make_user
from tests.processes import ServerProcess
from tests.ws_client import (
    LEGACY_WS,
    PROTOCOLS,
    TRANSPORT_WS,
    GraphQLSocket,
    auth_params,
    init_message,
    ws_url,
)

FORBIDDEN_CLOSE = 4403
MALFORMED_CLOSE = 4400
INIT_TIMEOUT_CLOSE = 4408
TOO_MANY_INITS_CLOSE = 4429
TOO_BIG_CLOSE = 1009
MAX_MESSAGE_BYTES = 65_536  # the default CREDITS_WS_MAX_MESSAGE_BYTES
MAX_SOCKETS = 4
MAX_UNAUTHENTICATED_PER_ADDRESS = 2

pytestmark = pytest.mark.slow


# --- fixtures and helpers -------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(server_env: dict[str, str]) -> Iterator[ServerProcess]:
    """A server whose periodic recheck is an hour away: a socket closed at once was told by the bus."""
    env = {**server_env, "CREDITS_WS_AUTH_RECHECK_SECONDS": "3600", "CREDITS_WS_INIT_TIMEOUT_SECONDS": "1"}
    with ServerProcess(env) as process:
        yield process


@pytest.fixture(scope="module")
def capped(server_env: dict[str, str]) -> Iterator[ServerProcess]:
    """A server that holds a few websockets only."""
    env = {
        **server_env,
        "CREDITS_MAX_WEBSOCKETS": str(MAX_SOCKETS),
        "CREDITS_MAX_UNAUTHENTICATED_WEBSOCKETS_PER_ADDRESS": str(MAX_UNAUTHENTICATED_PER_ADDRESS),
    }
    with ServerProcess(env) as process:
        yield process


def raw_socket(url: str, protocol: str, **kwargs: Any) -> Any:
    """A websocket speaking `protocol` with nothing sent yet."""
    return connect(url, subprotocols=[protocol], open_timeout=5, **kwargs)


async def close_code(ws: ClientConnection, timeout: float = 10) -> int | None:
    """Read (and drop) messages until the server closes; its close code."""
    try:
        async with asyncio.timeout(timeout):
            async for _ in ws:
                pass
    except ConnectionClosed:
        pass
    return ws.close_code


async def acknowledged(ws: ClientConnection, token: str) -> None:
    """Send `connection_init` with `token` and wait for `connection_ack`."""
    await ws.send(json.dumps(init_message(auth_params(token))))
    async with asyncio.timeout(5):
        while json.loads(await ws.recv())["type"] != "connection_ack":
            pass


def log_problems(server: ServerProcess, since: int) -> list[str]:
    """Lines of the server's log after byte `since` that are errors or tracebacks."""
    text = server.log_path.read_bytes()[since:].decode(errors="replace")
    return [line for line in text.splitlines() if "ERROR" in line or "Traceback" in line]


# --- 1. one identity per socket -------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_second_connection_init_closes_the_socket(url, protocol):
    """A socket cannot switch identity: a second `connection_init`, with any valid token, closes it."""
    # given: a socket authenticated as a customer administrator, running a subscription
    customer = await make_customer(balance=1)
    first = await make_user(Role.CUSTOMER_ADMIN, customer)
    other = await make_user(Role.CUSTOMER_ADMIN, await make_customer())
    async with GraphQLSocket(url, protocol, first.token) as ws:
        sub = await ws.subscribe(BALANCE_SEQUENCES, {"afterSequence": 0})
        assert (await sub.next())["balanceChanged"]["sequence"] == 1

        # when
        await ws.send(init_message(auth_params(other.token)))

        # then
        assert await ws.closed(timeout=5) == TOO_MANY_INITS_CLOSE


# --- 2. connection_init timeout on both protocols -------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_socket_that_never_authenticates_is_closed_at_the_init_timeout(url, protocol):
    """Opened and silent: closed with 4408 after CREDITS_WS_INIT_TIMEOUT_SECONDS (1 s here)."""
    # given
    async with raw_socket(url, protocol) as ws:
        # when: nothing is sent
        code = await close_code(ws)

    # then
    assert code == INIT_TIMEOUT_CLOSE


# --- 5. malformed frames --------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(
    "frame", ["[1]", "null", '"x"', "42", '{"type": 7}', '{"type": "connection_init", "payload": []}']
)
async def test_a_malformed_first_frame_closes_with_4400_and_logs_no_error(server, url, protocol, frame):
    """Frames that are JSON but no protocol message are refused cleanly, not with a traceback."""
    # given
    since = server.log_path.stat().st_size
    async with raw_socket(url, protocol) as ws:
        # when
        await ws.send(frame)
        code = await close_code(ws)

    # then: a close frame (the legacy protocol refuses a non-object init payload its own way)
    if protocol == LEGACY_WS and "connection_init" in frame:
        assert code == 1000
    else:
        assert code == MALFORMED_CLOSE
    assert log_problems(server, since) == []


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(
    "payload",
    ["{ __typename }", None, 7, {"query": 7}, {"query": "{ __typename }", "variables": "x"}],
    ids=["string", "null", "number", "query-not-string", "variables-not-object"],
)
async def test_a_subscribe_with_a_malformed_payload_closes_with_4400(server, url, protocol, payload):
    """After `connection_ack`, a subscribe (or legacy start) whose payload is no operation closes."""
    # given
    user = await make_user(Role.CATALOG_ADMIN)
    since = server.log_path.stat().st_size
    async with raw_socket(url, protocol) as ws:
        await acknowledged(ws, user.token)

        # when
        kind = "subscribe" if protocol == TRANSPORT_WS else "start"
        await ws.send(json.dumps({"id": "1", "type": kind, "payload": payload}))
        code = await close_code(ws)

    # then
    assert code == MALFORMED_CLOSE
    assert log_problems(server, since) == []


# --- 9. frame size before and after authentication ------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_large_frame_before_connection_ack_closes_unread(url, protocol):
    """Before authentication a frame is bounded by CREDITS_WS_MAX_MESSAGE_BYTES (64 KB): 1009."""
    # given
    user = await make_user(Role.CATALOG_ADMIN)
    params = {**auth_params(user.token), "padding": "x" * MAX_MESSAGE_BYTES}
    async with raw_socket(url, protocol) as ws:
        # when: a valid token, but in a frame over the bound
        await ws.send(json.dumps(init_message(params)))
        code = await close_code(ws)

    # then
    assert code == TOO_BIG_CLOSE


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_after_connection_ack_frames_are_bounded_by_the_body_limit(url, protocol):
    """An authenticated socket may send a 200 KB subscribe; a frame over the body limit (1 MB) closes."""
    # given
    customer = await make_customer(balance=1)
    user = await make_user(Role.CUSTOMER_ADMIN, customer)
    async with GraphQLSocket(url, protocol, user.token) as ws:
        # when: variables padded past the pre-authentication bound
        sub = await ws.subscribe(BALANCE_SEQUENCES, {"afterSequence": 0, "padding": "x" * 200_000})

        # then: served
        assert (await sub.next())["balanceChanged"]["sequence"] == 1

        # when: a frame over CREDITS_MAX_BODY_BYTES
        await ws.subscribe(BALANCE_SEQUENCES, {"afterSequence": 0, "padding": "x" * 1_100_000})

        # then
        assert await ws.closed(timeout=10) == TOO_BIG_CLOSE


# --- 9. deactivation and revocation reach open sockets at once ------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_deactivation_closes_the_users_sockets_before_the_recheck(api, url, protocol):
    """The recheck is an hour away; the deactivation's event closes the socket (4403) at once."""
    # given
    admin = await make_catalog_admin()
    customer = await make_customer(balance=1)
    user = await make_user(Role.END_USER, customer)
    async with GraphQLSocket(url, protocol, user.token) as ws:
        sub = await ws.subscribe(BALANCE_SEQUENCES, {"afterSequence": 0})
        assert (await sub.next())["balanceChanged"]["sequence"] == 1

        # when
        payload = await api(SET_USER_ACTIVE, {"id": str(user.user.id), "active": False}, token=admin.token)
        assert payload["setUserActive"]["userErrors"] == []

        # then
        assert await ws.closed(timeout=10) == FORBIDDEN_CLOSE


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_revocation_closes_the_tokens_sockets_before_the_recheck(api, url, protocol):
    """A revoked API token's socket closes at once; the same user's JWT socket stays open."""
    # given
    admin = await make_catalog_admin()
    customer = await make_customer(balance=1)
    created = (await api(CREATE_API_TOKEN, {"name": "dashboard"}, token=admin.token))["createApiToken"]
    async with (
        GraphQLSocket(url, protocol, created["token"]) as by_token,
        GraphQLSocket(url, protocol, admin.token) as by_jwt,
    ):
        # when
        revoked = await api(REVOKE_API_TOKEN, {"id": created["apiToken"]["id"]}, token=admin.token)
        assert revoked["revokeApiToken"]["userErrors"] == []

        # then
        assert await by_token.closed(timeout=10) == FORBIDDEN_CLOSE
        sub = await by_jwt.subscribe(BALANCE_SEQUENCES, {"customerId": str(customer.id), "afterSequence": 0})
        assert (await sub.next())["balanceChanged"]["sequence"] == 1


@pytest.mark.skipif(
    not IS_REDIS, reason="needs CREDITS_TEST_REDIS_URL: the test process and the server share Redis"
)
async def test_a_deactivation_in_another_process_closes_the_socket_at_once(gql, url):
    """Deactivated through this (test) process: the server's socket closes through Redis."""
    # given
    admin = await make_catalog_admin()
    user = await make_user(Role.END_USER, await make_customer(balance=1))
    async with GraphQLSocket(url, TRANSPORT_WS, user.token) as ws:
        sub = await ws.subscribe(BALANCE_SEQUENCES, {"afterSequence": 0})
        assert (await sub.next())["balanceChanged"]["sequence"] == 1

        # when
        payload = await gql(SET_USER_ACTIVE, {"id": str(user.user.id), "active": False}, token=admin.token)
        assert payload["setUserActive"]["userErrors"] == []

        # then
        assert await ws.closed(timeout=10) == FORBIDDEN_CLOSE


# --- sockets must not starve money operations -----------------------------------------------


def metric(base_url: str, name: str, **labels: str) -> float | None:
    """One sample of the server's /metrics."""
    text = httpx.get(f"{base_url}/metrics", timeout=5).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return None


async def test_sockets_beyond_the_cap_are_refused_and_money_still_moves(capped):
    """At CREDITS_MAX_WEBSOCKETS the next handshake gets 503; grants and charges go on."""
    # given: the cap's worth of authenticated sockets
    url = ws_url(capped.base_url)
    admin = await make_catalog_admin()
    customer = await make_customer(balance=10)
    user = await make_user(Role.END_USER, customer)
    service = await make_service("2.00")
    refused_before = metric(capped.base_url, "credits_websockets_refused_total", reason="capacity")
    sockets = [GraphQLSocket(url, TRANSPORT_WS, admin.token) for _ in range(MAX_SOCKETS)]
    for socket in sockets:
        await socket.__aenter__()
    try:
        # when
        with pytest.raises(InvalidStatus) as refused:
            async with GraphQLSocket(url, TRANSPORT_WS, admin.token):
                pass

        # then: a clear answer, counted, and money operations work
        assert refused.value.response.status_code == 503
        assert metric(capped.base_url, "credits_websocket_connections_max") == MAX_SOCKETS
        assert metric(capped.base_url, "credits_websockets_refused_total", reason="capacity") == (
            (refused_before or 0) + 1
        )
        async with httpx.AsyncClient(base_url=capped.base_url, timeout=30) as http:
            api = GraphQLClient(http)
            grant = {"customerId": str(customer.id), "amount": "5.00"}
            granted = await api(GRANT_CREDITS, {"input": grant}, token=admin.token)
            assert granted["grantCredits"]["userErrors"] == []
            charge = await api(REQUEST_SERVICE, {"input": {"serviceId": str(service.id)}}, token=user.token)
            assert charge["requestService"]["userErrors"] == []
            assert (await api(CUSTOMER_BALANCE, {"id": str(customer.id)}, token=admin.token))["customer"][
                "balance"
            ] == "13.00"
    finally:
        for socket in sockets:
            await socket.close()


async def test_unauthenticated_sockets_are_capped_per_address(capped):
    """Sockets that have not authenticated are capped per client address; an acknowledged one
    no longer counts against it."""
    # given: the per-address cap's worth of silent sockets
    url = ws_url(capped.base_url)
    admin = await make_catalog_admin()
    async with raw_socket(url, TRANSPORT_WS) as first, raw_socket(url, TRANSPORT_WS):
        # when
        with pytest.raises(InvalidStatus) as refused:
            async with raw_socket(url, TRANSPORT_WS):
                pass

        # then
        assert refused.value.response.status_code == 503

        # when: one of them authenticates
        await acknowledged(first, admin.token)

        # then: another may open
        async with raw_socket(url, TRANSPORT_WS) as another:
            await acknowledged(another, admin.token)


def test_the_soft_descriptor_limit_is_raised_to_the_hard_one():
    """At start the process may use every descriptor it is allowed."""
    # given: a process whose soft limit is below its hard limit
    script = (
        "import resource\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))\n"
        "from api.socket_limits import raise_descriptor_limit\n"
        "print(raise_descriptor_limit(), resource.getrlimit(resource.RLIMIT_NOFILE)[0], hard)\n"
    )

    # when
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=PROJECT_DIR, capture_output=True, text=True, check=True
    )

    # then
    returned, soft, hard = map(int, out.stdout.split())
    assert returned == soft == hard


@pytest.mark.parametrize(("descriptors", "expected"), [(20_000, 15_980), (1_024, 492), (256, 16)])
def test_the_default_socket_cap_leaves_headroom_for_http_the_database_and_redis(descriptors, expected):
    """A fifth of the descriptors (at least 512) and the database pool (20 here) stay free."""
    assert default_max_websockets(descriptors, db_pool_max=20) == expected


async def test_a_send_to_a_socket_this_side_closed_is_dropped_not_raised(app) -> None:
    """A slow subscriber's operation may still send after its socket was closed with 1013."""
    # given: a socket the server has accepted and then closed
    from starlette.websockets import WebSocket

    from api.ws_protocol import BoundedWebSocketAdapter

    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    socket = WebSocket({"type": "websocket", "path": "/graphql", "headers": []}, receive, send)
    await socket.accept()
    adapter = BoundedWebSocketAdapter(app.graphql, socket, socket)
    await adapter.close(1013, "subscriber too slow")

    # when: its operation sends an event, a `complete`, and closes again
    await adapter.send_json({"type": "next", "id": "1", "payload": {}})
    await adapter.send_json({"type": "complete", "id": "1"})
    await adapter.close(1013, "subscriber too slow")

    # then: nothing raised, and nothing went out after the one close frame
    assert [m["type"] for m in sent] == ["websocket.accept", "websocket.close"]
