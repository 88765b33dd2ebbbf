"""GraphQL over HTTP: `application/graphql-response+json` with the specification's status codes;
`application/json` answers keep their shape; mutations never run from GET; every error has a code,
and a refused request answers JSON, never plain text."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from api.graphql_http import wants_graphql_response
from models.user import ApiToken
from tests.client import error_codes
from tests.factories import make_catalog_admin

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
CREATE_CI_TOKEN = 'mutation { createApiToken(name: "ci") { token userErrors { code } } }'

# name: (method, body or GET parameters, authenticated)
REQUESTS: dict[str, tuple[str, Any, bool]] = {
    "valid query": ("POST", {"query": "{ viewer { email } }"}, True),
    "does not parse": ("POST", {"query": "{ viewer {"}, True),
    "does not validate": ("POST", {"query": "{ unknownField }"}, True),
    "variables do not coerce": (
        "POST",
        {"query": "query ($id: ID!) { customer(id: $id) { id } }", "variables": {"id": None}},
        True,
    ),
    "field error while executing": ("POST", {"query": "{ viewer { email } }"}, False),
    "subscription over plain HTTP": ("POST", {"query": "subscription { notificationAdded { id } }"}, True),
    "body is not JSON": ("POST", b'{"query": "{ viewer', True),
    "no query": ("POST", {}, True),
    "query over GET": ("GET", {"query": "{ viewer { email } }"}, True),
    "mutation over GET": ("GET", {"query": CREATE_CI_TOKEN}, True),
}

# the `extensions.code` of each request's error (None: it has no error)
CODES = {
    "valid query": None,
    "does not parse": "GRAPHQL_PARSE_FAILED",
    "does not validate": "GRAPHQL_VALIDATION_FAILED",
    "variables do not coerce": "BAD_USER_INPUT",
    "field error while executing": "UNAUTHENTICATED",
    "subscription over plain HTTP": "BAD_REQUEST",
    "body is not JSON": "BAD_REQUEST",
    "no query": "BAD_REQUEST",
    "query over GET": None,
    "mutation over GET": "BAD_REQUEST",
}

# (request, Accept) -> (status, content type, has a `data` key)
GR_TYPE = f"{GRAPHQL_RESPONSE}; charset=utf-8"
CASES = [
    ("valid query", JSON, 200, JSON, True),
    ("valid query", GRAPHQL_RESPONSE, 200, GR_TYPE, True),
    ("does not parse", JSON, 200, JSON, True),
    ("does not parse", GRAPHQL_RESPONSE, 400, GR_TYPE, False),
    ("does not validate", JSON, 200, JSON, True),
    ("does not validate", GRAPHQL_RESPONSE, 400, GR_TYPE, False),
    ("variables do not coerce", JSON, 200, JSON, True),
    ("variables do not coerce", GRAPHQL_RESPONSE, 400, GR_TYPE, False),
    ("field error while executing", JSON, 200, JSON, True),
    ("field error while executing", GRAPHQL_RESPONSE, 200, GR_TYPE, True),
    ("subscription over plain HTTP", JSON, 400, JSON, True),
    ("subscription over plain HTTP", GRAPHQL_RESPONSE, 400, GR_TYPE, False),
    ("body is not JSON", JSON, 400, JSON, False),
    ("body is not JSON", GRAPHQL_RESPONSE, 400, GR_TYPE, False),
    ("no query", JSON, 400, JSON, False),
    ("no query", GRAPHQL_RESPONSE, 400, GR_TYPE, False),
    ("query over GET", JSON, 200, JSON, True),
    ("query over GET", GRAPHQL_RESPONSE, 200, GR_TYPE, True),
    ("mutation over GET", JSON, 400, JSON, False),
    ("mutation over GET", GRAPHQL_RESPONSE, 405, GR_TYPE, False),
]


async def send(http: httpx.AsyncClient, name: str, accept: str, token: str) -> httpx.Response:
    """One request of the table with the given Accept header."""
    method, body, authenticated = REQUESTS[name]
    headers = {"Accept": accept} | ({"Authorization": f"Bearer {token}"} if authenticated else {})
    if method == "GET":
        return await http.get("/graphql", params=body, headers=headers)
    if isinstance(body, bytes):
        return await http.post("/graphql", content=body, headers=headers | {"Content-Type": JSON})
    return await http.post("/graphql", json=body, headers=headers)


@pytest.mark.parametrize(("name", "accept", "status", "content_type", "has_data"), CASES)
async def test_status_content_type_and_data_by_accept(http, name, accept, status, content_type, has_data):
    """Each request under each Accept: the status, content type and `data` key of the table."""
    # given
    admin = await make_catalog_admin()

    # when
    response = await send(http, name, accept, admin.token)

    # then
    assert (response.status_code, response.headers["content-type"]) == (status, content_type), response.text
    body = response.json()
    assert ("data" in body) is has_data, body
    assert body.get("errors") or name in ("valid query", "query over GET"), body


async def test_a_mutation_over_get_never_runs_and_says_post(http):
    """A mutation over GET asking for graphql-response+json: 405, Allow: POST, nothing created."""
    # given
    admin = await make_catalog_admin()

    # when
    response = await send(http, "mutation over GET", GRAPHQL_RESPONSE, admin.token)

    # then
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    error = {"message": "mutations are not allowed when using GET", "extensions": {"code": "BAD_REQUEST"}}
    assert response.json() == {"errors": [error]}
    assert await ApiToken.all().count() == 0


async def test_application_json_answers_keep_their_shape(http):
    """A request error under application/json: 200, `data: null` and the errors, as before."""
    # given
    admin = await make_catalog_admin()

    # when
    response = await send(http, "does not validate", JSON, admin.token)

    # then
    assert response.json() == {
        "data": None,
        "errors": [
            {
                "message": "Cannot query field 'unknownField' on type 'Query'.",
                "locations": [{"line": 1, "column": 3}],
                "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"},
            }
        ],
    }


@pytest.mark.parametrize("accept", [JSON, GRAPHQL_RESPONSE])
@pytest.mark.parametrize("name", list(REQUESTS))
async def test_every_top_level_error_has_its_code(http, name, accept):
    """Each request of the table under each Accept: its errors carry the table's code."""
    # given
    admin = await make_catalog_admin()

    # when
    response = await send(http, name, accept, admin.token)

    # then
    expected = [] if CODES[name] is None else [CODES[name]]
    assert error_codes(response.json()) == expected, response.text


@pytest.mark.parametrize(
    ("accept", "wanted"),
    [
        ("", False),
        ("*/*", False),
        (JSON, False),
        (GRAPHQL_RESPONSE, True),
        (f"{GRAPHQL_RESPONSE}, {JSON}", True),
        (f"{GRAPHQL_RESPONSE}, {JSON};q=0.9", True),
        (f"{JSON}, {GRAPHQL_RESPONSE};q=0.5", False),
        (f"{GRAPHQL_RESPONSE};q=0", False),
        (f"{GRAPHQL_RESPONSE.upper()};charset=utf-8", True),
        (f"text/html, {GRAPHQL_RESPONSE};q=x", False),
    ],
)
def test_accept_negotiation(accept, wanted):
    """graphql-response+json when the client prefers it to JSON (or ties), never for */* alone."""
    assert wants_graphql_response(accept) is wanted
