"""Query limits and production hardening: length, tokens, depth, aliases, cost, introspection,
suggestions, subscriptions over plain HTTP, CORS."""

from __future__ import annotations

import logging
import random
import string
from types import SimpleNamespace

import httpx
import pytest
from graphql import OperationDefinitionNode, TypeInfo, ValidationContext, parse

from api.document_cache import CachedDocument, DocumentCache
from api.feeds import SHAPE_CACHE_MAX_CHARS, _cached_shape, feed_key, shared_shape
from api.graphql_app import SUBSCRIPTION_NEEDS_A_STREAM
from api.query_cost import operation_cost
from api.schema import build_schema, schema
from models.user import Role
from settings import Settings
from tests.client import GraphQLClient, error_codes
from tests.factories import make_catalog_admin, make_customer, make_user
from tests.ws_client import PROTOCOLS, GraphQLSocket, SocketClosed

DEEP = """
query { customer { serviceRequests { nodes { customer { serviceRequests { nodes { customer {
  serviceRequests { nodes { customer { serviceRequests { nodes { customer { name } } } } } } } } } } } } } }
"""
INTROSPECTION = "{ __schema { types { name } } }"
VIEWER = "{ viewer { email } }"
# Issue 11: depth 11, allowed by the depth limit; 1,000,000 customers read.
NESTED_PAGES = """
{ customer { serviceRequests(first:100){ nodes{ customer{ serviceRequests(first:100){ nodes{ customer{
  serviceRequests(first:100){ nodes{ customer{ id } } } } } } } } } } }
"""
# The heaviest query of the test suite (tests/resolvers/test_idempotency.py): cost 906.
LEDGER_AND_REQUESTS = """
query ($id: ID!) { customer(id: $id) {
  balance
  transactions(first: 100) { nodes { id sequence kind amount balanceAfter note } }
  serviceRequests(first: 100) { nodes { id status amount } }
} }
"""


def _aliases(count: int) -> str:
    return "{ " + " ".join(f"a{i}: viewer {{ email }}" for i in range(count)) + " }"


async def test_a_query_deeper_than_the_limit_is_refused(gql: GraphQLClient, settings: Settings) -> None:
    # given: a catalog administrator and a query nested beyond CREDITS_MAX_QUERY_DEPTH
    admin = await make_catalog_admin()

    # when: it is sent
    body = await gql.raw(DEEP, token=admin.token)

    # then: validation refuses it before any resolver runs
    assert body.get("data") is None
    assert "exceeds maximum operation depth" in body["errors"][0]["message"]
    assert set(error_codes(body)) == {"GRAPHQL_VALIDATION_FAILED"}


async def test_aliases_beyond_the_limit_are_refused(gql: GraphQLClient, settings: Settings) -> None:
    # given: a caller
    admin = await make_catalog_admin()

    # when: a document carries one alias more than allowed, and one with exactly the limit
    too_many = await gql.raw(_aliases(settings.max_query_aliases + 1), token=admin.token)
    at_limit = await gql.raw(_aliases(settings.max_query_aliases), token=admin.token)

    # then: only the first is refused
    assert "aliases found" in too_many["errors"][0]["message"]
    assert error_codes(too_many) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "errors" not in at_limit


async def test_documents_beyond_the_token_limit_are_refused(gql: GraphQLClient, settings: Settings) -> None:
    # given: a document of more tokens than CREDITS_MAX_QUERY_TOKENS (no aliases involved)
    admin = await make_catalog_admin()
    padding = " ".join("__typename" for _ in range(settings.max_query_tokens))

    # when: it is sent
    body = await gql.raw("{ " + padding + " }", token=admin.token)

    # then: the parser stops it
    assert body.get("data") is None
    assert "token" in body["errors"][0]["message"].lower()
    assert error_codes(body) == ["GRAPHQL_PARSE_FAILED"]


def _comment_padded(letters: int) -> str:
    """`{ __typename }` after a comment of `letters` random letters (a distinct document each time)."""
    return "#" + "".join(random.choices(string.ascii_letters, k=letters)) + "\n{ __typename }"


def _cost(document: str) -> int:
    """The cost of a document's (first) operation as the cost rule computes it."""
    graphql_schema = schema._schema
    parsed = parse(document)
    context = ValidationContext(graphql_schema, parsed, TypeInfo(graphql_schema), lambda _: None)
    operation = next(d for d in parsed.definitions if isinstance(d, OperationDefinitionNode))
    return operation_cost(context, operation)


