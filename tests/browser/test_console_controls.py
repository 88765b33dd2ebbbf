"""Credit Management's spending controls in the console (issue 22): the minimum balance and the auto
top-up rule, set, refused in the console's words, and acting live."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from playwright.async_api import expect

from models.user import Role
from tests.browser.conftest import log_in, request_service, screenshot
from tests.factories import PASSWORD, make_catalog_admin, make_customer, make_service, make_user


async def test_credit_management_sets_a_minimum_balance_and_an_auto_top_up_that_acts_live(
    open_tab: Any, console_url: str, artifacts: Path
) -> None:
    # given a customer with 100 credits, an end user, and the catalog administrator on Credit Management
    customer = await make_customer("Floor Ltd", balance=100)
    user = await make_user(Role.END_USER, customer)
    service = await make_service("90.00", f"Render {uuid.uuid4().hex[:4]}")
    catalog = await make_catalog_admin()
    tab = await open_tab()
    await log_in(tab, catalog.user.email, PASSWORD)
    page = tab.page
    await page.goto(f"/customers/{customer.id}/credit-management")
    controls = page.get_by_role("region", name="Spending controls")
    await expect(controls).to_contain_text("No minimum balance")
    await expect(controls).to_contain_text("Auto top-up is off.")

    # when it sets a minimum balance of −50 and an auto top-up of 50 below 20, twice a day at most
    await page.get_by_label("Minimum balance (credits)").fill("-50")
    await page.get_by_role("button", name="Save minimum balance").click()
    await expect(controls).to_contain_text("below \u221250.00 credits are refused")
    await page.get_by_label("Top up when the balance would fall below").fill("20")
    await page.get_by_label("Credits added each time").fill("50")
    await page.get_by_label("Added credits expire after (days)").fill("30")
    await page.get_by_label("Top-ups a day at most").fill("2")
    await page.get_by_role("button", name="Save auto top-up").click()
    await expect(controls).to_contain_text("expiring after 30 days")
    await expect(controls).to_contain_text("Topped up today: 0 of 2.")

    # and a charge crosses the threshold
    assert (await request_service(console_url, user, service))["userErrors"] == []

    # then the top-up shows live, and the ledger names its entry
    await expect(controls).to_contain_text("Topped up today: 1 of 2.")
    ledger = page.get_by_role("table", name="Recent transactions")
    await expect(ledger.get_by_role("row").filter(has_text="Auto top-up")).to_contain_text("+50.00")
    await screenshot(tab, artifacts, "credit-management-controls")

    # when it types values the API refuses, the console says so beside each field, in its words
    await page.get_by_label("Top-ups a day at most").fill("30")
    await page.get_by_role("button", name="Save auto top-up").click()
    await expect(
        page.get_by_text("Enter a whole number from 1 to 24, or leave it empty for 3.")
    ).to_be_visible()
    await page.get_by_label("Top-ups a day at most").fill("2")
    await page.get_by_label("Added credits expire after (days)").fill("0")
    await page.get_by_role("button", name="Save auto top-up").click()
    await expect(
        page.get_by_text("Enter a number of days from 1 to 3,650, or leave it empty for never.")
    ).to_be_visible()

    # and a withdrawal past the floor is refused in the console's words
    await page.get_by_label("Minimum balance (credits)").fill("0")
    await page.get_by_role("button", name="Save minimum balance").click()
    await expect(controls).to_contain_text("below 0.00 credits are refused")
    await page.get_by_label("Credits to remove").fill("500")
    await page.get_by_role("button", name="Remove", exact=True).click()
    await page.get_by_role("button", name="Confirm: remove 500.00").click()
    await expect(page.get_by_text("this would take the balance below its minimum balance")).to_be_visible()

    # when it disables the top-up and removes the floor, both say so
    await page.get_by_role("button", name="Disable auto top-up").click()
    await expect(controls).to_contain_text("Auto top-up is off.")
    await page.get_by_role("button", name="Remove minimum balance").click()
    await expect(controls).to_contain_text("No minimum balance")
    await expect(page.get_by_label("Minimum balance (credits)")).to_have_value("")
    assert tab.errors == []
