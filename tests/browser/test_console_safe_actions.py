"""Safe actions in Chromium (issue 21, point 9): Reject and Fail ask for a reason and a
confirmation; a request's result is said in a fixed place and clears; a request that takes the
balance below zero is warned of first; finished rows show their refund."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from playwright.async_api import expect

from models.user import Role
from tests.browser.conftest import badge, hold_requests, log_in, screenshot
from tests.factories import PASSWORD, make_catalog_admin, make_customer, make_service, make_user

REQUEST = """mutation($input: RequestServiceInput!) {
  requestService(input: $input) { serviceRequest { id } userErrors { code message } } }"""
REQUESTS = """query($id: ID) { customer(id: $id) {
  balance serviceRequests(first: 10) { nodes { status reason service { name } } } } }"""


async def request(api: Any, token: str, service: Any) -> None:
    """One unit of `service`, requested through the API."""
    made = {"serviceId": str(service.id), "quantity": 1, "idempotencyKey": uuid.uuid4().hex}
    data = await api(token)(REQUEST, {"input": made})
    assert not data["requestService"]["userErrors"]


async def test_reject_and_fail_ask_for_a_reason_and_a_confirmation_and_send_the_reason(
    open_tab: Any, api: Any, artifacts: Any
) -> None:
    # given two requests of a customer (100 → 60 → 20), the catalog administrator on its page
    customer = await make_customer("Phi Oy", balance=100)
    proofreading = await make_service("40.00", "Proofreading")
    indexing = await make_service("40.00", "Indexing")
    user = await make_user(Role.END_USER, customer)
    catalog = await make_catalog_admin()
    await request(api, user.token, proofreading)
    await request(api, user.token, indexing)
    tab = await open_tab()
    await log_in(tab, catalog.user.email, PASSWORD)
    page = tab.page
    await page.goto(f"/customers/{customer.id}")
    table = page.get_by_role("table", name="Service requests")
    row = table.get_by_role("row").filter(has_text="Proofreading")

    # when it presses Reject, then it is asked first, with a reason field, and nothing is sent yet
    await row.get_by_role("button", name="Reject").click()
    confirm = row.get_by_role("group", name="Confirm: reject Proofreading")
    await expect(confirm).to_contain_text("Reject Proofreading and refund 40.00 credits?")
    await expect(confirm.get_by_label("Reason")).to_be_focused()
    await screenshot(tab, artifacts, "reject-confirm")
    answer = await api(catalog.token)(REQUESTS, {"id": str(customer.id)})
    assert answer["customer"]["balance"] == "20.00"

    # when it confirms without a reason, then it is told to give one, and nothing is sent
    await confirm.get_by_role("button", name="Confirm: reject").click()
    await expect(confirm).to_contain_text("the customer sees this reason")

    # when it keeps the request instead, then the buttons come back with focus on Reject
    await confirm.get_by_role("button", name="Keep").click()
    await expect(confirm).to_have_count(0)
    await expect(row.get_by_role("button", name="Reject")).to_be_focused()

    # when it fails the other with a reason and confirms
    other = table.get_by_role("row").filter(has_text="Indexing")
    await other.get_by_role("button", name="Fail").click()
    await other.get_by_label("Reason").fill("scanner broken")
    await other.get_by_role("button", name="Confirm: fail").click()

    # then the reason went with the mutation, the credits came back, and the result is said
    await expect(
        page.get_by_role("status").filter(has_text="Failed: Indexing; 40.00 credits refunded.")
    ).to_be_visible()
    await expect(other).to_contain_text("Refunded 40.00")
    await expect(other).to_contain_text("scanner broken")
    answer = await api(catalog.token)(REQUESTS, {"id": str(customer.id)})
    decided = {
        n["service"]["name"]: (n["status"], n["reason"])
        for n in answer["customer"]["serviceRequests"]["nodes"]
    }
    assert decided == {"Indexing": ("FAILED", "scanner broken"), "Proofreading": ("REQUESTED", None)}
    assert answer["customer"]["balance"] == "60.00"
    assert tab.errors == []


@pytest.mark.parametrize(("width", "height"), [(1440, 900), (390, 844)])
async def test_a_requests_result_is_said_in_a_fixed_place_and_clears(
    open_tab: Any, width: int, height: int
) -> None:
    # given an end user on Services, 100 credits, a service priced 10, its runway read held in the
    # network (so the sentence arrives after the request, as on a slow connection)
    customer = await make_customer(f"Chi Oy {width}", balance=100)
    await make_service("10.00", f"Stamping {width}")
    user = await make_user(Role.END_USER, customer)
    tab = await open_tab(width=width, height=height)
    release = (await hold_requests(tab, "query Runway")).release
    await log_in(tab, user.user.email, PASSWORD)
    page = tab.page
    await expect(badge(tab)).to_have_text("100.00")
    services = page.get_by_role("table", name="Services")
    button = (
        services.get_by_role("row").filter(has_text=f"Stamping {width}").get_by_role("button", name="Request")
    )
    await button.scroll_into_view_if_needed()  # as the click will (a narrow table scrolls in its frame)
    before = (await services.bounding_box(), await button.bounding_box())

    # when it requests the service
    await button.click()

    # then the result is said in the status line, and neither the table nor the button moved
    said = page.get_by_role("status").filter(has_text=f"Requested Stamping {width}: 10.00 credits.")
    await expect(said).to_be_visible()
    assert (await services.bounding_box(), await button.bounding_box()) == before

    # and when the runway sentence arrives, it moves neither
    release.set()
    await expect(page.locator(".runway")).to_contain_text("credits run out on")
    assert (await services.bounding_box(), await button.bounding_box()) == before

    # and after a while the message is gone, the table still in its place
    await expect(said).to_have_count(0, timeout=20_000)
    assert (await services.bounding_box(), await button.bounding_box()) == before
    assert tab.errors == []


async def test_a_request_below_zero_is_warned_of_and_made_only_when_confirmed(
    open_tab: Any, artifacts: Any
) -> None:
    # given an end user with 30 credits and a service priced 40
    customer = await make_customer("Psi Oy", balance=30)
    await make_service("40.00", "Binding")
    user = await make_user(Role.END_USER, customer)
    tab = await open_tab()
    await log_in(tab, user.user.email, PASSWORD)
    page = tab.page
    await expect(badge(tab)).to_have_text("30.00")
    row = page.get_by_role("table", name="Services").get_by_role("row").filter(has_text="Binding")

    # when it presses Request, then it is warned of the balance it would leave, and nothing is charged
    await row.get_by_role("button", name="Request").click()
    warning = page.get_by_role("alert").filter(has_text="below zero")
    await expect(warning).to_contain_text(
        "Binding costs 40.00 credits: the balance goes from 30.00 credits to \u221210.00 credits, below zero."
    )
    await screenshot(tab, artifacts, "below-zero-warning")
    await page.get_by_role("button", name="Don't request").click()
    await expect(warning).to_have_count(0)
    await expect(row.get_by_role("button", name="Request")).to_be_focused()
    await expect(page.get_by_role("table", name="Your requests")).to_contain_text("No service requests yet")

    # when it asks again and confirms
    await row.get_by_role("button", name="Request").click()
    await page.get_by_role("button", name="Request anyway").click()

    # then the request is made, once, and the balance goes below zero
    await expect(badge(tab)).to_have_text("\u221210.00")
    await expect(
        page.get_by_role("table", name="Your requests").get_by_role("row").filter(has_text="Binding")
    ).to_have_count(1)
    assert tab.errors == []


async def test_a_cancelled_request_shows_its_refund(open_tab: Any, api: Any) -> None:
    # given an end user's request of 20.00 (50 → 30)
    customer = await make_customer("Omega Oy", balance=50)
    sealing = await make_service("20.00", "Sealing")
    user = await make_user(Role.END_USER, customer)
    await request(api, user.token, sealing)
    tab = await open_tab()
    await log_in(tab, user.user.email, PASSWORD)
    page = tab.page
    await expect(badge(tab)).to_have_text("30.00")

    # when it cancels it
    row = page.get_by_role("table", name="Your requests").get_by_role("row").filter(has_text="Sealing")
    await row.get_by_role("button", name="Cancel").click()

    # then the row shows the refund, and the result is said
    await expect(row).to_contain_text("Cancelled")
    await expect(row).to_contain_text("Refunded 20.00")
    await expect(
        page.get_by_role("status").filter(has_text="Cancelled: Sealing; 20.00 credits refunded.")
    ).to_be_visible()
    await expect(badge(tab)).to_have_text("50.00")
    assert tab.errors == []
