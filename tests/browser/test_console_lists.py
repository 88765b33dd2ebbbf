"""The catalog administrator's lists in Chromium (issue 21): Requests between two dates, customers
sorted by balance with their total count, and a "New customer" button at the top of the list."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from playwright.async_api import expect

from models.service import ServiceRequest
from models.user import Role
from tests.browser.conftest import log_in
from tests.factories import (
    PASSWORD,
    enable_credits,
    make_catalog_admin,
    make_customer,
    make_service,
    make_user,
)

REQUEST = """mutation($input: RequestServiceInput!) {
  requestService(input: $input) { serviceRequest { id } userErrors { code message } } }"""


async def test_requests_between_two_dates(open_tab: Any, api: Any) -> None:
    # given requests of three services made on 9, 10 and 11 March (noon, UTC)
    await enable_credits()
    customer = await make_customer("Dates Oy", balance=100)
    user = await make_user(Role.END_USER, customer)
    catalog = await make_catalog_admin()
    for day, name in ((9, "Ninth"), (10, "Tenth"), (11, "Eleventh")):
        service = await make_service("1.00", name)
        made = {"serviceId": str(service.id), "idempotencyKey": uuid.uuid4().hex}
        data = await api(user.token)(REQUEST, {"input": made})
        at = dt.datetime(2026, 3, day, 12, tzinfo=dt.UTC)
        await ServiceRequest.filter(id=data["requestService"]["serviceRequest"]["id"]).update(created_at=at)
    tab = await open_tab(timezone_id="UTC")
    await log_in(tab, catalog.user.email, PASSWORD)
    page = tab.page
    await page.goto("/requests")
    table = page.get_by_role("table", name="Service requests")
    await expect(table.get_by_role("row").filter(has_text="Dates Oy")).to_have_count(3)

    # when the administrator picks the 10th to the 10th
    dates = page.get_by_role("group", name="Requests made between dates")
    await dates.get_by_label("From").fill("2026-03-10")
    await dates.get_by_label("To").fill("2026-03-10")

    # then only that day's request is listed
    await expect(table.get_by_role("row").filter(has_text="Dates Oy")).to_have_count(1)
    await expect(table).to_contain_text("Tenth")

    # when the end is before the start, then it is told so
    await dates.get_by_label("To").fill("2026-03-09")
    await expect(
        page.get_by_role("alert").filter(has_text="The end date is before the start date.")
    ).to_be_visible()

    # when it goes back to all dates, then every request is listed again
    await dates.get_by_role("button", name="All dates").click()
    await expect(table.get_by_role("row").filter(has_text="Dates Oy")).to_have_count(3)
    assert tab.errors == []


async def test_customers_sorted_by_balance_with_a_count_and_a_new_customer_button(open_tab: Any) -> None:
    # given three customers with 30, 5 and 12 credits
    for name, balance in (("Sort Ada", 30), ("Sort Bo", 5), ("Sort Cy", 12)):
        await make_customer(name, balance=balance)
    catalog = await make_catalog_admin()
    tab = await open_tab()
    await log_in(tab, catalog.user.email, PASSWORD)
    page = tab.page
    table = page.get_by_role("table", name="Customers")
    names = table.get_by_role("rowheader")

    # then the list says how many there are, by name
    await expect(names).to_have_text(["Sort Ada", "Sort Bo", "Sort Cy"])
    await expect(page.get_by_text("3 customers", exact=True)).to_be_visible()

    # when it sorts by the lowest balance first, then the most in debt comes first
    await page.get_by_label("Sort by").select_option(label="Lowest balance first")
    await expect(names).to_have_text(["Sort Bo", "Sort Cy", "Sort Ada"])
    await page.get_by_label("Sort by").select_option(label="Highest balance first")
    await expect(names).to_have_text(["Sort Ada", "Sort Cy", "Sort Bo"])

    # when it searches, then the count is of the matches
    await page.get_by_label("Search customers").fill("Sort B")
    await expect(page.get_by_text("1 customer matches", exact=True)).to_be_visible()

    # when it presses "New customer" at the top, then the new customer's name field has the focus
    await page.get_by_role("button", name="New customer").click()
    await expect(page.get_by_label("Customer name")).to_be_focused()
    assert tab.errors == []
