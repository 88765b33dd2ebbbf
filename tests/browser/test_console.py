"""The console in Chromium: live balance, alerts, reconnects, roles, accessibility, one origin."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.async_api import expect

from models.user import Role
from models.webhooks import create_endpoint
from tests.browser.conftest import Api, badge, log_in, screenshot
from tests.factories import (
    PASSWORD,
    enable_credits,
    make_catalog_admin,
    make_customer,
    make_service,
    make_user,
)
from tests.processes import ServerProcess

AXE = Path(__file__).resolve().parents[2] / "web" / "vendor" / "axe-core@4.14.1" / "axe.min.js"
EMBED_PAGE = Path(__file__).resolve().parents[2] / "docs" / "embed.html"
RED = "rgb(164, 14, 38)"


async def request_service(tab: Any, name: str, *, below_zero: bool = False) -> None:
    """Press Request on a service's row (and Request anyway when it warns of going below zero)."""
    row = tab.page.get_by_role("row").filter(has=tab.page.get_by_role("rowheader", name=name, exact=True))
    await row.get_by_role("button", name="Request").click()
    if below_zero:
        await tab.page.get_by_role("button", name="Request anyway").click()
    await expect(tab.page.get_by_role("status").filter(has_text=f"Requested {name}")).to_be_visible()


async def test_credits_added_in_credit_management_reach_the_customer_admins_badge_live(
    open_tab: Any, artifacts: Path
) -> None:
    # given a customer with no credits, its administrator signed in, and the catalog administrator
    await enable_credits()
    customer = await make_customer("Acme Corp")
    owner = await make_user(Role.CUSTOMER_ADMIN, customer)
    catalog = await make_catalog_admin()
    watcher = await open_tab()
    await log_in(watcher, owner.user.email, PASSWORD)
    await expect(badge(watcher)).to_have_text("0.00")
    admin = await open_tab()
    await log_in(admin, catalog.user.email, PASSWORD)

    # when the catalog administrator adds 100 in Customer Options → Credit Management → Balance
    page = admin.page
    await page.get_by_role("link", name="Acme Corp").click()
    await (
        page.get_by_role("navigation", name="Customer Options")
        .get_by_role("link", name="Credit Management")
        .click()
    )
    await page.get_by_label("Credits to add").fill("100")
    await page.get_by_role("button", name="Add", exact=True).click()
    await page.get_by_role("button", name="Confirm: add 100.00").click()

    # then the new transaction is shown, and the other browser's top menu says 100.00 without a reload
    await expect(page.get_by_text("Done: +100.00 credits (transaction #1)")).to_be_visible()
    await expect(badge(watcher)).to_have_text("100.00")
    await screenshot(admin, artifacts, "credit-management")
    await screenshot(watcher, artifacts, "dashboard-after-grant")
    assert watcher.errors == [] and admin.errors == []


async def test_requests_take_the_badge_below_zero_in_red_and_alert_the_administrator(
    open_tab: Any, artifacts: Path
) -> None:
    # given 100 credits, services priced 40, 60 and 15, the end user and the administrator signed in
    customer = await make_customer("Beta Ltd", balance=100)
    for name, price in (("Translation", "40.00"), ("Rendering", "60.00"), ("Export", "15.00")):
        await make_service(price, name)
    user = await make_user(Role.END_USER, customer)
    owner = await make_user(Role.CUSTOMER_ADMIN, customer)
    admin = await open_tab()
    await log_in(admin, owner.user.email, PASSWORD)
    bell = admin.page.get_by_role("button", name="Notifications")
    await expect(bell).to_have_accessible_name("Notifications")
    tab = await open_tab()
    await log_in(tab, user.user.email, PASSWORD)
    await expect(badge(tab)).to_have_text("100.00")

    # when the end user requests them one after the other, then the badge follows: 60, 0, -15 (red)
    await request_service(tab, "Translation")
    await expect(badge(tab)).to_have_text("60.00")
    await request_service(tab, "Rendering")
    await expect(badge(tab)).to_have_text("0.00")
    await request_service(tab, "Export", below_zero=True)
    await expect(badge(tab)).to_have_text("\u221215.00")  # U+2212, the minus sign
    await expect(badge(tab)).to_have_css("color", RED)
    await screenshot(tab, artifacts, "end-user-services")

    # and the administrator's bell shows exactly one below-zero notification, live
    await expect(bell).to_have_accessible_name("Notifications, 1 unread")
    await expect(badge(admin)).to_have_text("\u221215.00")
    await bell.click()
    panel = admin.page.get_by_role("region", name="Notifications")
    await expect(panel.get_by_role("listitem")).to_have_count(1)
    await expect(panel.get_by_role("listitem")).to_contain_text("fell below zero: \u221215.00 credits")
    await screenshot(admin, artifacts, "notifications")
    await panel.get_by_role("button", name="Mark read").click()
    await expect(bell).to_have_accessible_name("Notifications")
    await bell.click()
    await screenshot(admin, artifacts, "dashboard")
    assert tab.errors == [] and admin.errors == []


