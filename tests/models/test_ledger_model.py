"""Model-based test of the ledger: random operation sequences through GraphQL against a reference model."""

# A Hypothesis state machine drives a real server process (`python server.py`) with a synchronous
# httpx client: the test database and Tortoise belong to pytest-asyncio's session loop, which a
# synchronous state machine cannot share. After every step both customers are read back as the
# catalog administrator and compared with the model; at the end of each example the customer
# administrators' notifications and tenant separation are checked too.
# CREDITS_HYPOTHESIS_EXAMPLES and CREDITS_HYPOTHESIS_STEPS raise the budget (default: 25 examples × 30 steps).

from __future__ import annotations

import os
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.conftest import TEST_ENV
from tests.documents import (
    CANCEL_REQUEST,
    COMPLETE_REQUEST,
    CREATE_CUSTOMER,
    CREATE_SERVICE,
    CREATE_USER,
    FAIL_REQUEST,
    GRANT_CREDITS,
    LOGIN,
    REJECT_REQUEST,
    REQUEST_SERVICE,
    SET_CREDIT_ALERT,
    SET_CREDIT_MANAGEMENT,
    SET_SERVICE_PRICE,
    WITHDRAW_CREDITS,
)

EXAMPLES = int(os.environ.get("CREDITS_HYPOTHESIS_EXAMPLES", "25"))
STEPS = int(os.environ.get("CREDITS_HYPOTHESIS_STEPS", "30"))

TRANSITIONS = {
    "CANCELLED": CANCEL_REQUEST,
    "COMPLETED": COMPLETE_REQUEST,
    "FAILED": FAIL_REQUEST,
    "REJECTED": REJECT_REQUEST,
}
MUTATION_NAMES = {
    "CANCELLED": "cancelServiceRequest",
    "COMPLETED": "completeServiceRequest",
    "FAILED": "failServiceRequest",
    "REJECTED": "rejectServiceRequest",
}
_PAGE = "pageInfo { hasNextPage endCursor }"
_TRANSACTIONS = "nodes { sequence kind amount balanceAfter note serviceRequest { id } } " + _PAGE
_ALERTS = "nodes { kind balance threshold customerId createdAt } " + _PAGE
_REQUESTS = "nodes { id status amount quantity } " + _PAGE
_CUSTOMER = f"""
    id balance alertThreshold
    transactions(first: 100) {{ {_TRANSACTIONS} }}
    alerts(first: 100) {{ {_ALERTS} }}
    serviceRequests(first: 100) {{ {_REQUESTS} }}"""
# Both customers in one round trip.
CUSTOMERS_STATE = f"""
query ($a: ID!, $b: ID!) {{
  a: customer(id: $a) {{ {_CUSTOMER} }}
  b: customer(id: $b) {{ {_CUSTOMER} }}
}}"""
MORE = {
    name: f"""
query ($id: ID!, $after: String) {{
  customer(id: $id) {{ {name}(first: 100, after: $after) {{ {fields} }} }}
}}"""
    for name, fields in (("transactions", _TRANSACTIONS), ("alerts", _ALERTS), ("serviceRequests", _REQUESTS))
}
VIEWER_STATE = """
query ($other: ID!) {
  own: customer { id balance }
  other: customer(id: $other) { id }
  notifications(first: 100) { nodes { kind balance threshold customer { id } } }
}"""

REFUNDING = frozenset({"CANCELLED", "FAILED", "REJECTED"})
# Initial prices in hundredths: three priced (drawn, and shrunk towards, first), one free, one unpriced.
INITIAL_PRICES: tuple[int | None, ...] = (1000, 250, 1500, 0, None)
PASSWORD = "correct horse battery"


def fmt(cents: int) -> str:
    """Hundredths as the API prints them: "-15.50"."""
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def spellings(cents: int) -> list[str | int]:
    """Every way a client may write `cents`: "12.50", "12.5", "12", 12 (all the same amount)."""
    whole, part = divmod(abs(cents), 100)
    sign = "-" if cents < 0 else ""
    options: list[str | int] = [f"{sign}{whole}.{part:02d}"]
    if part % 10 == 0:
        options.append(f"{sign}{whole}.{part // 10}")
    if part == 0:
        options += [f"{sign}{whole}", -whole if cents < 0 else whole]
    return options


