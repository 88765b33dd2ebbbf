"""Credit lots in the console: Add's More options, the lots table, allocations, what expires next."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from models.credits import change_balance
from models.transaction import TransactionKind
from models.user import Role
from tests.browser.conftest import badge, log_in, screenshot
from tests.factories import PASSWORD, enable_credits, make_catalog_admin, make_customer, make_user
from tests.processes import ServerProcess

# The value of a datetime-local input `days` from now, in the browser's own time zone.
LOCAL_IN_DAYS = """(days) => {
  const d = new Date(Date.now() + days * 86400000);
  const p = (n) => String(n).padStart(2, "0");
  const day = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
  return `${day}T${p(d.getHours())}:${p(d.getMinutes())}:00`;
}"""


@pytest.fixture(scope="module")
def console_server(server_env: dict[str, str]) -> Iterator[ServerProcess]:
    """This module's server sweeps lots every second, as a deployment does (the suite's do not)."""
    with ServerProcess({**server_env, "CREDITS_LOT_SWEEP_SECONDS": "1"}) as server:
        yield server


async def grant_expiring(by: Any, customer_id: Any, hundredths: int, expires_at: dt.datetime) -> None:
    """Grant credits that expire at `expires_at`, as the catalog administrator `by`."""
    kind = TransactionKind.GRANT
    await change_balance(by.actor, kind, customer_id, hundredths, None, None, expires_at=expires_at)


async def open_credit_management(tab: Any, customer_id: Any) -> Any:
    """The catalog administrator's Credit Management page of a customer."""
    await tab.page.goto(f"/customers/{customer_id}/credit-management")
    await expect(tab.page.get_by_role("table", name="Credit lots")).to_be_visible()
    return tab.page


def lots_table(page: Any) -> Any:
    """The Credit lots table."""
    return page.get_by_role("table", name="Credit lots")


async def test_a_grant_with_more_options_becomes_a_lot_with_its_priority_and_expiry(
    open_tab: Any, artifacts: Path
) -> None:
    # given the catalog administrator on a customer's Credit Management
    await enable_credits()
    customer = await make_customer("Lot Ltd")
    catalog = await make_catalog_admin()
    tab = await open_tab()
    await log_in(tab, catalog.user.email, PASSWORD)
    page = await open_credit_management(tab, customer.id)
    await expect(lots_table(page)).to_contain_text("No credit lots yet.")

    # when it adds 100 credits with priority 10, expiring in three days, under More options
    await page.get_by_label("Credits to add").fill("100")
    await page.get_by_text("More options").click()
    await page.get_by_label("Expires on").fill(await page.evaluate(LOCAL_IN_DAYS, 3))
    await page.get_by_label("Priority", exact=True).fill("10")
    await page.get_by_role("button", name="Add", exact=True).click()
    await expect(page.get_by_role("group", name="Confirm add")).to_contain_text("priority 10")
    await page.get_by_role("button", name="Confirm: add 100.00").click()

    # then the lots table lists it, live, and the ledger row says which lot the grant made
    await expect(page.get_by_text("Done: +100.00 credits (transaction #1)")).to_be_visible()
    row = lots_table(page).get_by_role("row").filter(has_text="#1")
    await expect(row).to_contain_text("100.00")
    await expect(row).to_contain_text("Active")
    await expect(row.get_by_role("cell").nth(3)).to_have_text("10")
    await expect(row.get_by_role("cell").nth(4)).not_to_have_text("Never")
    allocations = page.get_by_role("table", name="Recent transactions").get_by_text("1 lot")
    await allocations.click()
    await expect(page.get_by_role("table", name="Recent transactions")).to_contain_text(
        "Lot from #1 (priority 10"
    )
    await screenshot(tab, artifacts, "credit-management-lots")
    assert tab.errors == []


async def test_a_past_expiry_or_a_priority_out_of_range_is_refused_beside_its_field(open_tab: Any) -> None:
    # given the catalog administrator adding credits
    await enable_credits()
    customer = await make_customer("Nope Ltd")
    catalog = await make_catalog_admin()
    tab = await open_tab()
    await log_in(tab, catalog.user.email, PASSWORD)
    page = await open_credit_management(tab, customer.id)
    await page.get_by_label("Credits to add").fill("5")
    await page.get_by_text("More options").click()

    # when the expiry lies in the past
    await page.get_by_label("Expires on").fill(await page.evaluate(LOCAL_IN_DAYS, -1))
    await page.get_by_role("button", name="Add", exact=True).click()

    # then the field says so and nothing is asked to confirm
    await expect(page.get_by_text("Choose a date and time in the future")).to_be_visible()
    await expect(page.get_by_role("button", name="Confirm: add 5.00")).to_have_count(0)

    # when the expiry is cleared and the priority is 150
    await page.get_by_label("Expires on").fill("")
    await page.get_by_label("Priority", exact=True).fill("150")
    await page.get_by_role("button", name="Add", exact=True).click()

    # then the priority field says so, and no lot was made
    await expect(page.get_by_text("Enter a whole number from 0 to 100")).to_be_visible()
    await expect(lots_table(page)).to_contain_text("No credit lots yet.")


async def test_the_dashboard_says_what_expires_next(open_tab: Any) -> None:
    # given a customer with 25 credits expiring in three days and 40 that never expire
    await enable_credits()
    customer = await make_customer("Soon Srl", balance=40)
    catalog = await make_catalog_admin()
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
    await change_balance(
        catalog.actor, TransactionKind.GRANT, customer.id, 2500, None, None, expires_at=expires
    )
    owner = await make_user(Role.CUSTOMER_ADMIN, customer)

    # when its administrator opens the dashboard
    tab = await open_tab()
    await log_in(tab, owner.user.email, PASSWORD)

    # then it says what expires next, and when
    await expect(badge(tab)).to_have_text("65.00")
    await expect(tab.page.get_by_text("25.00 credits expire on")).to_be_visible()


async def test_a_lot_that_expires_leaves_the_balance_and_the_table_without_a_reload(
    open_tab: Any, api: Any
) -> None:
    # given a customer with 30 credits that never expire, watched in Credit Management
    await enable_credits()
    customer = await make_customer("Fleeting BV", balance=30)
    catalog = await make_catalog_admin()
    tab = await open_tab()
    await log_in(tab, catalog.user.email, PASSWORD)
    page = await open_credit_management(tab, customer.id)
    balance = page.get_by_role("region", name="Balance").locator(".big-number")
    await expect(balance).to_have_text("30.00 credits")

    # when 20 credits are granted, through the API, to expire four seconds from now
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=4)
    await api(catalog.token).grant(str(customer.id), "20.00", expiresAt=expires.isoformat())
    await expect(balance).to_have_text("50.00 credits")
    row = lots_table(page).get_by_role("row").filter(has_text="#2")
    await expect(row).to_contain_text("Active")

    # then within the expiry sweep's ten seconds the lot is Expired and the balance back at 30, live
    await expect(row).to_contain_text("Expired", timeout=20_000)
    await expect(balance).to_have_text("30.00 credits")
    await expect(page.get_by_role("table", name="Recent transactions")).to_contain_text("Expiry")
    assert tab.errors == []
