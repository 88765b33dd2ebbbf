"""The HTTP surface: health probes, GraphiQL, GET queries, body limit and error masking."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

import resolvers.accounts
import resolvers.queries
from infra import db
from models.user import ApiToken, Role
from settings import Settings
from tests.client import GraphQLClient, error_codes
from tests.documents import CREDIT_SETTINGS, VIEWER
from tests.factories import make_catalog_admin, make_customer, make_user

# One line: the masked-error test asserts the error's location in this very text.
CREATE_CI_TOKEN = 'mutation { createApiToken(name: "ci") { token apiToken { id } userErrors { code } } }'


def _production_settings(settings: Settings) -> Settings:
    return Settings(
        env="production",
        data_dir=settings.data_dir,
        database_url=settings.effective_database_url,
        jwt_secret=settings.resolved_jwt_secret(),
        admin_email="root@example.com",
        admin_password="root-password",
    )


# --- probes --------------------------------------------------------------------------------


async def test_healthz_answers_200(http: httpx.AsyncClient) -> None:
    """The process is up."""
    # when
    response = await http.get("/healthz")

    # then
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_answers_200_with_the_database_up(http: httpx.AsyncClient) -> None:
    """The database answers."""
    # when
    response = await http.get("/readyz")

    # then
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "database": "ok", "eventBus": "ok"}


async def test_readyz_answers_503_while_the_database_is_unreachable(
    http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failing ping makes the service not ready, while /healthz stays up."""

    # given
    async def unreachable() -> bool:
        return False

    monkeypatch.setattr(db, "ping", unreachable)

    # when
    response = await http.get("/readyz")

    # then
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "unreachable", "eventBus": "ok"}
    assert (await http.get("/healthz")).status_code == 200


