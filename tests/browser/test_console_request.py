"""A service request's page in Chromium (issue 21): money in the console's format, and the refund of
a cancelled request with its ledger entry."""

from __future__ import annotations

import uuid
from typing import Any

from playwright.async_api import expect

from models.user import Role
from tests.browser.conftest import log_in
from tests.factories import PASSWORD, enable_credits, make_customer, make_service, make_user

REQUEST = """mutation($input: RequestServiceInput!) {
  requestService(input: $input) { serviceRequest { id } userErrors { code message } } }"""
CANCEL = """mutation($id: ID!) { cancelServiceRequest(id: $id) { userErrors { code message } } }"""


async def test_a_cancelled_request_shows_its_charge_and_refund_formatted(open_tab: Any, api: Any) -> None:
    # given a request of 1,234.50 credits from 2,000, cancelled by its end user
    await enable_credits()
    customer = await make_customer("Refund Page Oy", balance=2000)
    user = await make_user(Role.END_USER, customer)
    admin = await make_user(Role.CUSTOMER_ADMIN, customer)
    service = await make_service("1234.50", "Typesetting")
    made = {"serviceId": str(service.id), "idempotencyKey": uuid.uuid4().hex}
    request_id = (await api(user.token)(REQUEST, {"input": made}))["requestService"]["serviceRequest"]["id"]
    assert (await api(user.token)(CANCEL, {"id": request_id}))["cancelServiceRequest"]["userErrors"] == []

    # when the customer administrator opens the request's page
    tab = await open_tab()
    await log_in(tab, admin.user.email, PASSWORD)
    page = tab.page
    await page.goto(f"/requests/{request_id}")
    facts = page.locator("dl.facts")

    # then the charge reads as money, with its ledger entry, and the refund is shown with its own
    await expect(facts).to_contain_text("Charged1,234.50 credits")
    await expect(facts).to_contain_text("\u22121,234.50 credits, entry #2, balance after 765.50")
    await expect(facts).to_contain_text("Refunded1,234.50 credits")
    await expect(facts).to_contain_text("+1,234.50 credits, entry #3, balance after 2,000.00")
    await expect(facts).not_to_contain_text("1234.50")
    assert tab.errors == []
