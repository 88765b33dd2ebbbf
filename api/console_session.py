"""The console's session over HTTP: an HttpOnly cookie only the console's own pages can use.

`POST /console/session` logs in (email and password, throttled like the login mutation) and sets
two cookies, both `SameSite=Strict; Path=/` and `Secure` outside development (then named with
the `__Host-` prefix, so no other host can set them): the session token, `HttpOnly`, and a CSRF
token that the console's scripts read and send back. `DELETE /console/session` logs out.

The cookie is accepted in place of a bearer token only from the console's own origin
(`Sec-Fetch-Site: same-origin`, or else an `Origin` of this host), and only together with the
session's CSRF token: the `X-CSRF-Token` header of a POST to /graphql (plain or event stream), or
`csrfToken` in a websocket's `connection_init`. SameSite is about sites, not origins: another
port or a sibling subdomain is the same site and gets the cookies (cookies ignore ports); the
Origin and CSRF checks keep those out. A request with an Authorization header is a bearer request
and the cookie is ignored. See SECURITY.md ("Console sessions").
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from strawberry.http.websocket_origin import is_same_origin

from models import console_sessions
from models.accounts import AuthenticationError
from models.actor import Actor
from models.errors import DomainError, ErrorCode
from settings import Settings

SESSION_PATH = "/console/session"
CSRF_HEADER = "x-csrf-token"
CSRF_PARAM = "csrfToken"  # the key of the CSRF token in a websocket's connection_init payload
NO_STORE = {"Cache-Control": "no-store"}
_STATUS = {ErrorCode.RATE_LIMITED: 429, ErrorCode.INVALID_CREDENTIALS: 401}


def from_own_origin(headers: Mapping[str, str]) -> bool:
    """Whether a browser sent this request from a page of this very origin.

    Fetch Metadata first (the browser computes it; scripts cannot set it); without it (older
    browsers), the Origin header must name this host and port. Neither: not from a browser page.
    """
    site = headers.get("sec-fetch-site")
    if site is not None:
        return site == "same-origin"
    origin = headers.get("origin")
    return origin is not None and is_same_origin(origin, headers.get("host"))


def _error(code: ErrorCode | str, message: str, status: int) -> JSONResponse:
    body = {"errors": [{"message": message, "extensions": {"code": str(code)}}]}
    return JSONResponse(body, status_code=status, headers=NO_STORE)


@dataclass(frozen=True)
class ConsoleSessions:
    """The cookies of this deployment and the checks around them."""

    settings: Settings

    @property
    def secure(self) -> bool:
        """Cookies only over HTTPS: everywhere but development."""
        return not self.settings.is_development

    @property
    def session_cookie(self) -> str:
        """The HttpOnly cookie holding the session token."""
        return ("__Host-" if self.secure else "") + "credits_session"

    @property
    def csrf_cookie(self) -> str:
        """The cookie holding the CSRF token, readable by the console's scripts."""
        return ("__Host-" if self.secure else "") + "credits_csrf"

    async def http_actor(self, request: Request) -> Actor | None:
        """The session's user for a POST from the console's pages with its CSRF header; else None.

        Never for a GET (no mutation runs from one, and a query needs no cookie).
        """
        if request.method != "POST":
            return None
        return await self._actor(request, request.headers.get(CSRF_HEADER))

    async def socket_actor(self, connection: HTTPConnection, params: Mapping[str, Any]) -> Actor | None:
        """The session's user for a websocket opened by the console's pages (the upgrade carried the
        cookie and this origin) whose `connection_init` carries the CSRF token; else None."""
        csrf = params.get(CSRF_PARAM)
        return await self._actor(connection, csrf if isinstance(csrf, str) else None)

    async def _actor(self, connection: HTTPConnection, csrf: str | None) -> Actor | None:
        token = connection.cookies.get(self.session_cookie)
        if not token or not csrf or not from_own_origin(connection.headers):
            return None
        try:
            return await console_sessions.authenticate(token, csrf)
        except AuthenticationError:
            return None

    def _set_cookies(self, response: Response, token: str, csrf: str) -> None:
        # No Max-Age: the cookies end with the browser session; the server ends the session anyway.
        common: dict[str, Any] = {"path": "/", "samesite": "strict", "secure": self.secure}
        response.set_cookie(self.session_cookie, token, httponly=True, **common)
        response.set_cookie(self.csrf_cookie, csrf, httponly=False, **common)

    def _clear_cookies(self, response: Response) -> None:
        for name in (self.session_cookie, self.csrf_cookie):
            response.delete_cookie(name, path="/", secure=self.secure, samesite="strict")

    async def login(self, request: Request) -> Response:
        """`POST /console/session` with `{"email", "password"}` as JSON, from the console's pages only."""
        if not from_own_origin(request.headers):
            return _error("FORBIDDEN", "console sessions start from the console's own pages", 403)
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            return _error("BAD_REQUEST", "send the credentials as application/json", 415)
        try:
            body = json.loads(await request.body())
        except (ValueError, RecursionError):
            body = None
        email = body.get("email") if isinstance(body, dict) else None
        password = body.get("password") if isinstance(body, dict) else None
        if not isinstance(email, str) or not isinstance(password, str):
            return _error(ErrorCode.INVALID_INPUT, "email and password must be strings", 400)
        client = request.client
        try:
            started = await console_sessions.start(email, password, client.host if client else None)
        except DomainError as refused:
            return _error(refused.code, refused.message, _STATUS.get(refused.code, 400))
        # The session this browser held before (another user's, or an older login) ends now,
        # rather than living on to its expiry behind the new cookie.
        if previous := request.cookies.get(self.session_cookie):
            await console_sessions.end(previous, request.cookies.get(self.csrf_cookie) or "")
        response = JSONResponse({"expiresAt": started.expires_at.isoformat()}, headers=NO_STORE)
        self._set_cookies(response, started.token, started.csrf_token)
        return response

    async def logout(self, request: Request) -> Response:
        """`DELETE /console/session`: ends the session (its sockets close) and clears the cookies.

        The caller proves it is the console: this origin, and the CSRF cookie's value in the header.
        """
        csrf = request.headers.get(CSRF_HEADER) or ""
        cookie = request.cookies.get(self.csrf_cookie) or ""
        matches = bool(csrf) and hmac.compare_digest(csrf.encode(), cookie.encode())
        if not matches or not from_own_origin(request.headers):
            return _error("FORBIDDEN", "log out from the console's own pages", 403)
        token = request.cookies.get(self.session_cookie)
        if token:
            await console_sessions.end(token, csrf)
        response = Response(status_code=204, headers=NO_STORE)
        self._clear_cookies(response)
        return response

    def routes(self) -> list[BaseRoute]:
        """`POST` and `DELETE /console/session`."""
        return [
            Route(SESSION_PATH, self.login, methods=["POST"]),
            Route(SESSION_PATH, self.logout, methods=["DELETE"]),
        ]
