"""The console on phones and in dark mode: every screen of every role fits 360 px and up without
sideways scrolling, tables turn into labelled cards, the bell's panel stays on screen, and axe finds
nothing serious or critical in the light and the dark theme."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from models.user import Role
from models.webhooks import create_endpoint
from tests.browser.conftest import Api, log_in, screenshot
from tests.factories import PASSWORD, make_catalog_admin, make_customer, make_service, make_user

AXE = Path(__file__).resolve().parents[2] / "web" / "vendor" / "axe-core@4.14.1" / "axe.min.js"
REQUEST = """mutation($input: RequestServiceInput!) {
  requestService(input: $input) { serviceRequest { id } userErrors { code message } } }"""
TOKEN = """mutation($name: String!) { createApiToken(name: $name) { apiToken { id } userErrors { code } } }"""

# What overflows sideways: the page, a table's own scroll box, or a control past the screen's edges.
LAYOUT = """() => {
  const width = window.innerWidth;
  const problems = [];
  const page = document.documentElement.scrollWidth;
  if (page > width) problems.push(`page ${page}px wide`);
  for (const wrap of document.querySelectorAll(".table-wrap")) {
    const name = wrap.querySelector("table")?.getAttribute("aria-label");
    if (wrap.scrollWidth > wrap.clientWidth) problems.push(`table ${name} scrolls`);
  }
  for (const control of document.querySelectorAll("main button, main input, main select, main a")) {
    const box = control.getBoundingClientRect();
    if (!box.width || control.closest(".visually-hidden")) continue;
    const name = control.textContent.trim() || control.name;
    const where = `${Math.round(box.left)}–${Math.round(box.right)}`;
    if (box.left < 0 || box.right > width) problems.push(`${control.tagName} "${name}" at ${where}`);
  }
  return problems;
}"""
# The relative luminance of the page's background (0 black … 1 white).
BACKGROUND = """() => {
  const [r, g, b] = getComputedStyle(document.body).backgroundColor.match(/\\d+/g).map(Number);
  const linear = (c) => (c / 255 <= 0.03928 ? c / 255 / 12.92 : ((c / 255 + 0.055) / 1.055) ** 2.4);
  return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
}"""


async def axe_violations(tab: Any, axe: str) -> list[Any]:
    """axe-core's serious and critical violations on the current screen."""
    await tab.page.evaluate(axe)
    result = await tab.page.evaluate("async () => JSON.stringify((await axe.run()).violations)")
    return [
        (v["id"], v["help"], [n["target"] for n in v["nodes"]][:3])
        for v in json.loads(result)
        if v["impact"] in ("serious", "critical")
    ]


async def bell_panel_problem(tab: Any, width: int, height: int) -> str | None:
    """Open the bell (if the role has one) and say where its panel leaves the screen, or None."""
    page = tab.page
    bell = page.get_by_role("button", name="Notifications")
    if not await bell.is_visible():
        return None
    await bell.click()
    panel = page.get_by_role("region", name="Notifications")
    await expect(panel).to_be_visible()
    box = await panel.bounding_box()
    await bell.click()
    await expect(panel).to_be_hidden()
    assert box is not None
    if box["x"] < 0 or box["y"] < 0 or box["x"] + box["width"] > width or box["y"] + box["height"] > height:
        return f"bell panel at {box}"
    return None


