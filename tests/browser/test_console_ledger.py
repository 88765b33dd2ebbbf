"""The ledger in the console: service links, relative times, the date filter, CSV export, live rows."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import re
from pathlib import Path
from typing import Any

from playwright.async_api import expect

from models.credits import change_balance
from models.service_requests import request_service
from models.transaction import CreditTransaction, TransactionKind
from tests.browser.conftest import log_in, screenshot
from tests.factories import PASSWORD, World, make_world

DAY = dt.timedelta(days=1)
NOV_1 = dt.datetime(2026, 11, 1, 12, 0, 5, tzinfo=dt.UTC)
# "Nov 2, 2026, 12:00:05 PM UTC" (the browser's locale and zone): seconds, then a zone.
ABSOLUTE = re.compile(r"\d{1,2}:\d{2}:\d{2}(\s?[AP]M)?\s+(UTC|GMT[+-−]?[\d:]*|[A-Z]{2,5})$")


async def dated_ledger(world: World) -> str:
    """Entries on 1, 2 and 3 November (a grant, a grant, a Translation charge); the request's id."""
    customer = world.customer
    await change_balance(world.admin.actor, TransactionKind.GRANT, customer.id, 2500, "top-up", None)
    request = await request_service(world.customer_admin.actor, customer.id, world.service.id, 1, None)
    for entry in await CreditTransaction.filter(customer_id=customer.id):
        await CreditTransaction.filter(id=entry.id).update(created_at=NOV_1 + (entry.sequence - 1) * DAY)
    return str(request.id)


async def csv_rows(download: Any) -> list[dict[str, str]]:
    """A finished download's CSV rows by header."""
    text = await asyncio.to_thread(Path(await download.path()).read_text)
    return list(csv.DictReader(io.StringIO(text)))


def ledger(page: Any) -> Any:
    """The Recent transactions table."""
    return page.get_by_role("table", name="Recent transactions")


def entry_rows(page: Any) -> Any:
    """The table's entry rows (not the header, not the empty state)."""
    return ledger(page).locator("tbody tr[data-sequence]")


async def open_customer(world: World, open_tab: Any, width: int = 1440, height: int = 900) -> Any:
    """The catalog administrator on the customer's page, its ledger loaded."""
    tab = await open_tab(width, height)
    await log_in(tab, world.admin.user.email, PASSWORD)
    await tab.page.goto(f"/customers/{world.cid}")
    await expect(entry_rows(tab.page)).to_have_count(3)
    return tab


async def test_a_charge_names_its_service_and_links_to_the_request(open_tab: Any, artifacts: Path) -> None:
    # given: a ledger whose third entry charged a Translation request
    world = await make_world("Ledger Ltd", balance=100, service_name="Translation")
    request_id = await dated_ledger(world)
    # when: the catalog administrator opens the customer
    tab = await open_customer(world, open_tab)
    page = tab.page
    charge = ledger(page).locator('tr[data-sequence="3"]')
    # then: the charge's row names the service, linked to the request, and opening it shows the request
    link = charge.get_by_role("link", name="Translation: open the request")
    await expect(link).to_have_attribute("href", f"/requests/{request_id}")
    await expect(ledger(page).locator('tr[data-sequence="2"]').get_by_role("link")).to_have_count(0)
    await screenshot(tab, artifacts, "ledger-1440")
    await link.click()
    await expect(page.get_by_role("heading", name="Translation request")).to_be_visible()
    await expect(page.get_by_text(request_id)).to_be_visible()
    assert not tab.errors


async def test_times_read_as_relative_with_the_absolute_time_and_zone_on_hover(open_tab: Any) -> None:
    # given: entries of November, and the customer's page open
    world = await make_world("Ledger Ltd", balance=100, service_name="Translation")
    await dated_ledger(world)
    tab = await open_customer(world, open_tab)
    # when: the first entry's time is read
    time = ledger(tab.page).locator('tr[data-sequence="1"] relative-time')
    # then: its text is relative (older than a month: a date) and its title is exact, with a zone
    title = await time.get_attribute("title")
    assert title and ABSOLUTE.search(title), title
    assert ":05" in title
    text = await time.text_content()
    assert text and ("2026" in text or text.endswith("ago")) and ":" not in text, text


