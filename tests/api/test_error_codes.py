"""Request errors over HTTP: several operations need a name; refused requests answer JSON errors
with a code (413, 405, a wrong content type), never plain text."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from api.error_codes import OPERATION_NAME_REQUIRED
from api.socket_limits import refuse
from api.sse import too_many_streams
from models.user import ApiToken
from settings import Settings
from tests.client import error_codes
from tests.factories import make_catalog_admin
from tests.processes import ServerProcess
from tests.sse_client import EventStream, sse_headers
from tests.ws_client import PROTOCOLS, TRANSPORT_WS, GraphQLSocket

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
TWO_QUERIES = "query Viewer { viewer { email } } query Services { services { id } }"
MUTATION_AND_QUERY = (
    'mutation Create { createApiToken(name: "ci") { token } } query Viewer { viewer { email } }'
)


def auth(token: str, accept: str = JSON) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": accept}


# --- choosing the operation -----------------------------------------------------------------


@pytest.mark.parametrize("accept", [JSON, GRAPHQL_RESPONSE])
async def test_several_operations_and_no_name_are_a_request_error(
    http: httpx.AsyncClient, accept: str
) -> None:
    # given: a caller and a document of two queries
    admin = await make_catalog_admin()

    # when: it is sent without operationName
    response = await http.post("/graphql", json={"query": TWO_QUERIES}, headers=auth(admin.token, accept))

    # then: 400, the spec's message and a code, and nothing ran (no data)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith(accept)
    assert response.json() == {
        "errors": [
            {"message": OPERATION_NAME_REQUIRED, "extensions": {"code": "OPERATION_RESOLUTION_FAILURE"}}
        ]
    }


async def test_a_mutation_beside_a_query_does_not_run_without_a_name(http: httpx.AsyncClient) -> None:
    # given: a document whose first operation is a mutation
    admin = await make_catalog_admin()

    # when: it is sent without operationName
    response = await http.post("/graphql", json={"query": MUTATION_AND_QUERY}, headers=auth(admin.token))

    # then: refused, and the mutation did not run (Strawberry alone would have run the first operation)
    assert error_codes(response.json()) == ["OPERATION_RESOLUTION_FAILURE"]
    assert await ApiToken.all().count() == 0


async def test_operation_name_picks_the_operation(http: httpx.AsyncClient) -> None:
    # given
    admin = await make_catalog_admin()

    # when: the second operation is named
    body = {"query": TWO_QUERIES, "operationName": "Services"}
    response = await http.post("/graphql", json=body, headers=auth(admin.token))

    # then: that one ran, and only that one
    assert response.status_code == 200
    assert list(response.json()["data"]) == ["services"]


@pytest.mark.parametrize("accept", [JSON, GRAPHQL_RESPONSE])
async def test_an_unknown_operation_name_is_a_request_error(http: httpx.AsyncClient, accept: str) -> None:
    # given
    admin = await make_catalog_admin()

    # when: the name is none of the document's
    body = {"query": TWO_QUERIES, "operationName": "Nope"}
    response = await http.post("/graphql", json=body, headers=auth(admin.token, accept))

    # then: a JSON request error with a code, not Strawberry's plain text
    assert response.status_code == 400
    assert response.headers["content-type"].startswith(accept)
    assert response.json() == {
        "errors": [
            {
                "message": 'Unknown operation named "Nope".',
                "extensions": {"code": "OPERATION_RESOLUTION_FAILURE"},
            }
        ]
    }


async def test_several_operations_and_no_name_over_sse_end_with_a_coded_error(
    http: httpx.AsyncClient,
) -> None:
    # given
    admin = await make_catalog_admin()
    # (a query first: were it run, the stream would end with its data instead of hanging)
    query = "query A { viewer { email } } subscription B { notificationAdded { id } }"

    # when: the stream is asked for without operationName
    async with http.stream(
        "POST", "/graphql", json={"query": query}, headers=sse_headers(admin.token)
    ) as response:
        events = [e for e in await EventStream(response).rest() if e.kind != "comment"]

    # then: one error result, then complete
    assert [e.kind for e in events] == ["next", "complete"]
    assert error_codes(events[0].data) == ["OPERATION_RESOLUTION_FAILURE"]
    assert events[0].data["errors"][0]["message"] == OPERATION_NAME_REQUIRED


@pytest.mark.parametrize(
    ("query", "variables", "code"),
    [
        ("subscription { notificationAdded {", None, "GRAPHQL_PARSE_FAILED"),
        ("subscription { nope }", None, "GRAPHQL_VALIDATION_FAILED"),
        (
            "subscription ($id: ID!) { balanceChanged(customerId: $id) { balance } }",
            {"id": None},
            "BAD_USER_INPUT",
        ),
    ],
    ids=["parse", "validation", "variables"],
)
async def test_request_errors_over_sse_carry_their_code(
    http: httpx.AsyncClient, query: str, variables: dict | None, code: str
) -> None:
    # given
    admin = await make_catalog_admin()

    # when
    body = {"query": query, "variables": variables}
    async with http.stream("POST", "/graphql", json=body, headers=sse_headers(admin.token)) as response:
        events = [e for e in await EventStream(response).rest() if e.kind != "comment"]

    # then
    assert error_codes(events[0].data) == [code]


# --- refused before any GraphQL ran ---------------------------------------------------------


@pytest.mark.parametrize(("accept", "content_type"), [(JSON, JSON), (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE)])
async def test_an_oversized_body_answers_413_in_json(
    http: httpx.AsyncClient, settings: Settings, accept: str, content_type: str
) -> None:
    # given: a body one byte over CREDITS_MAX_BODY_BYTES
    body = b'{"query": "{ __typename }", "x": "' + b"a" * settings.max_body_bytes + b'"}'

    # when
    response = await http.post("/graphql", content=body, headers={"Content-Type": JSON, "Accept": accept})

    # then
    assert response.status_code == 413
    assert response.headers["content-type"].startswith(content_type)
    assert response.json() == {
        "errors": [{"message": "Content Too Large", "extensions": {"code": "PAYLOAD_TOO_LARGE"}}]
    }


async def test_an_oversized_chunked_body_answers_413_in_json(
    http: httpx.AsyncClient, settings: Settings
) -> None:
    # given: a body without Content-Length, one byte over the limit
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"query": "{ __typename }", "x": "' + b"a" * settings.max_body_bytes + b'"}'

    # when
    response = await http.post("/graphql", content=chunks(), headers={"Content-Type": JSON})

    # then: the limit stops the reading; the answer is JSON all the same
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert error_codes(response.json()) == ["PAYLOAD_TOO_LARGE"]


async def test_a_wrong_method_answers_405_in_json(http: httpx.AsyncClient) -> None:
    # when
    response = await http.put("/graphql", json={"query": "{ __typename }"})

    # then: Starlette's 405 with its Allow header, as a GraphQL error
    assert response.status_code == 405
    assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD", "POST"}
    assert response.headers["content-type"] == JSON
    assert error_codes(response.json()) == ["BAD_REQUEST"]


@pytest.mark.parametrize(
    ("content_type", "content"),
    [("text/plain", b"{ __typename }"), ("application/x-www-form-urlencoded", b"query=%7B__typename%7D")],
)
async def test_an_unsupported_content_type_answers_json(
    http: httpx.AsyncClient, content_type: str, content: bytes
) -> None:
    # when
    response = await http.post("/graphql", content=content, headers={"Content-Type": content_type})

    # then
    assert response.status_code == 400
    assert response.json() == {
        "errors": [{"message": "Unsupported content type", "extensions": {"code": "BAD_REQUEST"}}]
    }


async def test_other_paths_keep_plain_text_errors(http: httpx.AsyncClient) -> None:
    # when: a method /healthz does not serve
    response = await http.post("/healthz")

    # then: Starlette's own answer
    assert response.status_code == 405
    assert response.headers["content-type"].startswith("text/plain")


# --- over both websocket protocols (a real server) -------------------------------------------


@pytest.fixture(scope="module")
def server(server_env: dict[str, str]) -> Iterator[ServerProcess]:
    """One real server for the module's websocket tests."""
    with ServerProcess(server_env) as process:
        yield process


