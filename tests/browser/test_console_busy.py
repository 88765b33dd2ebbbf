"""Busy buttons, focus, loading and disabled buttons in Chromium (issue 21, point 6): the button of a
running mutation is busy (disabled, aria-busy, a spinner) and the others of its confirmation are
disabled; when it is done, keyboard focus is on what it did, not on the page's body; the next screen
shows its skeleton at once; a disabled button looks disabled in both themes and says why."""

from __future__ import annotations

import re
from typing import Any

from playwright.async_api import expect

from models.ledger import CreditTransaction
from models.user import Role
from tests.browser.conftest import hold_requests, log_in
from tests.factories import PASSWORD, enable_credits, make_catalog_admin, make_customer, make_user

MUTATIONS = ("grantCredits", "withdrawCredits")


async def test_confirm_is_busy_while_add_runs_and_focus_goes_to_the_result(open_tab: Any) -> None:
    # given the catalog administrator in Credit Management, with grants held in the network
    await enable_credits()
    customer = await make_customer("Busy Oy", balance=50)
    catalog = await make_catalog_admin()
    tab = await open_tab()
    await log_in(tab, catalog.user.email, PASSWORD)
    page = tab.page
    held, release = await hold_requests(tab, *MUTATIONS)
    await page.goto(f"/customers/{customer.id}/credit-management")
    await page.get_by_label("Credits to add").fill("100")
    await page.get_by_role("button", name="Add", exact=True).click()

    # when it confirms and the grant is on its way
    confirm = page.get_by_role("button", name="Confirm: add 100.00")
    await confirm.click()
    await held.wait()

    # then Confirm is busy and disabled, and Cancel cannot be pressed meanwhile
    await expect(confirm).to_have_attribute("aria-busy", "true")
    await expect(confirm).to_be_disabled()
    box = page.get_by_role("group", name="Confirm add")
    await expect(box.get_by_role("button", name="Cancel")).to_be_disabled()

    # when the grant is answered
    release.set()

    # then focus is on the result (not on the body), which says the new balance
    result = page.get_by_role("status").filter(has_text="Done: +100.00 credits")
    await expect(result).to_be_focused()
    await expect(result).to_contain_text("150.00 credits")
    assert await CreditTransaction.filter(customer_id=customer.id).count() == 2


async def test_focus_goes_to_the_result_after_remove(open_tab: Any) -> None:
    # given the catalog administrator removing credits, with withdrawals held in the network
    await enable_credits()
    customer = await make_customer("Busy Two Oy", balance=50)
    catalog = await make_catalog_admin()
    tab = await open_tab()
    await log_in(tab, catalog.user.email, PASSWORD)
    page = tab.page
    held, release = await hold_requests(tab, *MUTATIONS)
    await page.goto(f"/customers/{customer.id}/credit-management")
    await page.get_by_label("Credits to remove").fill("20")
    await page.get_by_role("button", name="Remove", exact=True).click()

    # when it confirms with the keyboard
    confirm = page.get_by_role("button", name="Confirm: remove 20.00")
    await expect(confirm).to_be_focused()
    await page.keyboard.press("Enter")
    await held.wait()
    await expect(confirm).to_have_attribute("aria-busy", "true")
    release.set()

    # then focus is on the result, and Confirm is no longer busy
    result = page.get_by_role("status").filter(has_text="Done: −20.00 credits")
    await expect(result).to_be_focused()
    await expect(result).to_contain_text("30.00 credits")
    assert await page.evaluate("document.activeElement !== document.body")


async def test_the_next_screen_shows_its_skeleton_at_once_not_the_old_screen(open_tab: Any) -> None:
    # given the catalog administrator on Customers, with the Requests screen's code held in the network
    await make_customer("Skeleton Oy")
    catalog = await make_catalog_admin()
    tab = await open_tab()
    await log_in(tab, catalog.user.email, PASSWORD)
    page = tab.page
    await expect(page.get_by_role("table", name="Customers")).to_contain_text("Skeleton Oy")
    held, release = await hold_requests(tab, url="**/requests.js")

    # when it opens Requests from the menu and the screen is still loading
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Requests").click()
    await held.wait()

    # then the old screen is gone: a skeleton, busy, says it is loading under the new highlight
    await expect(page.get_by_role("link", name="Requests", exact=True)).to_have_attribute(
        "aria-current", "page"
    )
    await expect(page.get_by_role("table", name="Customers")).to_have_count(0)
    await expect(page.locator("main .view[aria-busy=true]")).to_have_count(1)
    await expect(page.get_by_role("status").filter(has_text="Loading")).to_have_count(1)

    # when the screen has loaded, then it replaces the skeleton and is no longer busy
    release.set()
    await expect(page.get_by_role("heading", name="Requests", level=1)).to_be_visible()
    await expect(page.locator("main [aria-busy=true]")).to_have_count(0)
    await expect(page.locator("main .skeleton")).to_have_count(0)


STYLE = "b => { const s = getComputedStyle(b); return [s.backgroundColor, s.color, s.cursor]; }"


async def test_the_administrators_own_deactivate_looks_disabled_in_both_themes_and_says_why(
    open_tab: Any,
) -> None:
    # given a customer administrator on Users, with an end user of its customer
    customer = await make_customer("Disabled Oy")
    admin = await make_user(Role.CUSTOMER_ADMIN, customer)
    other = await make_user(Role.END_USER, customer)
    tab = await open_tab()
    await log_in(tab, admin.user.email, PASSWORD)
    page = tab.page
    await page.goto("/users")
    own = page.get_by_role("button", name=f"Deactivate {admin.user.email}")
    theirs = page.get_by_role("button", name=f"Deactivate {other.user.email}")

    # then its own Deactivate is disabled and says why; the other's is not
    await expect(own).to_be_disabled()
    await expect(own).to_have_attribute("title", re.compile("cannot deactivate your own login"))
    await expect(theirs).to_be_enabled()

    # and in both themes it looks unlike an enabled button: another background and text colour
    for scheme in ("light", "dark"):
        await page.emulate_media(color_scheme=scheme)
        own_style, their_style = await own.evaluate(STYLE), await theirs.evaluate(STYLE)
        assert own_style[0] != their_style[0], scheme
        assert own_style[1] != their_style[1], scheme
        assert own_style[2] == "not-allowed", scheme