def amounts(cents: st.SearchStrategy[int | None]) -> st.SearchStrategy[tuple[int, str | int] | None]:
    """(hundredths, a spelling of them), or None where `cents` gives None."""

    @st.composite
    def spelled(draw: st.DrawFn) -> tuple[int, str | int] | None:
        value = draw(cents)
        return None if value is None else (value, draw(st.sampled_from(spellings(value))))

    return spelled()


# Grants and withdrawals of 0.01 … 60.00, mostly round numbers so thresholds get crossed and met.
CHANGE_AMOUNTS = amounts(st.one_of(st.sampled_from([500, 1000, 1500, 2500, 4000]), st.integers(1, 6000)))
THRESHOLDS = amounts(st.sampled_from([None, -2000, -500, 0, 1000, 2500, 5000]))
PRICES = amounts(st.sampled_from([1000, 250, 1500, 4000, 0, None]))
KEYS = st.one_of(st.none(), st.sampled_from(["k1", "k2", "k3"]))
NOTES = st.sampled_from([None, "top-up", "correction"])
CUSTOMERS = st.sampled_from([0, 1])
BALANCE_CHANGES = st.tuples(
    st.sampled_from(["grantCredits", "withdrawCredits"]), CUSTOMERS, CHANGE_AMOUNTS, NOTES, KEYS
)
# Who acts: the catalog administrator ("root"), or a customer administrator / end user of customer i.
ACTORS = st.one_of(st.just(("root", None)), st.tuples(st.sampled_from(["admin", "user"]), CUSTOMERS))


class Api:
    """A synchronous GraphQL client for the server process."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30)

    def raw(self, doc: str, variables: dict[str, Any] | None = None, token: str | None = None) -> dict:
        """The whole response body."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = self.http.post(
            "/graphql", json={"query": doc, "variables": variables or {}}, headers=headers
        )
        assert response.status_code == 200, response.text
        return response.json()

    def data(self, doc: str, variables: dict[str, Any] | None = None, token: str | None = None) -> dict:
        """The data of a response that must carry no top-level errors."""
        body = self.raw(doc, variables, token)
        assert not body.get("errors"), body["errors"]
        return body["data"]

    def login(self, email: str, password: str) -> str:
        """A JWT for the user."""
        payload = self.data(LOGIN, {"email": email, "password": password})["login"]
        assert payload["userErrors"] == [], payload
        return payload["token"]


def user_errors(payload: dict) -> list[tuple[str, list[str] | None]]:
    """(code, field) of each userError."""
    return [(e["code"], e["field"]) for e in payload["userErrors"]]


@dataclass
class Entry:
    """A ledger entry of the model."""

    kind: str
    amount: int
    balance_after: int
    note: str | None = None
    request_id: str | None = None


@dataclass
class Request:
    """A service request of the model."""

    id: str
    customer: int
    requester: tuple[str, int | None]
    quantity: int
    amount: int
    status: str = "REQUESTED"


@dataclass
class Tenant:
    """A customer of the model, with its customer administrator and end user."""

    id: str
    admin_token: str
    user_token: str
    balance: int = 0
    threshold: int | None = None
    entries: list[Entry] = field(default_factory=list)
    alerts: list[tuple[str, int, int | None]] = field(default_factory=list)


