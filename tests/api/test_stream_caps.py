"""Caps on the streams of one user and of one customer (issue 18 §5), over both websocket protocols
and SSE against a real server: refused with 1013 or 503 and Retry-After, counted in /metrics, and
given back on every way a stream ends."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
import pytest

from models.user import Role
from tests.api.test_hostile_sockets import metric
from tests.client import GraphQLClient
from tests.documents import CREATE_API_TOKEN, REVOKE_API_TOKEN
from tests.factories import make_catalog_admin, make_customer, make_user
from tests.polling import eventually
from tests.processes import ServerProcess
from tests.resolvers.test_subscriptions import NOTIFICATION_ADDED
from tests.sse_client import subscribe
from tests.ws_client import LEGACY_WS, TRANSPORT_WS, ConnectionRejected, GraphQLSocket, ws_url

pytestmark = pytest.mark.slow

PER_USER = 2
PER_CUSTOMER = 3
SSE = "sse"
KINDS = (TRANSPORT_WS, LEGACY_WS, SSE)
TRY_AGAIN_LATER = 1013
MALFORMED_CLOSE = 4400


@pytest.fixture(scope="module")
def server(server_env: dict[str, str]) -> Iterator[ServerProcess]:
    """A server that lets a user hold two streams and a customer three (the process cap is far)."""
    env = {
        **server_env,
        "CREDITS_MAX_STREAMS_PER_USER": str(PER_USER),
        "CREDITS_MAX_STREAMS_PER_CUSTOMER": str(PER_CUSTOMER),
    }
    with ServerProcess(env) as process:
        yield process


class Refused(Exception):
    """The server turned a stream down: close code or HTTP status, reason, Retry-After."""

    def __init__(self, code: int | None, reason: str, retry_after: str | None = None) -> None:
        super().__init__(f"refused: {code} {reason}")
        self.code = code
        self.reason = reason
        self.retry_after = retry_after


@asynccontextmanager
async def stream(server: ServerProcess, kind: str, token: str) -> AsyncIterator[Any]:
    """An open, authenticated stream of `kind` (an acknowledged socket, or an SSE response), or Refused."""
    if kind == SSE:
        async with (
            httpx.AsyncClient(base_url=server.base_url, timeout=30) as http,
            subscribe(http, NOTIFICATION_ADDED, {}, token) as events,
        ):
            response = events.response
            if response.status_code != 200:
                body = json.loads(await response.aread())
                raise Refused(
                    response.status_code, body["errors"][0]["message"], response.headers.get("retry-after")
                )
            yield events
        return
    socket = GraphQLSocket(ws_url(server.base_url), kind, token)
    try:
        await socket.__aenter__()
    except ConnectionRejected as rejected:
        raise Refused(rejected.code, socket.close_reason) from None
    try:
        yield socket
    finally:
        await socket.close()


async def refusal(server: ServerProcess, kind: str, token: str) -> Refused:
    """The refusal of one more stream of `kind` (fails when the stream opens)."""
    with pytest.raises(Refused) as refused:
        async with stream(server, kind, token):
            pass
    return refused.value


def assert_try_again_later(refused: Refused, kind: str, whose: str) -> None:
    """1013 with the reason on a websocket; 503 with Retry-After on SSE, as the process cap answers."""
    assert refused.reason == f"too many open streams for this {whose}; try again later"
    if kind == SSE:
        assert (refused.code, refused.retry_after) == (503, "5")
    else:
        assert refused.code == TRY_AGAIN_LATER


def refused_count(server: ServerProcess, reason: str) -> float:
    """`credits_websockets_refused_total` for `reason` (user, customer, capacity, address)."""
    return metric(server.base_url, "credits_websockets_refused_total", reason=reason) or 0


async def nothing_counted(server: ServerProcess) -> None:
    """Wait until no stream is open and no user or customer is counted as holding one."""

    async def empty() -> bool:
        samples = (
            metric(server.base_url, "credits_stream_holders", kind="user"),
            metric(server.base_url, "credits_stream_holders", kind="customer"),
            metric(server.base_url, "credits_websocket_connections"),
            metric(server.base_url, "credits_sse_streams"),
        )
        return samples == (0, 0, 0, 0)

    await eventually(empty, 10, "every stream to be given back")


async def open_streams(
    streams: AsyncExitStack, server: ServerProcess, kind: str, token: str, count: int
) -> None:
    """Open `count` streams that stay open until `streams` closes."""
    for _ in range(count):
        await streams.enter_async_context(stream(server, kind, token))


# --- the caps -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_one_user_at_its_cap_leaves_room_for_its_colleagues_and_other_customers(server, kind):
    """A user at its cap gets 1013 (or 503); a second user of its customer and another customer's
    user still get in, until the customer's cap; closed streams are given back in full."""
    # given: Acme's users Ann and Bob, Globex's Gil; Ann holds her two streams
    acme, globex = await make_customer(), await make_customer()
    ann, bob = await make_user(Role.END_USER, acme), await make_user(Role.CUSTOMER_ADMIN, acme)
    gil = await make_user(Role.END_USER, globex)
    refused_users, refused_customers = refused_count(server, "user"), refused_count(server, "customer")
    async with AsyncExitStack() as streams:
        await open_streams(streams, server, kind, ann.token, PER_USER)

        # when: Ann opens one more
        refused = await refusal(server, kind, ann.token)

        # then: refused, and counted as the user's cap
        assert_try_again_later(refused, kind, "user")
        assert refused_count(server, "user") == refused_users + 1

        # when: Bob (same customer) and Gil (another customer) open theirs
        await open_streams(streams, server, kind, bob.token, 1)  # Acme now holds its three
        await open_streams(streams, server, kind, gil.token, PER_USER)

        # then: they got in; Bob's second is refused by Acme's cap, though he holds one
        refused = await refusal(server, kind, bob.token)
        assert_try_again_later(refused, kind, "customer")
        assert refused_count(server, "customer") == refused_customers + 1

    # when: every stream is closed
    await nothing_counted(server)

    # then: the caps are whole again
    async with AsyncExitStack() as streams:
        await open_streams(streams, server, kind, ann.token, PER_USER)
        await open_streams(streams, server, kind, bob.token, PER_CUSTOMER - PER_USER)
        assert_try_again_later(await refusal(server, kind, bob.token), kind, "customer")
    await nothing_counted(server)


