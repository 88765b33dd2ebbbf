"""A small GraphQL-over-HTTP client for tests."""

from __future__ import annotations

from typing import Any

import httpx


class GraphQLError(AssertionError):
    """A response carried top-level errors where the test expected none."""


class GraphQLClient:
    """POST documents to /graphql with an optional bearer token."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def raw(
        self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None
    ) -> dict[str, Any]:
        """The whole JSON response, errors included."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        assert response.status_code == 200, response.text
        return response.json()

    async def __call__(
        self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None
    ) -> dict[str, Any]:
        """The `data` of a response that must have no top-level errors."""
        body = await self.raw(query, variables, token=token)
        if body.get("errors"):
            raise GraphQLError(body["errors"])
        return body["data"]


def error_codes(body: dict[str, Any]) -> list[str | None]:
    """The `extensions.code` of each top-level error."""
    return [e.get("extensions", {}).get("code") for e in body.get("errors") or []]


def user_errors(payload: dict[str, Any]) -> list[tuple[str, list[str] | None]]:
    """The (code, field) pairs of a mutation payload's userErrors."""
    return [(e["code"], e["field"]) for e in payload["userErrors"]]
