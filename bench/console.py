"""The console in Chromium: first load (bytes of JS and CSS, the chart library included, as files and
as sent over the network; time until the balance is visible) and
the badge's delay from a mutation's answer to the number on screen (p50/p99 over N changes).

    python -m bench.console [--changes 100] [--out bench/results/console.json]

Starts its own `python server.py` on a fresh SQLite file, sets up a customer through the public
API, and drives Debian's Chromium (/usr/bin/chromium) with Playwright. Figures, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench.processes import ServerProcess

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ADMIN, PASSWORD = "bench-admin@example.com", "bench-admin-password"

# Runs before the page's own scripts (injected by the browser, not subject to the page's CSP): note
# when the badge first shows a number, and every later change of its text.
WATCH_BADGE = """
(() => {
  const changes = (window.__badgeChanges = []);
  const find = () => document.querySelector("credit-balance")?.shadowRoot?.querySelector("[role=status]");
  const poll = () => {
    const badge = find();
    if (badge && /^-?[0-9]+[.][0-9]{2}$/.test(badge.textContent)) {
      window.__balanceVisibleAt = performance.now();
      new MutationObserver(() => changes.push([badge.textContent, performance.now()]))
        .observe(badge, { childList: true, characterData: true, subtree: true });
      return;
    }
    requestAnimationFrame(poll);
  };
  requestAnimationFrame(poll);
})();
"""

# In the page: grant 1.00 with another user's token, note when the answer arrived, and when the badge
# showed its balanceAfter (it may already have: then the delay is 0).
GRANT_AND_WAIT = """
async ([token, customerId, key]) => {
  const response = await fetch("/graphql", {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
    body: JSON.stringify({
      query: "mutation($i: BalanceChangeInput!) { grantCredits(input: $i) { transaction { balanceAfter } } }",
      variables: { i: { customerId, amount: "1", idempotencyKey: key } },
    }),
  });
  const body = await response.json();
  const answered = performance.now();
  const expected = body.data.grantCredits.transaction.balanceAfter;
  for (;;) {
    const hit = window.__badgeChanges.find(([text]) => text === expected);
    if (hit) return Math.max(0, hit[1] - answered);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}
"""


def gql(
    http: httpx.Client, query: str, variables: dict[str, Any] | None = None, token: str | None = None
) -> Any:
    """POST a document; the data of an answer without errors."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = http.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers).json()
    assert not body.get("errors"), body
    return body["data"]


def login(http: httpx.Client, email: str, password: str) -> str:
    """A token for `email`."""
    data = gql(
        http,
        "mutation($e:String!,$p:String!){login(email:$e,password:$p){token}}",
        {"e": email, "p": password},
    )
    return data["login"]["token"]


def set_up(base_url: str) -> tuple[str, str, str]:
    """A customer with 100 credits and its administrator: (admin token, customer token, customer id)."""
    with httpx.Client(base_url=base_url, timeout=30) as http:
        admin = login(http, ADMIN, PASSWORD)
        gql(
            http,
            "mutation{setCreditManagement(enabled:true){creditSettings{creditManagementEnabled}}}",
            token=admin,
        )
        customer = gql(http, 'mutation{createCustomer(input:{name:"Bench Co"}){customer{id}}}', token=admin)
        customer_id = customer["createCustomer"]["customer"]["id"]
        gql(
            http,
            "mutation($i:BalanceChangeInput!){grantCredits(input:$i){transaction{sequence}}}",
            {"i": {"customerId": customer_id, "amount": "100", "idempotencyKey": "opening"}},
            token=admin,
        )
        gql(
            http,
            "mutation($i:CreateUserInput!){createUser(input:$i){user{id}}}",
            {
                "i": {
                    "email": "owner@example.com",
                    "name": "Owner",
                    "role": "CUSTOMER_ADMIN",
                    "password": PASSWORD,
                    "customerId": customer_id,
                }
            },
            token=admin,
        )
        return admin, login(http, "owner@example.com", PASSWORD), customer_id


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def sizes(response: Any) -> tuple[int, int, str]:
    """A script's or stylesheet's size as a file, its body's size as sent, and its coding."""
    size = len(response.body())  # decoded by the browser
    sent = response.request.sizes()["responseBodySize"]  # as it crossed the network
    return size, sent, response.headers.get("content-encoding", "identity")


def measure(base_url: str, changes: int) -> dict[str, Any]:
    """Run the browser measurements against a ready server."""
    from playwright.sync_api import sync_playwright

    admin, _, customer_id = set_up(base_url)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        context = browser.new_context(base_url=base_url)
        # The console's session cookies, as the login form gets them (the page holds no token).
        started = context.request.post(
            "/console/session",
            data={"email": "owner@example.com", "password": PASSWORD},
            headers={"Origin": base_url},
        )
        assert started.ok, started.text()
        context.add_init_script(WATCH_BADGE)
        page = context.new_page()
        responses: list[Any] = []

        def record(response: Any) -> None:
            # Noted only here: reading a body inside the handler would race with the load's end.
            if cold_assets is None and (
                response.request.resource_type in ("script", "stylesheet")
                or response.url.endswith((".js", ".css"))
            ):
                responses.append(response)

        cold_assets: dict[str, tuple[int, int, str]] | None = None
        page.on("response", record)
        loads = []
        for attempt in range(6):  # the first is cold (nothing cached); the others revalidate the HTML only
            page.goto("/dashboard")
            page.wait_for_function("() => window.__balanceVisibleAt !== undefined")
            loads.append(page.evaluate("window.__balanceVisibleAt"))
            if attempt == 0:
                # The chart loads its library after the data: the first load ends with the chart drawn.
                page.wait_for_selector(".chart-plot canvas")
                cold_assets = {r.url: sizes(r) for r in responses}
        page.wait_for_timeout(500)
        delays = [
            page.evaluate(GRANT_AND_WAIT, [admin, customer_id, uuid.uuid4().hex]) for _ in range(changes)
        ]
        browser.close()
    js = sum(size for url, (size, _, _) in cold_assets.items() if url.endswith(".js"))
    css = sum(size for url, (size, _, _) in cold_assets.items() if url.endswith(".css"))
    chart = sum(size for url, (size, _, _) in cold_assets.items() if "/vendor/uplot@" in url)
    # Bodies as sent (compressed where the server compressed them), response headers not counted.
    sent = sum(sent for _, sent, _ in cold_assets.values())
    return {
        "first_load": {
            "files": len(cold_assets),
            "files_gzipped": sum(coding == "gzip" for _, _, coding in cold_assets.values()),
            "js_bytes": js,
            "css_bytes": css,
            "total_bytes": js + css,
            "chart_library_bytes": chart,
            "total_transferred_bytes": sent,
            "file_bytes": {url.split("/", 5)[-1]: size for url, (size, _, _) in sorted(cold_assets.items())},
            "balance_visible_ms_cold": round(loads[0], 1),
            "balance_visible_ms_warm_median": round(statistics.median(loads[1:]), 1),
        },
        "badge_delay_ms": {
            "changes": changes,
            "p50": round(percentile(delays, 50), 1),
            "p99": round(percentile(delays, 99), 1),
            "max": round(max(delays), 1),
        },
    }


def main(argv: list[str] | None = None) -> None:
    """Start a server, measure, print and write the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("bench/results/console.json"))
    args = parser.parse_args(argv)
    data_dir = Path(tempfile.mkdtemp(prefix="credits-bench-console-"))
    env = {
        **os.environ,
        "CREDITS_ENV": "development",
        "CREDITS_DATA_DIR": str(data_dir),
        "CREDITS_DATABASE_URL": f"sqlite:///{data_dir / 'bench.sqlite3'}",
        "CREDITS_BROADCAST_URL": "memory://",
        "CREDITS_JWT_SECRET": uuid.uuid4().hex,
        "CREDITS_ADMIN_EMAIL": ADMIN,
        "CREDITS_ADMIN_PASSWORD": PASSWORD,
        "CREDITS_LOG_LEVEL": "WARNING",
    }
    server = ServerProcess(env, data_dir / "server.log")
    server.start()
    try:
        started = time.monotonic()
        figures = measure(server.base_url, args.changes)
        figures["seconds"] = round(time.monotonic() - started, 1)
    finally:
        server.stop()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    json.dump(figures, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
