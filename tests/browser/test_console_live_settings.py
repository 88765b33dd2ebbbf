"""Live state in Chromium (issue 21): a threshold the catalog administrator sets shows on the
customer administrator's open dashboard and on the open Customers list, without a reload or an
alert; back from an outage, the top menu's balance says it is updating until the catch-up arrives,
and what was set meanwhile shows."""

from __future__ import annotations

from typing import Any

from playwright.async_api import expect

from models.user import Role
from tests.browser.conftest import badge, hold_requests, log_in
from tests.factories import PASSWORD, enable_credits, make_catalog_admin, make_customer, make_user


async def test_a_threshold_set_by_the_catalog_administrator_reaches_an_open_dashboard(open_tab: Any) -> None:
    # given a customer administrator's dashboard open without a threshold, in one browser context,
    await enable_credits()
    customer = await make_customer("Live Settings Oy", balance=100)
    admin = await make_user(Role.CUSTOMER_ADMIN, customer)
    catalog = await make_catalog_admin()
    dashboard = await open_tab()
    await log_in(dashboard, admin.user.email, PASSWORD)
    await dashboard.page.goto("/dashboard")
    balance = dashboard.page.locator(".balance-card")
    await expect(balance).to_contain_text("No alert threshold set.")
    await expect(dashboard.page.get_by_label("Alert when credits fall below")).not_to_be_checked()
    # and the catalog administrator's Customers list open in another
    listing = await open_tab()
    await log_in(listing, catalog.user.email, PASSWORD)
    row = (
        listing.page.get_by_role("table", name="Customers")
        .get_by_role("row")
        .filter(has_text="Live Settings Oy")
    )
    await expect(row).to_contain_text("—")

    # when the catalog administrator sets a threshold of 25 in Credit Management, in a third
    manager = await open_tab()
    await log_in(manager, catalog.user.email, PASSWORD)
    await manager.page.goto(f"/customers/{customer.id}/credit-management")
    await manager.page.get_by_label("Alert when credits fall below").check()
    await manager.page.get_by_label("Alert threshold (credits)").fill("25")
    await manager.page.get_by_role("button", name="Save alert").click()
    await expect(manager.page.get_by_text("Saved: you are alerted below 25.00 credits.")).to_be_visible()

    # then the open dashboard says it at once (no alert fired: the balance is above it), form included
    await expect(balance).to_contain_text("Alert threshold: 25.00 credits.")
    await expect(dashboard.page.get_by_label("Alert when credits fall below")).to_be_checked()
    await expect(dashboard.page.get_by_label("Alert threshold (credits)")).to_have_value("25.00")
    # and the open Customers list shows it in its "Alert below" column
    await expect(row).to_contain_text("25.00")
    assert not dashboard.errors and not listing.errors


async def test_back_from_an_outage_the_badge_says_updating_until_the_catch_up_arrives(
    open_tab: Any, api: Any
) -> None:
    # given an administrator's dashboard showing 10.00 live, whose catch-up read will be held
    customer = await make_customer("Stale Badge AB", balance=10)
    owner = await make_user(Role.CUSTOMER_ADMIN, customer)
    catalog = await make_catalog_admin()
    tab = await open_tab()
    await log_in(tab, owner.user.email, PASSWORD)
    await expect(badge(tab)).to_have_text("10.00")
    held, release = await hold_requests(tab, "query Threshold")

    # when the network drops while a grant happens, and comes back
    await tab.context.set_offline(True)
    await expect(badge(tab)).to_contain_text("reconnecting")
    await api(catalog.token).grant(str(customer.id), "5")
    await tab.context.set_offline(False)

    # then, connected again but not yet caught up, the badge says so instead of passing as live
    await held.wait()
    await expect(badge(tab)).to_contain_text("(updating)")
    await expect(badge(tab)).to_have_attribute("aria-busy", "true")

    # when the catch-up arrives, then the badge is live with the balance after the grant
    release.set()
    await expect(badge(tab)).to_have_text("15.00")
    await expect(badge(tab)).to_have_attribute("aria-busy", "false")
    assert tab.errors == []