async def test_readyz_answers_503_while_the_event_bus_is_down(
    http: httpx.AsyncClient, app, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A disconnected event bus makes the service not ready."""
    # given
    monkeypatch.setattr(app.state.runtime.bus.connected, "is_set", lambda: False)

    # when
    response = await http.get("/readyz")

    # then
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "ok", "eventBus": "unreachable"}


# --- GraphiQL and GET ----------------------------------------------------------------------


async def test_graphiql_is_served_to_a_browser_in_development(http: httpx.AsyncClient) -> None:
    """GET /graphql with Accept: text/html gives the GraphiQL page."""
    # when
    response = await http.get("/graphql", headers={"Accept": "text/html"})

    # then
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<title>GraphiQL · Credits</title>" in response.text  # our page, vendored assets (test_console.py)


async def test_graphiql_is_not_served_in_production(settings: Settings) -> None:
    """Production has no IDE page."""
    # given
    from api.app import create_app

    app = create_app(_production_settings(settings))

    # when
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        response = await http.get("/graphql", headers={"Accept": "text/html"})

    # then
    assert response.status_code == 404
    assert "GraphiQL" not in response.text


async def test_a_query_over_get_works(http: httpx.AsyncClient) -> None:
    """`?query=` with a bearer token answers like a POST."""
    # given
    admin = await make_catalog_admin()

    # when
    response = await http.get(
        "/graphql",
        params={"query": VIEWER},
        headers={"Accept": "application/json", "Authorization": f"Bearer {admin.token}"},
    )

    # then
    assert response.status_code == 200
    assert response.json() == {"data": {"viewer": {"id": str(admin.user.id), "role": "CATALOG_ADMIN"}}}


async def test_a_query_over_get_takes_variables(http: httpx.AsyncClient) -> None:
    """`variables` travel as JSON in the query string."""
    # given
    customer = await make_customer("Acme", balance=12)
    login = await make_user(Role.CUSTOMER_ADMIN, customer)

    # when
    response = await http.get(
        "/graphql",
        params={
            "query": "query ($id: ID) { customer(id: $id) { name balance } }",
            "variables": json.dumps({"id": str(customer.id)}),
        },
        headers={"Accept": "application/json", "Authorization": f"Bearer {login.token}"},
    )

    # then
    assert response.status_code == 200
    assert response.json() == {"data": {"customer": {"name": "Acme", "balance": "12.00"}}}


async def test_a_mutation_over_get_is_refused(http: httpx.AsyncClient) -> None:
    """GET must not change state (a link or an <img> could otherwise do it)."""
    # given
    admin = await make_catalog_admin()

    # when
    response = await http.get(
        "/graphql",
        params={"query": CREATE_CI_TOKEN},
        headers={"Accept": "application/json", "Authorization": f"Bearer {admin.token}"},
    )

    # then
    assert response.status_code == 400
    error = {"message": "mutations are not allowed when using GET", "extensions": {"code": "BAD_REQUEST"}}
    assert response.json() == {"errors": [error]}
    assert await ApiToken.all().count() == 0


# --- body limit ----------------------------------------------------------------------------


def _padded_body(size: int) -> bytes:
    """A valid GraphQL request of exactly `size` bytes (padding in an unused variable)."""
    empty = json.dumps({"query": "{ __typename }", "variables": {"pad": ""}}).encode()
    body = json.dumps({"query": "{ __typename }", "variables": {"pad": "x" * (size - len(empty))}}).encode()
    assert len(body) == size
    return body


async def test_a_body_at_the_limit_is_accepted(http: httpx.AsyncClient, settings: Settings) -> None:
    """Exactly CREDITS_MAX_BODY_BYTES is still served."""
    # when
    response = await http.post(
        "/graphql",
        content=_padded_body(settings.max_body_bytes),
        headers={"Content-Type": "application/json"},
    )

    # then
    assert response.status_code == 200
    assert response.json() == {"data": {"__typename": "Query"}}


async def test_a_body_over_the_limit_gets_413(http: httpx.AsyncClient, settings: Settings) -> None:
    """One byte more than CREDITS_MAX_BODY_BYTES is refused before GraphQL sees it."""
    # when
    response = await http.post(
        "/graphql",
        content=_padded_body(settings.max_body_bytes + 1),
        headers={"Content-Type": "application/json"},
    )

    # then
    assert response.status_code == 413


async def test_a_streamed_body_over_the_limit_gets_413(http: httpx.AsyncClient, settings: Settings) -> None:
    """Without Content-Length (chunked), the limit still holds."""
    # given
    body = _padded_body(settings.max_body_bytes + 1)

    async def chunks():
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    # when
    response = await http.post("/graphql", content=chunks(), headers={"Content-Type": "application/json"})

    # then
    assert response.status_code == 413


# --- errors --------------------------------------------------------------------------------


async def test_a_syntax_error_reaches_the_client_unmasked(gql: GraphQLClient) -> None:
    """The parser's message and location."""
    # when
    body = await gql.raw("query { viewer {")

    # then
    assert body == {
        "data": None,
        "errors": [
            {
                "message": "Syntax Error: Expected Name, found <EOF>.",
                "locations": [{"line": 1, "column": 17}],
                "extensions": {"code": "GRAPHQL_PARSE_FAILED"},
            }
        ],
    }


async def test_a_validation_error_reaches_the_client_unmasked(gql: GraphQLClient) -> None:
    """The validator's message naming the unknown field."""
    # given
    admin = await make_catalog_admin()

    # when
    body = await gql.raw("query { viewer { id secretField } }", token=admin.token)

    # then
    assert body == {
        "data": None,
        "errors": [
            {
                "message": "Cannot query field 'secretField' on type 'User'.",
                "locations": [{"line": 1, "column": 21}],
                "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"},
            }
        ],
    }


async def test_a_wrong_variable_type_reaches_the_client_unmasked(gql: GraphQLClient) -> None:
    """Variable coercion errors are the client's to fix, so they are shown."""
    # given
    admin = await make_catalog_admin()

    # when
    body = await gql.raw(
        "query ($first: Int) { customers(first: $first) { nodes { id } } }",
        {"first": "ten"},
        token=admin.token,
    )

    # then
    assert body["data"] is None
    [error] = body["errors"]
    assert (
        error["message"]
        == "Variable '$first' has invalid value: Int cannot represent non-integer value: 'ten'"
    )
    assert error["extensions"] == {"code": "BAD_USER_INPUT"}


