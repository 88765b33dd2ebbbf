"""Steady load against a real server, every answer recorded, and the checks run after a fault.

`Load` runs a few httpx clients, each looping requestService / cancelServiceRequest /
grantCredits with idempotency keys. An attempt that got no definite answer (SERVICE_UNAVAILABLE,
a dropped connection) is retried with the same key, as a careful client would. Client timeouts
are bounded: a request that hangs past `REQUEST_TIMEOUT` is recorded as `timeout`, a failure of
the "clear error instead of hanging" rule.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx

from tests.documents import (
    CANCEL_REQUEST,
    CREATE_CUSTOMER,
    CREATE_SERVICE,
    CREATE_USER,
    GRANT_CREDITS,
    LOGIN,
    REQUEST_SERVICE,
    SET_CREDIT_MANAGEMENT,
)

REQUEST_TIMEOUT = 10.0
UNAVAILABLE = "SERVICE_UNAVAILABLE"
PRICE = "1.00"


ROOT_EMAIL = "root@example.com"
ROOT_PASSWORD = "root-password"


# --- one-off calls -------------------------------------------------------------------------------


async def call(base_url: str, query: str, variables: dict[str, Any] | None = None, token: str | None = None):
    """The `data` of a call that must succeed without top-level errors or userErrors."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=base_url, timeout=REQUEST_TIMEOUT) as client:
        response = await client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
    body = response.json()
    assert response.status_code == 200 and not body.get("errors"), body
    for payload in body["data"].values():
        if isinstance(payload, dict):
            assert not payload.get("userErrors"), payload
    return body["data"]


@dataclass
class World:
    """What the load works on: the root admin's token, customers and a 1.00 service."""

    base_url: str
    token: str
    customers: list[str]
    service: str
    setup_grants: int = 0


async def login(base_url: str, email: str = ROOT_EMAIL, password: str = ROOT_PASSWORD) -> str:
    """A token for the given user."""
    return (await call(base_url, LOGIN, {"email": email, "password": password}))["login"]["token"]


async def make_world(base_url: str, customers: int = 2, grant: str = "100.00") -> World:
    """Credits on, `customers` customers with `grant` credits each, a service priced 1.00."""
    token = await login(base_url)
    await call(base_url, SET_CREDIT_MANAGEMENT, {"enabled": True}, token)
    ids = []
    for n in range(customers):
        data = await call(base_url, CREATE_CUSTOMER, {"name": f"Customer {n}"}, token)
        ids.append(data["createCustomer"]["customer"]["id"])
        variables = {"input": {"customerId": ids[-1], "amount": grant}}
        await call(base_url, GRANT_CREDITS, variables, token)
    service = (await call(base_url, CREATE_SERVICE, {"name": "Scan", "price": PRICE}, token))[
        "createService"
    ]["service"]["id"]
    return World(base_url, token, ids, service, setup_grants=len(ids))


async def make_customer_admin(world: World, customer_id: str, email: str) -> None:
    """A CUSTOMER_ADMIN of the customer (it receives the alert emails)."""
    user = {"email": email, "name": email, "role": "CUSTOMER_ADMIN", "customerId": customer_id}
    await call(world.base_url, CREATE_USER, {"input": {**user, "password": "admin-password"}}, world.token)


# --- the load ------------------------------------------------------------------------------------


@dataclass
class Attempt:
    """One HTTP call and what came back."""

    op: str
    key: str | None
    started: float
    elapsed: float
    outcome: str  # ok, user_error, unavailable, error, transport, timeout
    status: int | None = None
    result_id: str | None = None
    codes: list[str | None] = field(default_factory=list)
    detail: str = ""


def classify(op: str, response: httpx.Response) -> tuple[str, str | None, list[str | None], str]:
    """(outcome, result id, codes, detail) of a response."""
    try:
        body = response.json()
    except ValueError:
        return "error", None, [], f"{response.status_code} {response.text[:200]}"
    errors = body.get("errors") or []
    if errors:
        codes = [e.get("extensions", {}).get("code") for e in errors]
        if all(code == UNAVAILABLE for code in codes):
            return "unavailable", None, codes, ""
        return "error", None, codes, str(errors)[:300]
    payload = body["data"][op]
    if payload["userErrors"]:
        return "user_error", None, [e["code"] for e in payload["userErrors"]], ""
    obj = payload.get("serviceRequest") or payload.get("transaction")
    return "ok", obj["id"], [], ""


