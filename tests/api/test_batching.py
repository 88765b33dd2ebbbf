"""HTTP batching (Apollo's BatchHttpLink): an array of operations, run in order, each within the limits."""

from __future__ import annotations

import uuid

import httpx
import pytest

from api.app import create_app
from api.persisted_queries import document_hash
from models.user import Role
from settings import Settings
from tests.api.test_limits import NESTED_PAGES
from tests.client import error_codes
from tests.factories import make_catalog_admin, make_customer, make_user
from tests.sse_client import sse_headers

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
VIEWER = {"query": "{ viewer { email } }"}
CREATE_TOKEN = {
    "query": "mutation ($name: String!) { createApiToken(name: $name) { apiToken { name } } }",
    "variables": {"name": "first"},
}
TOKENS = {"query": "{ apiTokens { name } }"}


def auth(token: str, accept: str = JSON) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": accept}


async def test_a_batch_answers_one_result_per_operation_in_order(http: httpx.AsyncClient) -> None:
    # given
    admin = await make_catalog_admin()

    # when: two different queries in one request
    batch = [VIEWER, {"query": "{ services { id } }"}]
    response = await http.post("/graphql", json=batch, headers=auth(admin.token))

    # then: an array of two results, in the batch's order
    assert response.status_code == 200
    assert response.json() == [{"data": {"viewer": {"email": admin.user.email}}}, {"data": {"services": []}}]


async def test_a_batch_runs_its_operations_one_after_another(http: httpx.AsyncClient) -> None:
    # given
    admin = await make_catalog_admin()
    second = {**CREATE_TOKEN, "variables": {"name": "second"}}

    # when: two mutations, then a query reading what they made
    response = await http.post("/graphql", json=[CREATE_TOKEN, second, TOKENS], headers=auth(admin.token))

    # then: the query sees both tokens: each operation ran after the one before it had finished
    first, made, listed = response.json()
    assert first["data"]["createApiToken"]["apiToken"] == {"name": "first"}
    assert made["data"]["createApiToken"]["apiToken"] == {"name": "second"}
    assert sorted(t["name"] for t in listed["data"]["apiTokens"]) == ["first", "second"]


@pytest.mark.parametrize("accept", [JSON, GRAPHQL_RESPONSE])
async def test_each_operation_is_limited_and_refused_on_its_own(
    http: httpx.AsyncClient, settings: Settings, accept: str
) -> None:
    # given: an end user, an operation over the cost limit, one that does not validate, and a subscription
    user = await make_user(Role.END_USER, await make_customer("Acme"))
    batch = [
        {"query": NESTED_PAGES},
        VIEWER,
        {"query": "{ nope }"},
        {"query": "subscription { notificationAdded { id } }"},
        {"query": "query A { viewer { email } } query B { viewer { role } }"},
    ]

    # when
    response = await http.post("/graphql", json=batch, headers=auth(user.token, accept))

    # then: 200; each refused operation answers its own coded error in its slot; the valid one ran
    assert response.status_code == 200
    costly, viewer, invalid, subscription, ambiguous = response.json()
    assert error_codes(costly) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "exceeds the limit" in costly["errors"][0]["message"]
    assert viewer == {"data": {"viewer": {"email": user.user.email}}}
    assert error_codes(invalid) == ["GRAPHQL_VALIDATION_FAILED"]
    assert error_codes(subscription) == ["BAD_REQUEST"]
    assert error_codes(ambiguous) == ["OPERATION_RESOLUTION_FAILURE"]


async def test_a_batch_over_the_limit_is_refused_whole(http: httpx.AsyncClient, settings: Settings) -> None:
    # given: one operation more than CREDITS_MAX_BATCH_OPERATIONS, the first of them a mutation
    admin = await make_catalog_admin()
    batch = [CREATE_TOKEN] + [VIEWER] * settings.max_batch_operations

    # when
    response = await http.post("/graphql", json=batch, headers=auth(admin.token))

    # then: 400 in JSON, and nothing ran
    assert response.status_code == 400
    assert response.json() == {
        "errors": [{"message": "Too many operations", "extensions": {"code": "BAD_REQUEST"}}]
    }
    assert (await http.post("/graphql", json=TOKENS, headers=auth(admin.token))).json()["data"][
        "apiTokens"
    ] == []


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        ([], "A batch must hold at least one operation."),
        ([VIEWER, 42], "Each operation of a batch must be a JSON object."),
        ([VIEWER, None], "Each operation of a batch must be a JSON object."),
        ([{"query": 42}], "The GraphQL operation's `query` has the wrong type in a batch."),
        (
            [{**VIEWER, "variables": [1]}],
            "The GraphQL operation's `variables` has the wrong type in a batch.",
        ),
        (
            [{**VIEWER, "operationName": 1}],
            "The GraphQL operation's `operationName` has the wrong type in a batch.",
        ),
    ],
    ids=["empty", "a-number", "null", "query-not-a-string", "variables-not-an-object", "name-not-a-string"],
)
async def test_a_malformed_batch_is_a_json_400(http: httpx.AsyncClient, batch: list, message: str) -> None:
    # given
    admin = await make_catalog_admin()

    # when
    response = await http.post("/graphql", json=batch, headers=auth(admin.token))

    # then: 400 with a coded error (Strawberry alone answered 500 for some)
    assert response.status_code == 400
    assert response.json() == {"errors": [{"message": message, "extensions": {"code": "BAD_REQUEST"}}]}


async def test_a_batch_cannot_be_an_event_stream(http: httpx.AsyncClient) -> None:
    # given
    admin = await make_catalog_admin()

    # when: a batch asks for text/event-stream
    response = await http.post("/graphql", json=[VIEWER, VIEWER], headers=sse_headers(admin.token))

    # then
    assert response.status_code == 400
    assert error_codes(response.json()) == ["BAD_REQUEST"]


async def test_batching_can_be_turned_off(settings: Settings) -> None:
    # given: an app with CREDITS_MAX_BATCH_OPERATIONS=0
    app = create_app(settings.model_copy(update={"max_batch_operations": 0}))
    transport = httpx.ASGITransport(app=app)

    # when: a batch is sent
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.post("/graphql", json=[VIEWER])

    # then
    assert response.status_code == 400
    assert response.json() == {
        "errors": [{"message": "Batching is not enabled", "extensions": {"code": "BAD_REQUEST"}}]
    }


async def test_a_batch_may_hold_persisted_queries(http: httpx.AsyncClient) -> None:
    # given: a document the process has never seen
    admin = await make_catalog_admin()
    document = f"query Batched{uuid.uuid4().hex} {{ viewer {{ email }} }}"
    hashed = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": document_hash(document)}}}

    # when: a batch sends its hash alone, then the document with its hash, then the hash alone again
    batch = [hashed, {"query": document, **hashed}, hashed]
    response = await http.post("/graphql", json=batch, headers=auth(admin.token))

    # then: a miss in its slot, then the document runs and is registered, then the hash runs it
    miss, sent, hit = response.json()
    assert error_codes(miss) == ["PERSISTED_QUERY_NOT_FOUND"]
    assert sent == hit == {"data": {"viewer": {"email": admin.user.email}}}
