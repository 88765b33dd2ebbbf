"""The console's actions in Chromium: retries and double clicks act once, errors sit beside their
field, a deactivated user is sent back to login, a narrow screen does not scroll sideways."""

from __future__ import annotations

import json
import re
from typing import Any

from playwright.async_api import expect

from models.ledger import CreditTransaction
from models.service_requests import ServiceRequest
from models.user import Role
from tests.browser.conftest import Api, badge, hold_requests, log_in, screenshot
from tests.factories import (
    PASSWORD,
    enable_credits,
    make_catalog_admin,
    make_customer,
    make_service,
    make_user,
)

AMBER = "rgb(125, 78, 0)"


async def test_a_grant_whose_answer_was_lost_is_retried_without_granting_twice(open_tab: Any) -> None:
    # given the catalog administrator in Credit Management, and a network that loses the first answer
    await enable_credits()
    customer = await make_customer("Iota Ltd")
    catalog = await make_catalog_admin()
    tab = await open_tab()
    await log_in(tab, catalog.user.email, PASSWORD)
    page = tab.page
    lost: list[dict[str, Any]] = []

    async def lose_the_first_grant_answer(route: Any) -> None:
        if "grantCredits" in (route.request.post_data or "") and not lost:
            answer = await route.fetch()  # the server grants...
            lost.append(await answer.json())
            await route.abort("connectionreset")  # ...and the browser never hears it
        else:
            await route.continue_()

    await page.route("**/graphql", lose_the_first_grant_answer)
    await page.goto(f"/customers/{customer.id}/credit-management")
    await page.get_by_label("Credits to add").fill("100")
    await page.get_by_role("button", name="Add", exact=True).click()

    # when the confirmation's answer is lost and the administrator presses Confirm again
    await page.get_by_role("button", name="Confirm: add 100.00").click()
    await expect(page.get_by_text("The service cannot be reached")).to_be_visible()
    await page.get_by_role("button", name="Confirm: add 100.00").click()

    # then the retry replays the first grant: one transaction, 100 credits
    await expect(page.get_by_text("Done: +100.00 credits (transaction #1)")).to_be_visible()
    assert lost[0]["data"]["grantCredits"]["transaction"]["sequence"] == 1
    assert await CreditTransaction.filter(customer_id=customer.id).count() == 1


async def test_a_double_click_on_request_requests_once(open_tab: Any) -> None:
    # given an end user with 100 credits and a service priced 40
    customer = await make_customer("Kappa BV", balance=100)
    await make_service("40.00", "Translation")
    user = await make_user(Role.END_USER, customer)
    tab = await open_tab()
    await log_in(tab, user.user.email, PASSWORD)
    await expect(badge(tab)).to_have_text("100.00")

    # when it double-clicks Request
    row = tab.page.get_by_role("row").filter(has=tab.page.get_by_role("rowheader", name="Translation"))
    await row.get_by_role("button", name="Request").dblclick()

    # then one request was made and charged
    await expect(badge(tab)).to_have_text("60.00")
    await tab.page.wait_for_load_state("networkidle")
    assert await ServiceRequest.filter(customer_id=customer.id).count() == 1
    await expect(tab.page.get_by_role("table", name="Your requests").get_by_role("row")).to_have_count(2)


async def test_user_errors_appear_beside_the_field_they_name(open_tab: Any) -> None:
    # given the catalog administrator on Customers
    catalog = await make_catalog_admin()
    tab = await open_tab()
    await log_in(tab, catalog.user.email, PASSWORD)

    # when it creates a customer without a name (the API answers INVALID_INPUT on input.name)
    await tab.page.get_by_role("button", name="Create customer").click()

    # then the message is the name field's own description, and the field is marked invalid
    name = tab.page.get_by_label("Customer name")
    await expect(name).to_have_attribute("aria-invalid", "true")
    await expect(name).to_have_accessible_description(re.compile(r"\S"))
    await expect(name).to_be_focused()