class LedgerMachine(RuleBasedStateMachine):
    """Random grants, withdrawals, thresholds, requests, transitions, prices and key repeats."""

    api: ClassVar[Api]
    root: ClassVar[str]

    requests = Bundle("requests")

    def __init__(self) -> None:
        super().__init__()
        self.nonce = uuid.uuid4().hex[:10]
        self.credits_on = True
        self.api.data(SET_CREDIT_MANAGEMENT, {"enabled": True}, self.root)
        self.tenants: list[Tenant] = [self._new_tenant(i) for i in range(2)]
        self.service_ids: list[str] = []
        self.prices: list[int | None] = list(INITIAL_PRICES)
        for i, price in enumerate(INITIAL_PRICES):
            variables = {"name": f"Model {self.nonce} {i}", "price": None if price is None else fmt(price)}
            created = self.api.data(CREATE_SERVICE, variables, self.root)["createService"]
            self.service_ids.append(created["service"]["id"])
        self.model_requests: dict[str, Request] = {}
        # (actor, operation, key) -> (normalised arguments, result id): the model of idempotency.
        self.keys: dict[tuple[object, str, str], tuple[tuple, str]] = {}
        # Every call made with a key, to repeat it (the random draws seldom repeat all arguments).
        self.keyed_calls: list[tuple[str, tuple]] = []

    def _new_tenant(self, index: int) -> Tenant:
        name = f"Model {self.nonce} {index}"
        customer = self.api.data(CREATE_CUSTOMER, {"name": name}, self.root)["createCustomer"]["customer"]
        tokens = []
        for role in ("CUSTOMER_ADMIN", "END_USER"):
            email = f"{role.lower()}-{index}-{self.nonce}@example.com"
            variables = {
                "input": {
                    "email": email,
                    "name": "Model Tester",
                    "role": role,
                    "customerId": customer["id"],
                    "password": PASSWORD,
                }
            }
            created = self.api.data(CREATE_USER, variables, self.root)["createUser"]
            assert created["userErrors"] == [], created
            tokens.append(self.api.login(email, PASSWORD))
        return Tenant(customer["id"], tokens[0], tokens[1])

    # -- the reference model ------------------------------------------------------------------------

    def _token(self, actor: tuple[str, int | None]) -> str:
        role, index = actor
        if role == "root":
            return self.root
        tenant = self.tenants[index]  # type: ignore[index]
        return tenant.admin_token if role == "admin" else tenant.user_token

    def _post(
        self, tenant: Tenant, kind: str, signed: int, note: str | None, request_id: str | None
    ) -> Entry:
        """Apply one ledger entry; fire the alerts its crossing calls for."""
        old, new = tenant.balance, tenant.balance + signed
        tenant.balance = new
        if old >= 0 > new:
            tenant.alerts.append(("BELOW_ZERO", new, None))
        if tenant.threshold is not None and old >= tenant.threshold > new:
            tenant.alerts.append(("BELOW_THRESHOLD", new, tenant.threshold))
        entry = Entry(kind, signed, new, note, request_id)
        tenant.entries.append(entry)
        return entry

    def _replay(self, record: tuple[object, str, str], arguments: tuple, payload: dict, obj: str) -> bool:
        """Check a repeated key: same arguments replay the first result, others conflict."""
        if record not in self.keys:
            return False
        first_arguments, result_id = self.keys[record]
        if first_arguments == arguments:
            assert user_errors(payload) == [], payload
            assert payload[obj]["id"] == result_id, "a repeat must return the first result"
        else:
            assert user_errors(payload) == [("IDEMPOTENCY_CONFLICT", ["input", "idempotencyKey"])], payload
            assert payload[obj] is None
        return True

    # -- rules ----------------------------------------------------------------------------------------

    def _change(
        self,
        operation: str,
        c: int,
        amount: tuple[int, str | int],
        note: str | None,
        key: str | None,
        remember: bool = True,
    ) -> None:
        """Grant or withdraw through the API and check the answer against the model."""
        if key is not None and remember:
            self.keyed_calls.append((operation, (c, amount, note, key)))
        tenant = self.tenants[c]
        cents, text = amount
        doc = GRANT_CREDITS if operation == "grantCredits" else WITHDRAW_CREDITS
        variables = {
            "customerId": tenant.id,
            "amount": text,
            "note": note,
            "idempotencyKey": None if key is None else f"{self.nonce}-{key}",
        }
        payload = self.api.data(doc, {"input": variables}, self.root)[operation]
        record = ("root", operation, key)
        if key is not None and self._replay(record, (c, cents, note), payload, "transaction"):
            return
        if not self.credits_on:
            assert [code for code, _ in user_errors(payload)] == ["CREDIT_MANAGEMENT_DISABLED"], payload
            assert payload["transaction"] is None
            return
        kind = "GRANT" if operation == "grantCredits" else "WITHDRAWAL"
        entry = self._post(tenant, kind, cents if kind == "GRANT" else -cents, note, None)
        assert user_errors(payload) == [], payload
        transaction = payload["transaction"]
        assert (transaction["sequence"], transaction["kind"]) == (len(tenant.entries), kind)
        assert (transaction["amount"], transaction["balanceAfter"]) == (
            fmt(entry.amount),
            fmt(tenant.balance),
        )
        assert payload["customer"]["balance"] == fmt(tenant.balance)
        if key is not None:
            self.keys[record] = ((c, cents, note), transaction["id"])

    # One rule for both, with a single argument: Hypothesis tries rules with fewer arguments first,
    # and balance changes should be the commonest step.
    @rule(change=BALANCE_CHANGES)
    def change_balance(self, change: tuple[str, int, tuple[int, str | int], str | None, str | None]) -> None:
        """Grant or withdraw credits (refused while credit management is off); may go below zero."""
        self._change(*change)

    @rule(c=CUSTOMERS, threshold=THRESHOLDS, by=st.sampled_from(["root", "admin", "other-admin", "user"]))
    def set_threshold(self, c: int, threshold: tuple[int, str | int] | None, by: str) -> None:
        """Set, change, repeat or clear the alert threshold (also as another tenant: NOT_FOUND)."""
        tenant = self.tenants[c]
        token = {
            "root": self.root,
            "admin": tenant.admin_token,
            "other-admin": self.tenants[1 - c].admin_token,
            "user": tenant.user_token,
        }[by]
        value = None if threshold is None else threshold[1]
        body = self.api.raw(SET_CREDIT_ALERT, {"customerId": tenant.id, "threshold": value}, token)
        if by == "user":
            assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"], body
            return
        assert not body.get("errors"), body
        payload = body["data"]["setCreditAlert"]
        if by == "other-admin":
            assert user_errors(payload) == [("NOT_FOUND", ["input", "customerId"])], payload
            assert payload["customer"] is None
            return
        cents = None if threshold is None else threshold[0]
        if cents != tenant.threshold:
            tenant.threshold = cents
            if cents is not None and tenant.balance < cents:
                tenant.alerts.append(("BELOW_THRESHOLD", tenant.balance, cents))
        assert user_errors(payload) == [], payload
        assert payload["customer"]["alertThreshold"] == (None if cents is None else fmt(cents))

    @rule(
        target=requests,
        c=CUSTOMERS,
        service=st.integers(0, len(INITIAL_PRICES) - 1),
        quantity=st.one_of(st.none(), st.integers(1, 3)),
        actor=ACTORS,
        explicit=st.booleans(),
        key=KEYS,
    )
    def request_service(
        self,
        c: int,
        service: int,
        quantity: int | None,
        actor: tuple[str, int | None],
        explicit: bool,
        key: str | None,
    ):
        """Request a service for customer c (or the caller's own when left out)."""
        made = self._request(c, service, quantity, actor, explicit, key)
        return multiple() if made is None else made

    def _request(
        self,
        c: int,
        service: int,
        quantity: int | None,
        actor: tuple[str, int | None],
        explicit: bool,
        key: str | None,
        remember: bool = True,
    ) -> str | None:
        """Request a service; the new request's id, or None when refused or replayed."""
        if key is not None and remember:
            self.keyed_calls.append(("requestService", (c, service, quantity, actor, explicit, key)))
        role, own = actor
        explicit = explicit or role == "root"
        target = c if explicit else own
        assert target is not None
        variables = {
            "serviceId": self.service_ids[service],
            "quantity": quantity,
            "customerId": self.tenants[c].id if explicit else None,
            "idempotencyKey": None if key is None else f"{self.nonce}-{key}",
        }
        payload = self.api.data(REQUEST_SERVICE, {"input": variables}, self._token(actor))["requestService"]
        if role != "root" and target != own:
            assert user_errors(payload) == [("NOT_FOUND", ["input", "customerId"])], payload
            assert payload["serviceRequest"] is None
            return None
        quantity = 1 if quantity is None else quantity
        arguments = (target, service, quantity)
        record = (actor, "requestService", key)
        if key is not None and self._replay(record, arguments, payload, "serviceRequest"):
            replayed = (
                self.model_requests.get(payload["serviceRequest"]["id"])
                if payload["serviceRequest"]
                else None
            )
            if replayed is not None:
                assert payload["serviceRequest"]["status"] == replayed.status
                assert payload["serviceRequest"]["amount"] == fmt(replayed.amount)
            return None
        assert user_errors(payload) == [], payload
        made = payload["serviceRequest"]
        price = self.prices[service]
        amount = price * quantity if self.credits_on and price is not None else 0
        assert (made["status"], made["amount"], made["quantity"]) == ("REQUESTED", fmt(amount), quantity)
        assert made["customer"]["id"] == self.tenants[target].id
        self.model_requests[made["id"]] = Request(made["id"], target, actor, quantity, amount)
        if amount > 0:
            self._post(self.tenants[target], "SERVICE_CHARGE", -amount, None, made["id"])
        if key is not None:
            self.keys[record] = (arguments, made["id"])
        return made["id"]

    @rule(request_id=requests, actor=st.one_of(ACTORS, st.just(("requester", None))))
    def cancel(self, request_id: str, actor: tuple[str, int | None]) -> None:
        """Cancel a request, whatever state it is in, as its requester, an administrator or a stranger."""
        request = self.model_requests[request_id]
        self._transition(request, "CANCELLED", request.requester if actor[0] == "requester" else actor)

    @rule(request_id=requests)
    def complete(self, request_id: str) -> None:
        """Complete a request, whatever state it is in: final, never refunded."""
        self._transition(self.model_requests[request_id], "COMPLETED", ("root", None))

    @rule(request_id=requests, status=st.sampled_from(["FAILED", "REJECTED"]))
    def fail_or_reject(self, request_id: str, status: str) -> None:
        """Fail or reject a request, whatever state it is in."""
        self._transition(self.model_requests[request_id], status, ("root", None))

    @rule(request_id=requests, status=st.sampled_from(["COMPLETED", "FAILED", "REJECTED"]))
    def settle_as_customer_admin(self, request_id: str, status: str) -> None:
        """Complete, fail or reject as a customer administrator: FORBIDDEN, nothing changes."""
        request = self.model_requests[request_id]
        self._transition(request, status, ("admin", request.customer))

    def _transition(self, request: Request, status: str, actor: tuple[str, int | None]) -> None:
        """Move a request through the API and check the answer against the model."""
        request_id = request.id
        role, index = actor
        variables: dict[str, Any] = {"id": request_id}
        if status in ("FAILED", "REJECTED"):
            variables["reason"] = "model"
        body = self.api.raw(TRANSITIONS[status], variables, self._token(actor))
        if status != "CANCELLED" and role != "root":
            assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"], body
            return
        assert not body.get("errors"), body
        payload = body["data"][MUTATION_NAMES[status]]
        visible = (
            role == "root"
            or (role == "admin" and index == request.customer)
            or (role == "user" and actor == request.requester)
        )
        if not visible:
            assert user_errors(payload) == [("NOT_FOUND", ["id"])], payload
            assert payload["serviceRequest"] is None
            return
        if request.status != "REQUESTED":
            assert user_errors(payload) == [("INVALID_STATE", ["id"])], payload
            assert payload["serviceRequest"] is None
            return
        request.status = status
        if status in REFUNDING and request.amount > 0:
            self._post(self.tenants[request.customer], "REFUND", request.amount, None, request_id)
        assert user_errors(payload) == [], payload
        assert (payload["serviceRequest"]["status"], payload["serviceRequest"]["amount"]) == (
            status,
            fmt(request.amount),
        )

    @precondition(lambda self: self.keyed_calls)
    @rule(pick=st.integers(0, 1000), respell=st.integers(0, 3))
    def repeat_keyed_call(self, pick: int, respell: int) -> None:
        """Repeat an earlier call with its key and the same arguments, spelled differently: a replay."""
        operation, arguments = self.keyed_calls[pick % len(self.keyed_calls)]
        if operation != "requestService":
            c, (cents, _), note, key = arguments
            options = spellings(cents)
            self._change(operation, c, (cents, options[respell % len(options)]), note, key, remember=False)
            return
        c, service, quantity, actor, explicit, key = arguments
        if quantity in (None, 1) and respell & 1:
            quantity = 1 if quantity is None else None  # a left-out quantity is 1
        if actor[0] != "root" and (not explicit or c == actor[1]) and respell & 2:
            c, explicit = actor[1], not explicit  # a left-out own customerId equals the explicit one
        self._request(c, service, quantity, actor, explicit, key, remember=False)

    @rule(service=st.integers(0, len(INITIAL_PRICES) - 1), price=PRICES)
    def set_price(self, service: int, price: tuple[int, str | int] | None) -> None:
        """Change a price; requests already made keep (and refund) what they were charged."""
        value = None if price is None else price[1]
        payload = self.api.data(
            SET_SERVICE_PRICE, {"serviceId": self.service_ids[service], "price": value}, self.root
        )
        assert user_errors(payload["setServicePrice"]) == []
        self.prices[service] = None if price is None else price[0]
        expected = None if price is None else fmt(price[0])
        assert payload["setServicePrice"]["service"]["creditPrice"] == expected

    @rule(enabled=st.sampled_from([True, True, False]))  # on more often than off: charging is the point
    def set_credit_management(self, enabled: bool) -> None:
        """Turn credit management on or off."""
        payload = self.api.data(SET_CREDIT_MANAGEMENT, {"enabled": enabled}, self.root)["setCreditManagement"]
        assert payload["creditSettings"]["creditManagementEnabled"] is enabled
        self.credits_on = enabled

    # -- checks after every step -----------------------------------------------------------------------

    def _read(self) -> list[dict]:
        """Both customers as the catalog administrator sees them, every page of every connection."""
        ids = [tenant.id for tenant in self.tenants]
        state = self.api.data(CUSTOMERS_STATE, {"a": ids[0], "b": ids[1]}, self.root)
        customers = [state["a"], state["b"]]
        for customer in customers:
            for name, doc in MORE.items():
                nodes, page = customer[name]["nodes"], customer[name]["pageInfo"]
                while page["hasNextPage"]:
                    more = self.api.data(doc, {"id": customer["id"], "after": page["endCursor"]}, self.root)
                    nodes += more["customer"][name]["nodes"]
                    page = more["customer"][name]["pageInfo"]
        return customers

    @invariant()
    def ledger_matches_the_model(self) -> None:
        """Balance, ledger, requests and alerts of both customers equal the model's."""
        for tenant, customer in zip(self.tenants, self._read(), strict=True):
            entries = sorted(customer["transactions"]["nodes"], key=lambda e: e["sequence"])
            # The ledger on its own: gap-free, balanceAfter a running sum, balance its sum.
            assert [e["sequence"] for e in entries] == list(range(1, len(entries) + 1)), "sequence gap"
            running = 0
            for e in entries:
                running += cents_of(e["amount"])
                assert cents_of(e["balanceAfter"]) == running, f"balanceAfter is no running sum: {e}"
            assert customer["balance"] == fmt(running), "balance is not the ledger sum"
            self._check_requests(tenant, customer["serviceRequests"]["nodes"], entries)
            # Against the model.
            assert customer["balance"] == fmt(tenant.balance), "balance differs from the model"
            assert customer["alertThreshold"] == (None if tenant.threshold is None else fmt(tenant.threshold))
            got = [
                (e["kind"], e["amount"], e["balanceAfter"], e["note"], (e["serviceRequest"] or {}).get("id"))
                for e in entries
            ]
            want = [
                (e.kind, fmt(e.amount), fmt(e.balance_after), e.note, e.request_id) for e in tenant.entries
            ]
            assert got == want, "ledger differs from the model"
            assert alert_history(customer["alerts"]["nodes"]) == [
                (kind, fmt(balance), None if threshold is None else fmt(threshold))
                for kind, balance, threshold in tenant.alerts
            ], "alerts differ from the model"
            assert {a["customerId"] for a in customer["alerts"]["nodes"]} <= {tenant.id}

    def _check_requests(self, tenant: Tenant, nodes: list[dict], entries: list[dict]) -> None:
        """Each request charged its amount once and refunded it at most once, from a refundable state."""
        for node in nodes:
            related = [e for e in entries if (e["serviceRequest"] or {}).get("id") == node["id"]]
            amount = cents_of(node["amount"])
            if amount == 0:
                assert related == [], "a request charged 0 writes no ledger entry"
                continue
            refunded = node["status"] in REFUNDING
            expected = (
                [("SERVICE_CHARGE", -amount), ("REFUND", amount)]
                if refunded
                else [("SERVICE_CHARGE", -amount)]
            )
            got = [(e["kind"], cents_of(e["amount"])) for e in related]
            assert got == expected, f"a {node['status']} request of {node['amount']} has entries {got}"
        index = self.tenants.index(tenant)
        mine = {r.id: r for r in self.model_requests.values() if r.customer == index}
        assert {n["id"]: (n["status"], n["amount"]) for n in nodes} == {
            r.id: (r.status, fmt(r.amount)) for r in mine.values()
        }, "service requests differ from the model"

    def teardown(self) -> None:
        """Each customer administrator got one notification per alert and cannot see the other customer."""
        if sys.exc_info()[1] is not None:
            return  # a step already failed (teardown runs in a `finally`): report that failure alone
        # Notifications are never deleted: checking them once at the end sees every extra or missing one.
        for i, tenant in enumerate(self.tenants):
            other = self.tenants[1 - i]
            seen = self.api.data(VIEWER_STATE, {"other": other.id}, tenant.admin_token)
            assert seen["own"] == {"id": tenant.id, "balance": fmt(tenant.balance)}
            assert seen["other"] is None
            notes = seen["notifications"]["nodes"]
            assert {n["customer"]["id"] for n in notes} <= {tenant.id}
            got = sorted((n["kind"], n["balance"], n["threshold"]) for n in notes)
            assert got == sorted(
                (kind, fmt(balance), None if threshold is None else fmt(threshold))
                for kind, balance, threshold in tenant.alerts
            ), "the customer administrator's notifications differ from the alerts"


