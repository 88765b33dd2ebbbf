"""Users in the console (issue 21, point 7): the catalog administrator creates a customer's first
administrator on the customer's page; customer administrators have a Users screen of their own."""

from __future__ import annotations

from typing import Any

from playwright.async_api import expect

from models.user import Role
from tests.browser.conftest import log_in, screenshot
from tests.factories import PASSWORD, make_catalog_admin, make_customer, make_user

NEW_PASSWORD = "a long enough password"


async def test_the_catalog_administrator_creates_a_new_customers_first_administrator(
    open_tab: Any, artifacts: Any
) -> None:
    # given a new customer without any user, and a catalog administrator on its page
    customer = await make_customer("Phi Oy")
    catalog = await make_catalog_admin()
    tab = await open_tab(1440, 900)
    await log_in(tab, catalog.user.email, PASSWORD)
    page = tab.page
    await page.get_by_role("link", name="Phi Oy", exact=True).click()

    # when it opens the customer's Users and creates an administrator
    await page.get_by_role("navigation", name="Customer Options").get_by_role("link", name="Users").click()
    await expect(page.get_by_text("This customer has no administrator yet")).to_be_visible()
    await expect(page.get_by_label("Role")).to_have_value("CUSTOMER_ADMIN")
    await page.get_by_label("Name", exact=True).fill("Phi Owner")
    await page.get_by_label("Email", exact=True).fill("owner@phi.example")
    await page.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    await page.get_by_role("button", name="Create user").click()

    # then it is listed as the customer's administrator, and the notice is gone
    row = page.get_by_role("table", name="Users").get_by_role("row").filter(has_text="owner@phi.example")
    await expect(row).to_contain_text("Administrator")
    await expect(page.get_by_text("This customer has no administrator yet")).to_be_hidden()
    await screenshot(tab, artifacts, "customer-users")

    # and the new administrator logs in to the customer's dashboard
    other = await open_tab()
    await log_in(other, "owner@phi.example", NEW_PASSWORD)
    await expect(other.page.get_by_role("heading", name="Dashboard")).to_be_visible()
    await expect(other.page.locator(".page-head")).to_contain_text(customer.name)
    assert tab.errors == [] and other.errors == []


async def test_a_customer_administrator_opens_users_from_the_menu_and_creates_an_end_user(
    open_tab: Any,
) -> None:
    # given a customer administrator on its dashboard
    customer = await make_customer("Chi AG", balance=3)
    owner = await make_user(Role.CUSTOMER_ADMIN, customer)
    tab = await open_tab(1440, 900)
    await log_in(tab, owner.user.email, PASSWORD)
    page = tab.page
    await expect(page.get_by_role("table", name="Users")).to_have_count(0)

    # when it opens Users from the top menu and adds an end user
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Users").click()
    await expect(page).to_have_url(f"{page.url.split('/users')[0]}/users")
    await expect(page.get_by_role("heading", name="Users", exact=True).first).to_be_visible()
    await page.get_by_label("Name", exact=True).fill("Chi Person")
    await page.get_by_label("Email", exact=True).fill("person@chi.example")
    await page.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    await page.get_by_role("button", name="Create user").click()

    # then the end user is listed and logs in to the customer's services
    row = page.get_by_role("table", name="Users").get_by_role("row").filter(has_text="person@chi.example")
    await expect(row).to_contain_text("End user")
    await expect(page.get_by_role("status").filter(has_text="Created person@chi.example")).to_be_visible()
    other = await open_tab()
    await log_in(other, "person@chi.example", NEW_PASSWORD)
    await expect(other.page).to_have_url(f"{other.page.url.split('/services')[0]}/services")
    assert tab.errors == [] and other.errors == []


async def test_users_is_a_deep_link_that_survives_a_reload_on_a_phone(open_tab: Any, artifacts: Any) -> None:
    # given a customer administrator with an end user, logged in on a phone
    customer = await make_customer("Psi SA")
    owner = await make_user(Role.CUSTOMER_ADMIN, customer)
    member = await make_user(Role.END_USER, customer)
    tab = await open_tab(390, 844)
    await log_in(tab, owner.user.email, PASSWORD)
    page = tab.page

    # when it types /users, then reloads
    await page.goto("/users")
    await page.reload()

    # then the Users screen lists the customer's users, with its menu entry current
    await expect(
        page.get_by_role("table", name="Users").get_by_role("row").filter(has_text=member.user.email)
    ).to_have_count(1)
    current = page.get_by_role("navigation", name="Main").get_by_role("link", name="Users")
    await expect(current).to_have_attribute("aria-current", "page")
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    await screenshot(tab, artifacts, "users-phone")
    assert tab.errors == []


async def test_end_users_have_no_users_screen(open_tab: Any) -> None:
    # given an end user
    customer = await make_customer("Omega BV")
    user = await make_user(Role.END_USER, customer)
    tab = await open_tab()
    await log_in(tab, user.user.email, PASSWORD)

    # when it types /users
    await tab.page.goto("/users")

    # then the console says the page is not available, and its menu has no Users
    await expect(tab.page.get_by_role("heading", name="This page is not available")).to_be_visible()
    await expect(
        tab.page.get_by_role("navigation", name="Main").get_by_role("link", name="Users")
    ).to_have_count(0)
