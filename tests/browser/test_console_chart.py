"""The balance-history chart in Chromium: date axes in local time, zero and threshold lines, the exact
value on hover, live points and threshold, a text alternative, and a page that fits a phone."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import expect

from models.user import Role
from tests.browser.conftest import Api, badge, log_in
from tests.factories import PASSWORD, make_catalog_admin, make_customer, make_user

# Far from UTC, so a date drawn in UTC instead of the browser's zone would be another day.
ZONE = "Pacific/Kiritimati"
SET_ALERT = """mutation($input: SetCreditAlertInput!) {
  setCreditAlert(input: $input) { customer { alertThreshold } userErrors { code message } } }"""
# Runs before the page's scripts: remember every text drawn on a canvas (uPlot draws its axes there).
RECORD_CANVAS_TEXT = """
window.__drawn = [];
const fillText = CanvasRenderingContext2D.prototype.fillText;
CanvasRenderingContext2D.prototype.fillText = function (text, ...rest) {
  window.__drawn.push(String(text));
  return fillText.call(this, text, ...rest);
};
"""


async def drawn_text(tab: Any) -> list[str]:
    """The texts drawn on canvases so far, each line apart."""
    texts = await tab.page.evaluate("() => window.__drawn")
    return [line for text in texts for line in text.split("\n")]


async def hover_latest(tab: Any) -> Any:
    """Point at the chart's right edge (the latest change); the tooltip that shows."""
    plot = tab.page.locator(".chart-plot .u-over")
    await plot.scroll_into_view_if_needed()
    box = await plot.bounding_box()
    await tab.page.mouse.move(box["x"] + 2, box["y"] + 2)
    await tab.page.mouse.move(box["x"] + box["width"] - 1, box["y"] + box["height"] / 2)
    return tab.page.locator(".chart-tip")


@pytest.mark.parametrize(("width", "height"), [(1440, 900), (390, 844)])
async def test_the_chart_has_dates_the_zero_and_threshold_lines_the_exact_value_and_grows_live(
    open_tab: Any, api: Any, artifacts: Path, width: int, height: int
) -> None:
    # given a customer whose balance went 100.00 → −23.45 → 12,345.67, with an alert threshold of 3,000
    customer = await make_customer("Chart Ltd", balance=100)
    owner = await make_user(Role.CUSTOMER_ADMIN, customer)
    catalog = await make_catalog_admin()
    client: Api = api(catalog.token)
    withdrawal = await client(
        """mutation($input: BalanceChangeInput!) { withdrawCredits(input: $input) {
             transaction { balanceAfter } userErrors { code message } } }""",
        {"input": {"customerId": str(customer.id), "amount": "123.45", "idempotencyKey": uuid.uuid4().hex}},
    )
    assert withdrawal["withdrawCredits"]["transaction"]["balanceAfter"] == "-23.45"
    latest = await client.grant(str(customer.id), "12369.12")
    assert latest["balanceAfter"] == "12345.67"
    data = await client(SET_ALERT, {"input": {"customerId": str(customer.id), "threshold": "3000"}})
    assert data["setCreditAlert"]["userErrors"] == []

    # when its administrator opens the dashboard in a browser set to a time zone of UTC+14
    tab = await open_tab(width=width, height=height, timezone_id=ZONE, locale="en-GB")
    await tab.context.add_init_script(RECORD_CANVAS_TEXT)
    await log_in(tab, owner.user.email, PASSWORD)
    today = dt.datetime.now(ZoneInfo(ZONE))

    # then the chart says what it shows, in text: three changes, now 12,345.67, lowest −23.45
    chart = tab.page.get_by_role("img", name=re.compile("^Balance history: "))
    await expect(chart).to_be_visible()
    summary = "^Balance history: 3 changes.*now 12,345.67 credits, lowest \u221223.45 credits"
    await expect(chart).to_have_accessible_name(re.compile(summary))
    await expect(tab.page.get_by_text(f"times in your time zone ({ZONE})")).to_be_visible()

    # and its axes carry the date in the browser's time zone, and amounts
    label = f"{today.day} {today:%b}"  # (en-GB may write a longer month: "7 Sept")
    await tab.page.wait_for_function(
        "l => window.__drawn.some(t => t.split('\\n').some(line => line.startsWith(l)))", arg=label
    )
    assert any(re.fullmatch(r"\d{1,2}:\d{2}(:\d{2})?", text) for text in await drawn_text(tab))
    assert any(re.fullmatch(r"[\u2212]?\d{1,3}(,\d{3})*", text) for text in await drawn_text(tab))

    # and a labelled zero line sits below a labelled threshold line
    zero = tab.page.locator(".chart-rule.zero")
    threshold = tab.page.locator(".chart-rule.threshold")
    await expect(zero).to_have_text("0")
    await expect(threshold).to_have_text("Alert threshold 3000.00")
    assert (await zero.bounding_box())["y"] > (await threshold.bounding_box())["y"]

    # and pointing at the latest change shows its exact value
    tip = await hover_latest(tab)
    await expect(tip).to_be_visible()
    await expect(tip).to_contain_text("12,345.67 credits")
    await expect(tip).to_contain_text("+12,369.12")
    card = tab.page.locator("section.card").filter(has=chart)
    await card.screenshot(path=str(artifacts / f"chart-{width}px.png"))

    # when 0.01 is granted through the API, then a point is added without a reload
    grown = await client.grant(str(customer.id), "0.01")
    assert grown["balanceAfter"] == "12345.68"
    await expect(badge(tab)).to_have_text("12,345.68")
    await expect(chart).to_have_accessible_name(re.compile("^Balance history: 4 changes.*now 12,345.68"))
    tip = await hover_latest(tab)
    await expect(tip).to_contain_text("12,345.68 credits")
    latest_rows = tab.page.get_by_role("table", name="The latest balance changes").get_by_role("row")
    await expect(latest_rows).to_have_count(5)  # the header and four changes

    # when the threshold is changed on the dashboard, then the line moves and says the new value
    async def above_zero() -> float:
        return (await zero.bounding_box())["y"] - (await threshold.bounding_box())["y"]

    before = await above_zero()
    await tab.page.get_by_label("Alert threshold (credits)").fill("5000")
    await tab.page.get_by_role("button", name="Save alert").click()
    await expect(threshold).to_have_text("Alert threshold 5000.00")
    assert await above_zero() > before

    # and the page does not scroll sideways
    assert await tab.page.evaluate("() => document.documentElement.scrollWidth") <= width
    assert tab.errors == []