def cents_of(text: str) -> int:
    """A two-decimal amount string as hundredths."""
    negative = text.startswith("-")
    whole, part = text.lstrip("-").split(".")
    cents = int(whole) * 100 + int(part)
    return -cents if negative else cents


def alert_history(nodes: list[dict]) -> list[tuple[str, str, str | None]]:
    """Alerts oldest first. One move can fire two alerts at one instant; those compare by kind."""
    ordered = list(reversed(nodes))
    groups: list[list[dict]] = []
    for node in ordered:
        if groups and groups[-1][0]["createdAt"] == node["createdAt"]:
            groups[-1].append(node)
        else:
            groups.append([node])
    return [
        (n["kind"], n["balance"], n["threshold"])
        for group in groups
        for n in sorted(group, key=lambda n: n["kind"] != "BELOW_ZERO")
    ]


def test_the_ledger_follows_the_model(live_server: str, tmp_path: Path) -> None:
    """Random operation sequences leave balances, ledgers, requests, alerts and notifications as modelled."""
    # given: a running server and its catalog administrator
    api = Api(live_server)
    root = api.login(TEST_ENV["CREDITS_ADMIN_EMAIL"], TEST_ENV["CREDITS_ADMIN_PASSWORD"])
    machine = type("BoundLedgerMachine", (LedgerMachine,), {"api": api, "root": root})

    # when / then: every step is checked against the model
    try:
        run_state_machine_as_test(
            machine,
            settings=settings(
                max_examples=EXAMPLES,
                stateful_step_count=STEPS,
                deadline=None,
                database=DirectoryBasedExampleDatabase(tmp_path / "hypothesis"),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            ),
        )
    finally:
        api.http.close()
