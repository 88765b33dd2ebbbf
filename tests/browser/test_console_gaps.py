"""The console's API gaps closed (issue 13): resume without replay, all users, requests across
customers, a threshold set elsewhere shown live."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from playwright.async_api import expect

from models.user import Role
from tests.browser.conftest import Api, badge, log_in, screenshot
from tests.factories import (
    PASSWORD,
    enable_credits,
    make_catalog_admin,
    make_customer,
    make_service,
    make_user,
)
from tests.ws_client import running_subscriptions

SET_ALERT = """mutation($input: SetCreditAlertInput!) {
  setCreditAlert(input: $input) { customer { alertThreshold } userErrors { code message } } }"""
REQUEST = """mutation($input: RequestServiceInput!) {
  requestService(input: $input) { serviceRequest { id } userErrors { code message } } }"""


async def test_a_page_load_resumes_after_the_last_entry_and_misses_one_made_meanwhile(
    open_tab: Any, api: Any
) -> None:
    # given an end user of a customer whose ledger has three entries
    await enable_credits()
    customer = await make_customer("Kappa Kft")
    catalog = await make_catalog_admin()
    grants = api(catalog.token)
    for amount in ("1", "2", "3"):
        await grants.grant(str(customer.id), amount)
    user = await make_user(Role.END_USER, customer)
    tab = await open_tab()

    # and a socket that holds the balance subscription back until a fourth grant has committed
    subscribed: list[dict[str, Any]] = []
    received: list[dict[str, Any]] = []

    async def route(socket: Any) -> None:
        server = socket.connect_to_server()

        async def from_page(message: str | bytes) -> None:
            frame = json.loads(message)
            if frame.get("type") == "subscribe" and "balanceChanged" in frame["payload"]["query"]:
                subscribed.append(frame["payload"]["variables"])
                await grants.grant(str(customer.id), "4")
            server.send(message)

        def from_server(message: str | bytes) -> None:
            frame = json.loads(message)
            if frame.get("type") == "next" and "balanceChanged" in json.dumps(frame["payload"]):
                received.append(frame["payload"]["data"]["balanceChanged"])
            socket.send(message)

        socket.on_message(from_page)
        server.on_message(from_server)

    await tab.page.route_web_socket("**/graphql", route)

    # when the end user logs in (the badge queries the balance, then subscribes)
    await log_in(tab, user.user.email, PASSWORD)

    # then the badge shows the grant made in between, from one event: no replay of the first three
    await expect(badge(tab)).to_have_text("10.00")
    assert subscribed == [{"customerId": str(customer.id), "afterSequence": 3}]
    assert [(e["sequence"], e["balance"]) for e in received] == [(4, "10.00")]
    assert tab.errors == []


async def test_users_lists_every_user_of_the_customer_to_deactivate_and_reactivate(
    open_tab: Any, artifacts: Any
) -> None:
    # given a customer whose users were made elsewhere (not in this session)
    customer = await make_customer("Lambda Ltd", balance=5)
    owner = await make_user(Role.CUSTOMER_ADMIN, customer)
    others = [await make_user(Role.END_USER, customer) for _ in range(2)]
    stranger = await make_user(Role.END_USER, await make_customer("Mu Inc"))

    # when its administrator opens Users
    tab = await open_tab()
    await log_in(tab, owner.user.email, PASSWORD)
    await tab.page.get_by_role("navigation", name="Main").get_by_role("link", name="Users").click()
    users = tab.page.get_by_role("table", name="Users")

    # then every user of the customer is listed, and nobody else's
    for login in (owner, *others):
        await expect(users.get_by_role("row").filter(has_text=login.user.email)).to_have_count(1)
    await expect(users.get_by_role("row").filter(has_text=stranger.user.email)).to_have_count(0)

    # and an end user can be deactivated, then reactivated
    row = users.get_by_role("row").filter(has_text=others[0].user.email)
    await row.get_by_role("button", name="Deactivate").click()
    await expect(row).to_contain_text("Deactivated")
    await row.get_by_role("button", name="Reactivate").click()
    await expect(row).to_contain_text("Active")
    await expect(row.get_by_role("button", name="Deactivate")).to_be_focused()
    await screenshot(tab, artifacts, "users")
    assert tab.errors == []


async def test_the_catalog_administrator_decides_requests_of_every_customer_on_one_screen(
    open_tab: Any, api: Any, artifacts: Any
) -> None:
    # given requests of two customers waiting for a decision
    service = await make_service("10.00", "Scanning")
    nu = await make_customer("Nu SA", balance=50)
    xi = await make_customer("Xi SpA", balance=50)
    catalog = await make_catalog_admin()
    for customer in (nu, xi):
        login = await make_user(Role.END_USER, customer)
        made = {"serviceId": str(service.id), "quantity": 1, "idempotencyKey": uuid.uuid4().hex}
        data = await api(login.token)(REQUEST, {"input": made})
        assert not data["requestService"]["userErrors"]

    # when the catalog administrator opens Requests
    tab = await open_tab()
    await log_in(tab, catalog.user.email, PASSWORD)
    page = tab.page
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Requests").click()
    table = page.get_by_role("table", name="Service requests")

    # then both are listed with their customer
    await expect(table.get_by_role("row").filter(has_text="Scanning")).to_have_count(2)
    await screenshot(tab, artifacts, "catalog-requests")

    # when it rejects Xi's with a reason and completes Nu's
    xi_row = table.get_by_role("row").filter(has_text="Xi SpA")
    await xi_row.get_by_role("button", name="Reject").click()
    await xi_row.get_by_label("Reason").fill("duplicate order")
    await xi_row.get_by_role("button", name="Confirm: reject").click()
    await expect(xi_row).to_have_count(0)
    await table.get_by_role("row").filter(has_text="Nu SA").get_by_role("button", name="Complete").click()

    # then nothing waits any more, and the rejection is listed with its reason among all statuses
    await expect(page.get_by_text("No request is waiting for a decision.")).to_be_visible()
    await page.get_by_label("Status").select_option(label="All statuses")
    await expect(table.get_by_role("row").filter(has_text="Xi SpA")).to_contain_text("duplicate order")
    await expect(table.get_by_role("row").filter(has_text="Nu SA")).to_contain_text("Completed")
    balance = "query($id: ID) { customer(id: $id) { balance } }"
    assert await api(catalog.token)(balance, {"id": str(xi.id)}) == {"customer": {"balance": "50.00"}}
    assert tab.errors == []


async def test_a_threshold_set_elsewhere_shows_on_the_open_dashboard(
    open_tab: Any, api: Any, console_url: str
) -> None:
    # given a customer administrator's dashboard, balance 10.00 and no threshold
    customer = await make_customer("Omega OÜ", balance=10)
    owner = await make_user(Role.CUSTOMER_ADMIN, customer)
    catalog = await make_catalog_admin()
    tab = await open_tab()
    await log_in(tab, owner.user.email, PASSWORD)
    page = tab.page
    await expect(page.get_by_text("No alert threshold set.")).to_be_visible()
    # (the tab's bell is listening: the alert's notification is what makes it read the threshold)
    async with asyncio.timeout(10):
        while await running_subscriptions(console_url, "notificationAdded") < 1:
            await asyncio.sleep(0.05)

    # when the catalog administrator sets a threshold of 20 through the API (it fires at once)
    client: Api = api(catalog.token)
    data = await client(SET_ALERT, {"input": {"customerId": str(customer.id), "threshold": "20"}})
    assert data["setCreditAlert"]["userErrors"] == []

    # then the open dashboard shows the new threshold, in the summary and in the form
    await expect(page.get_by_text("Alert threshold: 20.00 credits.")).to_be_visible()
    await expect(page.get_by_label("Alert threshold (credits)")).to_have_value("20.00")
    await expect(badge(tab)).to_have_text("10.00")
    assert tab.errors == []
