"""The console's cookie session over HTTP: flags, CSRF, own origin only, logout, throttling, bearers.

Event streams and websockets: tests/api/test_console_session_sockets.py (a real server).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from api.app import create_app
from models.accounts import set_user_active
from models.user import Role
from settings import Settings
from tests.factories import PASSWORD, Login, make_catalog_admin, make_customer, make_user

SESSION = "/console/session"
OWN = {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}
VIEWER = "query { viewer { email } }"
LOGIN = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { userErrors { code } } }"


async def start_session(http: httpx.AsyncClient, login: Login, **headers: str) -> httpx.Response:
    """POST /console/session as the console's login form does."""
    credentials = {"email": login.user.email, "password": PASSWORD}
    return await http.post(SESSION, json=credentials, headers={**OWN, **headers})


def csrf_of(http: httpx.AsyncClient) -> str:
    """The CSRF cookie the console's scripts read."""
    return http.cookies["credits_csrf"]


async def viewer(http: httpx.AsyncClient, headers: dict[str, str], method: str = "POST") -> Any:
    """`viewer`'s email as the server sees the request, or the error codes."""
    if method == "GET":
        response = await http.get("/graphql", params={"query": VIEWER}, headers=headers)
    else:
        response = await http.post("/graphql", json={"query": VIEWER}, headers=headers)
    body = response.json()
    if body.get("errors"):
        return [e["extensions"]["code"] for e in body["errors"]]
    return body["data"]["viewer"]["email"]


def set_cookie_lines(response: httpx.Response) -> dict[str, str]:
    """Each Set-Cookie line by cookie name."""
    return {line.split("=", 1)[0]: line for line in response.headers.get_list("set-cookie")}


async def test_logging_in_sets_an_httponly_strict_session_cookie_and_a_readable_csrf_cookie(
    http: httpx.AsyncClient,
) -> None:
    # given a customer administrator
    login = await make_user(Role.CUSTOMER_ADMIN, await make_customer())

    # when the console's page logs in
    response = await start_session(http, login)

    # then two cookies: the session's HttpOnly, both SameSite=Strict on every path, no Secure in development
    assert response.status_code == 200, response.text
    assert response.json()["expiresAt"]
    assert response.headers["cache-control"] == "no-store"
    lines = set_cookie_lines(response)
    assert set(lines) == {"credits_session", "credits_csrf"}
    for name, line in lines.items():
        flags = {flag.strip().lower() for flag in line.split(";")[1:]}
        assert {"path=/", "samesite=strict"} <= flags, line
        assert "secure" not in flags
        assert not any(f.startswith(("max-age", "expires", "domain")) for f in flags), line
        assert ("httponly" in flags) == (name == "credits_session"), line
    assert http.cookies["credits_session"].startswith("crs_")
    assert login.user.email not in response.text


async def test_in_production_the_cookies_are_secure_and_host_only(settings: Settings) -> None:
    # given a production server
    production = Settings(
        env="production",
        data_dir=settings.data_dir,
        database_url=settings.effective_database_url,
        jwt_secret=settings.resolved_jwt_secret(),
        admin_email="root@example.com",
        admin_password="root-password",
    )
    login = await make_catalog_admin()
    transport = httpx.ASGITransport(app=create_app(production))

    # when the console logs in over HTTPS
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
        response = await start_session(http, login, Origin="https://testserver")

    # then both cookies are Secure and carry the __Host- prefix (no other host may set them)
    assert response.status_code == 200, response.text
    lines = set_cookie_lines(response)
    assert set(lines) == {"__Host-credits_session", "__Host-credits_csrf"}
    for line in lines.values():
        flags = {flag.strip().lower() for flag in line.split(";")[1:]}
        assert {"secure", "path=/", "samesite=strict"} <= flags, line
        assert not any(flag.startswith("domain") for flag in flags)