async def test_a_deactivated_user_is_sent_back_to_login_with_a_message(open_tab: Any, api: Any) -> None:
    # given an end user's console, live
    customer = await make_customer("Lambda SA", balance=10)
    user = await make_user(Role.END_USER, customer)
    catalog = await make_catalog_admin()
    tab = await open_tab()
    await log_in(tab, user.user.email, PASSWORD)
    await expect(badge(tab)).to_have_text("10.00")

    # when the user is deactivated (its socket is closed with 4403)
    data = await api(catalog.token)(
        "mutation($id: ID!) { setUserActive(id: $id, active: false) { user { active } } }",
        {"id": str(user.user.id)},
    )
    assert data["setUserActive"]["user"]["active"] is False

    # then the console returns to the login page and says why; the token is gone from the tab
    await expect(tab.page.get_by_role("button", name="Log in")).to_be_visible()
    await expect(tab.page.get_by_role("alert")).to_contain_text("Your session has ended")
    stored = await tab.page.evaluate("() => JSON.stringify(Object.keys(sessionStorage))")
    assert json.loads(stored) == []


async def test_the_dashboard_fits_a_375_px_screen(open_tab: Any, artifacts: Any) -> None:
    # given a customer administrator on a phone-sized screen
    customer = await make_customer("Mu Oy", balance=30)
    owner = await make_user(Role.CUSTOMER_ADMIN, customer)
    tab = await open_tab(width=375, height=800)
    await log_in(tab, owner.user.email, PASSWORD)

    # then the dashboard and its top menu fit without sideways scrolling
    await expect(badge(tab)).to_have_text("30.00")
    ledger = tab.page.get_by_role("table", name="Recent transactions")
    await expect(ledger.get_by_role("row")).to_have_count(2)
    width = await tab.page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 375
    await screenshot(tab, artifacts, "dashboard-375px")


async def test_the_customers_list_follows_balances_live(open_tab: Any, api: Any) -> None:
    # given the catalog administrator's customer list
    customer = await make_customer("Nu Kft", balance=5)
    catalog = await make_catalog_admin()
    tab = await open_tab()
    await log_in(tab, catalog.user.email, PASSWORD)
    row = tab.page.get_by_role("row").filter(has=tab.page.get_by_role("rowheader", name="Nu Kft"))
    await expect(row.get_by_role("cell").last).to_have_text("5.00")

    # when credits are granted elsewhere, then the row shows the new balance without a reload
    grants: Api = api(catalog.token)
    await grants.grant(str(customer.id), "7.25")
    await expect(row.get_by_role("cell").last).to_have_text("12.25")


async def test_a_cancelled_request_and_a_rejected_one_give_their_credits_back(open_tab: Any) -> None:
    # given an end user who requested two services (100 → 60 → 45)
    customer = await make_customer("Xi GmbH", balance=100)
    await make_service("40.00", "Translation")
    await make_service("15.00", "Export")
    user = await make_user(Role.END_USER, customer)
    catalog = await make_catalog_admin()
    tab = await open_tab()
    await log_in(tab, user.user.email, PASSWORD)
    page = tab.page
    for name in ("Translation", "Export"):
        row = page.get_by_role("table", name="Services").get_by_role("row").filter(has_text=name)
        await row.get_by_role("button", name="Request").click()
        await expect(page.get_by_role("status").filter(has_text=f"Requested {name}")).to_be_visible()
    await expect(badge(tab)).to_have_text("45.00")

    # when the end user cancels the Export request
    mine = page.get_by_role("table", name="Your requests")
    await mine.get_by_role("row").filter(has_text="Export").get_by_role("button", name="Cancel").click()

    # then its 15 credits come back, and the row says so
    await expect(badge(tab)).to_have_text("60.00")
    await expect(mine.get_by_role("row").filter(has_text="Export")).to_contain_text("Cancelled")
    await expect(mine.get_by_role("row").filter(has_text="Export")).to_contain_text("Refunded 15.00")

    # when the catalog administrator rejects the other with a reason
    admin = await open_tab()
    await log_in(admin, catalog.user.email, PASSWORD)
    await admin.page.goto(f"/customers/{customer.id}")
    requests = admin.page.get_by_role("table", name="Service requests")
    row = requests.get_by_role("row").filter(has_text="Translation")
    await row.get_by_role("button", name="Reject").click()
    await row.get_by_label("Reason").fill("out of scope")
    await row.get_by_role("button", name="Confirm: reject").click()

    # then the end user's badge gets the 40 back live, and the reason is shown
    await expect(badge(tab)).to_have_text("100.00")
    await expect(requests.get_by_role("row").filter(has_text="Translation")).to_contain_text("out of scope")
    await expect(mine.get_by_role("row").filter(has_text="Translation")).to_contain_text("Rejected")
    await expect(mine.get_by_role("row").filter(has_text="Translation")).to_contain_text("Refunded 40.00")
    assert tab.errors == [] and admin.errors == []


