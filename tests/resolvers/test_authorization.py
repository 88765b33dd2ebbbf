"""Who may do what: every query and mutation × every caller × own/other customer, as one table.

The callers' customer is "Alpha" (the customer administrator and the end user belong to it);
"Beta" is the other customer. Targets, relative to the caller:

- ``-``: no target applies (or the argument is left at its default);
- ``own``: Alpha, or an object of Alpha (for requests: the one the calling end user made;
  for users and tokens: the second end user of Alpha);
- ``peer``: the request of Alpha's second end user (not the calling end user's);
- ``other``: Beta, or an object of Beta;
- ``self``: the caller's own API token;
- ``implicit``: ``customerId`` left out (the caller's own customer);
- ``own-admin``: a new ``CUSTOMER_ADMIN`` of Alpha;
- ``catalog-admin``: a new (createUser) or the existing (setUserActive) catalog administrator.

Outcomes: ``ok``; ``UNAUTHENTICATED`` / ``FORBIDDEN`` (top-level ``extensions.code``);
``NOT_FOUND`` (in ``userErrors``); ``null`` (the query answers null); ``empty`` (an empty
connection). Whatever is refused changes nothing: the whole stored state is compared.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from models import accounts, service_requests
from models.alerts import CreditAlert
from models.customer import Customer
from models.idempotency import IdempotencyRecord
from models.ledger import CreditTransaction
from models.notification import AlertKind, Notification
from models.outbox import EmailOutbox
from models.platform import credit_management_enabled
from models.service import Service, ServiceRequest
from models.user import ApiToken, User
from tests import factories
from tests.client import GraphQLClient, error_codes
from tests.documents import CREDIT_SETTINGS, VIEWER
from tests.factories import (
    PASSWORD,
    Login,
)

# Callers.
ANON, CATALOG, CUSTOMER_ADMIN, END_USER = "anonymous", "CATALOG_ADMIN", "CUSTOMER_ADMIN", "END_USER"
# Outcomes.
OK, UNAUTHENTICATED, FORBIDDEN, NOT_FOUND, NULL, EMPTY = (
    "ok", "UNAUTHENTICATED", "FORBIDDEN", "NOT_FOUND", "null", "empty",
)  # fmt: skip

# --- documents -------------------------------------------------------------------------------

CUSTOMER = "query ($id: ID) { customer(id: $id) { id name balance } }"
CUSTOMERS = "query { customers { nodes { name } } }"
SERVICES = "query { services { id creditPrice } }"
SERVICE_REQUEST = """
query ($id: ID!) { serviceRequest(id: $id) { id status customer { id } requestedBy { id } } }"""
NOTIFICATIONS = "query { notifications { nodes { id read } } }"
API_TOKENS = "query { apiTokens { id } }"
CUSTOMER_LEDGER = """
query ($id: ID) {
  customer(id: $id) { transactions { nodes { sequence amount note actor { id } } edges { cursor } } }
}"""
REQUEST_LEDGER = """
query ($id: ID!) {
  serviceRequest(id: $id) {
    customer { transactions { nodes { sequence amount note actor { id } } edges { cursor } } }
  }
}"""
CUSTOMER_ALERTS = """
query ($id: ID) {
  customer(id: $id) { alerts { nodes { id kind customerId balance threshold } edges { cursor } } }
}"""
CUSTOMER_REQUESTS = "query ($id: ID) { customer(id: $id) { serviceRequests { nodes { id } } } }"

LOGIN = """
mutation ($email: String!, $password: String!) {
  login(email: $email, password: $password) { token user { id } userErrors { code field } }
}"""
CREATE_API_TOKEN = """
mutation { createApiToken(name: "ci") { token apiToken { id name } userErrors { code field } } }"""
REVOKE_API_TOKEN = """
mutation ($id: ID!) { revokeApiToken(id: $id) { apiToken { id revokedAt } userErrors { code field } } }"""
SET_CREDIT_MANAGEMENT = """
mutation {
  setCreditManagement(enabled: false) { creditSettings { creditManagementEnabled } userErrors { code field } }
}"""
CREATE_CUSTOMER = """
mutation { createCustomer(input: {name: "Gamma"}) { customer { name balance } userErrors { code field } } }"""
CREATE_USER = """
mutation ($input: CreateUserInput!) {
  createUser(input: $input) { user { email role customer { id } } userErrors { code field } }
}"""
SET_USER_ACTIVE = """
mutation ($id: ID!) {
  setUserActive(id: $id, active: false) { user { id active } userErrors { code field } }
}"""
CREATE_SERVICE = """
mutation {
  createService(input: {name: "Extra", creditPrice: "7"}) {
    service { name creditPrice } userErrors { code field }
  }
}"""
SET_SERVICE_PRICE = """
mutation ($id: ID!) {
  setServicePrice(serviceId: $id, creditPrice: "12.5") {
    service { id creditPrice } userErrors { code field }
  }
}"""
GRANT_CREDITS = """
mutation ($customerId: ID!) {
  grantCredits(input: {customerId: $customerId, amount: "5", note: "top-up"}) {
    transaction { kind amount note } customer { id balance } userErrors { code field }
  }
}"""
WITHDRAW_CREDITS = """
mutation ($customerId: ID!) {
  withdrawCredits(input: {customerId: $customerId, amount: "5", note: "correction"}) {
    transaction { kind amount note } customer { id balance } userErrors { code field }
  }
}"""
SET_CREDIT_ALERT = """
mutation ($customerId: ID!) {
  setCreditAlert(input: {customerId: $customerId, threshold: "20"}) {
    customer { id alertThreshold } userErrors { code field }
  }
}"""
SET_RUNWAY_ALERT = """
mutation ($customerId: ID!) {
  setRunwayAlert(input: {customerId: $customerId, days: 14}) {
    customer { id runwayAlertDays } userErrors { code field }
  }
}"""
REQUEST_SERVICE = """
mutation ($serviceId: ID!, $customerId: ID) {
  requestService(input: {serviceId: $serviceId, customerId: $customerId}) {
    serviceRequest { amount status customer { id balance } requestedBy { id } } userErrors { code field }
  }
}"""
TRANSITION = """
mutation ($id: ID!) {
  %s(id: $id) { serviceRequest { id status customer { balance } } userErrors { code field } }
}"""
MARK_NOTIFICATIONS_READ = """
mutation ($ids: [ID!]) { markNotificationsRead(ids: $ids) { count userErrors { code field } } }"""

# --- the world every case starts from ---------------------------------------------------------


@dataclass
class World(factories.World):
    """Alpha ("own") and Beta ("other"): an admin, two end users with a request each, 80.00 left."""

    requests: dict[str, list[ServiceRequest]] = field(default_factory=dict)
    tokens: dict[uuid.UUID, ApiToken] = field(default_factory=dict)
    notifications: dict[uuid.UUID, Notification] = field(default_factory=dict)
    alerts: dict[str, CreditAlert] = field(default_factory=dict)

    @property
    def customers(self) -> dict[str, Customer]:
        """Alpha ("own") and Beta ("other")."""
        return {key: tenant.customer for key, tenant in self.tenants.items()}

    @property
    def customer_admins(self) -> dict[str, Login]:
        """Each customer's administrator."""
        return {key: tenant.admin for key, tenant in self.tenants.items()}

    @property
    def end_users(self) -> dict[str, list[Login]]:
        """Each customer's two end users."""
        return {key: tenant.end_users for key, tenant in self.tenants.items()}

    def caller(self, role: str) -> Login | None:
        """The login acting as `role`; customer roles belong to the "own" customer."""
        return {
            ANON: None,
            CATALOG: self.admin,
            CUSTOMER_ADMIN: self.customer_admins["own"],
            END_USER: self.end_users["own"][0],
        }[role]

    def customer_id(self, target: str) -> str:
        """The id of Alpha ("own") or Beta ("other")."""
        return str(self.customers[target].id)

    def request(self, target: str) -> ServiceRequest:
        """The calling end user's request ("own"), its colleague's ("peer") or Beta's ("other")."""
        key = "own" if target == "peer" else target
        return self.requests[key][1 if target == "peer" else 0]

    def user(self, target: str) -> User:
        """Alpha's second end user ("own"), Beta's first ("other") or the catalog administrator."""
        if target == "catalog-admin":
            return self.admin.user
        return self.end_users[target][1 if target == "own" else 0].user


