"""Query limits and production hardening: depth, aliases, tokens, introspection, CORS."""

from __future__ import annotations

import httpx
import pytest

from resolvers.root import build_schema
from settings import Settings
from tests.client import GraphQLClient
from tests.factories import make_catalog_admin

DEEP = """
query { customer { serviceRequests { nodes { customer { serviceRequests { nodes { customer {
  serviceRequests { nodes { customer { serviceRequests { nodes { customer { name } } } } } } } } } } } } } }
"""
INTROSPECTION = "{ __schema { types { name } } }"
VIEWER = "{ viewer { email } }"


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


async def test_aliases_beyond_the_limit_are_refused(gql: GraphQLClient, settings: Settings) -> None:
    # given: a caller
    admin = await make_catalog_admin()

    # when: a document carries one alias more than allowed, and one with exactly the limit
    too_many = await gql.raw(_aliases(settings.max_query_aliases + 1), token=admin.token)
    at_limit = await gql.raw(_aliases(settings.max_query_aliases), token=admin.token)

    # then: only the first is refused
    assert "aliases found" in too_many["errors"][0]["message"]
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


async def test_production_schema_refuses_introspection_and_suggestions(settings: Settings) -> None:
    # given: the schema as production builds it
    production = build_schema(settings.model_copy(update={"env": "production"}))

    # when: introspection and a misspelt field are asked for
    introspection = await production.execute(INTROSPECTION)
    misspelt = await production.execute("{ viewr { email } }")

    # then: introspection is refused and no "Did you mean" leaks the schema
    assert introspection.errors and "introspection" in introspection.errors[0].message.lower()
    assert misspelt.errors and "Did you mean" not in misspelt.errors[0].message


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
    from server import create_app

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