class Load:
    """Concurrent clients looping the mutations for as long as the load runs."""

    def __init__(self, world: World, clients: int = 4, pause: float = 0.01) -> None:
        self.world = world
        self.clients = clients
        self.pause = pause
        self.attempts: list[Attempt] = []
        self.requested: dict[str, str] = {}  # request id -> customer id, successes the clients saw
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Load:
        self._tasks = [asyncio.create_task(self._client(n)) for n in range(self.clients)]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        """Stop looping; every client finishes (and retries to an answer) what it started."""
        self._stop.set()
        for task in self._tasks:
            await task
        self._tasks = []

    async def run_for(self, seconds: float) -> None:
        """Let the load run `seconds` more."""
        await asyncio.sleep(seconds)

    async def _client(self, n: int) -> None:
        headers = {"Authorization": f"Bearer {self.world.token}"}
        timeout = httpx.Timeout(REQUEST_TIMEOUT)
        async with httpx.AsyncClient(base_url=self.world.base_url, timeout=timeout, headers=headers) as http:
            for turn in itertools.count():
                if self._stop.is_set():
                    return
                customer = self.world.customers[(n + turn) % len(self.world.customers)]
                kind = turn % 4
                if kind in (0, 1):
                    variables = {"serviceId": self.world.service, "customerId": customer}
                    request_id = await self._until_answered(
                        http, "requestService", REQUEST_SERVICE, variables
                    )
                    if request_id is not None:
                        self.requested[request_id] = customer
                        if kind == 1:
                            await self._until_answered(
                                http, "cancelServiceRequest", CANCEL_REQUEST, {"id": request_id}
                            )
                elif kind == 2:
                    variables = {"customerId": customer, "amount": "0.50"}
                    await self._until_answered(http, "grantCredits", GRANT_CREDITS, variables)
                else:
                    cancelled = random.choice(list(self.requested)) if self.requested else None
                    if cancelled is not None:  # a repeat cancel of some request: INVALID_STATE or a refund
                        await self._until_answered(
                            http, "cancelServiceRequest", CANCEL_REQUEST, {"id": cancelled}
                        )
                await asyncio.sleep(self.pause)

    async def _until_answered(
        self, http: httpx.AsyncClient, op: str, query: str, arguments: dict[str, Any]
    ) -> str | None:
        """Send until there is a definite answer; the id on success. Keyed operations keep their key."""
        keyed = op != "cancelServiceRequest"
        key = uuid.uuid4().hex if keyed else None
        variables = {"input": {**arguments, "idempotencyKey": key}} if keyed else arguments
        deadline = time.monotonic() + 60
        while True:
            attempt = await self._send(http, op, query, variables, key)
            self.attempts.append(attempt)
            if attempt.outcome == "ok":
                return attempt.result_id
            if attempt.outcome in ("user_error", "error"):
                return None
            if time.monotonic() > deadline:
                return None
            await asyncio.sleep(0.1)

    async def _send(
        self, http: httpx.AsyncClient, op: str, query: str, variables: dict[str, Any], key: str | None
    ) -> Attempt:
        started = time.monotonic()
        try:
            response = await http.post("/graphql", json={"query": query, "variables": variables})
        except httpx.TimeoutException as exc:
            return Attempt(op, key, started, time.monotonic() - started, "timeout", detail=repr(exc))
        except httpx.TransportError as exc:
            return Attempt(op, key, started, time.monotonic() - started, "transport", detail=repr(exc))
        outcome, result_id, codes, detail = classify(op, response)
        elapsed = time.monotonic() - started
        return Attempt(op, key, started, elapsed, outcome, response.status_code, result_id, codes, detail)

    # --- what the clients saw ---------------------------------------------------------------------

    def count(self, outcome: str, op: str | None = None) -> int:
        """How many attempts ended with `outcome` (of `op`)."""
        return sum(1 for a in self.attempts if a.outcome == outcome and (op is None or a.op == op))

    def summary(self) -> Counter[tuple[str, str]]:
        """(operation, outcome) counts, for failure messages."""
        return Counter((a.op, a.outcome) for a in self.attempts)

    def assert_answered_clearly(self, *, transport_errors_allowed: bool = False) -> None:
        """No attempt hung; every failure was SERVICE_UNAVAILABLE (503) or an expected userError.

        With `transport_errors_allowed` (the server process itself was down) a refused or dropped
        connection is the clear answer.
        """
        summary = self.summary()
        hung = [a for a in self.attempts if a.outcome == "timeout" or a.elapsed > REQUEST_TIMEOUT]
        assert not hung, (hung[:5], summary)
        unclear = [a for a in self.attempts if a.outcome == "error"]
        assert not unclear, (unclear[:5], summary)
        if not transport_errors_allowed:
            dropped = [a for a in self.attempts if a.outcome == "transport"]
            assert not dropped, (dropped[:5], summary)
        for attempt in self.attempts:
            if attempt.outcome == "unavailable":
                assert attempt.status == 503, attempt
            if attempt.outcome == "user_error":
                # Only a cancel that lost to an earlier cancel (or its own retried success).
                assert (attempt.op, attempt.codes) == ("cancelServiceRequest", ["INVALID_STATE"]), attempt

    def assert_keys_answer_one_result(self) -> None:
        """Every retry with a key that succeeded returned the same object as the first success."""
        results: dict[str, set[str]] = defaultdict(set)
        for attempt in self.attempts:
            if attempt.key is not None and attempt.outcome == "ok":
                results[attempt.key].add(str(attempt.result_id))
        assert results, self.summary()
        assert all(len(ids) == 1 for ids in results.values()), [
            k for k, ids in results.items() if len(ids) > 1
        ]