@pytest.mark.slow
@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(
    ("query", "variables", "code"),
    [
        ("subscription { nope }", None, "GRAPHQL_VALIDATION_FAILED"),
        (
            "subscription ($id: ID!) { balanceChanged(customerId: $id) { balance } }",
            {"id": None},
            "BAD_USER_INPUT",
        ),
    ],
    ids=["validation", "variables"],
)
async def test_request_errors_over_websockets_carry_their_code(
    url: str, protocol: str, query: str, variables: dict | None, code: str
) -> None:
    # given: an authenticated socket
    admin = await make_catalog_admin()
    async with GraphQLSocket(url, protocol, admin.token) as ws:
        # when: an operation that cannot run is sent
        subscription = await ws.subscribe(query, variables)

        # then: its error carries the code
        assert [e.get("extensions", {}).get("code") for e in await subscription.errors()] == [code]


@pytest.mark.slow
@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_several_operations_and_no_name_over_websockets_are_refused(url: str, protocol: str) -> None:
    # given
    admin = await make_catalog_admin()
    query = "subscription A { notificationAdded { id } } subscription B { notificationAdded { id } }"
    async with GraphQLSocket(url, protocol, admin.token) as ws:
        # when: the operation is sent without operationName
        subscription = await ws.subscribe(query)
        message = await subscription.message()

    # then: graphql-transport-ws closes with 4400 and the reason (as for an unknown name); the
    # legacy protocol answers an `error` with the code
    if protocol == TRANSPORT_WS:
        assert (message["type"], message["code"], message["reason"]) == (
            "closed",
            4400,
            OPERATION_NAME_REQUIRED,
        )
    else:
        assert message["type"] == "error"
        assert message["payload"] == {
            "message": OPERATION_NAME_REQUIRED,
            "extensions": {"code": "OPERATION_RESOLUTION_FAILURE"},
        }