async def test_a_document_longer_than_the_limit_is_refused_and_not_cached(
    gql: GraphQLClient, app, settings: Settings
) -> None:
    # given: the issue's body: a comment of 950,000 letters before `{ __typename }`, no token
    documents = app.graphql.schema.documents
    cached = (len(documents), documents.bytes)
    padded = _comment_padded(950_000)

    # when: it is sent
    body = await gql.raw(padded)

    # then: the parser refuses it before lexing, and nothing of it is kept
    assert body.get("data") is None
    [error] = body["errors"]
    assert error["message"] == (
        f"Syntax Error: Source contains more than {settings.max_query_length} code points. Parsing aborted."
    )
    assert error["extensions"] == {"code": "GRAPHQL_PARSE_FAILED"}
    assert (len(documents), documents.bytes) == cached


async def test_a_document_at_the_length_limit_is_served(gql: GraphQLClient, settings: Settings) -> None:
    # given: a comment padding the document to exactly CREDITS_MAX_QUERY_LENGTH characters
    document = _comment_padded(settings.max_query_length - len(_comment_padded(0)))
    assert len(document) == settings.max_query_length

    # when: it is sent
    body = await gql.raw(document)

    # then: it is answered
    assert body == {"data": {"__typename": "Query"}}


async def test_comments_count_as_tokens(gql: GraphQLClient, settings: Settings) -> None:
    # given: a short document made of more comment lines than CREDITS_MAX_QUERY_TOKENS
    document = "#\n" * (settings.max_query_tokens + 1) + "{ __typename }"
    assert len(document) < settings.max_query_length

    # when: it is sent
    body = await gql.raw(document)

    # then: the token limit refuses it
    assert body.get("data") is None
    assert "more than 5000 tokens" in body["errors"][0]["message"]


async def test_a_long_document_on_a_websocket_is_refused_and_kept_nowhere(live_server: str) -> None:
    # given: a catalog administrator's socket on each protocol
    admin = await make_catalog_admin()
    for protocol in PROTOCOLS:
        async with GraphQLSocket(live_server, protocol, admin.token) as ws:
            # when: a shareable subscription padded beyond the length limit is started
            padding = "#" + "x" * 200_000 + "\n"
            subscription = await ws.subscribe(padding + "subscription { balanceChanged { balance } }")

            # then: refused as a syntax error (graphql-transport-ws closes 4400, legacy answers an error)
            try:
                errors = await subscription.errors()
            except SocketClosed as closed:
                assert (protocol, closed.code) == ("graphql-transport-ws", 4400)
                assert "code points" in closed.reason
            else:
                assert "code points" in errors[0]["message"]


async def test_a_parse_error_of_a_subscription_is_answered_not_raised() -> None:
    # given: a subscription that does not parse, as a websocket handler would run it
    broken = "subscription { balanceChanged {"

    # when: the schema streams it
    results = [result async for result in await schema.subscribe(broken)]

    # then: one result carries the syntax error (it used to escape as an exception: an ERROR log)
    [result] = results
    assert result.errors and result.errors[0].message == "Syntax Error: Expected Name, found <EOF>."


def test_a_long_document_is_no_key_of_the_shared_feeds_cache(settings: Settings) -> None:
    # given: a shareable subscription padded beyond the length limit
    query = "#" + "x" * settings.max_query_length + "\nsubscription { balanceChanged { balance } }"
    operation = SimpleNamespace(query=query, variables=None, operation_name=None)
    actor = SimpleNamespace(role=Role.CATALOG_ADMIN, customer_id=None)
    before = _cached_shape.cache_info().currsize

    # when: the socket handler asks which feed it may share
    key = feed_key(operation, actor)  # type: ignore[arg-type]

    # then: none, and the text is not kept
    assert key is None
    assert _cached_shape.cache_info().currsize == before


@pytest.mark.parametrize("padded", ["query", "operation name"])
def test_the_shared_feeds_cache_keeps_no_long_client_text(padded: str) -> None:
    """A count bound is no memory bound: only short documents and names are keys of the cache."""
    # given: a shareable subscription within the length limit, but longer than the cache takes
    padding = "x" * SHAPE_CACHE_MAX_CHARS
    query = "subscription Feed { balanceChanged { balance } }"
    name = "Feed"
    if padded == "query":
        query = f"#{padding}\n{query}"
    else:
        query, name = query.replace("Feed", f"Feed{padding}"), f"Feed{padding}"
    before = _cached_shape.cache_info().currsize

    # when
    shape = shared_shape(query, name)

    # then: the answer is the same, and the text is not kept
    assert shape == ("balanceChanged", None)
    assert _cached_shape.cache_info().currsize == before


