"""CSV export of a customer's ledger, streamed: `GET /exports/ledger/{customerId}.csv`.

Read by the same rules as `Customer.transactions` (catalog administrators: any customer; a
customer's administrators: their own; end users: none), with `Authorization: Bearer` or with a
one-time link from `POST /exports/ledger/{customerId}/link` (models/export_links.py), which the
console asks for with its session cookie and CSRF header (api/console_session.py). `since`
and `until` (ISO 8601) narrow it as they narrow `Customer.transactions`. Rows are read and sent
1,000 at a time: the server never holds the whole ledger.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from api.console_session import ConsoleSessions
from api.context import bearer_token
from models.accounts import AuthenticationError, authenticate
from models.actor import Actor
from models.customer import Customer
from models.errors import DomainError
from models.export_links import LinkRefused, issue_link, redeem_link
from models.ledger_csv import csv_text
from models.ledger_history import export_chunks, time_range
from models.permissions import can_access_customer, can_see_ledger

PREFIX = "/exports/ledger"
_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _error(status: int, code: str, message: str) -> JSONResponse:
    """An error in the shape of a GraphQL error, so clients read one form."""
    headers = {**_HEADERS, **({"WWW-Authenticate": "Bearer"} if status == 401 else {})}
    return JSONResponse({"errors": [{"message": message, "extensions": {"code": code}}]}, status, headers)


class _Refusal(Exception):
    """Answer with this error instead."""

    def __init__(self, response: JSONResponse) -> None:
        self.response = response


def _customer_id(request: Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.path_params["customer_id"])
    except ValueError:
        raise _Refusal(_error(404, "NOT_FOUND", "customer not found")) from None


def _range(request: Request) -> tuple[dt.datetime | None, dt.datetime | None]:
    """`since` and `until` from the query string; a bad one is 400 INVALID_INPUT."""
    moments: list[dt.datetime | None] = []
    for name in ("since", "until"):
        raw = request.query_params.get(name) or None
        try:
            moments.append(dt.datetime.fromisoformat(raw) if raw else None)
        except ValueError:
            raise _Refusal(_error(400, "INVALID_INPUT", f"{name} is not an ISO 8601 date and time")) from None
    try:
        return time_range(moments[0], moments[1])
    except DomainError as exc:
        raise _Refusal(_error(400, exc.code.value, exc.message)) from None


async def _bearer_actor(request: Request, sessions: ConsoleSessions | None = None) -> Actor:
    """The bearer token's user; without an Authorization header, the console session's (POST only)."""
    header = request.headers.get("authorization")
    token = bearer_token(header)
    try:
        if token:
            return await authenticate(token)
    except AuthenticationError:
        pass
    if header is None and sessions is not None and (actor := await sessions.http_actor(request)):
        return actor
    raise _Refusal(_error(401, "UNAUTHENTICATED", "a valid bearer token or download link is required"))


async def _authorise(actor: Actor, customer_id: uuid.UUID) -> None:
    """The rules of `Customer.transactions`; another tenant's customer is not found, like a missing one."""
    if not can_access_customer(actor, customer_id) or not await Customer.exists(id=customer_id):
        raise _Refusal(_error(404, "NOT_FOUND", "customer not found"))
    if not can_see_ledger(actor):
        raise _Refusal(_error(403, "FORBIDDEN", "end users cannot read the ledger"))


async def _encoded(pieces: AsyncIterator[str]) -> AsyncIterator[bytes]:
    async for piece in pieces:
        yield piece.encode()


async def export_csv(request: Request) -> Response:
    """The ledger, oldest first, as an attachment `ledger-<customer>.csv`."""
    try:
        customer_id = _customer_id(request)
        link = request.query_params.get("link")
        if link:
            try:
                grant = await redeem_link(link, customer_id)
            except LinkRefused as exc:
                raise _Refusal(_error(403, "FORBIDDEN", str(exc))) from None
            actor, (since, until) = grant.actor, (grant.since, grant.until)
        else:
            actor = await _bearer_actor(request)
            since, until = _range(request)
        await _authorise(actor, customer_id)
    except _Refusal as refusal:
        return refusal.response
    name = f"ledger-{customer_id}.csv"
    return StreamingResponse(
        _encoded(csv_text(export_chunks(customer_id, since, until))),
        media_type="text/csv; charset=utf-8",
        headers={**_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'},
    )


async def export_link(request: Request, sessions: ConsoleSessions | None = None) -> Response:
    """A one-time URL of the export (same `since`/`until`), valid 60 s: JSON `{url, expiresAt}`."""
    try:
        customer_id = _customer_id(request)
        actor = await _bearer_actor(request, sessions)
        since, until = _range(request)
        await _authorise(actor, customer_id)
    except _Refusal as refusal:
        return refusal.response
    token, expires = issue_link(actor, customer_id, since, until)
    # Relative: the link works on whatever origin the caller reached this service by.
    url = f"{PREFIX}/{customer_id}.csv?link={token}"
    return JSONResponse({"url": url, "expiresAt": expires.isoformat()}, headers=_HEADERS)


def routes(sessions: ConsoleSessions | None = None) -> list[Route]:
    """The export and its link (asked for with a bearer token, or with the console's `sessions`)."""

    async def link(request: Request) -> Response:
        """`export_link` for a bearer token or the console's session."""
        return await export_link(request, sessions)

    return [
        Route(PREFIX + "/{customer_id}.csv", export_csv, methods=["GET"]),
        Route(PREFIX + "/{customer_id}/link", link, methods=["POST"]),
    ]