async def test_the_cookie_works_only_with_the_csrf_header(http: httpx.AsyncClient) -> None:
    # given a console session
    login = await make_user(Role.END_USER, await make_customer())
    assert (await start_session(http, login)).status_code == 200

    # when /graphql is called with the cookie alone, with a wrong CSRF token, and with the right one
    alone = await viewer(http, OWN)
    wrong = await viewer(http, {**OWN, "X-CSRF-Token": csrf_of(http) + "x"})
    right = await viewer(http, {**OWN, "X-CSRF-Token": csrf_of(http)})

    # then only the last is the user
    assert alone == ["UNAUTHENTICATED"] and wrong == ["UNAUTHENTICATED"]
    assert right == login.user.email


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
        {"Origin": "http://testserver.evil.example"},
        {"Origin": "http://testserver:8080"},  # another port: the same site, another origin
        {"Sec-Fetch-Site": "same-site"},  # a sibling subdomain
        {"Origin": "null"},
        {},  # no browser said where it came from
    ],
)
async def test_the_cookie_is_refused_from_other_origins(
    http: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    # given a console session and its CSRF token (a sibling origin can read cookies: ports are ignored)
    login = await make_user(Role.CUSTOMER_ADMIN, await make_customer())
    assert (await start_session(http, login)).status_code == 200

    # when a page of another origin sends both
    seen = await viewer(http, {**headers, "X-CSRF-Token": csrf_of(http)})

    # then the request is anonymous
    assert seen == ["UNAUTHENTICATED"]


async def test_a_get_request_never_uses_the_cookie(http: httpx.AsyncClient) -> None:
    # given a console session
    login = await make_user(Role.CUSTOMER_ADMIN, await make_customer())
    assert (await start_session(http, login)).status_code == 200

    # when a query comes over GET with the cookie and even the CSRF header
    seen = await viewer(http, {**OWN, "X-CSRF-Token": csrf_of(http)}, method="GET")

    # then it is anonymous
    assert seen == ["UNAUTHENTICATED"]


async def test_logging_out_ends_the_session_on_the_server_and_clears_the_cookies(
    http: httpx.AsyncClient,
) -> None:
    # given a console session, its cookies kept aside as a thief would keep them
    login = await make_user(Role.CUSTOMER_ADMIN, await make_customer())
    assert (await start_session(http, login)).status_code == 200
    token, csrf = http.cookies["credits_session"], csrf_of(http)
    stolen = {**OWN, "X-CSRF-Token": csrf, "Cookie": f"credits_session={token}; credits_csrf={csrf}"}

    # when the console logs out
    response = await http.delete(SESSION, headers={**OWN, "X-CSRF-Token": csrf})

    # then the cookies are cleared, and the old cookie no longer works anywhere
    assert response.status_code == 204
    for line in set_cookie_lines(response).values():
        assert "max-age=0" in line.lower()
    assert "credits_session" not in http.cookies
    async with httpx.AsyncClient(transport=http._transport, base_url="http://testserver") as thief:
        assert await viewer(thief, stolen) == ["UNAUTHENTICATED"]


async def test_a_new_login_ends_the_session_the_browser_held_before(http: httpx.AsyncClient) -> None:
    # given a browser logged in as a customer administrator, its cookies kept aside
    first = await make_user(Role.CUSTOMER_ADMIN, await make_customer())
    assert (await start_session(http, first)).status_code == 200
    token, csrf = http.cookies["credits_session"], csrf_of(http)
    kept = {**OWN, "X-CSRF-Token": csrf, "Cookie": f"credits_session={token}; credits_csrf={csrf}"}

    # when the same browser logs in as someone else
    second = await make_user(Role.END_USER, await make_customer())
    assert (await start_session(http, second)).status_code == 200

    # then the new session works and the one it replaced is over on the server
    assert await viewer(http, {**OWN, "X-CSRF-Token": csrf_of(http)}) == second.user.email
    async with httpx.AsyncClient(transport=http._transport, base_url="http://testserver") as other:
        assert await viewer(other, kept) == ["UNAUTHENTICATED"]


async def test_a_failed_login_leaves_the_current_session_alone(http: httpx.AsyncClient) -> None:
    # given a console session
    login = await make_user(Role.CUSTOMER_ADMIN, await make_customer())
    assert (await start_session(http, login)).status_code == 200
    csrf = csrf_of(http)

    # when a wrong password is tried in the same browser
    credentials = {"email": login.user.email, "password": "wrong password"}
    refused = await http.post(SESSION, json=credentials, headers=OWN)

    # then it is refused and the session still works
    assert refused.status_code >= 400
    assert await viewer(http, {**OWN, "X-CSRF-Token": csrf}) == login.user.email


async def test_logging_out_needs_the_csrf_header_and_the_own_origin(http: httpx.AsyncClient) -> None:
    # given a console session
    login = await make_user(Role.CUSTOMER_ADMIN, await make_customer())
    assert (await start_session(http, login)).status_code == 200
    csrf = csrf_of(http)

    # when another site, or a request without the header, tries to log the user out
    without_header = await http.delete(SESSION, headers=OWN)
    evil = {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}
    foreign = await http.delete(SESSION, headers={**evil, "X-CSRF-Token": csrf})

    # then both are refused, and the session still works
    assert without_header.status_code == 403 and foreign.status_code == 403
    assert await viewer(http, {**OWN, "X-CSRF-Token": csrf}) == login.user.email


async def test_a_deactivated_users_session_stops_working(http: httpx.AsyncClient) -> None:
    # given an end user's console session
    login = await make_user(Role.END_USER, await make_customer())
    catalog = await make_catalog_admin()
    assert (await start_session(http, login)).status_code == 200

    # when the user is deactivated, then reactivated
    await set_user_active(catalog.actor, login.user, False)
    await set_user_active(catalog.actor, login.user, True)

    # then the session started before stays dead
    assert await viewer(http, {**OWN, "X-CSRF-Token": csrf_of(http)}) == ["UNAUTHENTICATED"]


async def test_bearer_tokens_work_as_before_and_win_over_the_cookie(http: httpx.AsyncClient) -> None:
    # given a console session of one user and a JWT of another
    session_user = await make_user(Role.END_USER, await make_customer())
    integrator = await make_catalog_admin()
    assert (await start_session(http, session_user)).status_code == 200

    # when the integrator's token is sent, with the cookie riding along, and without any Origin
    seen = await viewer(http, {"Authorization": f"Bearer {integrator.token}", "X-CSRF-Token": csrf_of(http)})

    # then the request acts as the bearer
    assert seen == integrator.user.email


async def test_session_logins_are_throttled_with_the_login_mutation(http: httpx.AsyncClient) -> None:
    # given ten wrong passwords for one email through the console's login
    login = await make_user(Role.CUSTOMER_ADMIN, await make_customer())
    wrong = {"email": login.user.email, "password": "wrong password"}
    for _ in range(10):
        refused = await http.post(SESSION, json=wrong, headers=OWN)
        assert refused.status_code == 401
        assert refused.json()["errors"][0]["extensions"]["code"] == "INVALID_CREDENTIALS"

    # when the right password comes, on the session endpoint and through the login mutation
    response = await start_session(http, login)
    mutation = await http.post(
        "/graphql",
        json={
            "query": LOGIN,
            "variables": {"e": login.user.email, "p": PASSWORD},
        },
    )

    # then both say RATE_LIMITED, with when to retry, and no cookie is set
    assert response.status_code == 429
    assert response.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert "try again in" in response.json()["errors"][0]["message"]
    assert not response.headers.get_list("set-cookie")
    assert mutation.json()["data"]["login"]["userErrors"] == [{"code": "RATE_LIMITED"}]


async def test_a_session_starts_only_from_the_consoles_own_page_with_json(http: httpx.AsyncClient) -> None:
    # given a user
    login = await make_user(Role.CUSTOMER_ADMIN, await make_customer())
    credentials = {"email": login.user.email, "password": PASSWORD}

    # when another site posts the credentials (login CSRF), or a form posts them
    foreign = await http.post(SESSION, json=credentials, headers={"Origin": "http://evil.example"})
    form = await http.post(SESSION, data=credentials, headers=OWN)

    # then neither starts a session
    assert foreign.status_code == 403 and form.status_code == 415
    assert not foreign.headers.get_list("set-cookie") and not form.headers.get_list("set-cookie")


async def test_the_console_asks_for_a_ledger_export_link_with_its_session(http: httpx.AsyncClient) -> None:
    # given a customer administrator's console session
    customer = await make_customer()
    login = await make_user(Role.CUSTOMER_ADMIN, customer)
    assert (await start_session(http, login)).status_code == 200
    path = f"/exports/ledger/{customer.id}/link"

    # when the console asks for a download link without and with the CSRF header
    refused = await http.post(path, headers=OWN)
    granted = await http.post(path, headers={**OWN, "X-CSRF-Token": csrf_of(http)})

    # then only the second gets one, and the link downloads the CSV
    assert refused.status_code == 401
    assert granted.status_code == 200, granted.text
    download = await http.get(granted.json()["url"])
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