def test_the_document_cache_is_bounded_by_bytes() -> None:
    # given: a cache of 16,000 bytes
    cache = DocumentCache(max_entries=1000, max_bytes=16_000)
    document = parse("{ __typename }")

    # when: entries of 900 bytes are added beyond the budget, and one of 1,001 (over a sixteenth)
    for i in range(30):
        cache.put(f"q{i}", CachedDocument(document, (), 900))
    cache.put("heavy", CachedDocument(document, (), 1001))

    # then: the least recently used went, the heavy one was never kept
    assert cache.bytes <= 16_000
    assert len(cache) == 16_000 // 900
    assert cache.get("q0") is None and cache.get("q29") is not None
    assert cache.get("heavy") is None


# --- query cost ------------------------------------------------------------------------------


async def test_the_issues_nested_pages_are_refused_for_their_cost(
    gql: GraphQLClient, settings: Settings
) -> None:
    # given: an end user (20 free requests are enough) and the issue's query, within the depth limit
    customer = await make_customer("Acme")
    user = await make_user(Role.END_USER, customer)

    # when: it is sent
    body = await gql.raw(NESTED_PAGES, token=user.token)

    # then: validation refuses it, saying its cost and the limit
    assert body.get("data") is None
    [error] = body["errors"]
    assert error["message"] == f"query cost 2030303 exceeds the limit {settings.max_query_cost}"
    assert error["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED"}


async def test_the_heaviest_documented_query_stays_well_inside_the_cost_limit(
    gql: GraphQLClient, settings: Settings
) -> None:
    # given: a customer administrator
    customer = await make_customer("Acme", balance=10)
    login = await make_user(Role.CUSTOMER_ADMIN, customer)

    # when: the test suite's heaviest query runs
    data = await gql(LEDGER_AND_REQUESTS, {"id": str(customer.id)}, token=login.token)

    # then: it is answered, its cost a tenth of the limit or less
    assert data["customer"]["balance"] == "10.00"
    assert _cost(LEDGER_AND_REQUESTS) * 10 <= settings.max_query_cost


@pytest.mark.parametrize(
    ("document", "cost"),
    [
        ("{ customers(first: 10) { nodes { id name } } }", 22),
        ("{ customers { nodes { id name } } }", 102),  # first defaults to 50
        ("query ($n: Int) { customers(first: $n) { nodes { id name } } }", 202),  # a variable: 100
        ("{ customers(first: 1000) { nodes { id } } }", 102),  # beyond 100 the resolver refuses
        ("{ customers(first: 10) { pageInfo { hasNextPage } edges { cursor node { id } } } }", 34),
        ("{ services { id name } }", 41),  # a plain list: 20
        ("{ a: customers(first: 10) { nodes { id name } } b: customers(first: 10) { nodes { id } } }", 34),
        ("{ customers(first: 10) { ...P } } fragment P on CustomerConnection { nodes { id name } }", 22),
        ("{ customers(first: 10) { nodes { ... on Customer { id name } } } }", 22),
        (
            "{ customers(first: 2) { nodes { ...C } } } "
            "fragment C on Customer { transactions(first: 3) { nodes { amount } } }",
            1 + 1 + 2 * (1 + 1 + 3 * 1),
        ),
        ("{ __schema { types { name fields { name } } } }", 1),  # introspection: bounded by the schema
    ],
)
def test_cost_counts_fields_times_enclosing_list_sizes(document: str, cost: int) -> None:
    # given / when: a document costed by the rule
    # then: fields times the sizes of their enclosing lists; fragments and aliases count where used
    assert _cost(document) == cost


async def test_a_cyclic_fragment_is_refused_without_costing_forever(gql: GraphQLClient) -> None:
    # given: fragments spreading each other
    document = "{ viewer { ...A } } fragment A on User { id ...B } fragment B on User { ...A }"

    # when: it is sent
    body = await gql.raw(document)

    # then: the usual validation error, no recursion failure
    assert "Cannot spread fragment 'A' within itself" in body["errors"][0]["message"]


# --- production schema -----------------------------------------------------------------------