async def test_an_api_token_is_shown_once_and_can_be_revoked(open_tab: Any, console_url: str) -> None:
    # given a customer administrator on API tokens
    customer = await make_customer("Omicron AB", balance=3)
    owner = await make_user(Role.CUSTOMER_ADMIN, customer)
    tab = await open_tab()
    await log_in(tab, owner.user.email, PASSWORD)
    page = tab.page
    await page.get_by_role("link", name="API tokens").click()
    await expect(page.get_by_text("No API tokens yet")).to_be_visible()

    # when it creates one
    await page.get_by_label("Token name").fill("billing sync")
    await page.get_by_role("button", name="Create token").click()

    # then the token is shown once, with a copy button, and it works against the API
    token = await page.get_by_label("New token").input_value()
    await expect(page.get_by_role("button", name="Copy")).to_be_visible()
    balance = await Api(console_url, token)("{ customer { balance } }")
    assert balance == {"customer": {"balance": "3.00"}}
    await page.reload()
    await expect(page.get_by_label("New token")).to_have_count(0)

    # when it asks to revoke it and keeps it after all, then nothing changed and focus is on Revoke
    revoke = page.get_by_role("row").filter(has_text="billing sync").get_by_role("button", name="Revoke")
    await revoke.click()
    await expect(page.get_by_role("alert")).to_contain_text("Programs using it stop working at once.")
    await page.get_by_role("button", name="Keep").click()
    await expect(revoke).to_be_focused()
    await expect(page.get_by_role("row").filter(has_text="billing sync")).not_to_contain_text("Revoked")

    # when it revokes it and confirms, then the list says so and the token stops working
    await revoke.click()
    await page.get_by_role("button", name="Confirm: revoke “billing sync”").click()
    await expect(page.get_by_role("row").filter(has_text="billing sync")).to_contain_text("Revoked")
    client = Api(console_url, token)
    answer = await client.http.post(
        "/graphql", json={"query": "{ viewer { id } }"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    await client.close()


async def test_a_threshold_above_the_balance_turns_the_badge_amber_and_alerts(open_tab: Any) -> None:
    # given a customer administrator with 30 credits
    customer = await make_customer("Pi Srl", balance=30)
    owner = await make_user(Role.CUSTOMER_ADMIN, customer)
    tab = await open_tab()
    await log_in(tab, owner.user.email, PASSWORD)
    page = tab.page
    await expect(badge(tab)).to_have_text("30.00")

    # when it asks to be alerted below 50
    await page.get_by_label("Alert when credits fall below").check()
    await page.get_by_label("Alert threshold (credits)").fill("50")
    await page.get_by_role("button", name="Save alert").click()

    # then the badge turns amber and the bell gets the below-threshold notification
    await expect(page.get_by_text("Saved: you are alerted below 50.00 credits.")).to_be_visible()
    await expect(badge(tab)).to_have_css("color", AMBER)
    await expect(page.get_by_role("button", name="Notifications, 1 unread")).to_be_visible()


async def test_the_console_works_from_the_keyboard(open_tab: Any) -> None:
    # given a customer administrator (who has the bell) at the login page
    customer = await make_customer("Rho Ltd", balance=8)
    user = await make_user(Role.CUSTOMER_ADMIN, customer)
    tab = await open_tab()
    page = tab.page
    await page.goto("/")

    # when it types its email, tabs to the password and presses Enter
    await expect(page.get_by_label("Email")).to_be_focused()
    await page.keyboard.type(user.user.email)
    await page.keyboard.press("Tab")
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")

    # then it is in, and the bell opens with Enter and closes with Escape, focus back on the bell
    await expect(badge(tab)).to_have_text("8.00")
    bell = page.get_by_role("button", name="Notifications")
    await bell.focus()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("region", name="Notifications")).to_be_visible()
    await page.keyboard.press("Escape")
    await expect(page.get_by_role("region", name="Notifications")).to_be_hidden()
    await expect(bell).to_be_focused()
    outline = await bell.evaluate("b => getComputedStyle(b).outlineStyle")
    assert outline != "none"


async def test_a_screen_that_loads_slowly_does_not_take_focus_the_user_moved(open_tab: Any) -> None:
    # given an end user whose services screen answers only when released
    customer = await make_customer("Tau Ltd", balance=8)
    user = await make_user(Role.END_USER, customer)
    tab = await open_tab()
    page = tab.page
    release = (await hold_requests(tab, "query Services")).release
    await page.goto("/")
    await page.get_by_label("Email").fill(user.user.email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(badge(tab)).to_have_text("8.00")

    # when it focuses Log out while the screen is still loading, and the screen then arrives
    button = page.get_by_role("button", name="Log out")
    await button.focus()
    release.set()
    await expect(page.get_by_text("No services yet.")).to_be_visible()

    # then focus stays on Log out
    await expect(button).to_be_focused()


async def test_browsing_many_customers_keeps_the_socket_within_its_subscription_limit(
    open_tab: Any, api: Any
) -> None:
    # given more customers than one socket may watch at once (CREDITS_MAX_SUBSCRIPTIONS_PER_SOCKET, 20)
    customers = [await make_customer(f"Sigma {n:02d}", balance=1) for n in range(22)]
    catalog = await make_catalog_admin()
    tab = await open_tab()
    await log_in(tab, catalog.user.email, PASSWORD)
    page = tab.page

    # when the catalog administrator opens each one's Credit Management in turn, in one tab
    for customer in customers:
        await page.get_by_role("navigation", name="Main").get_by_role("link", name="Customers").click()
        await page.get_by_role("link", name=customer.name, exact=True).click()
        await (
            page.get_by_role("navigation", name="Customer Options")
            .get_by_role("link", name="Credit Management")
            .click()
        )
        await expect(page.get_by_role("heading", name="Current balance")).to_be_visible()

    # then the last one's balance is still live (screens left behind gave their subscriptions back)
    await api(catalog.token).grant(str(customers[-1].id), "2")
    await expect(page.locator(".big-number")).to_have_text("3.00 credits")
    assert tab.errors == []


async def test_a_customer_administrator_creates_and_deactivates_a_user(open_tab: Any) -> None:
    # given a customer administrator on its Users screen
    customer = await make_customer("Tau Pty", balance=1)
    owner = await make_user(Role.CUSTOMER_ADMIN, customer)
    tab = await open_tab()
    await log_in(tab, owner.user.email, PASSWORD)
    page = tab.page
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Users").click()

    # when it adds an end user
    await page.get_by_label("Name", exact=True).fill("New Person")
    await page.get_by_label("Email", exact=True).fill("new.person@example.com")
    await page.get_by_label("Password", exact=True).fill("a long enough password")
    await page.get_by_role("button", name="Create user").click()

    # then the user is listed, and can be deactivated (it can no longer log in)
    users = page.get_by_role("table", name="Users")
    row = users.get_by_role("row").filter(has_text="new.person@example.com")
    await expect(row).to_contain_text("Active")
    await row.get_by_role("button", name="Deactivate").click()
    await expect(row).to_contain_text("Deactivated")
    other = await open_tab()
    await other.page.goto("/")
    await other.page.get_by_label("Email").fill("new.person@example.com")
    await other.page.get_by_label("Password").fill("a long enough password")
    await other.page.get_by_role("button", name="Log in").click()
    await expect(other.page.get_by_role("alert")).to_be_visible()
    await expect(other.page.get_by_role("button", name="Log out")).to_have_count(0)


async def test_the_catalog_screen_sets_the_switch_services_and_prices(open_tab: Any) -> None:
    # given the catalog administrator on Catalog, credit management off
    catalog = await make_catalog_admin()
    customer = await make_customer("Upsilon NV")
    tab = await open_tab()
    await log_in(tab, catalog.user.email, PASSWORD)
    page = tab.page
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Catalog").click()
    switch = page.get_by_role("switch", name="Credit management")
    await expect(switch).not_to_be_checked()

    # when it creates a service with a price, changes the price, and turns credit management on
    await page.get_by_label("Service name").fill("Audit")
    await page.get_by_label("Credit price").fill("12.5")
    await page.get_by_role("button", name="Create service").click()
    row = page.get_by_role("table", name="Services").get_by_role("row").filter(has_text="Audit")
    await expect(row.get_by_role("cell").first).to_have_text("12.50")
    await row.get_by_label("Price of Audit").fill("7")
    await row.get_by_role("button", name="Set price").click()
    await expect(row.get_by_role("cell").first).to_have_text("7.00")
    await switch.check()
    await expect(page.get_by_text("On: grants, withdrawals and service charges are applied.")).to_be_visible()

    # then Credit Management accepts grants (no "credit management is off" notice)
    await page.goto(f"/customers/{customer.id}/credit-management")
    await expect(page.get_by_role("heading", name="Current balance")).to_be_visible()
    await expect(page.get_by_text("Credit management is off")).to_have_count(0)
