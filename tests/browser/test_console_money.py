"""Money in the console: one formatter (`−765,432.11`), typed amounts read as people write them,
refusals said beside the field in the console's own words, never a float."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.async_api import expect

from models.credits import change_balance
from models.customer import Customer
from models.transaction import TransactionKind
from models.user import Role
from tests.browser.conftest import badge, hold_requests, log_in, screenshot
from tests.factories import PASSWORD, enable_credits, make_catalog_admin, make_customer, make_user

MINUS = "\u2212"
DEBT = f"{MINUS}765,432.11"
TOO_PRECISE = "Enter an amount like 1,000.50 — at most two decimals."

# Imports a console module in the page (the same file the console loads) and runs `run` on it.
WITH_MODULE = """async ([name, cases]) => {
  const preload = document.querySelector('link[rel="modulepreload"][href$="/console/money.js"]');
  const module = await import(new URL(name, preload.href).href);
  return cases.map(([fn, args]) => module[fn](...args));
}"""

# (function, arguments, expected): the formatter and the reader, as the browser runs them.
MONEY_CASES = [
    ("formatAmount", ["-765432.11"], DEBT),
    ("formatAmount", ["0.00"], "0.00"),
    ("formatAmount", ["-0.00"], "0.00"),
    ("formatAmount", ["-0.50"], f"{MINUS}0.50"),
    ("formatAmount", ["1000000"], "1,000,000.00"),
    ("formatAmount", ["999.5"], "999.50"),
    ("formatAmount", ["007.10"], "7.10"),
    # beyond 2^53 (9,007,199,254,740,992): a float would print ...992.00 or lose the cents
    ("formatAmount", ["9007199254740993.01"], "9,007,199,254,740,993.01"),
    ("formatAmount", ["-123456789012345678901.99"], f"{MINUS}123,456,789,012,345,678,901.99"),
    ("formatAmount", ["not an amount"], "not an amount"),
    ("formatCredits", ["-765432.11"], f"{DEBT} credits"),
    ("signed", ["1000.00"], "+1,000.00"),
    ("signed", ["-40.00"], f"{MINUS}40.00"),
    ("signed", ["0.00"], "0.00"),
    ("signed", ["0.01"], "+0.01"),
    ("parseAmount", ["1,000"], {"value": "1000.00"}),
    ("parseAmount", ["1 000.50"], {"value": "1000.50"}),
    ("parseAmount", ["1\u00a0000.5"], {"value": "1000.50"}),
    ("parseAmount", ["1000"], {"value": "1000.00"}),
    ("parseAmount", ["  12.5 "], {"value": "12.50"}),
    ("parseAmount", ["+5"], {"value": "5.00"}),
    ("parseAmount", [f"{MINUS}5", {"negative": True}], {"value": "-5.00"}),
    ("parseAmount", ["-1,234.56", {"negative": True}], {"value": "-1234.56"}),
    ("parseAmount", ["999,999,999,999.99"], {"value": "999999999999.99"}),
    ("parseAmount", ["9007199254.99"], {"value": "9007199254.99"}),
    ("parseAmount", ["1.234"], {"error": "decimals", "message": TOO_PRECISE}),
    ("parseAmount", ["12,50"], {"error": "comma"}),
    ("parseAmount", ["1,00,000"], {"error": "unreadable"}),
    ("parseAmount", ["1,000 000"], {"error": "unreadable"}),
    ("parseAmount", ["1e3"], {"error": "unreadable"}),
    ("parseAmount", ["NaN"], {"error": "unreadable"}),
    ("parseAmount", [""], {"error": "empty"}),
    ("parseAmount", ["1,000,000,000,000"], {"error": "tooLarge"}),
    ("parseAmount", [f"{MINUS}5"], {"error": "negative"}),
    ("parseAmount", ["0", {"zero": False}], {"error": "zero"}),
]

# userErrors as the API sends them → what the console says (never the server's own sentence).
MESSAGE_CASES = [
    (
        {"code": "INVALID_INPUT", "field": ["input", "name"], "message": "name must be 1 to 200 characters"},
        "Enter a name of at most 200 characters.",
    ),
    (
        {"code": "INVALID_AMOUNT", "field": ["input", "amount"], "message": "amount must be below 10^12"},
        "Enter an amount above zero, like 1,000.50 — at most two decimals.",
    ),
    (
        {"code": "INVALID_INPUT", "field": ["input", "email"], "message": "a user with this email exists"},
        "Someone already has an account with this email address.",
    ),
    (
        {"code": "INVALID_STATE", "field": ["id"], "message": "the request is COMPLETED, not REQUESTED"},
        "This was changed meanwhile (another tab or person acted first). The list now shows it as it is.",
    ),
    (
        {"code": "INVALID_CREDENTIALS", "field": None, "message": "invalid email or password"},
        "Wrong email or password.",
    ),
    # a code added later: its own sentence, tidied
    ({"code": "SOMETHING_NEW", "field": None, "message": "the moon is full"}, "The moon is full."),
]


def amount_field(page: Any, label: str) -> Any:
    """An amount input by its label."""
    return page.get_by_label(label, exact=True)


async def test_the_formatter_and_the_reader_give_exact_strings_for_every_case(open_tab: Any) -> None:
    # given the console's own modules, loaded in the browser
    tab = await open_tab()
    await tab.page.goto("/")

    # when the table of cases runs through them
    money_calls = [[fn, args] for fn, args, _ in MONEY_CASES]
    message_calls = [["userErrorMessage", [error]] for error, _ in MESSAGE_CASES]
    money = await tab.page.evaluate(WITH_MODULE, ["./money.js", money_calls])
    words = await tab.page.evaluate(WITH_MODULE, ["./messages.js", message_calls])

    # then each answer is exactly the expected string (a reader's refusal also says why)
    for (fn, args, expected), got in zip(MONEY_CASES, money, strict=True):
        if isinstance(expected, dict) and "message" not in expected and "error" in got:
            got = {"error": got["error"]}
        assert got == expected, (fn, args)
    assert words == [expected for _, expected in MESSAGE_CASES]
    assert tab.errors == []


async def test_a_large_debt_reads_as_money_on_the_dashboard_and_in_the_top_menu(
    open_tab: Any, artifacts: Path
) -> None:
    # given a customer 765,432.11 credits below zero, and its administrator
    await enable_credits()
    customer = await make_customer("Omicron Plc")
    catalog = await make_catalog_admin()
    await change_balance(catalog.actor, TransactionKind.WITHDRAWAL, customer.id, 76_543_211, None, None)
    owner = await make_user(Role.CUSTOMER_ADMIN, customer)

    # when the administrator opens the dashboard, on a desktop and on a phone
    desk = await open_tab(1440, 900)
    await log_in(desk, owner.user.email, PASSWORD)
    phone = await open_tab(390, 844)
    await log_in(phone, owner.user.email, PASSWORD)

    # then the top menu and the balance card say −765,432.11 (grouped, a real minus sign)
    for tab in (desk, phone):
        await expect(badge(tab)).to_have_text(DEBT)
        await expect(tab.page.locator(".big-number")).to_have_text(f"{DEBT} credits")
        figures = tab.page.locator(".big-number .amount")
        await expect(figures).to_have_css("font-variant-numeric", "tabular-nums")
        # and the ledger's row shows the withdrawal and the balance after it the same way
        row = tab.page.get_by_role("table", name="Recent transactions").locator("tr[data-sequence='1']")
        # (by column: on a phone the row is a card whose empty cells, the note's, are not shown)
        await expect(row.locator("td[data-label='Amount']")).to_have_text(DEBT)
        await expect(row.locator("td[data-label='Balance after']")).to_have_text(DEBT)
    await screenshot(desk, artifacts, "money-dashboard-debt")
    await screenshot(phone, artifacts, "money-dashboard-debt-phone")
    assert desk.errors == [] and phone.errors == []


async def test_add_takes_1000_with_a_comma_and_refuses_three_decimals_beside_the_field(
    open_tab: Any,
) -> None:
    # given the catalog administrator in a customer's Credit Management
    await enable_credits()
    customer = await make_customer("Upsilon AG")
    catalog = await make_catalog_admin()
    tab = await open_tab(1440, 900)
    await log_in(tab, catalog.user.email, PASSWORD)
    page = tab.page
    await page.goto(f"/customers/{customer.id}/credit-management")
    add = amount_field(page, "Credits to add")
    assert await add.get_attribute("placeholder") is None  # a placeholder would look like a value

    # when it types 1.234 and presses Add
    await add.fill("1.234")
    await page.get_by_role("button", name="Add", exact=True).click()

    # then the field says why, beside it, and nothing is offered to confirm
    await expect(add).to_have_attribute("aria-invalid", "true")
    await expect(add).to_have_accessible_description(re.compile(re.escape(TOO_PRECISE)))
    await expect(page.get_by_role("button", name="Confirm: add")).to_have_count(0)

    # when it types 1,000 instead
    await add.fill("1,000")
    await page.get_by_role("button", name="Add", exact=True).click()
    await page.get_by_role("button", name="Confirm: add 1,000.00").click()

    # then 1,000 credits are added
    done = "Done: +1,000.00 credits (transaction #1); the balance is now 1,000.00 credits."
    await expect(page.get_by_text(done)).to_be_visible()
    await expect(add).to_have_attribute("aria-invalid", "false")

    # and Remove takes "1 000.50", leaving −0.50
    await amount_field(page, "Credits to remove").fill("1 000.50")
    await page.get_by_role("button", name="Remove", exact=True).click()
    await page.get_by_role("button", name="Confirm: remove 1,000.50").click()
    await expect(page.get_by_role("region", name="Balance").locator(".big-number")).to_have_text(
        f"{MINUS}0.50 credits"
    )
    assert (await Customer.get(id=customer.id)).balance == -50
    assert tab.errors == []


async def test_a_negative_threshold_is_explained_and_saved_only_once_confirmed(
    open_tab: Any, artifacts: Path
) -> None:
    # given a customer administrator with 10 credits and no threshold
    customer = await make_customer("Phi Oy", balance=10)
    owner = await make_user(Role.CUSTOMER_ADMIN, customer)
    tab = await open_tab()
    await log_in(tab, owner.user.email, PASSWORD)
    page = tab.page
    threshold = amount_field(page, "Alert threshold (credits)")

    # when it asks to be alerted below −1,500 (typed with the minus sign)
    await page.get_by_label("Alert when credits fall below").check()
    await threshold.fill(f"{MINUS}1,500")
    await page.get_by_role("button", name="Save alert").click()

    # then the console explains what that means and asks first; nothing is saved yet
    confirm = page.get_by_role("group", name="Confirm a negative threshold")
    await expect(confirm).to_contain_text("more than 1,500.00 credits in debt")
    assert (await Customer.get(id=customer.id)).alert_threshold is None
    await screenshot(tab, artifacts, "money-negative-threshold")

    # when it confirms
    await confirm.get_by_role("button", name=f"Save {MINUS}1,500.00").click()

    # then the threshold is saved, and said as money
    await expect(page.get_by_text(f"Saved: you are alerted below {MINUS}1,500.00 credits.")).to_be_visible()
    await expect(page.get_by_text(f"Alert threshold: {MINUS}1,500.00 credits.")).to_be_visible()
    assert (await Customer.get(id=customer.id)).alert_threshold == -150_000
    assert tab.errors == []


async def test_refusals_are_said_in_the_consoles_words(open_tab: Any) -> None:
    # given the catalog administrator
    catalog = await make_catalog_admin()
    tab = await open_tab()
    await log_in(tab, catalog.user.email, PASSWORD)
    page = tab.page

    # when it creates a customer with a 201-character name (the server refuses it)
    name = page.get_by_label("Customer name")
    await name.fill("x" * 201)
    await page.get_by_role("button", name="Create customer").click()

    # then the field says so in the console's words, not the server's
    await expect(name).to_have_accessible_description(re.compile("Enter a name of at most 200 characters."))
    await expect(page.get_by_text("must be 1 to 200 characters")).to_have_count(0)

    # when it gives a new service a negative price
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Catalog").click()
    price = page.get_by_label("Credit price", exact=True)
    await page.get_by_label("Service name").fill("Proofreading")
    await price.fill("-5")
    await page.get_by_role("button", name="Create service").click()

    # then the price field says why; and a grouped price is taken
    await expect(price).to_have_accessible_description(re.compile("A price cannot be below zero"))
    await price.fill("1,250")
    await page.get_by_role("button", name="Create service").click()
    row = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="Proofreading"))
    await expect(row.get_by_role("cell").first).to_have_text("1,250.00")
    assert tab.errors == []


async def test_the_alert_form_waits_for_the_saved_threshold_before_it_can_be_edited(open_tab: Any) -> None:
    # given a customer administrator whose saved threshold is slow to arrive
    customer = await make_customer("Chi Oy", balance=10)
    owner = await make_user(Role.CUSTOMER_ADMIN, customer)
    tab = await open_tab()
    page = tab.page
    release = (await hold_requests(tab, "query Anchor")).release
    await page.goto("/")
    await page.get_by_label("Email").fill(owner.user.email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()

    # when the form is drawn before the threshold is read, then it cannot be ticked yet
    box = page.get_by_label("Alert when credits fall below")
    await expect(box).to_be_disabled()

    # when the threshold arrives, then the form opens, and what is typed next stays
    release.set()
    await box.check()
    await amount_field(page, "Alert threshold (credits)").fill("5")
    await page.get_by_role("button", name="Save alert").click()
    await expect(page.get_by_text("Saved: you are alerted below 5.00 credits.")).to_be_visible()
    assert tab.errors == []
