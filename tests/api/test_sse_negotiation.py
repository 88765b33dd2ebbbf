"""Choosing the answer's form: an event stream only when the client prefers `text/event-stream`;
event streams end their lines with LF."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from api.sse import REVOKED_WORDS, SHUTDOWN_WORDS, TOO_SLOW_WORDS, prefers_event_stream, sse_transport
from tests.documents import LOGIN
from tests.factories import PASSWORD, make_catalog_admin

EVENT_STREAM = "text/event-stream"
GRAPHQL_RESPONSE_TYPE = "application/graphql-response+json; charset=utf-8"
# What @urql/core (4.0 to 6.0) sends with every query and mutation; its subscriptions send the second.
URQL = (
    "application/graphql-response+json, application/graphql+json, application/json,"
    " text/event-stream, multipart/mixed"
)
URQL_SUBSCRIPTION = "text/event-stream, multipart/mixed"
NOTIFICATION_ADDED = "subscription { notificationAdded { id } }"
VIEWER = "{ viewer { email role } }"


async def post(http: httpx.AsyncClient, query: str, accept: str, **more: object) -> httpx.Response:
    """POST one operation with the given Accept (and e.g. `token`, `variables`); the whole answer.

    In-process, a response is read to its end: an event stream that should not be there never ends.
    """
    token = more.pop("token", None)
    headers = {"Accept": accept} | ({"Authorization": f"Bearer {token}"} if token else {})
    async with asyncio.timeout(10):
        return await http.post("/graphql", json={"query": query, **more}, headers=headers)


@pytest.mark.parametrize(
    ("accept", "preferred"),
    [
        (EVENT_STREAM, True),
        (URQL_SUBSCRIPTION, True),
        (f"{EVENT_STREAM}, application/json", True),
        (f"application/json;q=0.9, {EVENT_STREAM}", True),
        (f"{EVENT_STREAM.upper()}; charset=utf-8", True),
        (URQL, False),
        (f"application/json, {EVENT_STREAM}", False),
        (f"{EVENT_STREAM};q=0.5, application/json", False),
        (f"*/*, {EVENT_STREAM}", False),
        (f"{EVENT_STREAM};q=0", False),
        (f"{EVENT_STREAM};q=x", False),
        ("", False),
    ],
)
def test_an_event_stream_is_chosen_by_preference_not_presence(accept, preferred):
    """The highest q-value wins, the earliest of equals; listing it somewhere is not enough."""
    assert prefers_event_stream(accept) is preferred


async def test_urql_logs_in_without_a_token(http):
    """urql's login mutation (no token, event-stream fourth in Accept): JSON, not a 401 stream refusal."""
    # given
    admin = await make_catalog_admin()

    # when
    response = await post(http, LOGIN, URQL, variables={"email": admin.user.email, "password": PASSWORD})

    # then
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == GRAPHQL_RESPONSE_TYPE
    login = response.json()["data"]["login"]
    assert login["userErrors"] == []
    assert login["user"]["email"] == admin.user.email


async def test_a_query_with_urqls_accept_answers_json(http):
    """A query with urql's Accept: one JSON answer as in "GraphQL over HTTP"."""
    # given
    admin = await make_catalog_admin()

    # when
    response = await post(http, VIEWER, URQL, token=admin.token)

    # then
    assert response.headers["content-type"] == GRAPHQL_RESPONSE_TYPE
    assert response.json() == {"data": {"viewer": {"email": admin.user.email, "role": "CATALOG_ADMIN"}}}


async def test_a_subscription_that_does_not_prefer_a_stream_is_a_json_request_error(http):
    """A subscription with urql's query Accept: 400 in JSON, nothing streamed (urql's own
    subscriptions put `text/event-stream` first)."""
    # given
    admin = await make_catalog_admin()

    # when
    response = await post(http, NOTIFICATION_ADDED, URQL, token=admin.token)

    # then
    assert response.status_code == 400
    assert response.headers["content-type"] == GRAPHQL_RESPONSE_TYPE
    assert "text/event-stream" in response.json()["errors"][0]["message"]


async def test_a_query_that_prefers_a_stream_is_streamed_with_lf_line_ends(http):
    """A query whose client prefers an event stream: `next` and `complete`, lines ended by LF only."""
    # given
    admin = await make_catalog_admin()

    # when
    response = await post(http, VIEWER, f"{EVENT_STREAM}, application/json", token=admin.token)

    # then
    assert response.headers["content-type"].startswith(EVENT_STREAM)
    viewer = {"data": {"viewer": {"email": admin.user.email, "role": "CATALOG_ADMIN"}}}
    data = json.dumps(viewer, separators=(",", ":"))
    assert response.content == f"event: next\ndata: {data}\n\nevent: complete\ndata: \n\n".encode()


@pytest.mark.parametrize(
    "words",
    [
        pytest.param(sse_transport(15)().heartbeat_message(json.dumps), id="heartbeat"),
        pytest.param(TOO_SLOW_WORDS, id="too-slow"),
        pytest.param(REVOKED_WORDS, id="revoked"),
        pytest.param(SHUTDOWN_WORDS, id="shutdown"),
    ],
)
def test_comments_and_last_words_end_their_lines_with_lf(words):
    """Heartbeats and the stream's last words: LF line ends, a blank line after each event."""
    assert "\r" not in words
    assert words.endswith("\n\n")
