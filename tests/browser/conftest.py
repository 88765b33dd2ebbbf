"""Browser tests: Playwright for Python driving Debian's Chromium against a real server process.

They skip when /usr/bin/chromium (or Playwright) is missing, unless CREDITS_TEST_BROWSER=required,
which turns a missing browser into a failure (CI). Screenshots go to CREDITS_TEST_ARTIFACTS (default:
a temporary directory, printed at the end of the run), never into the repository.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.processes import ServerProcess

CHROMIUM = Path(os.environ.get("CREDITS_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REQUIRED = os.environ.get("CREDITS_TEST_BROWSER") == "required"
ARTIFACTS = Path(os.environ.get("CREDITS_TEST_ARTIFACTS") or tempfile.mkdtemp(prefix="credits-browser-"))


def _unavailable() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test here `browser`; skip them (or fail, when required) without a browser."""
    here = Path(__file__).parent
    reason = _unavailable()
    for item in items:
        if here not in Path(str(item.fspath)).parents:
            continue
        item.add_marker(pytest.mark.browser)
        if reason and not REQUIRED:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where screenshots go."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    """One Chromium for the session."""
    if reason := _unavailable():
        pytest.fail(f"CREDITS_TEST_BROWSER=required but {reason}")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


@pytest.fixture(scope="module")
def console_server(server_env: dict[str, str]) -> Iterator[ServerProcess]:
    """A real `python server.py` for this module's tests (its state is the shared test database)."""
    with ServerProcess(server_env) as server:
        yield server


@pytest.fixture(scope="module")
def console_url(console_server: ServerProcess) -> str:
    """The base URL of the module's server."""
    return console_server.base_url


@dataclass
class Tab:
    """A page in its own browser context, with every request URL and page error it saw."""

    page: Any
    context: Any
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass
class Hold:
    """Requests held in the network: `held` is set when one arrives; they go on once `release` is set."""

    held: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def __iter__(self) -> Iterator[asyncio.Event]:
        """`held, release = await hold_requests(…)`."""
        return iter((self.held, self.release))


async def hold_requests(tab: Tab, *naming: str, url: str = "**/graphql") -> Hold:
    """Hold the tab's requests to `url` whose body names any of `naming` (naming nothing: all of them)."""
    hold = Hold()

    async def route(request: Any) -> None:
        if not naming or any(name in (request.request.post_data or "") for name in naming):
            hold.held.set()
            await hold.release.wait()
        await request.continue_()

    await tab.page.route(url, route)
    return hold


@pytest.fixture
async def open_tab(browser: Any, console_url: str) -> AsyncIterator[Any]:
    """`await open_tab()` → a Tab in a fresh context (its own session storage, like another person);
    keyword options (`timezone_id`, `locale`, …) go to the browser context."""
    contexts = []

    async def open_one(width: int = 1280, height: int = 900, **options: Any) -> Tab:
        viewport = {"width": width, "height": height}
        context = await browser.new_context(base_url=console_url, viewport=viewport, **options)
        contexts.append(context)
        page = await context.new_page()
        tab = Tab(page, context)
        page.on("request", lambda request: tab.requests.append(request.url))
        page.on("websocket", lambda socket: tab.requests.append(socket.url))
        page.on("pageerror", lambda error: tab.errors.append(str(error)))
        # A Content-Security-Policy violation is an error too (e.g. a websocket 'self' did not cover).
        page.on("console", lambda m: "Content Security Policy" in m.text and tab.errors.append(m.text))
        return tab

    yield open_one
    for context in contexts:
        await context.close()


async def log_in(tab: Tab, email: str, password: str) -> None:
    """Log in through the form, as a person would."""
    page = tab.page
    await page.goto("/")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Log in").click()
    await page.get_by_role("button", name="Log out").wait_for()


def badge(tab: Tab) -> Any:
    """The top menu's balance: role status, accessible name "Credit balance"."""
    return tab.page.get_by_role("status", name="Credit balance")


async def screenshot(tab: Tab, artifacts: Path, name: str) -> None:
    """Keep a picture of the screen as a test artifact."""
    await tab.page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


class Api:
    """The GraphQL API of the live server, as an integrator (the test) calls it."""

    def __init__(self, base_url: str, token: str) -> None:
        self.http = httpx.AsyncClient(base_url=base_url, timeout=30)
        self.token = token

    async def __call__(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.http.post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"Authorization": f"Bearer {self.token}"},
        )
        body = response.json()
        assert not body.get("errors"), body
        return body["data"]

    async def grant(self, customer_id: str, amount: str, **terms: Any) -> dict[str, Any]:
        """Grant credits (with a lot's `expiresAt` / `priority` if given); returns the new transaction."""
        data = await self(
            """mutation($input: BalanceChangeInput!) { grantCredits(input: $input) {
                 transaction { sequence balanceAfter } userErrors { code message } } }""",
            {
                "input": {
                    "customerId": customer_id,
                    "amount": amount,
                    "idempotencyKey": uuid.uuid4().hex,
                    **terms,
                }
            },
        )
        assert not data["grantCredits"]["userErrors"], data
        return data["grantCredits"]["transaction"]

    async def close(self) -> None:
        await self.http.aclose()


REQUEST_SERVICE = """mutation($input: RequestServiceInput!) {
  requestService(input: $input) { serviceRequest { id } userErrors { code message } } }"""


async def request_service(base_url: str, login: Any, service: Any, quantity: int = 1) -> dict[str, Any]:
    """`login` requests `service` through the API of the server at `base_url`; the payload."""
    client = Api(base_url, login.token)
    try:
        wanted = {"serviceId": str(service.id), "quantity": quantity, "idempotencyKey": uuid.uuid4().hex}
        return (await client(REQUEST_SERVICE, {"input": wanted}))["requestService"]
    finally:
        await client.close()


@pytest.fixture
async def api(console_url: str) -> AsyncIterator[Any]:
    """`await api(token)` → an Api client of the live server acting with `token`."""
    clients: list[Api] = []

    def make(token: str) -> Api:
        client = Api(console_url, token)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say where the screenshots are."""
    if any(ARTIFACTS.glob("*.png")):
        terminalreporter.write_line(f"browser screenshots: {ARTIFACTS}")
