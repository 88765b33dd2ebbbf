"""The ledger's balance on a date (Customer.balanceAt) and the words for the new alert kinds (issue 22)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from playwright.async_api import expect

from models.user import Role
from tests.browser.conftest import log_in
from tests.factories import PASSWORD, make_customer, make_user

GB = {"locale": "en-GB", "timezone_id": "UTC"}
# Imports a console module in the page (the file the console loads) and runs each case on it.
WITH_MODULE = """async ([name, cases]) => {
  const app = document.querySelector('link[rel="modulepreload"][href$="/console/app.js"]');
  const module = await import(new URL(name, app.href).href);
  return cases.map(([fn, args]) => module[fn](...args));
}"""


async def test_the_ledger_shows_the_balance_on_a_chosen_date(open_tab: Any) -> None:
    # given a customer granted 100 credits today, and its administrator on the dashboard
    customer = await make_customer("Dated Oy", balance=100)
    owner = await make_user(Role.CUSTOMER_ADMIN, customer)
    tab = await open_tab(**GB)
    await log_in(tab, owner.user.email, PASSWORD)
    page = tab.page
    today = dt.datetime.now(dt.UTC).date()
    yesterday = today - dt.timedelta(days=1)

    # when it asks for the balance on yesterday, then today
    await page.get_by_role("button", name="Balance on a date…").click()
    await expect(page.get_by_label("Balance on", exact=True)).to_be_focused()
    await page.get_by_label("Balance on", exact=True).fill(yesterday.isoformat())
    await page.get_by_role("button", name="Show balance").click()
    result = page.locator(".balance-on")
    await expect(result).to_have_text(
        f"Balance on {yesterday.day} {yesterday:%b %Y}: 0.00 credits (at the end of the day)."
    )
    await page.get_by_label("Balance on", exact=True).fill(today.isoformat())
    await page.get_by_role("button", name="Show balance").click()

    # then each is the balance at the end of that day
    await expect(result).to_have_text(
        f"Balance on {today.day} {today:%b %Y}: 100.00 credits (at the end of the day)."
    )
    assert tab.errors == []


async def test_the_new_alert_kinds_have_words_and_links(open_tab: Any) -> None:
    # given the console's bell text, loaded in the browser
    tab = await open_tab()
    await tab.page.goto("/")
    note = {
        "kind": "AUTO_TOP_UP_LIMIT_REACHED",
        "balance": "-5.00",
        "threshold": "20.00",
        "message": "server words",
        "customer": {"name": "Acme"},
    }
    runway = {
        **note,
        "kind": "RUNWAY_LOW",
        "message": "At the current rate, the credits of Acme run out on 9 Dec",
    }

    # when it words both new kinds
    words = await tab.page.evaluate(
        WITH_MODULE,
        ["./credit-balance-panel.js", [["notificationText", [note]], ["notificationText", [runway]]]],
    )

    # then the cap's alert is said in the console's words, the runway's with the server's forecast
    assert words == [
        "Auto top-up of Acme reached its daily limit and did not top up: the balance is \u22125.00 credits.",
        "At the current rate, the credits of Acme run out on 9 Dec",
    ]
    assert tab.errors == []