async def test_after_the_network_returns_the_badge_and_history_have_every_change_once(
    open_tab: Any, api: Any
) -> None:
    # given an administrator's dashboard showing 10.00 live
    customer = await make_customer("Gamma GmbH", balance=10)
    owner = await make_user(Role.CUSTOMER_ADMIN, customer)
    catalog = await make_catalog_admin()
    tab = await open_tab()
    await log_in(tab, owner.user.email, PASSWORD)
    await expect(badge(tab)).to_have_text("10.00")
    await expect(tab.page.locator("tr[data-sequence]")).to_have_count(1)

    # when the network drops while two grants happen, and comes back
    await tab.context.set_offline(True)
    await expect(badge(tab)).to_contain_text("reconnecting")
    grants = api(catalog.token)
    await grants.grant(str(customer.id), "5")
    last = await grants.grant(str(customer.id), "2.50")
    await tab.context.set_offline(False)

    # then the badge shows the balance after both, and the history holds 1, 2, 3 exactly once
    await expect(badge(tab)).to_have_text(last["balanceAfter"])
    assert last["balanceAfter"] == "17.50"
    rows = tab.page.locator("tr[data-sequence]")
    await expect(rows).to_have_count(3)
    sequences = [int(s) for s in await rows.evaluate_all("rows => rows.map(r => r.dataset.sequence)")]
    assert sequences == [3, 2, 1]
    assert tab.errors == []


async def test_after_the_network_returns_the_bell_counts_what_happened_meanwhile(
    open_tab: Any, api: Any
) -> None:
    # given an administrator's dashboard, live, with no notification
    customer = await make_customer("Delta AB", balance=10)
    owner = await make_user(Role.CUSTOMER_ADMIN, customer)
    catalog = await make_catalog_admin()
    tab = await open_tab()
    await log_in(tab, owner.user.email, PASSWORD)
    await expect(badge(tab)).to_have_text("10.00")
    bell = tab.page.get_by_role("button", name="Notifications")
    await expect(bell).to_have_accessible_name("Notifications")
    # (the dashboard's modules loaded, the runway's after the first draw: the outage is the socket's)
    await tab.page.wait_for_load_state("networkidle")

    # when the network drops while a withdrawal takes the balance below zero, and comes back
    await tab.context.set_offline(True)
    await expect(badge(tab)).to_contain_text("reconnecting")
    data = await api(catalog.token)(
        "mutation($input: BalanceChangeInput!) { withdrawCredits(input: $input) { userErrors { code } } }",
        {"input": {"customerId": str(customer.id), "amount": "25"}},
    )
    assert data["withdrawCredits"]["userErrors"] == []
    await tab.context.set_offline(False)

    # then the bell counts the below-zero notification it never received as an event
    await expect(badge(tab)).to_have_text("\u221215.00")
    await expect(bell).to_have_accessible_name("Notifications, 1 unread")
    assert tab.errors == []


async def test_an_end_user_sees_no_ledger_and_cannot_open_catalog_screens(
    open_tab: Any, artifacts: Path
) -> None:
    # given an end user signed in
    customer = await make_customer("Delta Inc", balance=50)
    user = await make_user(Role.END_USER, customer)
    tab = await open_tab()
    await log_in(tab, user.user.email, PASSWORD)
    page = tab.page
    await expect(badge(tab)).to_have_text("50.00")

    # then the menu offers no dashboard or catalog, and its screen has no ledger
    menu = page.get_by_role("navigation", name="Main")
    await expect(menu.get_by_role("link")).to_have_text(["Services", "API tokens"])
    await expect(page.get_by_role("table", name="Recent transactions")).to_have_count(0)

    # and typing the administrators' URLs shows "not available", no data
    for path in ("/dashboard", "/customers", "/catalog", f"/customers/{customer.id}/credit-management"):
        await page.goto(path)
        await expect(page.get_by_role("heading", name="This page is not available")).to_be_visible()
        await expect(page.get_by_role("table")).to_have_count(0)
    await screenshot(tab, artifacts, "end-user-not-available")