async def test_production_schema_refuses_introspection_and_suggestions(settings: Settings) -> None:
    # given: the schema as production builds it
    production = build_schema(settings.model_copy(update={"env": "production"}))

    # when: introspection and a misspelt field are asked for
    introspection = await production.execute(INTROSPECTION)
    misspelt = await production.execute("{ viewr { email } }")

    # then: introspection is refused and no "Did you mean" leaks the schema
    assert introspection.errors and "introspection" in introspection.errors[0].message.lower()
    assert misspelt.errors and "Did you mean" not in misspelt.errors[0].message


# Each asks for something misspelt; graphql-core would suggest the right name ("Did you mean …").
MISSPELT = {
    "field": ("{ viewr { email } }", None),
    "argument": ("{ customer(idd: 1) { id } }", None),
    "enum value": ("{ customer { serviceRequests(status: REQUESTE) { nodes { id } } } }", None),
    "type name": ("query ($s: Strin) { customer(id: $s) { id } }", None),
    "fragment type": ("{ viewer { ... on Usr { id } } }", None),
    "input field": (
        'mutation { grantCredits(input: {customerId: "x", amont: 1}) { userErrors { code } } }',
        {},
    ),
    "enum variable": (
        "query ($s: ServiceRequestStatus) { customer { serviceRequests(status: $s) { nodes { id } } } }",
        {"s": "REQUESTE"},
    ),
    "input variable": (
        "mutation ($i: BalanceChangeInput!) { grantCredits(input: $i) { userErrors { code } } }",
        {"i": {"customerId": "x", "amount": "1", "nte": "y"}},
    ),
}


@pytest.mark.parametrize("probe", MISSPELT)
async def test_production_suggests_no_names(settings: Settings, probe: str) -> None:
    # given: the schemas as development and production build them
    development = build_schema(settings)
    production = build_schema(settings.model_copy(update={"env": "production"}))
    document, variables = MISSPELT[probe]

    # when: the misspelt document is sent to both
    suggested = await development.execute(document, variables)
    answered = await production.execute(document, variables)

    # then: development suggests a name, production refuses alike but names nothing
    assert [e.message for e in suggested.errors or () if "Did you mean" in e.message]
    assert answered.errors and answered.data is None
    assert [e.message for e in answered.errors if "Did you mean" in e.message] == []


# --- subscriptions over plain HTTP ----------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_subscription_over_plain_http_is_a_client_error(
    http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, method: str
) -> None:
    # given: a catalog administrator
    admin = await make_catalog_admin()
    query = "subscription { balanceChanged { balance } }"
    headers = {"Accept": "application/json", "Authorization": f"Bearer {admin.token}"}

    # when: a subscription is sent as a plain HTTP request
    with caplog.at_level(logging.INFO):
        if method == "GET":
            response = await http.get("/graphql", params={"query": query}, headers=headers)
        else:
            response = await http.post("/graphql", json={"query": query}, headers=headers)

    # then: 400 with a top-level error pointing at the websocket and SSE, and nothing logged as an error
    assert response.status_code == 400
    error = {"message": SUBSCRIPTION_NEEDS_A_STREAM, "extensions": {"code": "BAD_REQUEST"}}
    assert response.json() == {"data": None, "errors": [error]}
    assert "websocket" in SUBSCRIPTION_NEEDS_A_STREAM
    assert "text/event-stream" in SUBSCRIPTION_NEEDS_A_STREAM
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_development_schema_allows_introspection(gql: GraphQLClient) -> None:
    # given: the development schema the test app serves
    admin = await make_catalog_admin()

    # when: introspection is asked for
    data = await gql(INTROSPECTION, token=admin.token)

    # then: it answers
    assert any(t["name"] == "BalanceEvent" for t in data["__schema"]["types"])


@pytest.mark.parametrize(
    ("origin", "allowed"), [("https://app.example.com", True), ("https://evil.example.net", False)]
)
async def test_cors_allows_only_configured_origins(settings: Settings, origin: str, allowed: bool) -> None:
    # given: an app configured for one browser origin
    from api.app import create_app

    app = create_app(settings.model_copy(update={"cors_origins": ["https://app.example.com"]}))
    transport = httpx.ASGITransport(app=app)

    # when: a browser sends a preflight from some origin
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.options(
            "/graphql",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )

    # then: only the configured origin is allowed, never a wildcard
    assert response.headers.get("access-control-allow-origin") == (origin if allowed else None)
    assert response.headers.get("access-control-allow-origin") != "*"