async def test_sockets_and_event_streams_of_one_user_share_its_cap(server):
    """One socket of each protocol holds the user's two places; an event stream is refused."""
    # given
    customer = await make_customer()
    user = await make_user(Role.END_USER, customer)
    async with AsyncExitStack() as streams:
        await open_streams(streams, server, TRANSPORT_WS, user.token, 1)
        await open_streams(streams, server, LEGACY_WS, user.token, 1)

        # when / then
        assert_try_again_later(await refusal(server, SSE, user.token), SSE, "user")
    await nothing_counted(server)


async def test_a_catalog_administrator_has_the_per_user_cap_only(server):
    """Without a customer, an administrator's streams count against itself alone."""
    # given: an administrator at its cap, no customer involved
    admin = await make_catalog_admin()
    async with AsyncExitStack() as streams:
        await open_streams(streams, server, TRANSPORT_WS, admin.token, PER_USER)

        # when / then
        assert_try_again_later(await refusal(server, SSE, admin.token), SSE, "user")
        assert metric(server.base_url, "credits_stream_holders", kind="customer") == 0
    await nothing_counted(server)


# --- no exit path leaves a stream counted ---------------------------------------------------


async def _end_by_the_server(server: ServerProcess, kind: str, token: str) -> None:
    """A stream the server ends after authentication: a malformed frame (4400), a refused document."""
    if kind == SSE:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
            async with subscribe(http, "subscription { noSuchField }", {}, token) as events:
                await events.response.aread()
                assert "noSuchField" in events.response.text
        return
    async with stream(server, kind, token) as socket:
        await socket.send({"type": 1})
        assert await socket.closed(10) == MALFORMED_CLOSE


async def _ended_by_the_server(server: ServerProcess) -> None:
    """Wait until the server has ended every stream, while the client still holds its side."""

    async def ended() -> bool:
        sockets = metric(server.base_url, "credits_websocket_connections")
        return (sockets, metric(server.base_url, "credits_sse_streams")) == (0, 0)

    await eventually(ended, 10, "the server to end the streams")


@pytest.mark.parametrize("kind", KINDS)
async def test_no_way_a_stream_ends_leaves_it_counted(server, kind):
    """Closed by the client, refused at the cap, ended by the server, ended by a revocation:
    afterwards nothing is counted, and the user opens its whole cap again."""
    # given: a customer administrator with an API token
    customer = await make_customer()
    user = await make_user(Role.CUSTOMER_ADMIN, customer)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        api = GraphQLClient(http)
        created = (await api(CREATE_API_TOKEN, {"name": "wall"}, token=user.token))["createApiToken"]

        # when: streams end every way they can
        async with AsyncExitStack() as streams:
            await open_streams(streams, server, kind, user.token, PER_USER)  # closed by the client
            await refusal(server, kind, user.token)
        await _end_by_the_server(server, kind, user.token)
        async with AsyncExitStack() as streams:
            await open_streams(streams, server, kind, created["token"], PER_USER)
            await refusal(server, kind, created["token"])
            revoked = await api(REVOKE_API_TOKEN, {"id": created["apiToken"]["id"]}, token=user.token)
            assert revoked["revokeApiToken"]["userErrors"] == []
            await _ended_by_the_server(server)

    # then: nothing is counted, and the cap is whole
    await nothing_counted(server)
    async with AsyncExitStack() as streams:
        await open_streams(streams, server, kind, user.token, PER_USER)
        assert_try_again_later(await refusal(server, kind, user.token), kind, "user")
    await nothing_counted(server)