async def test_axe_finds_no_serious_or_critical_violation_on_any_screen(
    open_tab: Any, artifacts: Path
) -> None:
    # given every screen of every role
    customer = await make_customer("Zeta AG", balance=30)
    await make_service("12.50", "Translation")
    owner = await make_user(Role.CUSTOMER_ADMIN, customer)
    user = await make_user(Role.END_USER, customer)
    catalog = await make_catalog_admin()
    hook = (await create_endpoint("http://127.0.0.1:9/hooks", customer.id, None, "axe")).endpoint
    screens = [
        (None, ["/login"]),
        (
            catalog,
            [
                "/customers",
                f"/customers/{customer.id}",
                f"/customers/{customer.id}/credit-management",
                f"/customers/{customer.id}/users",
                "/requests",
                "/catalog",
                "/webhooks",
                f"/webhooks/{hook.id}",
                "/tokens",
            ],
        ),
        (owner, ["/dashboard", "/services", "/users", "/webhooks", f"/webhooks/{hook.id}", "/tokens"]),
        (user, ["/services", "/tokens"]),
    ]
    axe = AXE.read_text()
    found = {}
    for who, paths in screens:
        tab = await open_tab()
        if who is not None:
            await log_in(tab, who.user.email, PASSWORD)
        for path in paths:
            await tab.page.goto(path)
            await tab.page.get_by_role("heading", level=1).first.wait_for()
            await tab.page.wait_for_load_state("networkidle")
            await screenshot(
                tab,
                artifacts,
                f"{who.user.role.value.lower() if who else 'anonymous'}{path.replace('/', '-')}",
            )
            assert tab.errors == [], path
            # when axe-core (vendored) checks the screen (axe itself sets inline styles the CSP refuses)
            await tab.page.evaluate(axe)
            result = await tab.page.evaluate("async () => JSON.stringify((await axe.run()).violations)")
            bad = [v for v in json.loads(result) if v["impact"] in ("serious", "critical")]
            if bad:
                found[path] = [(v["id"], v["help"], [n["target"] for n in v["nodes"]][:3]) for v in bad]
            tab.errors.clear()

    # then nothing serious or critical
    assert found == {}


async def test_every_request_of_the_console_goes_to_its_own_origin(
    open_tab: Any, console_url: str, console_server: ServerProcess
) -> None:
    # given a catalog administrator and a customer administrator using their screens
    customer = await make_customer("Eta Oy", balance=30)
    owner = await make_user(Role.CUSTOMER_ADMIN, customer)
    catalog = await make_catalog_admin()
    tabs = []
    for who, paths in (
        (catalog, ["/customers", f"/customers/{customer.id}/credit-management", "/catalog", "/tokens"]),
        (owner, ["/dashboard", "/services"]),
    ):
        tab = await open_tab()
        await log_in(tab, who.user.email, PASSWORD)
        for path in paths:
            await tab.page.goto(path)
            await tab.page.wait_for_load_state("networkidle")
        await expect(badge(tab)).to_have_count(0 if who is catalog else 1)
        tabs.append(tab)

    # then every HTTP request and websocket went to the service itself
    origin = urlsplit(console_url)
    seen = [url for tab in tabs for url in tab.requests]
    assert any(url.startswith("ws://") for url in seen), "the live websocket was opened"
    strangers = [
        url for url in seen if (urlsplit(url).hostname, urlsplit(url).port) != (origin.hostname, origin.port)
    ]
    assert strangers == []
    # and no token ever travelled in a URL or reached the server's log
    assert not [url for url in seen if "token" in urlsplit(url).query.lower() or "eyJ" in url]
    log = console_server.log_path.read_text()
    assert "eyJ" not in log and "Bearer" not in log
    assert all(tab.errors == [] for tab in tabs)


async def test_graphiql_works_without_internet(open_tab: Any, console_url: str) -> None:
    # given a browser that cannot reach anything but the service
    tab = await open_tab()
    origin = urlsplit(console_url)
    blocked: list[str] = []

    async def only_the_service(route: Any) -> None:
        url = urlsplit(route.request.url)
        if (url.hostname, url.port) == (origin.hostname, origin.port):
            await route.continue_()
        else:
            blocked.append(route.request.url)
            await route.abort()

    await tab.page.route("**/*", only_the_service)
    violations: list[str] = []
    tab.page.on("console", lambda m: "Content Security Policy" in m.text and violations.append(m.text))

    # when it opens /graphql
    await tab.page.goto("/graphql")

    # then GraphiQL renders from the vendored files, within the page's Content-Security-Policy
    await expect(tab.page.locator(".graphiql-container")).to_be_visible()
    await expect(tab.page.get_by_text("Loading GraphiQL")).to_have_count(0)
    await expect(tab.page.locator(".graphiql-query-editor .CodeMirror")).to_be_visible()
    assert blocked == [] and tab.errors == [] and violations == []