async def build_world() -> World:
    """Two customers with users, a priced service, credits on and a request per end user."""
    base = await factories.make_world(price="10.00", service_name="Analysis")
    world = World(base.admin, base.service)
    for key, name in (("own", "Alpha"), ("other", "Beta")):
        tenant = await world.add(key, name, balance=100, end_users=2, note="opening balance")
        customer, customer_admin = tenant.customer, tenant.admin
        world.requests[key] = [
            await service_requests.request_service(u.actor, customer.id, world.service.id, 1, None)
            for u in tenant.end_users
        ]
        world.alerts[key] = await CreditAlert.create(
            customer_id=customer.id, kind=AlertKind.BELOW_THRESHOLD, balance=9_000, threshold=9_500
        )
        world.notifications[customer_admin.user.id] = await Notification.create(
            user_id=customer_admin.user.id,
            customer_id=customer.id,
            kind=AlertKind.BELOW_THRESHOLD,
            balance=9_000,
            threshold=9_500,
            message="Balance below threshold",
        )
        await customer.refresh_from_db()
    for login in [
        world.admin,
        *world.customer_admins.values(),
        *world.end_users["own"],
        *world.end_users["other"],
    ]:
        _, world.tokens[login.user.id] = await accounts.create_api_token(login.actor, "laptop")
    return world


async def snapshot() -> dict[str, Any]:
    """Everything a mutation could change: balances, ledger, requests, users, catalog, tokens…"""
    return {
        "customers": sorted(
            (str(c.id), c.name, c.balance, c.last_sequence, c.alert_threshold) for c in await Customer.all()
        ),
        "ledger": sorted((str(t.id), t.amount) for t in await CreditTransaction.all()),
        "requests": sorted((str(r.id), r.status, r.reason) for r in await ServiceRequest.all()),
        "users": sorted((str(u.id), u.email_key, u.role, u.active) for u in await User.all()),
        "services": sorted((str(s.id), s.name, s.credit_price) for s in await Service.all()),
        "tokens": sorted((str(t.id), t.revoked_at is None) for t in await ApiToken.all()),
        "notifications": sorted((str(n.id), n.read_at is None) for n in await Notification.all()),
        "alerts": sorted(str(a.id) for a in await CreditAlert.all()),
        "emails": await EmailOutbox.all().count(),
        "idempotency": await IdempotencyRecord.all().count(),
        "credits": await credit_management_enabled(),
    }


