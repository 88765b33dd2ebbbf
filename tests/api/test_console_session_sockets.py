"""The console's cookie session on websockets and event streams: own origin and CSRF token only;
logout closes them (4403)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from models.user import Role
from tests.factories import PASSWORD, make_customer, make_user
from tests.processes import ServerProcess
from tests.ws_client import TRANSPORT_WS, ConnectionRejected, GraphQLSocket, auth_params

SIBLING = "http://localhost:1"  # another origin, allowed to open sockets with bearer tokens
VIEWER_EVENTS = "subscription { notificationAdded { id } }"


@pytest.fixture(scope="module")
def server(server_env: dict[str, str]) -> Iterator[ServerProcess]:
    """A real server that lets one other origin open websockets (with bearer tokens)."""
    with ServerProcess({**server_env, "CREDITS_CORS_ORIGINS": json.dumps([SIBLING])}) as process:
        yield process


@pytest.fixture
async def console(server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    """The console's page: its origin, its cookie jar."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        yield http


async def start_session(console: httpx.AsyncClient) -> tuple[str, str, str]:
    """A customer administrator's console session: (cookie header, CSRF token, bearer JWT)."""
    login = await make_user(Role.CUSTOMER_ADMIN, await make_customer())
    origin = str(console.base_url).rstrip("/")
    response = await console.post(
        "/console/session",
        json={"email": login.user.email, "password": PASSWORD},
        headers={"Origin": origin, "Sec-Fetch-Site": "same-origin"},
    )
    assert response.status_code == 200, response.text
    token, csrf = console.cookies["credits_session"], console.cookies["credits_csrf"]
    return f"credits_session={token}; credits_csrf={csrf}", csrf, login.token


def socket(server: ServerProcess, origin: str, cookie: str, params: dict[str, Any]) -> GraphQLSocket:
    """A browser's websocket from `origin`, carrying the cookies the browser would attach."""
    return GraphQLSocket(
        server.base_url, TRANSPORT_WS, params=params, origin=origin, additional_headers={"Cookie": cookie}
    )


async def test_a_socket_from_the_consoles_origin_with_the_csrf_token_is_accepted(
    server: ServerProcess, console: httpx.AsyncClient
) -> None:
    # given a console session
    cookie, csrf, _ = await start_session(console)

    # when the console's page opens a socket with the CSRF token in connection_init
    async with socket(server, server.base_url, cookie, {"csrfToken": csrf}) as ws:
        subscription = await ws.subscribe(VIEWER_EVENTS)

        # then the socket is authenticated and runs the user's subscription
        await subscription.expect_silence(0.2)
        assert not ws.is_closed


async def test_the_cookie_without_the_csrf_token_is_refused(
    server: ServerProcess, console: httpx.AsyncClient
) -> None:
    # given a console session
    cookie, csrf, _ = await start_session(console)

    # when a socket carries the cookie but no CSRF token, or a wrong one
    for params in ({}, {"csrfToken": csrf + "x"}):
        with pytest.raises(ConnectionRejected) as rejected:
            async with socket(server, server.base_url, cookie, params):
                pass

        # then it is refused like a socket without a token
        assert rejected.value.code == 4403


async def test_an_allowed_cross_origin_page_may_use_bearer_tokens_but_never_the_cookie(
    server: ServerProcess, console: httpx.AsyncClient
) -> None:
    # given a console session, and a page on an origin allowed to open sockets (CREDITS_CORS_ORIGINS)
    cookie, csrf, jwt = await start_session(console)

    # when that page opens a socket with the cookie and the CSRF token (it can read cookies of this
    # host: cookies ignore ports), and another with a bearer token
    with pytest.raises(ConnectionRejected) as rejected:
        async with socket(server, SIBLING, cookie, {"csrfToken": csrf}):
            pass
    async with socket(server, SIBLING, "", auth_params(jwt)) as bearer:
        accepted = not bearer.is_closed

    # then the cookie is refused (4403), the bearer token works as before
    assert rejected.value.code == 4403
    assert accepted


async def test_a_foreign_origins_upgrade_is_refused(
    server: ServerProcess, console: httpx.AsyncClient
) -> None:
    # given a console session
    cookie, csrf, _ = await start_session(console)

    # when a page of another site opens a socket (cross-site websocket hijacking)
    with pytest.raises(InvalidStatus) as refused:
        async with socket(server, "http://evil.example", cookie, {"csrfToken": csrf}):
            pass

    # then the handshake itself is refused
    assert refused.value.response.status_code == 403


async def test_logging_out_closes_the_sessions_open_sockets(
    server: ServerProcess, console: httpx.AsyncClient
) -> None:
    # given a console session with an open socket
    cookie, csrf, _ = await start_session(console)
    async with socket(server, server.base_url, cookie, {"csrfToken": csrf}) as ws:
        # when the console logs out (in another tab)
        response = await console.delete(
            "/console/session",
            headers={"Origin": server.base_url, "Sec-Fetch-Site": "same-origin", "X-CSRF-Token": csrf},
        )
        assert response.status_code == 204

        # then the socket is closed with 4403 at once
        assert await ws.closed(timeout=5) == 4403


async def test_an_event_stream_accepts_the_cookie_only_with_the_csrf_header(
    server: ServerProcess, console: httpx.AsyncClient
) -> None:
    # given a console session
    cookie, csrf, _ = await start_session(console)
    query = {"query": VIEWER_EVENTS}
    stream = {"Origin": server.base_url, "Accept": "text/event-stream", "Cookie": cookie}

    # when the console's page asks for a stream without and with the CSRF header
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        refused = await http.post("/graphql", json=query, headers=stream)
        async with http.stream(
            "POST", "/graphql", json=query, headers={**stream, "X-CSRF-Token": csrf}
        ) as opened:
            status = opened.status_code

    # then only the second is a stream
    assert refused.status_code == 401
    assert status == 200