async def test_an_unexpected_exception_in_a_query_is_masked_and_logged(
    gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The client sees "Unexpected error." only; the server log has the detail."""

    # given
    async def broken(*_args: object) -> bool:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(resolvers.queries, "credit_management_enabled", broken)
    admin = await make_catalog_admin()

    # when
    with caplog.at_level(logging.ERROR):
        response = await gql.http.post(
            "/graphql", json={"query": CREDIT_SETTINGS}, headers={"Authorization": f"Bearer {admin.token}"}
        )

    # then
    assert response.status_code == 200
    assert response.json() == {
        "data": None,
        "errors": [
            {
                "message": "Unexpected error.",
                "locations": [{"line": 1, "column": 9}],
                "path": ["creditSettings"],
                "extensions": {"code": "INTERNAL_SERVER_ERROR"},
            }
        ],
    }
    assert "secret detail" not in response.text
    assert "Traceback" not in response.text
    assert "RuntimeError" not in response.text
    logged = [r for r in caplog.records if r.exc_info and isinstance(r.exc_info[1], Exception)]
    assert any("secret detail" in str(r.exc_info[1]) for r in logged), caplog.text
    assert "RuntimeError: secret detail" in caplog.text


async def test_an_unexpected_exception_in_a_mutation_is_masked_and_logged(
    gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A domain function that blows up inside a payload mutation is masked too, and writes nothing."""

    # given
    async def broken(*_args: object) -> None:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(resolvers.accounts.accounts, "create_api_token", broken)
    admin = await make_catalog_admin()

    # when
    with caplog.at_level(logging.ERROR):
        body = await gql.raw(CREATE_CI_TOKEN, token=admin.token)

    # then
    assert body == {
        "data": None,
        "errors": [
            {
                "message": "Unexpected error.",
                "locations": [{"line": 1, "column": 12}],
                "path": ["createApiToken"],
                "extensions": {"code": "INTERNAL_SERVER_ERROR"},
            }
        ],
    }
    assert "secret detail" not in json.dumps(body)
    assert "RuntimeError: secret detail" in caplog.text
    assert await ApiToken.all().count() == 0


async def test_coded_errors_are_not_masked(gql: GraphQLClient) -> None:
    """UNAUTHENTICATED and FORBIDDEN keep their message and code."""
    # given
    end_user = await make_user(Role.END_USER, await make_customer())

    # when
    anonymous = await gql.raw(VIEWER)
    denied = await gql.raw("query { customers { nodes { id } } }", token=end_user.token)

    # then
    assert error_codes(anonymous) == ["UNAUTHENTICATED"]
    assert anonymous["errors"][0]["message"] == "Authentication required: send a valid bearer token."
    assert error_codes(denied) == ["FORBIDDEN"]
    assert denied["errors"][0]["message"] == "Your role may not perform this operation."


async def test_websockets_are_not_compressed(live_server: str) -> None:
    # given: a client that offers permessage-deflate, as browsers and `websockets` do
    from websockets.asyncio.client import connect

    url = live_server.replace("http://", "ws://") + "/graphql"

    # when: it opens a socket on the real server
    async with connect(url, subprotocols=["graphql-transport-ws"], compression="deflate") as socket:
        extensions = socket.response.headers.get("Sec-WebSocket-Extensions")

    # then: the server declines (zlib state per socket would dominate a subscriber's memory)
    assert extensions is None


async def test_graphql_websockets_keep_their_request_id_and_access_line(server_env: dict[str, str]) -> None:
    # given: a server writing JSON logs (websockets reach GraphQL without the HTTP middleware)
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    from tests.processes import ServerProcess

    with ServerProcess({**server_env, "CREDITS_ENV": "production"}) as server:
        url = server.base_url.replace("http://", "ws://")

        # when: a client opens and closes a socket on /graphql with its own request id,
        # and tries a websocket on a path that has none
        headers = {"X-Request-ID": "ws-7"}
        async with connect(
            url + "/graphql", subprotocols=["graphql-transport-ws"], additional_headers=headers
        ) as socket:
            await socket.send(json.dumps({"type": "ping"}))
            pong = json.loads(await socket.recv())
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url + "/healthz", subprotocols=["graphql-transport-ws"]):
                pass

    # then: the socket worked and its access line carries the request id; the other was refused
    assert pong == {"type": "pong"}
    lines = [json.loads(line) for line in server.log_path.read_text().splitlines() if line.startswith("{")]
    access = [line for line in lines if line["logger"] == "credits.access" and line["path"] == "/graphql"]
    assert [(line["method"], line["request_id"]) for line in access] == [("WS", "ws-7")]
    assert refused.value.response.status_code == 403