# --- operations: document, variables, and what "ok" looks like ---------------------------------


@dataclass(frozen=True)
class Case:
    """One row being run: the world, who calls and on what."""

    world: World
    login: Login | None
    caller: str
    target: str


def _no_vars(case: Case) -> dict[str, Any]:
    return {}


def _customer_vars(case: Case) -> dict[str, Any]:
    return {} if case.target == "-" else {"id": case.world.customer_id(case.target)}


def _customer_id_vars(case: Case) -> dict[str, Any]:
    return {"customerId": case.world.customer_id(case.target)}


def _request_vars(case: Case) -> dict[str, Any]:
    return {"id": str(case.world.request(case.target).id)}


def _viewed_customer(case: Case) -> str:
    """The customer a query names, or the caller's own when it names none."""
    if case.target == "-":
        return str(case.login.user.customer_id)
    return case.world.customer_id(case.target)


def _ok_viewer(case: Case, value: Any) -> None:
    assert value == {"id": str(case.login.user.id), "role": case.caller}


def _ok_customer(case: Case, value: Any) -> None:
    customer_id = _viewed_customer(case)
    name = {case.world.customer_id(k): c.name for k, c in case.world.customers.items()}[customer_id]
    assert value == {"id": customer_id, "name": name, "balance": "80.00"}


def _ok_customers(case: Case, value: Any) -> None:
    assert value == {"nodes": [{"name": "Alpha"}, {"name": "Beta"}]}


def _ok_services(case: Case, value: Any) -> None:
    assert value == [{"id": str(case.world.service.id), "creditPrice": "10.00"}]


def _ok_service_request(case: Case, value: Any) -> None:
    request = case.world.request(case.target)
    assert value == {
        "id": str(request.id),
        "status": "REQUESTED",
        "customer": {"id": str(request.customer_id)},
        "requestedBy": {"id": str(request.requested_by_id)},
    }


def _ok_notifications(case: Case, value: Any) -> None:
    own = case.world.notifications.get(case.login.user.id)
    assert value == {"nodes": [{"id": str(own.id), "read": False}] if own else []}


def _ok_api_tokens(case: Case, value: Any) -> None:
    assert value == [{"id": str(case.world.tokens[case.login.user.id].id)}]


def _ok_credit_settings(case: Case, value: Any) -> None:
    assert value == {"creditManagementEnabled": True}


def _ledger_of(case: Case, key: str) -> list[dict[str, Any]]:
    """Customer `key`'s ledger newest first, as an administrator sees it."""
    world = case.world
    users = [u.user.id for u in world.end_users[key]]
    return [
        {"sequence": 3, "amount": "-10.00", "note": None, "actor": {"id": str(users[1])}},
        {"sequence": 2, "amount": "-10.00", "note": None, "actor": {"id": str(users[0])}},
        {
            "sequence": 1,
            "amount": "100.00",
            "note": "opening balance",
            "actor": {"id": str(world.admin.user.id)},
        },
    ]


def _ok_customer_ledger(case: Case, value: Any) -> None:
    ledger = value["transactions"]
    assert ledger["nodes"] == _ledger_of(case, case.target)
    assert len(ledger["edges"]) == 3


def _ok_request_ledger(case: Case, value: Any) -> None:
    key = "other" if case.target == "other" else "own"
    assert value["customer"]["transactions"]["nodes"] == _ledger_of(case, key)


def _ok_customer_alerts(case: Case, value: Any) -> None:
    alert = case.world.alerts[case.target]
    assert value["alerts"]["nodes"] == [
        {
            "id": str(alert.id),
            "kind": "BELOW_THRESHOLD",
            "customerId": case.world.customer_id(case.target),
            "balance": "90.00",
            "threshold": "95.00",
        }
    ]


def _ok_customer_requests(case: Case, value: Any) -> None:
    mine = [
        r
        for r in case.world.requests[case.target]
        if case.caller != END_USER or r.requested_by_id == case.login.user.id
    ]
    expected = sorted(str(r.id) for r in mine)
    assert sorted(n["id"] for n in value["serviceRequests"]["nodes"]) == expected
    assert len(expected) == (1 if case.caller == END_USER else 2)


def _login_vars(case: Case) -> dict[str, Any]:
    return {"email": case.world.end_users["own"][1].user.email, "password": PASSWORD}


def _ok_login(case: Case, value: Any) -> None:
    assert value["token"] and value["user"] == {"id": str(case.world.end_users["own"][1].user.id)}


async def _ok_create_api_token(case: Case, value: Any) -> None:
    assert value["token"] and value["apiToken"]["name"] == "ci"
    assert (await ApiToken.get(id=value["apiToken"]["id"])).user_id == case.login.user.id


def _token_vars(case: Case) -> dict[str, Any]:
    owner = case.login.user if case.target == "self" else case.world.user(case.target)
    return {"id": str(case.world.tokens[owner.id].id)}


