"""The runway in the console (issue 22): the dashboard says it in words and sets its alert; the end
user reads the sentence; without spending or credits it says why there is no date."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

from playwright.async_api import expect

from models.user import Role
from tests.browser.conftest import log_in, request_service, screenshot
from tests.factories import PASSWORD, grant_lot, make_catalog_admin, make_customer, make_service, make_user

GB = {"locale": "en-GB", "timezone_id": "UTC"}


def day(moment: dt.datetime) -> str:
    """A UTC day as the console writes it in en-GB: "14 Dec" (with the year outside this year)."""
    shown = f"{moment.day} {moment:%b}"
    return shown if moment.year == dt.datetime.now(dt.UTC).year else f"{shown} {moment.year}"


async def test_the_dashboard_says_the_runway_in_words_and_sets_its_alert(
    open_tab: Any, console_url: str, artifacts: Path
) -> None:
    # given the contract's example: 70 charged this week (10 a day), then lots of 80 expiring in a
    # day and of 20 without expiry
    catalog = await make_catalog_admin()
    customer = await make_customer("Runway BV", balance=70, by=catalog)
    owner = await make_user(Role.CUSTOMER_ADMIN, customer)
    user = await make_user(Role.END_USER, customer)
    service = await make_service("70.00", f"Burn {uuid.uuid4().hex[:4]}")
    assert (await request_service(console_url, user, service))["userErrors"] == []
    now = dt.datetime.now(dt.UTC)
    await grant_lot(customer, 8000, now + dt.timedelta(days=1), by=catalog)
    await grant_lot(customer, 2000, None, by=catalog)

    # when its administrator opens the dashboard
    tab = await open_tab(**GB)
    await log_in(tab, owner.user.email, PASSWORD)
    page = tab.page

    # then the runway is said in words, below the balance
    runway = page.locator(".balance-card .runway")
    when = day(now + dt.timedelta(days=3))
    await expect(runway).to_contain_text(
        f"At the current rate, credits run out on {when}; 70.00 will expire unused first."
    )
    await expect(runway).to_contain_text("10.00 a day")

    # when the administrator asks for a runway alert of 400 days, then of 5
    await page.get_by_label("Alert when credits will run out within").check()
    await page.get_by_label("Days of runway").fill("400")
    await page.get_by_role("button", name="Save runway alert").click()
    await expect(page.get_by_text("Enter a whole number of days from 1 to 365.")).to_be_visible()
    await page.get_by_label("Days of runway").fill("5")
    await page.get_by_role("button", name="Save runway alert").click()

    # then it is saved, and still there after a reload
    await expect(
        page.get_by_text("Saved: you are alerted when credits will run out within 5 days.")
    ).to_be_visible()
    await screenshot(tab, artifacts, "dashboard-runway")
    await page.reload()
    await expect(page.get_by_label("Days of runway")).to_have_value("5")
    await expect(page.get_by_label("Alert when credits will run out within")).to_be_checked()

    # and the end user reads the same sentence on Services, without the setting
    other = await open_tab(**GB)
    await log_in(other, user.user.email, PASSWORD)
    await expect(other.page.locator(".card .runway")).to_contain_text(f"credits run out on {when}")
    await expect(other.page.get_by_label("Days of runway")).to_have_count(0)
    assert tab.errors == [] and other.errors == []


async def test_without_spending_or_credits_the_runway_says_why_there_is_no_date(open_tab: Any) -> None:
    # given a customer that spent nothing this week, and one with no credits
    idle = await make_customer("Idle Kft", balance=40)
    idle_owner = await make_user(Role.CUSTOMER_ADMIN, idle)
    empty = await make_customer("Empty AB")
    empty_owner = await make_user(Role.CUSTOMER_ADMIN, empty)

    # when their administrators open the dashboard
    idle_tab = await open_tab()
    await log_in(idle_tab, idle_owner.user.email, PASSWORD)
    empty_tab = await open_tab()
    await log_in(empty_tab, empty_owner.user.email, PASSWORD)

    # then each says why there is no date
    await expect(idle_tab.page.locator(".runway")).to_have_text(
        "No credits were spent in the last 7 days, so they are not forecast to run out."
    )
    await expect(empty_tab.page.locator(".runway")).to_have_text(
        "No credits left to forecast: the balance is at or below zero."
    )
    assert idle_tab.errors == [] and empty_tab.errors == []