# --- checks against the database -------------------------------------------------------------------


async def assert_books_balance(database_url: str, load: Load | None = None) -> dict[str, int]:
    """Balance = ledger sum and sequences gap-free for every customer; every request charged once,
    refunded at most once (exactly once when cancelled); every success a client saw is in the books.
    Returns each customer's last sequence.
    """
    conn = await asyncpg.connect(database_url, timeout=10)
    try:
        customers = await conn.fetch("SELECT id, name, balance, last_sequence FROM customer")
        last: dict[str, int] = {}
        for customer in customers:
            entries = await conn.fetch(
                "SELECT sequence, amount, balance_after FROM credit_transaction WHERE customer_id = $1 "
                "ORDER BY sequence",
                customer["id"],
            )
            sequences = [e["sequence"] for e in entries]
            assert sequences == list(range(1, len(entries) + 1)), customer["name"]
            assert customer["balance"] == sum(e["amount"] for e in entries), customer["name"]
            assert customer["last_sequence"] == len(entries), customer["name"]
            running = 0
            for entry in entries:
                running += entry["amount"]
                assert entry["balance_after"] == running, (customer["name"], entry["sequence"])
            last[str(customer["id"])] = len(entries)

        requests = await conn.fetch(
            """
            SELECT r.id, r.status, r.amount,
                   count(*) FILTER (WHERE t.kind = 'SERVICE_CHARGE') AS charges,
                   count(*) FILTER (WHERE t.kind = 'REFUND') AS refunds
            FROM service_request r LEFT JOIN credit_transaction t ON t.service_request_id = r.id
            GROUP BY r.id, r.status, r.amount
            """
        )
        by_id = {str(r["id"]): r for r in requests}
        for request in requests:
            assert request["amount"] == 100, request
            assert request["charges"] == 1, request
            assert request["refunds"] == (1 if request["status"] == "CANCELLED" else 0), request
        # One request per claimed idempotency key: a retried key never made a second request.
        keyed = await conn.fetchval(
            "SELECT count(*) FROM idempotency_record WHERE operation = 'requestService'"
        )
        assert keyed == len(requests)
        if load is not None:
            missing = [rid for rid in load.requested if rid not in by_id]
            assert not missing, missing[:5]
            cancelled = {
                a.result_id for a in load.attempts if a.op == "cancelServiceRequest" and a.outcome == "ok"
            }
            assert all(by_id[rid]["status"] == "CANCELLED" for rid in cancelled)
            granted = {a.result_id for a in load.attempts if a.op == "grantCredits" and a.outcome == "ok"}
            rows = await conn.fetch(
                "SELECT id FROM credit_transaction WHERE kind = 'GRANT' AND id = ANY($1::uuid[])",
                [uuid.UUID(i) for i in granted if i],
            )
            assert len(rows) == len(granted)
            grants = await conn.fetchval("SELECT count(*) FROM credit_transaction WHERE kind = 'GRANT'")
            keyed_grants = await conn.fetchval(
                "SELECT count(*) FROM idempotency_record WHERE operation = 'grantCredits'"
            )
            # The set-up grants had no key; every keyed grant made exactly one entry.
            assert grants == keyed_grants + load.world.setup_grants
        return last
    finally:
        await conn.close()


# --- /readyz --------------------------------------------------------------------------------------


class ReadinessProbe:
    """Polls /readyz in the background and records (time, status) — None for no answer."""

    def __init__(self, base_url: str, every: float = 0.1) -> None:
        self.base_url = base_url
        self.every = every
        self.samples: list[tuple[float, int | None, float]] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> ReadinessProbe:
        self._task = asyncio.create_task(self._poll())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass

    async def _poll(self) -> None:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=REQUEST_TIMEOUT) as http:
            while True:
                started = time.monotonic()
                try:
                    status: int | None = (await http.get("/readyz")).status_code
                except httpx.HTTPError:
                    status = None
                self.samples.append((started, status, time.monotonic() - started))
                await asyncio.sleep(self.every)

    async def wait_for(self, status: int, within: float = 20) -> None:
        """Until the last sample has `status`."""
        deadline = time.monotonic() + within
        while not (self.samples and self.samples[-1][1] == status):
            assert time.monotonic() < deadline, f"/readyz never answered {status}: {self.statuses()}"
            await asyncio.sleep(0.05)

    def statuses(self) -> list[int | None]:
        """The statuses seen, consecutive repeats collapsed."""
        return [status for status, _ in itertools.groupby(s[1] for s in self.samples)]

    def slowest(self) -> float:
        """The longest /readyz answer, seconds."""
        return max(s[2] for s in self.samples)