def _ok_revoke_api_token(case: Case, value: Any) -> None:
    assert value["apiToken"]["id"] == _token_vars(case)["id"] and value["apiToken"]["revokedAt"]


def _ok_set_credit_management(case: Case, value: Any) -> None:
    assert value["creditSettings"] == {"creditManagementEnabled": False}


def _ok_create_customer(case: Case, value: Any) -> None:
    assert value["customer"] == {"name": "Gamma", "balance": "0.00"}


_NEW_USER_ROLE = {"own": "END_USER", "other": "END_USER", "implicit": "END_USER",
                  "own-admin": "CUSTOMER_ADMIN", "catalog-admin": "CATALOG_ADMIN"}  # fmt: skip


def _create_user_vars(case: Case) -> dict[str, Any]:
    role = _NEW_USER_ROLE[case.target]
    new = {"email": "new.user@example.com", "name": "New User", "role": role, "password": "s3cret-pass"}
    if case.target in ("own", "other"):
        new["customerId"] = case.world.customer_id(case.target)
    elif case.target == "own-admin":
        new["customerId"] = case.world.customer_id("own")
    return {"input": new}


def _ok_create_user(case: Case, value: Any) -> None:
    role = _NEW_USER_ROLE[case.target]
    customer_key = "other" if case.target == "other" else "own"
    customer = None if role == "CATALOG_ADMIN" else {"id": case.world.customer_id(customer_key)}
    assert value["user"] == {"email": "new.user@example.com", "role": role, "customer": customer}


def _user_vars(case: Case) -> dict[str, Any]:
    return {"id": str(case.world.user(case.target).id)}


def _ok_set_user_active(case: Case, value: Any) -> None:
    assert value["user"] == {"id": _user_vars(case)["id"], "active": False}


def _ok_create_service(case: Case, value: Any) -> None:
    assert value["service"] == {"name": "Extra", "creditPrice": "7.00"}


def _service_vars(case: Case) -> dict[str, Any]:
    return {"id": str(case.world.service.id)}


def _ok_set_service_price(case: Case, value: Any) -> None:
    assert value["service"] == {"id": str(case.world.service.id), "creditPrice": "12.50"}


def _ok_balance_change(kind: str, amount: str, note: str, balance: str) -> Callable[[Case, Any], None]:
    def check(case: Case, value: Any) -> None:
        assert value["transaction"] == {"kind": kind, "amount": amount, "note": note}
        assert value["customer"] == {"id": case.world.customer_id(case.target), "balance": balance}

    return check


def _ok_set_credit_alert(case: Case, value: Any) -> None:
    assert value["customer"] == {"id": case.world.customer_id(case.target), "alertThreshold": "20.00"}


def _ok_set_runway_alert(case: Case, value: Any) -> None:
    assert value["customer"] == {"id": case.world.customer_id(case.target), "runwayAlertDays": 14}


def _request_service_vars(case: Case) -> dict[str, Any]:
    variables = {"serviceId": str(case.world.service.id)}
    if case.target != "implicit":
        variables["customerId"] = case.world.customer_id(case.target)
    return variables


def _ok_request_service(case: Case, value: Any) -> None:
    key = "own" if case.target == "implicit" else case.target
    assert value["serviceRequest"] == {
        "amount": "10.00",
        "status": "REQUESTED",
        "customer": {"id": case.world.customer_id(key), "balance": "70.00"},
        "requestedBy": {"id": str(case.login.user.id)},
    }


def _ok_transition(status: str, balance: str) -> Callable[[Case, Any], None]:
    def check(case: Case, value: Any) -> None:
        assert value["serviceRequest"] == {
            "id": str(case.world.request(case.target).id),
            "status": status,
            "customer": {"balance": balance},
        }

    return check


def _mark_read_vars(case: Case) -> dict[str, Any]:
    if case.target == "-":
        return {"ids": None}
    return {"ids": [str(case.world.notifications[case.world.customer_admins["other"].user.id].id)]}


def _marks_own(case: Case) -> bool:
    """Only a customer administrator has a notification, and only `ids: null` reaches it."""
    return case.login.user.id in case.world.notifications and case.target == "-"


def _ok_mark_read(case: Case, value: Any) -> None:
    assert value["count"] == (1 if _marks_own(case) else 0)


def _always(case: Case) -> bool:
    return True


def _never(case: Case) -> bool:
    return False


@dataclass(frozen=True)
class Operation:
    """How to call one operation and what its successful answer must be."""

    document: str
    root: str
    variables: Callable[[Case], dict[str, Any]]
    ok: Callable[[Case, Any], Any]  # asserts the answer; may be a coroutine function
    obj: str | None = None  # a mutation payload's object, null when refused
    writes: Callable[[Case], bool] = _always  # whether an `ok` answer may change stored state
    path: tuple[str, ...] = ()  # from the root value to the connection an `empty` outcome means
    not_found_field: tuple[str, ...] = ()