@contextmanager
def host_app() -> Iterator[str]:
    """A plain host app on its own origin: docs/ served by Python's http.server on a free port."""
    handler = partial(SimpleHTTPRequestHandler, directory=str(EMBED_PAGE.parent))
    handler.log_message = lambda *args: None  # type: ignore[method-assign]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# A host page with an AMD loader (RequireJS's `define.amd`) and a `graphqlWs` global of its own.
AMD_HOST = """
window.graphqlWs = "the host's own";
window.defined = [];
window.define = function (deps, factory) { window.defined.push(deps); };
window.define.amd = {};
"""
HOST_GLOBALS = (
    "() => [typeof window.define, window.define.amd !== undefined, window.graphqlWs, window.defined.length]"
)


@pytest.mark.parametrize("amd", [False, True], ids=["plain host", "host with an AMD loader"])
async def test_the_element_works_embedded_in_a_host_page_of_another_origin(
    browser: Any, server_env: dict[str, str], artifacts: Path, amd: bool
) -> None:
    # given the service allowing a host app's origin, and docs/embed.html served by that host
    # (in one case with an AMD loader and a graphqlWs global of its own)
    customer = await make_customer(f"Theta Co {amd}", balance=25)
    owner = await make_user(Role.CUSTOMER_ADMIN, customer)
    catalog = await make_catalog_admin()
    with host_app() as host, ServerProcess({**server_env, "CREDITS_CORS_ORIGINS": f'["{host}"]'}) as service:
        context = await browser.new_context()
        try:
            page = await context.new_page()
            if amd:
                await page.add_init_script(AMD_HOST)
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            await page.goto(f"{host}/embed.html?service={service.base_url}")

            # when the host logs in and hands the element its token getter
            await page.get_by_label("Email").fill(owner.user.email)
            await page.get_by_label("Password").fill(PASSWORD)
            await page.get_by_role("button", name="Log in").click()

            # then the element shows the balance, and follows a grant live
            balance = page.get_by_role("status", name="Credit balance")
            await expect(balance).to_have_text("25.00")
            grants = Api(service.base_url, catalog.token)
            await grants.grant(str(customer.id), "5")
            await grants.close()
            await expect(balance).to_have_text("30.00")
            await page.screenshot(path=str(artifacts / "embedded.png"))
            assert errors == []
            # and the host page's loader and globals are as it left them: the library went to no one
            if amd:
                assert await page.evaluate(HOST_GLOBALS) == ["function", True, "the host's own", 0]
            else:
                assert await page.evaluate("() => 'graphqlWs' in window") is False
        finally:
            await context.close()


async def test_graphiql_runs_a_subscription_with_the_token_of_its_headers_tab(open_tab: Any) -> None:
    # given GraphiQL with a subscription in its editor and a catalog administrator's token in Headers
    customer = await make_customer("Phi Ltd", balance=2)
    catalog = await make_catalog_admin()
    tab = await open_tab()
    page = tab.page
    await page.goto("/graphql")
    await page.locator(".graphiql-query-editor .CodeMirror").wait_for()
    query = (
        f'subscription {{ balanceChanged(customerId: "{customer.id}", afterSequence: 0) '
        "{ balance sequence } }"
    )
    await page.evaluate(
        "q => document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue(q)", query
    )
    # GraphiQL reads an edited document after a debounce, storing it in the same step in which it
    # learns the operation is a subscription; executed before that, it went over HTTP (a loaded box).
    await page.wait_for_function("q => localStorage.getItem('graphiql:query') === q", arg=query)
    await page.get_by_role("button", name="Headers").click()
    headers = json.dumps({"Authorization": f"Bearer {catalog.token}"})
    await page.evaluate(
        "h => [...document.querySelectorAll('.graphiql-editor-tool .CodeMirror')].at(-1)"
        ".CodeMirror.setValue(h)",
        headers,
    )

    # when it runs the subscription
    await page.get_by_role("button", name="Execute query").click()

    # then the socket accepted the token: the replayed ledger entry arrives in the response pane
    response = page.locator(".graphiql-response")
    await expect(response).to_contain_text('"balance": "2.00"')
    await expect(response).to_contain_text('"sequence": 1')
    assert tab.errors == []
