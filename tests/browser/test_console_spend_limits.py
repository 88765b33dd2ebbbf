"""Spend limits in the console's users tables (issue 22): each user's limit, spent and reset, set and
removed by customer and catalog administrators; a request past it refused in the console's words."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from playwright.async_api import expect

from models.spend_settings import set_spend_limit
from models.user import Role, SpendLimitPeriod
from tests.browser.conftest import log_in, request_service
from tests.factories import PASSWORD, make_catalog_admin, make_customer, make_service, make_user

GB = {"locale": "en-GB", "timezone_id": "UTC"}


async def test_the_users_table_shows_and_sets_each_users_spend_limit(open_tab: Any, console_url: str) -> None:
    # given a customer administrator and an end user, in December
    customer = await make_customer("Limit GmbH", balance=1000)
    owner = await make_user(Role.CUSTOMER_ADMIN, customer)
    user = await make_user(Role.END_USER, customer)
    service = await make_service("120.00", f"Scan {uuid.uuid4().hex[:4]}")
    tab = await open_tab(**GB)
    await log_in(tab, owner.user.email, PASSWORD)
    page = tab.page
    await page.get_by_role("link", name="Users").click()
    row = page.get_by_role("table", name="Users").get_by_role("row").filter(has_text=user.user.email)
    await expect(row).to_contain_text("No limit")

    # when the administrator sets the end user's limit to 200 a month
    await page.get_by_role("button", name=f"Set limit for {user.user.email}").click()
    await expect(page.get_by_label("Spend limit (credits)", exact=True)).to_be_focused()
    await page.get_by_label("Spend limit (credits)", exact=True).fill("200")
    await page.get_by_role("button", name="Save limit").click()

    # then the row says what is spent and when it resets
    now = dt.datetime.now(dt.UTC)
    first = (now.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    resets = f"{first.day} {first:%b}"
    await expect(row).to_contain_text(f"0.00 of 200.00 this month, resets {resets}")

    # when the end user spends 120 of it, and then asks for 120 more
    assert (await request_service(console_url, user, service))["userErrors"] == []
    await page.reload()
    await expect(row).to_contain_text(f"120.00 of 200.00 this month, resets {resets}")
    other = await open_tab(**GB)
    await log_in(other, user.user.email, PASSWORD)
    await (
        other.page.get_by_role("row")
        .filter(has_text=service.name)
        .get_by_role("button", name="Request")
        .click()
    )

    # then the request is refused in the console's words
    await expect(
        other.page.get_by_text("This would go over the spend limit for this period.")
    ).to_be_visible()

    # and a removed limit reads "No limit"
    await page.get_by_role("button", name=f"Set limit for {user.user.email}").click()
    await page.get_by_role("button", name="Remove limit").click()
    await expect(row).to_contain_text("No limit")
    assert tab.errors == [] and other.errors == []


async def test_the_catalog_administrator_sets_a_daily_limit_on_a_customers_users_page(open_tab: Any) -> None:
    # given a customer's user and the catalog administrator on the customer's Users
    customer = await make_customer("Daily SA")
    user = await make_user(Role.END_USER, customer)
    catalog = await make_catalog_admin()
    tab = await open_tab(**GB)
    await log_in(tab, catalog.user.email, PASSWORD)
    page = tab.page
    await page.goto(f"/customers/{customer.id}/users")

    # when it sets 25 a day
    await page.get_by_role("button", name=f"Set limit for {user.user.email}").click()
    await page.get_by_label("Spend limit (credits)", exact=True).fill("25")
    await page.get_by_label("Period").select_option("DAY")
    await page.get_by_role("button", name="Save limit").click()

    # then the row says it, resetting at midnight UTC
    row = page.get_by_role("table", name="Users").get_by_role("row").filter(has_text=user.user.email)
    await expect(row).to_contain_text("0.00 of 25.00 today, resets at 00:00")
    assert tab.errors == []


async def test_an_end_user_reads_its_own_spend_limit_on_services_as_it_spends(open_tab: Any) -> None:
    # given an end user with a limit of 50 a month, and a service priced 40
    customer = await make_customer("Own Limit Oy", balance=500)
    user = await make_user(Role.END_USER, customer)
    await set_spend_limit(user.user, 50_00, SpendLimitPeriod.MONTH)
    service = await make_service("40.00", f"Print {uuid.uuid4().hex[:4]}")
    tab = await open_tab(**GB)
    await log_in(tab, user.user.email, PASSWORD)
    page = tab.page
    now = dt.datetime.now(dt.UTC)
    first = (now.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    line = page.locator(".spend-limit-line")
    resets = f"this month, resets {first.day} {first:%b}."

    # when it opens Services, then its limit is said under the services table
    await expect(line).to_have_text(f"Your spend limit: 0.00 of 50.00 {resets}")

    # when it requests the service, then the line follows
    request = page.get_by_role("row").filter(has_text=service.name).get_by_role("button", name="Request")
    await request.click()
    await expect(line).to_have_text(f"Your spend limit: 40.00 of 50.00 {resets}")

    # when it asks again, then the request is refused and the line stays
    await request.click()
    await expect(page.get_by_text("This would go over the spend limit for this period.")).to_be_visible()
    await expect(line).to_have_text(f"Your spend limit: 40.00 of 50.00 {resets}")

    # when it cancels the first request, then the refund gives the room back
    await page.get_by_role("table", name="Your requests").get_by_role("button", name="Cancel").click()
    await expect(line).to_have_text(f"Your spend limit: 0.00 of 50.00 {resets}")
    assert tab.errors == []


async def test_a_user_without_a_limit_sees_no_limit_line(open_tab: Any) -> None:
    # given an end user without a spend limit, on Services
    customer = await make_customer("No Limit Oy", balance=10)
    user = await make_user(Role.END_USER, customer)
    tab = await open_tab(**GB)
    await log_in(tab, user.user.email, PASSWORD)

    # then no limit line is shown
    await expect(tab.page.get_by_role("heading", name="Request a service")).to_be_visible()
    await expect(tab.page.locator(".spend-limit-line")).to_be_hidden()
    assert tab.errors == []