OPERATIONS: dict[str, Operation] = {
    "viewer": Operation(VIEWER, "viewer", _no_vars, _ok_viewer),
    "customer": Operation(CUSTOMER, "customer", _customer_vars, _ok_customer),
    "customers": Operation(CUSTOMERS, "customers", _no_vars, _ok_customers),
    "services": Operation(SERVICES, "services", _no_vars, _ok_services),
    "serviceRequest": Operation(SERVICE_REQUEST, "serviceRequest", _request_vars, _ok_service_request),
    "notifications": Operation(NOTIFICATIONS, "notifications", _no_vars, _ok_notifications),
    "apiTokens": Operation(API_TOKENS, "apiTokens", _no_vars, _ok_api_tokens),
    "creditSettings": Operation(CREDIT_SETTINGS, "creditSettings", _no_vars, _ok_credit_settings),
    "customer.transactions": Operation(
        CUSTOMER_LEDGER, "customer", _customer_vars, _ok_customer_ledger, path=("transactions",)
    ),
    "serviceRequest.customer.transactions": Operation(
        REQUEST_LEDGER, "serviceRequest", _request_vars, _ok_request_ledger, path=("customer", "transactions")
    ),
    "customer.alerts": Operation(
        CUSTOMER_ALERTS, "customer", _customer_vars, _ok_customer_alerts, path=("alerts",)
    ),
    "customer.serviceRequests": Operation(
        CUSTOMER_REQUESTS, "customer", _customer_vars, _ok_customer_requests, path=("serviceRequests",)
    ),
    "login": Operation(LOGIN, "login", _login_vars, _ok_login, obj="token", writes=_never),
    "createApiToken": Operation(
        CREATE_API_TOKEN, "createApiToken", _no_vars, _ok_create_api_token, obj="apiToken"
    ),
    "revokeApiToken": Operation(
        REVOKE_API_TOKEN,
        "revokeApiToken",
        _token_vars,
        _ok_revoke_api_token,
        obj="apiToken",
        not_found_field=("id",),
    ),
    "setCreditManagement": Operation(
        SET_CREDIT_MANAGEMENT,
        "setCreditManagement",
        _no_vars,
        _ok_set_credit_management,
        obj="creditSettings",
    ),
    "createCustomer": Operation(
        CREATE_CUSTOMER, "createCustomer", _no_vars, _ok_create_customer, obj="customer"
    ),
    "createUser": Operation(
        CREATE_USER,
        "createUser",
        _create_user_vars,
        _ok_create_user,
        obj="user",
        not_found_field=("input", "customerId"),
    ),
    "setUserActive": Operation(
        SET_USER_ACTIVE, "setUserActive", _user_vars, _ok_set_user_active, obj="user", not_found_field=("id",)
    ),
    "createService": Operation(CREATE_SERVICE, "createService", _no_vars, _ok_create_service, obj="service"),
    "setServicePrice": Operation(
        SET_SERVICE_PRICE, "setServicePrice", _service_vars, _ok_set_service_price, obj="service"
    ),
    "grantCredits": Operation(
        GRANT_CREDITS,
        "grantCredits",
        _customer_id_vars,
        _ok_balance_change("GRANT", "5.00", "top-up", "85.00"),
        obj="transaction",
    ),
    "withdrawCredits": Operation(
        WITHDRAW_CREDITS,
        "withdrawCredits",
        _customer_id_vars,
        _ok_balance_change("WITHDRAWAL", "-5.00", "correction", "75.00"),
        obj="transaction",
    ),
    "setCreditAlert": Operation(
        SET_CREDIT_ALERT,
        "setCreditAlert",
        _customer_id_vars,
        _ok_set_credit_alert,
        obj="customer",
        not_found_field=("input", "customerId"),
    ),
    "setRunwayAlert": Operation(
        SET_RUNWAY_ALERT,
        "setRunwayAlert",
        _customer_id_vars,
        _ok_set_runway_alert,
        obj="customer",
        not_found_field=("input", "customerId"),
    ),
    "requestService": Operation(
        REQUEST_SERVICE,
        "requestService",
        _request_service_vars,
        _ok_request_service,
        obj="serviceRequest",
        not_found_field=("input", "customerId"),
    ),
    "cancelServiceRequest": Operation(
        TRANSITION % "cancelServiceRequest",
        "cancelServiceRequest",
        _request_vars,
        _ok_transition("CANCELLED", "90.00"),
        obj="serviceRequest",
        not_found_field=("id",),
    ),
    "completeServiceRequest": Operation(
        TRANSITION % "completeServiceRequest",
        "completeServiceRequest",
        _request_vars,
        _ok_transition("COMPLETED", "80.00"),
        obj="serviceRequest",
    ),
    "failServiceRequest": Operation(
        TRANSITION % "failServiceRequest",
        "failServiceRequest",
        _request_vars,
        _ok_transition("FAILED", "90.00"),
        obj="serviceRequest",
    ),
    "rejectServiceRequest": Operation(
        TRANSITION % "rejectServiceRequest",
        "rejectServiceRequest",
        _request_vars,
        _ok_transition("REJECTED", "90.00"),
        obj="serviceRequest",
    ),
    "markNotificationsRead": Operation(
        MARK_NOTIFICATIONS_READ,
        "markNotificationsRead",
        _mark_read_vars,
        _ok_mark_read,
        obj="count",
        writes=_marks_own,
    ),
}

# --- the table ---------------------------------------------------------------------------------

