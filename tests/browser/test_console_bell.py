"""The bell in Chromium (issue 21, point 8): each notification with its time, its text in the
console's money format and a link to what it is about; it closes on a click outside and on Escape;
only customer administrators, who receive notifications, have one."""

from __future__ import annotations

import re
import uuid
from typing import Any

from playwright.async_api import expect

from models.user import Role
from tests.browser.conftest import badge, log_in, screenshot
from tests.factories import PASSWORD, make_catalog_admin, make_customer, make_service, make_user

REQUEST = """mutation($input: RequestServiceInput!) {
  requestService(input: $input) { serviceRequest { id } userErrors { code message } } }"""


async def below_zero(api: Any, name: str) -> Any:
    """A customer whose end user's request of 25.00 took 10.00 to −15.00; returns its administrator."""
    customer = await make_customer(name, balance=10)
    service = await make_service("25.00", f"Scanning {uuid.uuid4().hex[:4]}")
    owner = await make_user(Role.CUSTOMER_ADMIN, customer)
    user = await make_user(Role.END_USER, customer)
    made = {"serviceId": str(service.id), "quantity": 1, "idempotencyKey": uuid.uuid4().hex}
    data = await api(user.token)(REQUEST, {"input": made})
    assert not data["requestService"]["userErrors"]
    return owner


async def test_a_notification_has_its_time_its_amounts_as_money_and_a_link_to_the_balance(
    open_tab: Any, api: Any, artifacts: Any
) -> None:
    # given a customer administrator whose balance fell below zero, on its API tokens screen
    owner = await below_zero(api, "Sigma Oy")
    tab = await open_tab()
    await log_in(tab, owner.user.email, PASSWORD)
    page = tab.page
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="API tokens").click()
    bell = page.get_by_role("button", name="Notifications, 1 unread")

    # when it opens the bell
    await bell.click()
    panel = page.get_by_role("region", name="Notifications")
    item = panel.get_by_role("listitem")

    # then the notification reads as money (U+2212, a unit) and says when, with the exact time on hover
    await expect(item).to_have_count(1)
    await expect(item).to_contain_text("The credit balance of Sigma Oy fell below zero: \u221215.00 credits.")
    when = item.locator("relative-time")
    await expect(when).to_have_text("just now")
    await expect(when).to_have_attribute("title", re.compile(r"\d{1,2}:\d{2}:\d{2}"))
    await screenshot(tab, artifacts, "bell-notification")

    # when it follows the notification's link
    await item.get_by_role("link", name="See the balance and ledger").click()

    # then the dashboard opens inside the console, the panel closes and the notification is read
    await expect(page).to_have_url(re.compile(r"/dashboard$"))
    await expect(page.get_by_role("heading", name="Recent transactions")).to_be_visible()
    await expect(panel).to_be_hidden()
    await expect(page.get_by_role("button", name="Notifications", exact=True)).to_be_visible()
    assert tab.errors == []


async def test_the_bell_closes_on_a_click_outside_and_on_escape(open_tab: Any, api: Any) -> None:
    # given a customer administrator with the bell's panel open
    owner = await below_zero(api, "Tau Oy")
    tab = await open_tab()
    await log_in(tab, owner.user.email, PASSWORD)
    page = tab.page
    bell = page.get_by_role("button", name="Notifications")
    panel = page.get_by_role("region", name="Notifications")
    await bell.click()
    await expect(panel).to_be_visible()

    # when it clicks elsewhere on the page, then the panel closes
    await page.get_by_role("heading", level=1).click()
    await expect(panel).to_be_hidden()
    await expect(bell).to_have_attribute("aria-expanded", "false")

    # when it opens it again and presses Escape, then it closes and focus is back on the bell
    await bell.click()
    await expect(panel).to_be_visible()
    await panel.get_by_role("button", name="Mark all read").focus()
    await page.keyboard.press("Escape")
    await expect(panel).to_be_hidden()
    await expect(bell).to_be_focused()

    # and a click inside the panel keeps it open
    await bell.click()
    await panel.get_by_text("Notifications", exact=True).click()
    await expect(panel).to_be_visible()
    assert tab.errors == []


async def test_end_users_and_catalog_administrators_have_no_bell(open_tab: Any) -> None:
    # given an end user and a catalog administrator, who never receive notifications
    customer = await make_customer("Upsilon Oy", balance=5)
    user = await make_user(Role.END_USER, customer)
    catalog = await make_catalog_admin()

    # when each signs in
    mine = await open_tab()
    await log_in(mine, user.user.email, PASSWORD)
    admin = await open_tab()
    await log_in(admin, catalog.user.email, PASSWORD)

    # then the end user sees its balance but neither has a bell (nor an empty panel promising alerts)
    await expect(badge(mine)).to_have_text("5.00")
    for tab in (mine, admin):
        await expect(tab.page.get_by_role("button", name="Notifications")).to_have_count(0)
        await expect(tab.page.get_by_text("No notifications")).to_have_count(0)
    assert mine.errors == [] and admin.errors == []