async def test_the_spending_controls_and_the_runway_alert_reach_open_screens(open_tab: Any, api: Any) -> None:
    # given a customer administrator's dashboard and a catalog administrator's Credit Management,
    # open in two browser contexts, with no control and no runway alert set
    await enable_credits()
    customer = await make_customer("Live Controls Oy", balance=100)
    admin = await make_user(Role.CUSTOMER_ADMIN, customer)
    catalog = await make_catalog_admin()
    dashboard = await open_tab()
    await log_in(dashboard, admin.user.email, PASSWORD)
    await dashboard.page.goto("/dashboard")
    runway_box = dashboard.page.get_by_label("Alert when credits will run out within")
    await expect(runway_box).to_be_enabled()
    await expect(runway_box).not_to_be_checked()
    manager = await open_tab()
    await log_in(manager, catalog.user.email, PASSWORD)
    await manager.page.goto(f"/customers/{customer.id}/credit-management")
    controls = manager.page.get_by_role("region", name="Spending controls")
    await expect(controls).to_contain_text("No minimum balance")
    await expect(controls).to_contain_text("Auto top-up is off.")

    # when another catalog administrator's integration sets a floor and a top-up rule, and the
    # runway alert, through the API
    cid = str(customer.id)
    client = api(catalog.token)
    for document, variables in [
        (
            "mutation($i: SetMinimumBalanceInput!) { setMinimumBalance(input: $i) { userErrors { code } } }",
            {"i": {"customerId": cid, "minimumBalance": "-50"}},
        ),
        (
            "mutation($i: SetAutoTopUpInput!) { setAutoTopUp(input: $i) { userErrors { code } } }",
            {"i": {"customerId": cid, "threshold": "20", "amount": "50"}},
        ),
        (
            "mutation($i: SetRunwayAlertInput!) { setRunwayAlert(input: $i) { userErrors { code } } }",
            {"i": {"customerId": cid, "days": 14}},
        ),
    ]:
        answer = await client(document, variables)
        assert next(iter(answer.values()))["userErrors"] == []

    # then both open screens show them, without a reload
    await expect(controls).to_contain_text("below \u221250.00 credits are refused")
    await expect(controls).to_contain_text("When a charge would take the balance below 20.00 credits")
    await expect(manager.page.get_by_label("Minimum balance (credits)")).to_have_value("\u221250.00")
    await expect(runway_box).to_be_checked()
    await expect(dashboard.page.get_by_label("Days of runway")).to_have_value("14")
    assert dashboard.errors == [] and manager.errors == []


async def test_a_setting_changed_during_an_outage_shows_once_the_socket_is_back(
    open_tab: Any, api: Any
) -> None:
    # given a customer administrator's dashboard with no runway alert, live
    customer = await make_customer("Outage Settings Oy", balance=100)
    admin = await make_user(Role.CUSTOMER_ADMIN, customer)
    catalog = await make_catalog_admin()
    tab = await open_tab()
    await log_in(tab, admin.user.email, PASSWORD)
    await tab.page.goto("/dashboard")
    runway_box = tab.page.get_by_label("Alert when credits will run out within")
    await expect(runway_box).to_be_enabled()
    await expect(runway_box).not_to_be_checked()
    await expect(badge(tab)).to_have_text("100.00")

    # when the network drops while the catalog administrator sets a runway alert through the API
    # (its customerChanged event never reaches this tab), and comes back
    await tab.context.set_offline(True)
    await expect(badge(tab)).to_contain_text("reconnecting")
    answer = await api(catalog.token)(
        "mutation($i: SetRunwayAlertInput!) { setRunwayAlert(input: $i) { userErrors { code } } }",
        {"i": {"customerId": str(customer.id), "days": 21}},
    )
    assert answer["setRunwayAlert"]["userErrors"] == []
    await tab.context.set_offline(False)

    # then the dashboard shows the setting as it now is, without a reload
    await expect(badge(tab)).to_have_text("100.00")
    await expect(runway_box).to_be_checked()
    await expect(tab.page.get_by_label("Days of runway")).to_have_value("21")
    assert tab.errors == []