# fmt: off
CASES = [
    # operation                               caller          target           outcome
    ("viewer",                                ANON,           "-",             UNAUTHENTICATED),
    ("viewer",                                CATALOG,        "-",             OK),
    ("viewer",                                CUSTOMER_ADMIN, "-",             OK),
    ("viewer",                                END_USER,       "-",             OK),
    ("customer",                              ANON,           "own",           UNAUTHENTICATED),
    ("customer",                              CATALOG,        "own",           OK),
    ("customer",                              CATALOG,        "other",         OK),
    ("customer",                              CATALOG,        "-",             NULL),
    ("customer",                              CUSTOMER_ADMIN, "own",           OK),
    ("customer",                              CUSTOMER_ADMIN, "other",         NULL),
    ("customer",                              CUSTOMER_ADMIN, "-",             OK),
    ("customer",                              END_USER,       "own",           OK),
    ("customer",                              END_USER,       "other",         NULL),
    ("customer",                              END_USER,       "-",             OK),
    ("customers",                             ANON,           "-",             UNAUTHENTICATED),
    ("customers",                             CATALOG,        "-",             OK),
    ("customers",                             CUSTOMER_ADMIN, "-",             FORBIDDEN),
    ("customers",                             END_USER,       "-",             FORBIDDEN),
    ("services",                              ANON,           "-",             UNAUTHENTICATED),
    ("services",                              CATALOG,        "-",             OK),
    ("services",                              CUSTOMER_ADMIN, "-",             OK),
    ("services",                              END_USER,       "-",             OK),
    ("serviceRequest",                        ANON,           "own",           UNAUTHENTICATED),
    ("serviceRequest",                        CATALOG,        "own",           OK),
    ("serviceRequest",                        CATALOG,        "other",         OK),
    ("serviceRequest",                        CUSTOMER_ADMIN, "own",           OK),
    ("serviceRequest",                        CUSTOMER_ADMIN, "peer",          OK),
    ("serviceRequest",                        CUSTOMER_ADMIN, "other",         NULL),
    ("serviceRequest",                        END_USER,       "own",           OK),
    ("serviceRequest",                        END_USER,       "peer",          NULL),
    ("serviceRequest",                        END_USER,       "other",         NULL),
    ("notifications",                         ANON,           "-",             UNAUTHENTICATED),
    ("notifications",                         CATALOG,        "-",             OK),
    ("notifications",                         CUSTOMER_ADMIN, "-",             OK),
    ("notifications",                         END_USER,       "-",             OK),
    ("apiTokens",                             ANON,           "-",             UNAUTHENTICATED),
    ("apiTokens",                             CATALOG,        "-",             OK),
    ("apiTokens",                             CUSTOMER_ADMIN, "-",             OK),
    ("apiTokens",                             END_USER,       "-",             OK),
    ("creditSettings",                        ANON,           "-",             UNAUTHENTICATED),
    ("creditSettings",                        CATALOG,        "-",             OK),
    ("creditSettings",                        CUSTOMER_ADMIN, "-",             OK),
    ("creditSettings",                        END_USER,       "-",             OK),
    ("customer.transactions",                 ANON,           "own",           UNAUTHENTICATED),
    ("customer.transactions",                 CATALOG,        "own",           OK),
    ("customer.transactions",                 CATALOG,        "other",         OK),
    ("customer.transactions",                 CUSTOMER_ADMIN, "own",           OK),
    ("customer.transactions",                 CUSTOMER_ADMIN, "other",         NULL),
    ("customer.transactions",                 END_USER,       "own",           EMPTY),
    ("customer.transactions",                 END_USER,       "other",         NULL),
    ("serviceRequest.customer.transactions",  CATALOG,        "other",         OK),
    ("serviceRequest.customer.transactions",  CUSTOMER_ADMIN, "peer",          OK),
    ("serviceRequest.customer.transactions",  END_USER,       "own",           EMPTY),
    ("customer.alerts",                       CATALOG,        "other",         OK),
    ("customer.alerts",                       CUSTOMER_ADMIN, "own",           OK),
    ("customer.alerts",                       END_USER,       "own",           EMPTY),
    ("customer.serviceRequests",              CATALOG,        "other",         OK),
    ("customer.serviceRequests",              CUSTOMER_ADMIN, "own",           OK),
    ("customer.serviceRequests",              END_USER,       "own",           OK),
    ("login",                                 ANON,           "-",             OK),
    ("login",                                 END_USER,       "-",             OK),
    ("createApiToken",                        ANON,           "-",             UNAUTHENTICATED),
    ("createApiToken",                        CATALOG,        "-",             OK),
    ("createApiToken",                        CUSTOMER_ADMIN, "-",             OK),
    ("createApiToken",                        END_USER,       "-",             OK),
    ("revokeApiToken",                        ANON,           "own",           UNAUTHENTICATED),
    ("revokeApiToken",                        CATALOG,        "self",          OK),
    ("revokeApiToken",                        CATALOG,        "own",           OK),
    ("revokeApiToken",                        CATALOG,        "other",         OK),
    ("revokeApiToken",                        CUSTOMER_ADMIN, "self",          OK),
    ("revokeApiToken",                        CUSTOMER_ADMIN, "own",           NOT_FOUND),
    ("revokeApiToken",                        CUSTOMER_ADMIN, "other",         NOT_FOUND),
    ("revokeApiToken",                        END_USER,       "self",          OK),
    ("revokeApiToken",                        END_USER,       "own",           NOT_FOUND),
    ("revokeApiToken",                        END_USER,       "other",         NOT_FOUND),
    ("setCreditManagement",                   ANON,           "-",             UNAUTHENTICATED),
    ("setCreditManagement",                   CATALOG,        "-",             OK),
    ("setCreditManagement",                   CUSTOMER_ADMIN, "-",             FORBIDDEN),
    ("setCreditManagement",                   END_USER,       "-",             FORBIDDEN),
    ("createCustomer",                        ANON,           "-",             UNAUTHENTICATED),
    ("createCustomer",                        CATALOG,        "-",             OK),
    ("createCustomer",                        CUSTOMER_ADMIN, "-",             FORBIDDEN),
    ("createCustomer",                        END_USER,       "-",             FORBIDDEN),
    ("createUser",                            ANON,           "own",           UNAUTHENTICATED),
    ("createUser",                            CATALOG,        "own",           OK),
    ("createUser",                            CATALOG,        "other",         OK),
    ("createUser",                            CATALOG,        "catalog-admin", OK),
    ("createUser",                            CUSTOMER_ADMIN, "own",           OK),
    ("createUser",                            CUSTOMER_ADMIN, "own-admin",     OK),
    ("createUser",                            CUSTOMER_ADMIN, "implicit",      OK),
    ("createUser",                            CUSTOMER_ADMIN, "other",         NOT_FOUND),
    ("createUser",                            CUSTOMER_ADMIN, "catalog-admin", FORBIDDEN),
    ("createUser",                            END_USER,       "own",           FORBIDDEN),
    ("createUser",                            END_USER,       "catalog-admin", FORBIDDEN),
    ("setUserActive",                         ANON,           "own",           UNAUTHENTICATED),
    ("setUserActive",                         CATALOG,        "own",           OK),
    ("setUserActive",                         CATALOG,        "other",         OK),
    ("setUserActive",                         CUSTOMER_ADMIN, "own",           OK),
    ("setUserActive",                         CUSTOMER_ADMIN, "other",         NOT_FOUND),
    ("setUserActive",                         CUSTOMER_ADMIN, "catalog-admin", NOT_FOUND),
    ("setUserActive",                         END_USER,       "own",           FORBIDDEN),
    ("setUserActive",                         END_USER,       "other",         FORBIDDEN),
    ("createService",                         ANON,           "-",             UNAUTHENTICATED),
    ("createService",                         CATALOG,        "-",             OK),
    ("createService",                         CUSTOMER_ADMIN, "-",             FORBIDDEN),
    ("createService",                         END_USER,       "-",             FORBIDDEN),
    ("setServicePrice",                       ANON,           "-",             UNAUTHENTICATED),
    ("setServicePrice",                       CATALOG,        "-",             OK),
    ("setServicePrice",                       CUSTOMER_ADMIN, "-",             FORBIDDEN),
    ("setServicePrice",                       END_USER,       "-",             FORBIDDEN),
    ("grantCredits",                          ANON,           "own",           UNAUTHENTICATED),
    ("grantCredits",                          CATALOG,        "own",           OK),
    ("grantCredits",                          CATALOG,        "other",         OK),
    ("grantCredits",                          CUSTOMER_ADMIN, "own",           FORBIDDEN),
    ("grantCredits",                          CUSTOMER_ADMIN, "other",         FORBIDDEN),
    ("grantCredits",                          END_USER,       "own",           FORBIDDEN),
    ("grantCredits",                          END_USER,       "other",         FORBIDDEN),
    ("withdrawCredits",                       ANON,           "own",           UNAUTHENTICATED),
    ("withdrawCredits",                       CATALOG,        "own",           OK),
    ("withdrawCredits",                       CATALOG,        "other",         OK),
    ("withdrawCredits",                       CUSTOMER_ADMIN, "own",           FORBIDDEN),
    ("withdrawCredits",                       CUSTOMER_ADMIN, "other",         FORBIDDEN),
    ("withdrawCredits",                       END_USER,       "own",           FORBIDDEN),
    ("withdrawCredits",                       END_USER,       "other",         FORBIDDEN),
    ("setCreditAlert",                        ANON,           "own",           UNAUTHENTICATED),
    ("setCreditAlert",                        CATALOG,        "own",           OK),
    ("setCreditAlert",                        CATALOG,        "other",         OK),
    ("setCreditAlert",                        CUSTOMER_ADMIN, "own",           OK),
    ("setCreditAlert",                        CUSTOMER_ADMIN, "other",         NOT_FOUND),
    ("setCreditAlert",                        END_USER,       "own",           FORBIDDEN),
    ("setCreditAlert",                        END_USER,       "other",         FORBIDDEN),
    ("setRunwayAlert",                        ANON,           "own",           UNAUTHENTICATED),
    ("setRunwayAlert",                        CATALOG,        "own",           OK),
    ("setRunwayAlert",                        CATALOG,        "other",         OK),
    ("setRunwayAlert",                        CUSTOMER_ADMIN, "own",           OK),
    ("setRunwayAlert",                        CUSTOMER_ADMIN, "other",         NOT_FOUND),
    ("setRunwayAlert",                        END_USER,       "own",           FORBIDDEN),
    ("setRunwayAlert",                        END_USER,       "other",         FORBIDDEN),
    ("requestService",                        ANON,           "own",           UNAUTHENTICATED),
    ("requestService",                        CATALOG,        "own",           OK),
    ("requestService",                        CATALOG,        "other",         OK),
    ("requestService",                        CUSTOMER_ADMIN, "own",           OK),
    ("requestService",                        CUSTOMER_ADMIN, "implicit",      OK),
    ("requestService",                        CUSTOMER_ADMIN, "other",         NOT_FOUND),
    ("requestService",                        END_USER,       "own",           OK),
    ("requestService",                        END_USER,       "implicit",      OK),
    ("requestService",                        END_USER,       "other",         NOT_FOUND),
    ("cancelServiceRequest",                  ANON,           "own",           UNAUTHENTICATED),
    ("cancelServiceRequest",                  CATALOG,        "own",           OK),
    ("cancelServiceRequest",                  CATALOG,        "other",         OK),
    ("cancelServiceRequest",                  CUSTOMER_ADMIN, "own",           OK),
    ("cancelServiceRequest",                  CUSTOMER_ADMIN, "peer",          OK),
    ("cancelServiceRequest",                  CUSTOMER_ADMIN, "other",         NOT_FOUND),
    ("cancelServiceRequest",                  END_USER,       "own",           OK),
    ("cancelServiceRequest",                  END_USER,       "peer",          NOT_FOUND),
    ("cancelServiceRequest",                  END_USER,       "other",         NOT_FOUND),
    ("completeServiceRequest",                ANON,           "own",           UNAUTHENTICATED),
    ("completeServiceRequest",                CATALOG,        "own",           OK),
    ("completeServiceRequest",                CATALOG,        "other",         OK),
    ("completeServiceRequest",                CUSTOMER_ADMIN, "own",           FORBIDDEN),
    ("completeServiceRequest",                CUSTOMER_ADMIN, "other",         FORBIDDEN),
    ("completeServiceRequest",                END_USER,       "own",           FORBIDDEN),
    ("completeServiceRequest",                END_USER,       "other",         FORBIDDEN),
    ("failServiceRequest",                    ANON,           "own",           UNAUTHENTICATED),
    ("failServiceRequest",                    CATALOG,        "own",           OK),
    ("failServiceRequest",                    CATALOG,        "other",         OK),
    ("failServiceRequest",                    CUSTOMER_ADMIN, "own",           FORBIDDEN),
    ("failServiceRequest",                    END_USER,       "own",           FORBIDDEN),
    ("rejectServiceRequest",                  ANON,           "own",           UNAUTHENTICATED),
    ("rejectServiceRequest",                  CATALOG,        "own",           OK),
    ("rejectServiceRequest",                  CATALOG,        "other",         OK),
    ("rejectServiceRequest",                  CUSTOMER_ADMIN, "own",           FORBIDDEN),
    ("rejectServiceRequest",                  END_USER,       "own",           FORBIDDEN),
    ("markNotificationsRead",                 ANON,           "-",             UNAUTHENTICATED),
    ("markNotificationsRead",                 CATALOG,        "-",             OK),
    ("markNotificationsRead",                 CUSTOMER_ADMIN, "-",             OK),
    ("markNotificationsRead",                 CUSTOMER_ADMIN, "other",         OK),
    ("markNotificationsRead",                 END_USER,       "-",             OK),
]
# fmt: on


