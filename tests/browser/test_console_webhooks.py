"""The console's Webhooks page in Chromium, against the real API and a local HTTP receiver."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from playwright.async_api import expect
from standardwebhooks import Webhook

from models.service_requests import request_service
from models.user import Role
from models.webhook_outbox import WebhookDelivery
from models.webhooks import create_endpoint, send_test
from tests.browser.conftest import hold_requests, log_in, screenshot
from tests.factories import PASSWORD, make_catalog_admin, make_customer, make_service, make_user
from tests.webhook_receiver import WebhookReceiver

STICKING_OUT = """() => [...document.querySelectorAll("body *")]
  .filter((e) => !e.closest(".table-wrap") && e.getBoundingClientRect().right > 375)
  .slice(0, 5).map((e) => `${e.tagName}.${e.className}`)"""


async def open_webhooks(tab: Any) -> Any:
    """Open Webhooks from the main menu."""
    await tab.page.get_by_role("navigation", name="Main").get_by_role("link", name="Webhooks").click()
    await expect(tab.page.get_by_role("heading", name="Webhooks", level=1)).to_be_visible()
    return tab.page.get_by_role("table", name="Webhook endpoints")


async def test_an_endpoint_gets_its_secret_once_and_a_test_event_is_delivered_signed(
    open_tab: Any, receiver: WebhookReceiver, artifacts: Any
) -> None:
    # given the catalog administrator on Webhooks, and a customer
    await make_customer("Pi Ltd")
    catalog = await make_catalog_admin()
    tab = await open_tab()
    await log_in(tab, catalog.user.email, PASSWORD)
    page = tab.page
    endpoints = await open_webhooks(tab)
    await expect(endpoints).to_contain_text("No endpoints yet")

    # when it adds an endpoint for Pi Ltd pointing at the receiver
    await page.get_by_label("Endpoint URL").fill(receiver.url)
    await page.get_by_label("Description").fill("ledger sync")
    await page.get_by_label("Customer", exact=True).select_option(label="Pi Ltd")
    await page.get_by_role("button", name="Create endpoint").click()

    # then its secret is shown once, with a copy button, and the endpoint is listed for Pi Ltd
    secret = await page.get_by_label("Signing secret").input_value()
    assert secret.startswith("whsec_")
    await expect(page.get_by_role("button", name="Copy")).to_be_visible()
    row = endpoints.get_by_role("row").filter(has_text=receiver.url)
    await expect(row).to_contain_text("Pi Ltd")
    await expect(row).to_contain_text("Enabled")
    await screenshot(tab, artifacts, "webhooks")
    await page.reload()
    await expect(page.get_by_label("Signing secret")).to_have_count(0)

    # when it opens the endpoint and sends a test event
    await row.get_by_role("link", name=receiver.url).click()
    await page.get_by_role("button", name="Send test event").click()

    # then the delivery turns Delivered on screen, with one attempt and the receiver's 200
    deliveries = page.get_by_role("table", name="Deliveries")
    delivery = deliveries.get_by_role("row").filter(has_text="webhook.test")
    await expect(delivery).to_contain_text("Delivered")
    await expect(delivery.get_by_role("cell").nth(3)).to_have_text("1")
    await expect(delivery.get_by_role("cell").nth(4)).to_have_text("200")
    await screenshot(tab, artifacts, "webhook-deliveries")

    # and the receiver got it signed with the secret shown once
    [received] = await receiver.wait_count(1)
    verified = Webhook(secret).verify(received.body, received.headers)
    assert verified["type"] == "webhook.test"

    # when it redelivers it, then the receiver gets the same delivery again
    await delivery.get_by_role("button", name="Redeliver").click()
    await expect(page.get_by_text("Queued again, with the same id and body.")).to_be_visible()
    again = await receiver.wait_count(2)
    assert again[1].headers["webhook-id"] == received.headers["webhook-id"]
    assert json.loads(again[1].body) == json.loads(received.body)
    assert tab.errors == []


async def test_an_endpoint_is_disabled_its_secret_rotated_and_it_is_deleted(
    open_tab: Any, receiver: WebhookReceiver
) -> None:
    # given a customer administrator with an endpoint of its own (a bad URL is refused beside its field)
    customer = await make_customer("Sigma AS")
    owner = await make_user(Role.CUSTOMER_ADMIN, customer)
    tab = await open_tab()
    await log_in(tab, owner.user.email, PASSWORD)
    page = tab.page
    endpoints = await open_webhooks(tab)
    await expect(page.get_by_label("Customer", exact=True)).to_have_count(0)
    url = page.get_by_label("Endpoint URL")
    await url.fill("ftp://example.com/hooks")
    await page.get_by_role("button", name="Create endpoint").click()
    await expect(url).to_have_attribute("aria-invalid", "true")
    await expect(url).to_have_accessible_description(
        re.compile("Enter a full address that starts with https://")
    )
    await url.fill(receiver.url)
    await page.get_by_label("credit_alert.fired").check()
    await page.get_by_role("button", name="Create endpoint").click()
    first = await page.get_by_label("Signing secret").input_value()
    await endpoints.get_by_role("link", name=receiver.url).click()
    await expect(page).to_have_url(re.compile(r"/webhooks/[0-9a-f-]+$"))
    await expect(page.get_by_role("button", name="Disable")).to_be_visible()
    await expect(page.get_by_text("credit_alert.fired")).to_be_visible()

    # when it disables the endpoint, then the endpoint says so
    await page.get_by_role("button", name="Disable").click()
    await expect(page.get_by_text("Disabled: no event is sent until you enable it.")).to_be_visible()
    await page.get_by_role("button", name="Enable").click()
    await expect(page.get_by_text("Enabled: events are sent again.")).to_be_visible()

    # when it rotates the secret (confirming), then a new one is shown once
    await page.get_by_role("button", name="Rotate secret").click()
    await page.get_by_role("button", name="Confirm: rotate secret").click()
    await expect(page.get_by_text("Secret rotated.")).to_be_visible()
    rotated = await page.get_by_label("Signing secret").input_value()
    assert rotated.startswith("whsec_") and rotated != first

    # when it asks to delete the endpoint and presses Escape, then it is still there, focus on Delete
    delete = page.get_by_role("button", name="Delete endpoint")
    await delete.click()
    await expect(page.get_by_role("alert")).to_contain_text("its delivery log goes with it")
    await page.keyboard.press("Escape")
    await expect(page.get_by_role("button", name="Confirm: delete endpoint")).to_have_count(0)
    await expect(delete).to_be_focused()

    # when it deletes the endpoint (confirming), then the list is empty again
    await delete.click()
    await page.get_by_role("button", name="Confirm: delete endpoint").click()
    await expect(page.get_by_role("heading", name="Webhooks", level=1)).to_be_visible()
    await expect(endpoints).to_contain_text("No endpoints yet")
    assert tab.errors == []


async def test_customer_administrators_see_their_own_endpoints_and_end_users_no_webhooks(
    open_tab: Any, receiver: WebhookReceiver
) -> None:
    # given an endpoint of Tau Oy made by its administrator
    tau = await make_customer("Tau Oy")
    phi = await make_customer("Phi BV")
    tau_admin = await make_user(Role.CUSTOMER_ADMIN, tau)
    phi_admin = await make_user(Role.CUSTOMER_ADMIN, phi)
    end_user = await make_user(Role.END_USER, tau)
    tab = await open_tab()
    await log_in(tab, tau_admin.user.email, PASSWORD)
    await open_webhooks(tab)
    await tab.page.get_by_label("Endpoint URL").fill(receiver.url)
    await tab.page.get_by_role("button", name="Create endpoint").click()
    await tab.page.get_by_role("link", name="Open the endpoint").click()
    endpoint_path = tab.page.url.split("//", 1)[1].split("/", 1)[1]

    # when Phi's administrator opens Webhooks, and Tau's endpoint by its address
    other = await open_tab()
    await log_in(other, phi_admin.user.email, PASSWORD)
    endpoints = await open_webhooks(other)

    # then it sees none of Tau's endpoints
    await expect(endpoints).to_contain_text("No endpoints yet")
    await other.page.goto(f"/{endpoint_path}")
    await expect(other.page.get_by_role("heading", name="Endpoint not found")).to_be_visible()

    # and an end user has no Webhooks in its menu, and cannot open the page
    user = await open_tab()
    await log_in(user, end_user.user.email, PASSWORD)
    menu = user.page.get_by_role("navigation", name="Main")
    await expect(menu.get_by_role("link", name="Webhooks")).to_have_count(0)
    for path in ("/webhooks", f"/{endpoint_path}"):
        await user.page.goto(path)
        await expect(user.page.get_by_role("heading", name="This page is not available")).to_be_visible()
    assert tab.errors == [] and other.errors == [] and user.errors == []


async def test_the_new_screens_fit_a_375_px_screen(open_tab: Any, artifacts: Any) -> None:
    # given an endpoint with a delivery, and a request waiting for a decision
    customer = await make_customer("Chi Sp", balance=30)
    owner = await make_user(Role.CUSTOMER_ADMIN, customer)
    catalog = await make_catalog_admin()
    url = "http://127.0.0.1:9/a/rather/long/path/for/a/webhook"
    hook = (await create_endpoint(url, customer.id, None, None)).endpoint
    await send_test(hook.id)
    service = await make_service("10.00", "Scanning")
    await request_service(owner.actor, customer.id, service.id, 1, None)

    for who, paths in ((owner, ["/webhooks", f"/webhooks/{hook.id}"]), (catalog, ["/requests", "/webhooks"])):
        # when each opens its new screens on a phone-sized screen
        tab = await open_tab(width=375, height=800)
        await log_in(tab, who.user.email, PASSWORD)
        for path in paths:
            await tab.page.goto(path)
            await tab.page.get_by_role("table").first.get_by_role("row").nth(1).wait_for()

            # then nothing scrolls sideways
            width = await tab.page.evaluate("() => document.documentElement.scrollWidth")
            # (what sticks out, outside the tables' own scrolling, says why not)
            wide = await tab.page.evaluate(STICKING_OUT)
            assert width <= 375, (path, wide)
            await screenshot(tab, artifacts, f"375px{path.replace('/', '-')}")
        assert tab.errors == []


async def test_an_endpoint_owing_a_delivery_shows_how_long_the_oldest_has_waited(
    open_tab: Any, artifacts: Any
) -> None:
    # given an endpoint of Psi AB owing one delivery, recorded 7 minutes ago and waiting for a retry,
    # and another endpoint owing nothing
    customer = await make_customer("Psi AB")
    owner = await make_user(Role.CUSTOMER_ADMIN, customer)
    behind = (await create_endpoint("http://127.0.0.1:9/behind", customer.id, None, None)).endpoint
    await create_endpoint("http://127.0.0.1:9/idle", customer.id, None, None)
    now = dt.datetime.now(dt.UTC)
    delivery = await WebhookDelivery.create(
        endpoint_id=behind.id,
        event_type="webhook.test",
        payload="{}",
        next_attempt_at=now + dt.timedelta(hours=1),
    )
    await WebhookDelivery.filter(id=delivery.id).update(created_at=now - dt.timedelta(minutes=7, seconds=10))

    # when its administrator opens Webhooks
    tab = await open_tab()
    await log_in(tab, owner.user.email, PASSWORD)
    endpoints = await open_webhooks(tab)

    # then each endpoint's row shows its backlog, with the age of the oldest pending delivery
    row = endpoints.get_by_role("row").filter(has_text="/behind")
    await expect(row).to_contain_text("1 pending, the oldest for 7 min")
    await expect(endpoints.get_by_role("row").filter(has_text="/idle")).to_contain_text("None pending")
    await screenshot(tab, artifacts, "webhooks-backlog")

    # and the endpoint's own page says the same
    await row.get_by_role("link", name="http://127.0.0.1:9/behind").click()
    await expect(tab.page.get_by_text("1 pending, the oldest for 7 min")).to_be_visible()
    assert tab.errors == []


async def test_an_endpoints_buttons_are_busy_while_their_mutation_runs(
    open_tab: Any, receiver: WebhookReceiver
) -> None:
    # given a customer administrator on its endpoint's page, with test sends held in the network
    customer = await make_customer("Tau Oy")
    owner = await make_user(Role.CUSTOMER_ADMIN, customer)
    endpoint = (await create_endpoint(receiver.url, customer.id, None, None)).endpoint
    tab = await open_tab()
    await log_in(tab, owner.user.email, PASSWORD)
    page = tab.page
    held, release = await hold_requests(tab, "sendTestWebhook")
    await page.goto(f"/webhooks/{endpoint.id}")
    send = page.get_by_role("button", name="Send test event")

    # when it sends a test event and the send is on its way
    await send.click()
    await held.wait()

    # then that button is busy and the endpoint's other buttons wait too (no second send)
    await expect(send).to_have_attribute("aria-busy", "true")
    await expect(send).to_be_disabled()
    for name in ("Disable", "Rotate secret", "Delete endpoint"):
        await expect(page.get_by_role("button", name=name)).to_be_disabled()

    # when the answer comes, then the result is said, the buttons are back and focus is on Send
    release.set()
    await expect(page.get_by_text("Test event queued.")).to_be_visible()
    await expect(send).not_to_have_attribute("aria-busy", "true")
    for name in ("Disable", "Rotate secret", "Delete endpoint"):
        await expect(page.get_by_role("button", name=name)).to_be_enabled()
    await expect(send).to_be_focused()
    await receiver.wait_count(1)
    assert tab.errors == []