@pytest.mark.slow
@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_operation_name_picks_the_subscription_over_websockets(url: str, protocol: str) -> None:
    # given
    admin = await make_catalog_admin()
    query = "subscription A { creditAlerts { id } } subscription B { notificationAdded { id } }"
    async with GraphQLSocket(url, protocol, admin.token) as ws:
        # when: one of them is named
        subscription = await ws.subscribe(query, operation_name="B")

        # then: it runs (silent until a notification), where the document alone is refused
        await subscription.expect_silence()


# --- capacity refusals --------------------------------------------------------------------


async def test_a_refused_stream_carries_a_code() -> None:
    # when: the process or a user holds as many streams as it may
    response = too_many_streams()

    # then: 503, Retry-After, and a coded error
    assert (response.status_code, response.headers["retry-after"]) == (503, "5")
    assert error_codes(json.loads(response.body)) == ["SERVICE_UNAVAILABLE"]


async def test_a_refused_websocket_handshake_carries_a_code() -> None:
    # given: a handshake where the server may answer with HTTP
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "websocket.connect"}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "websocket",
        "path": "/graphql",
        "headers": [],
        "extensions": {"websocket.http.response": {}},
    }

    # when: the process holds as many sockets as it may
    status = await refuse(scope, receive, send)

    # then: 503 with a coded error
    assert status == 503
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "websocket.http.response.body")
    assert error_codes(json.loads(body)) == ["SERVICE_UNAVAILABLE"]


@pytest.mark.slow
@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_the_subscription_limit_error_carries_a_code(
    url: str, protocol: str, settings: Settings
) -> None:
    # given: a socket running as many operations as one socket may
    admin = await make_catalog_admin()
    async with GraphQLSocket(url, protocol, admin.token) as ws:
        for _ in range(settings.max_subscriptions_per_socket):
            await ws.subscribe("subscription { notificationAdded { id } }")

        # when: one more is started
        extra = await ws.subscribe("subscription { notificationAdded { id } }")

        # then: Strawberry's own refusal, with a code
        errors = await extra.errors()
    assert [(e["message"], e["extensions"]["code"]) for e in errors] == [
        ("Subscription limit reached", "BAD_REQUEST")
    ]