@pytest.mark.parametrize(
    ("width", "height", "scheme"),
    [(390, 844, "light"), (360, 740, "dark"), (1440, 900, "dark")],
    ids=["390-light", "360-dark", "1440-dark"],
)
async def test_every_screen_fits_the_screen_and_passes_axe(
    open_tab: Any, console_url: str, artifacts: Path, width: int, height: int, scheme: str
) -> None:
    # given a customer with a service, a request, an API token and a webhook endpoint, and its people
    customer = await make_customer(f"Phone {uuid.uuid4().hex[:4]} GmbH", balance=30)
    service = await make_service("12.50", f"Translation {uuid.uuid4().hex[:4]}")
    owner = await make_user(Role.CUSTOMER_ADMIN, customer)
    user = await make_user(Role.END_USER, customer)
    catalog = await make_catalog_admin()
    hook = (await create_endpoint("http://127.0.0.1:9/hooks", customer.id, None, "phones")).endpoint
    end_user_api = Api(console_url, user.token)
    try:
        wanted = {"serviceId": str(service.id), "quantity": 1, "idempotencyKey": uuid.uuid4().hex}
        made = await end_user_api(REQUEST, {"input": wanted})
        assert not made["requestService"]["userErrors"], made
        assert not (await end_user_api(TOKEN, {"name": "Phone script"}))["createApiToken"]["userErrors"]
    finally:
        await end_user_api.close()
    screens = [
        (
            catalog,
            [
                "/customers",
                f"/customers/{customer.id}",
                f"/customers/{customer.id}/credit-management",
                f"/customers/{customer.id}/users",
                "/requests",
                "/catalog",
                "/webhooks",
                f"/webhooks/{hook.id}",
                "/tokens",
            ],
        ),
        (owner, ["/dashboard", "/users", "/services", "/webhooks", f"/webhooks/{hook.id}", "/tokens"]),
        (user, ["/services", "/tokens"]),
    ]
    axe = AXE.read_text()
    found: dict[str, Any] = {}

    # when each of them visits every screen of their role at this size, in this theme
    for who, paths in screens:
        tab = await open_tab(width, height, color_scheme=scheme)
        await log_in(tab, who.user.email, PASSWORD)
        if scheme == "dark":
            assert await tab.page.evaluate(BACKGROUND) < 0.05, "the console follows the dark theme"
        for path in paths:
            await tab.page.goto(path)
            await tab.page.get_by_role("heading", level=1).first.wait_for()
            await tab.page.wait_for_load_state("networkidle")
            role = who.user.role.value.lower()
            await screenshot(tab, artifacts, f"{width}-{scheme}-{role}{path.replace('/', '-')}")
            if path == "/dashboard":  # as a phone shows it, for the README (docs/console-phone-*.png)
                await tab.page.screenshot(path=str(artifacts / f"dashboard-{width}-{scheme}-screen.png"))
            problems = await tab.page.evaluate(LAYOUT)
            if panel := await bell_panel_problem(tab, width, height):
                problems.append(panel)
            assert tab.errors == [], path
            problems += await axe_violations(tab, axe)  # (axe sets inline styles the CSP refuses)
            tab.errors.clear()
            if problems:
                found[f"{role} {path}"] = problems

    # then no screen scrolls sideways, hides a control or a column, or has a serious axe violation
    assert found == {}


async def test_on_a_phone_each_row_is_a_card_with_its_cells_labelled(open_tab: Any, artifacts: Path) -> None:
    # given an end user whose customer offers a service
    customer = await make_customer("Nu Phone AB", balance=30)
    await make_service("12.50", "Rendering")
    user = await make_user(Role.END_USER, customer)
    tab = await open_tab(360, 740)
    await log_in(tab, user.user.email, PASSWORD)

    # when they request it on a 360 px phone
    page = tab.page
    row = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="Rendering", exact=True))
    request = row.get_by_role("button", name="Request")
    await request.click()
    requests = page.get_by_role("table", name="Your requests")
    await expect(requests.get_by_role("button", name="Cancel")).to_be_visible()
    await screenshot(tab, artifacts, "end-user-services-360")

    # then the Request button is whole on screen, and the request's row shows Credits and Status
    # labelled, stacked in one card, with Cancel on screen too
    box = await request.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= 360
    cells = requests.locator("tbody tr").first.locator("td[data-label]")
    labels = await cells.evaluate_all(
        "cells => cells.map(cell => [cell.dataset.label, getComputedStyle(cell, '::before').content])"
    )
    names = [label for label, _ in labels]
    assert "Credits" in names and "Status" in names, names
    assert all(before == json.dumps(label) for label, before in labels if label), labels
    for name in ("Credits", "Status"):
        cell = requests.locator(f'tbody tr td[data-label="{name}"]').first
        cell_box = await cell.bounding_box()
        assert cell_box and cell_box["x"] >= 0 and cell_box["x"] + cell_box["width"] <= 360
    cancel = await requests.get_by_role("button", name="Cancel").bounding_box()
    assert cancel and cancel["x"] + cancel["width"] <= 360
    assert tab.errors == []