async def test_the_date_filter_narrows_the_rows_and_the_export(open_tab: Any) -> None:
    # given: entries on 1, 2 and 3 November
    world = await make_world("Ledger Ltd", balance=100, service_name="Translation")
    await dated_ledger(world)
    tab = await open_customer(world, open_tab)
    page = tab.page
    # when: From and To are both 2 November
    await page.get_by_label("From", exact=True).fill("2026-11-02")
    await page.get_by_label("To", exact=True).fill("2026-11-02")
    # then: only the second entry is listed, and the CSV holds only it
    await expect(entry_rows(page)).to_have_count(1)
    await expect(entry_rows(page)).to_have_attribute("data-sequence", "2")
    async with page.expect_download() as event:
        await page.get_by_role("button", name="Download CSV").click()
    download = await event.value
    assert download.suggested_filename == f"ledger-{world.cid}.csv"
    rows = await csv_rows(download)
    assert [r["sequence"] for r in rows] == ["2"]
    # and when: the dates are cleared, every entry returns and the CSV holds them all
    await page.get_by_role("button", name="All dates").click()
    await expect(entry_rows(page)).to_have_count(3)
    async with page.expect_download() as event:
        await page.get_by_role("button", name="Download CSV").click()
    rows = await csv_rows(await event.value)
    assert [(r["sequence"], r["service"]) for r in rows] == [("1", ""), ("2", ""), ("3", "Translation")]
    assert not tab.errors


async def test_an_end_date_before_the_start_is_explained(open_tab: Any) -> None:
    # given
    world = await make_world("Ledger Ltd", balance=100, service_name="Translation")
    await dated_ledger(world)
    tab = await open_customer(world, open_tab)
    # when
    await tab.page.get_by_label("From", exact=True).fill("2026-11-03")
    await tab.page.get_by_label("To", exact=True).fill("2026-11-01")
    # then: the console says why, and the rows stay those from 3 November on
    await expect(tab.page.get_by_text("The end date is before the start date.")).to_be_visible()
    await expect(entry_rows(tab.page)).to_have_count(1)
    await expect(entry_rows(tab.page)).to_have_attribute("data-sequence", "3")


async def test_a_row_that_arrives_live_is_highlighted_then_fades(open_tab: Any, api: Any) -> None:
    # given: the customer's page open
    world = await make_world("Ledger Ltd", balance=100, service_name="Translation")
    await dated_ledger(world)
    tab = await open_customer(world, open_tab)
    # when: a grant arrives
    await api(world.admin.token).grant(world.cid, "5.00")
    row = ledger(tab.page).locator('tr[data-sequence="4"]')
    # then: its row is highlighted, and the highlight goes away by itself
    await expect(row).to_have_class(re.compile(r"\bfresh\b"))
    await expect(row).not_to_have_class(re.compile(r"\bfresh\b"), timeout=15_000)
    await expect(row.locator("relative-time")).to_have_text("just now")


async def test_on_a_phone_the_filters_fit_without_page_scroll(open_tab: Any, artifacts: Path) -> None:
    # given: the customer's page at 390 × 844
    world = await make_world("Ledger Ltd", balance=100, service_name="Translation")
    await dated_ledger(world)
    tab = await open_customer(world, open_tab, 390, 844)
    # when: the filters are in view
    await tab.page.get_by_label("From", exact=True).scroll_into_view_if_needed()
    # then: the page does not scroll sideways, and the export button is inside the viewport
    wide = await tab.page.evaluate(
        "document.scrollingElement.scrollWidth > document.scrollingElement.clientWidth"
    )
    box = await tab.page.get_by_role("button", name="Download CSV").bounding_box()
    await screenshot(tab, artifacts, "ledger-390")
    assert not wide
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390