def _case_id(row: tuple[str, str, str, str]) -> str:
    operation, caller, target, _ = row
    return f"{operation}-{caller}" if target == "-" else f"{operation}-{caller}-{target}"


def _dig(value: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        value = value[key]
    return value


@pytest.mark.parametrize(("operation", "caller", "target", "outcome"), CASES, ids=map(_case_id, CASES))
async def test_authorization(
    gql: GraphQLClient, operation: str, caller: str, target: str, outcome: str
) -> None:
    """The operation answers this caller and target as the table says; refusals change nothing."""
    # given: the two-customer world, the caller and everything stored
    world = await build_world()
    op = OPERATIONS[operation]
    login = world.caller(caller)
    case = Case(world, login, caller, target)
    before = await snapshot()

    # when
    body = await gql.raw(op.document, op.variables(case), token=login.token if login else None)

    # then
    data = body.get("data")
    if outcome in (UNAUTHENTICATED, FORBIDDEN):
        assert error_codes(body) == [outcome]
        assert body["errors"][0]["path"] == [op.root]
        assert data is None or data[op.root] is None
    else:
        assert "errors" not in body, body["errors"]
        value = data[op.root]
        if outcome == NOT_FOUND:
            assert value["userErrors"] == [{"code": "NOT_FOUND", "field": list(op.not_found_field)}]
            assert value[op.obj] is None
        elif outcome == NULL:
            assert value is None
        elif outcome == EMPTY:
            connection = _dig(value, op.path)
            assert connection["nodes"] == [] and connection["edges"] == []
        else:
            if op.obj is not None:
                assert value["userErrors"] == []
                assert value[op.obj] is not None
            checked = op.ok(case, value)
            if inspect.isawaitable(checked):
                await checked
    if outcome != OK or op.obj is None or not op.writes(case):
        assert await snapshot() == before
