"""The console's session in Chromium: new tabs and reloads keep it, logout ends it everywhere, no token in
the page, deep links, and the console's own not-found page."""

from __future__ import annotations

import json
from typing import Any

from playwright.async_api import expect

from models.user import Role
from tests.browser.conftest import Tab, badge, log_in
from tests.factories import PASSWORD, make_catalog_admin, make_customer, make_user

NOTHING_STORED = "() => JSON.stringify([Object.keys(sessionStorage), Object.keys(localStorage)])"


async def same_browser_tab(tab: Tab) -> Tab:
    """Another tab of the same browser (same cookies), as a middle click opens one."""
    other = Tab(await tab.context.new_page(), tab.context)
    other.page.on("pageerror", lambda error: other.errors.append(str(error)))
    return other


async def test_a_login_survives_a_new_tab_and_a_reload_without_a_token_in_the_page(open_tab: Any) -> None:
    # given a customer administrator signed in on one tab
    customer = await make_customer("Sigma GmbH", balance=25)
    owner = await make_user(Role.CUSTOMER_ADMIN, customer)
    first = await open_tab()
    await log_in(first, owner.user.email, PASSWORD)
    await expect(badge(first)).to_have_text("25.00")

    # when the user opens the console in a new tab of the same browser, then reloads it
    second = await same_browser_tab(first)
    await second.page.goto("/webhooks")
    await expect(second.page.get_by_role("heading", name="Webhooks", exact=True)).to_be_visible()
    await second.page.reload()

    # then the new tab is signed in, on the same screen after the reload, with the live balance
    await expect(second.page.get_by_role("button", name="Log out")).to_be_visible()
    await expect(second.page.get_by_role("heading", name="Webhooks", exact=True)).to_be_visible()
    assert second.page.url.endswith("/webhooks")
    await expect(badge(second)).to_have_text("25.00")
    # and no script of the page can read the session: nothing stored, the session cookie HttpOnly
    assert json.loads(await second.page.evaluate(NOTHING_STORED)) == [[], []]
    readable = await second.page.evaluate("() => document.cookie")
    assert "credits_session" not in readable and "credits_csrf" in readable
    cookies = {c["name"]: c for c in await first.context.cookies()}
    assert cookies["credits_session"]["httpOnly"] and cookies["credits_session"]["sameSite"] == "Strict"
    assert first.errors == [] and second.errors == []


async def test_a_reload_on_a_deep_link_keeps_the_screen(open_tab: Any) -> None:
    # given a catalog administrator on a customer's page
    await make_customer("Tau Corp", balance=3)
    catalog = await make_catalog_admin()
    tab = await open_tab()
    await log_in(tab, catalog.user.email, PASSWORD)
    await tab.page.get_by_role("link", name="Tau Corp").click()
    await expect(tab.page.get_by_role("heading", name="Tau Corp", level=1)).to_be_visible()
    deep_link = tab.page.url

    # when the page is reloaded
    await tab.page.reload()

    # then the same customer's page shows again, signed in
    await expect(tab.page.get_by_role("heading", name="Tau Corp", level=1)).to_be_visible()
    assert tab.page.url == deep_link
    assert tab.errors == []


async def test_a_deep_link_opened_signed_out_comes_back_after_the_login(open_tab: Any) -> None:
    # given a catalog administrator who is not signed in, and a link to a customer's page
    await make_customer("Upsilon AB", balance=1)
    catalog = await make_catalog_admin()
    tab = await open_tab()
    await log_in(tab, catalog.user.email, PASSWORD)
    await tab.page.get_by_role("link", name="Upsilon AB").click()
    await expect(tab.page.get_by_role("heading", name="Upsilon AB", level=1)).to_be_visible()
    deep_link = tab.page.url
    await tab.page.get_by_role("button", name="Log out").click()
    await expect(tab.page.get_by_role("button", name="Log in")).to_be_visible()

    # when the link is opened and the user logs in
    await tab.page.goto(deep_link)
    await tab.page.get_by_label("Email").fill(catalog.user.email)
    await tab.page.get_by_label("Password").fill(PASSWORD)
    await tab.page.get_by_role("button", name="Log in").click()

    # then the console opens the linked page, not the start page
    await expect(tab.page.get_by_role("heading", name="Upsilon AB", level=1)).to_be_visible()
    assert tab.page.url == deep_link


async def test_logging_out_in_one_tab_logs_out_every_tab(open_tab: Any) -> None:
    # given an end user signed in on two tabs of one browser
    customer = await make_customer("Phi Oy", balance=5)
    user = await make_user(Role.END_USER, customer)
    first = await open_tab()
    await log_in(first, user.user.email, PASSWORD)
    second = await same_browser_tab(first)
    await second.page.goto("/services")
    await expect(badge(second)).to_have_text("5.00")

    # when the user logs out in the first tab
    await first.page.get_by_role("button", name="Log out").click()

    # then the other tab goes to the login page too, and a reload does not sign it in again
    await expect(second.page.get_by_role("button", name="Log in")).to_be_visible()
    await expect(second.page.get_by_role("button", name="Log out")).to_have_count(0)
    await second.page.reload()
    await expect(second.page.get_by_role("button", name="Log in")).to_be_visible()
    assert [c["name"] for c in await first.context.cookies()] == []


async def test_an_unknown_url_shows_the_consoles_not_found_page(open_tab: Any) -> None:
    # given someone not signed in
    tab = await open_tab()

    # when they open a URL the console does not have
    response = await tab.page.goto("/no-such-page")

    # then the console's own page says so (404), with a way to the login
    assert response is not None and response.status == 404
    await expect(tab.page.get_by_role("heading", name="Page not found")).to_be_visible()
    await tab.page.get_by_role("link", name="Go to the login page").click()
    await expect(tab.page.get_by_role("button", name="Log in")).to_be_visible()

    # and signed in, an unknown screen inside a known section says the same, with the way home
    catalog = await make_catalog_admin()
    await log_in(tab, catalog.user.email, PASSWORD)
    await tab.page.goto("/customers/x/nothing")
    await expect(tab.page.get_by_role("heading", name="Page not found")).to_be_visible()
    await expect(tab.page.get_by_role("button", name="Log out")).to_be_visible()
    await tab.page.get_by_role("link", name="Go to your start page").click()
    await expect(tab.page.get_by_role("heading", name="Customers", level=1)).to_be_visible()
    assert tab.errors == []


async def test_the_not_found_page_fits_phones_and_desktops(open_tab: Any) -> None:
    for width, height in ((1440, 900), (390, 844)):
        # given a browser of that size
        tab = await open_tab(width=width, height=height)

        # when it opens a long unknown URL
        await tab.page.goto("/" + "a-very-long-address-segment/" * 8)

        # then the page says so without sideways scrolling
        await expect(tab.page.get_by_role("heading", name="Page not found")).to_be_visible()
        assert await tab.page.evaluate("() => document.documentElement.scrollWidth") <= width
