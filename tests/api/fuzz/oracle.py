"""What the fuzz tests share: documents, strategies, the database before and after, oracles, calls."""

from __future__ import annotations

import base64
import json
import math
import os
import re
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st

from infra.email_address import InvalidAddress, parse_address
from models import service_requests
from models.alerts import CreditAlert
from models.customer import Customer
from models.idempotency import IdempotencyRecord
from models.ledger import CreditTransaction
from models.notification import Notification
from models.outbox import EmailOutbox
from models.platform import credit_management_enabled
from models.service import Service, ServiceRequest
from models.user import ApiToken, Role, User
from settings import get_settings
from tests.factories import (
    Login,
)

EXAMPLES = int(os.environ.get("CREDITS_HYPOTHESIS_EXAMPLES", "40"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    print_blob=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)

ERROR_CODES = set(
    "INVALID_AMOUNT NOT_FOUND INVALID_STATE CREDIT_MANAGEMENT_DISABLED IDEMPOTENCY_CONFLICT INVALID_INPUT"
    " INVALID_CREDENTIALS RATE_LIMITED".split()
)
TOP_LEVEL_CODES = {"UNAUTHENTICATED", "FORBIDDEN", "INVALID_INPUT"}
# GraphQL's own refusal of the request (nothing ran): the document, the variables, the operation.
REQUEST_CODES = {
    "GRAPHQL_PARSE_FAILED",
    "GRAPHQL_VALIDATION_FAILED",
    "BAD_USER_INPUT",
    "OPERATION_RESOLUTION_FAILURE",
    "BAD_REQUEST",
}
GRAPHQL = "GRAPHQL"  # any of REQUEST_CODES
TOO_LARGE: tuple[str, None] = ("413", None)  # a body above CREDITS_MAX_BODY_BYTES
MASKED = "Unexpected error."
# fmt: off
LEAKS = (
    "Traceback", 'File "', "site-packages", "tortoise", "asyncpg", "sqlite3", "psycopg", "pypika",
    "IntegrityError", "OperationalError", "NoneType", "object has no attribute",
)
# fmt: on
LIMIT_CENTS = 10**14  # |amount| < 10^12 credits
ABSENT = object()  # a variable or input field left out

USER_ERRORS = "userErrors { code field message }"
CUSTOMER_FIELDS = "id name balance alertThreshold"
TRANSACTION_FIELDS = "id sequence kind amount balanceAfter note"
REQUEST_FIELDS = "id quantity amount status reason service { id } customer { id } requestedBy { id }"

LOGIN = f"""
mutation Login($email: String!, $password: String!) {{
  login(email: $email, password: $password) {{ token expiresAt user {{ id email }} {USER_ERRORS} }}
}}"""
CREATE_API_TOKEN = f"""
mutation CreateApiToken($name: String!) {{
  createApiToken(name: $name) {{ token apiToken {{ id name revokedAt }} {USER_ERRORS} }}
}}"""
REVOKE_API_TOKEN = f"""
mutation RevokeApiToken($id: ID!) {{
  revokeApiToken(id: $id) {{ apiToken {{ id revokedAt }} {USER_ERRORS} }}
}}"""
SET_CREDIT_MANAGEMENT = f"""
mutation SetCreditManagement($enabled: Boolean!) {{
  setCreditManagement(enabled: $enabled) {{ creditSettings {{ creditManagementEnabled }} {USER_ERRORS} }}
}}"""
CREATE_CUSTOMER = f"""
mutation CreateCustomer($input: CreateCustomerInput!) {{
  createCustomer(input: $input) {{ customer {{ {CUSTOMER_FIELDS} }} {USER_ERRORS} }}
}}"""
CREATE_USER = f"""
mutation CreateUser($input: CreateUserInput!) {{
  createUser(input: $input) {{ user {{ id email name role active customer {{ id }} }} {USER_ERRORS} }}
}}"""
SET_USER_ACTIVE = f"""
mutation SetUserActive($id: ID!, $active: Boolean!) {{
  setUserActive(id: $id, active: $active) {{ user {{ id active }} {USER_ERRORS} }}
}}"""
CREATE_SERVICE = f"""
mutation CreateService($input: CreateServiceInput!) {{
  createService(input: $input) {{ service {{ id name creditPrice }} {USER_ERRORS} }}
}}"""
SET_SERVICE_PRICE = f"""
mutation SetServicePrice($serviceId: ID!, $creditPrice: Decimal) {{
  setServicePrice(serviceId: $serviceId, creditPrice: $creditPrice) {{
    service {{ id name creditPrice }} {USER_ERRORS}
  }}
}}"""
BALANCE_CHANGE = """
mutation Change($input: BalanceChangeInput!) {{
  {name}(input: $input) {{
    transaction {{ {transaction} }} customer {{ {customer} }} {errors}
  }}
}}"""
GRANT = BALANCE_CHANGE.format(
    name="grantCredits", transaction=TRANSACTION_FIELDS, customer=CUSTOMER_FIELDS, errors=USER_ERRORS
)
WITHDRAW = BALANCE_CHANGE.format(
    name="withdrawCredits", transaction=TRANSACTION_FIELDS, customer=CUSTOMER_FIELDS, errors=USER_ERRORS
)
SET_CREDIT_ALERT = f"""
mutation SetCreditAlert($input: SetCreditAlertInput!) {{
  setCreditAlert(input: $input) {{ customer {{ {CUSTOMER_FIELDS} }} {USER_ERRORS} }}
}}"""
REQUEST_SERVICE = f"""
mutation RequestService($input: RequestServiceInput!) {{
  requestService(input: $input) {{ serviceRequest {{ {REQUEST_FIELDS} }} {USER_ERRORS} }}
}}"""
CANCEL = f"""
mutation Cancel($id: ID!) {{
  cancelServiceRequest(id: $id) {{ serviceRequest {{ {REQUEST_FIELDS} }} {USER_ERRORS} }}
}}"""
COMPLETE = f"""
mutation Complete($id: ID!) {{
  completeServiceRequest(id: $id) {{ serviceRequest {{ {REQUEST_FIELDS} }} {USER_ERRORS} }}
}}"""
FAIL = f"""
mutation Fail($id: ID!, $reason: String) {{
  failServiceRequest(id: $id, reason: $reason) {{ serviceRequest {{ {REQUEST_FIELDS} }} {USER_ERRORS} }}
}}"""
REJECT = f"""
mutation Reject($id: ID!, $reason: String) {{
  rejectServiceRequest(id: $id, reason: $reason) {{ serviceRequest {{ {REQUEST_FIELDS} }} {USER_ERRORS} }}
}}"""
MARK_READ = f"""
mutation MarkRead($ids: [ID!]) {{
  markNotificationsRead(ids: $ids) {{ count {USER_ERRORS} }}
}}"""
CUSTOMERS = """
query Customers($first: Int, $after: String, $search: String) {
  customers(first: $first, after: $after, search: $search) {
    nodes { id name } edges { cursor } pageInfo { hasNextPage endCursor hasPreviousPage startCursor }
  }
}"""
CUSTOMERS_FIRST_PAGE = "query Page($first: Int) { customers(first: $first) { edges { cursor node { id } } } }"
CUSTOMER_LEDGER = """
query Ledger($id: ID, $first: Int, $after: String) {
  customer(id: $id) {
    id
    transactions(first: $first, after: $after) {
      nodes { id sequence } edges { cursor } pageInfo { hasNextPage }
    }
  }
}"""
CUSTOMER_LISTS = """
query Lists($id: ID, $first: Int, $after: String) {
  customer(id: $id) {
    id
    serviceRequests(first: $first, after: $after) { nodes { id } edges { cursor } }
    alerts(first: $first, after: $after) { nodes { id } edges { cursor } }
  }
}"""
NOTIFICATIONS = """
query Notifications($first: Int, $after: String) {
  notifications(first: $first, after: $after) { nodes { id } edges { cursor } pageInfo { hasNextPage } }
}"""
SERVICE_REQUEST = "query Request($id: ID!) { serviceRequest(id: $id) { id customer { id } } }"


# ---------------------------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------------------------

# fmt: off
NASTY = [
    "\x00", "\x00\x00",
    "\u200f", "\u202e", "\u200b", "\ufeff",  # right-to-left mark and override, zero width, BOM
    "e\u0301", "😀", "👩‍👩‍👧",  # decomposed é, emoji, a ZWJ sequence
    "\ud800", "\udfff",  # unpaired surrogates: valid JSON escapes, not Unicode text
    "İ", "ß", "ﬁ", "ﷺ", "Ａ＠",  # case folding and NFKC change their length
    "\n", "\r\n", "\t", " ", "\u3000", "١٢٣",
    "'", '"', "\\", "%", "_", "<b>", "'; DROP TABLE customer; --",
]
# fmt: on
HUGE_TEXT = st.builds(
    lambda char, count: char * count,
    st.sampled_from(["x", "é", "😀", "\x00", "\u200f", " ", "ﷺ"]),
    st.sampled_from([199, 200, 201, 254, 255, 256, 1000, 1001, 100_000]),
)
NASTY_TEXT = st.lists(st.one_of(st.sampled_from(NASTY), st.text(max_size=3)), min_size=1, max_size=6).map(
    "".join
)
TEXT = st.one_of(st.text(max_size=20), NASTY_TEXT, NASTY_TEXT, HUGE_TEXT)
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.lists(st.integers(min_value=-5, max_value=5), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(min_value=0, max_value=9), max_size=2),
)
ANYTHING = st.one_of(TEXT, JUNK)
# fmt: off
ODD_DECIMALS = [
    "1e2", "1E+2", "NaN", "nan", "-NaN", "sNaN", "Infinity", "-Infinity", "inf",
    "+1", "+1.00", " 1", "1 ", "\t1", "1\n", "١٠٠", "１００", "1,00", "1.", ".", ".5", "",
    "--1", "0x10", "1_000", "1.0.0", "0.001", "1.234", "-0", "-0.00", "00.10",
    "999999999999.99", "1000000000000", "-999999999999.99", "-1000000000000",
    "9" * 5000, "1" + "0" * 100, "\x001", "1\x00", "1\ud800", "💯",
]
# fmt: on
DECIMALISH = st.one_of(
    st.from_regex(r"-?[0-9]{1,14}(\.[0-9]{1,3})?", fullmatch=True),
    st.integers(min_value=-(10**15), max_value=10**15),
    st.sampled_from(ODD_DECIMALS),
    st.floats(allow_nan=True, allow_infinity=True),
    JUNK,
)


def valid_or(valid: st.SearchStrategy[Any], fuzz: st.SearchStrategy[Any] = TEXT) -> st.SearchStrategy[Any]:
    """50 % a valid value, 40 % a fuzzed one of the right JSON type, 5 % any JSON value, 5 % left out.

    Wrong JSON types stop the whole request before any resolver: kept rare, so that most calls
    reach the rules of the service.
    """

    def pick(roll: int) -> st.SearchStrategy[Any]:
        if roll < 10:
            return valid
        if roll < 18:
            return fuzz
        return ANYTHING if roll == 18 else st.just(ABSENT)

    return st.integers(0, 19).flatmap(pick)


VALID_AMOUNT = st.one_of(
    st.sampled_from(["5", 5, "5.00", "0.01", "100"]),
    st.from_regex(r"[0-9]{1,6}(\.[0-9]{1,2})?", fullmatch=True),
    st.integers(min_value=1, max_value=10**6),
)


@dataclass(frozen=True)
class Known:
    """The `index`-th element of a pool only known at run time (ids, emails, cursors), spelt somehow.

    Strategies must not depend on the database (Hypothesis replays them), so they draw a Known and
    `realise` turns it into a value once the example's pools are read.
    """

    pool: str
    index: int
    spell: Callable[[str], str]


def as_is(text: str) -> str:
    return text


def without_hyphens(text: str) -> str:
    return text.replace("-", "")


def in_braces(text: str) -> str:
    return "{" + text + "}"


def padded(text: str) -> str:
    return f"  {text}\t"


def nul_after(text: str) -> str:
    return text + "\x00"


def truncated(text: str) -> str:
    return text[:-1]


def decomposed(text: str) -> str:
    return unicodedata.normalize("NFKD", text)


def known(pool: str, *spellings: Callable[[str], str]) -> st.SearchStrategy[Known]:
    """An element of a run-time pool, in one of `spellings` (default: as it is)."""
    return st.builds(Known, st.just(pool), st.integers(0, 10**6), st.sampled_from(spellings or (as_is,)))


def realise(value: Any, pools: dict[str, list[str]]) -> Any:
    """Replace every Known in a drawn value by the pool element it stands for."""
    if isinstance(value, Known):
        pool = pools[value.pool]
        return value.spell(pool[value.index % len(pool)])
    if isinstance(value, dict):
        return {k: realise(v, pools) for k, v in value.items()}
    if isinstance(value, list):
        return [realise(v, pools) for v in value]
    return value


def pools_of(state: State, **extra: list[str]) -> dict[str, list[str]]:
    """The run-time pools of an example: every id, ids by kind, emails, and what a test adds."""
    return {
        "ids": sorted(state.ids()),
        "customers": sorted(state.customers),
        "services": sorted(state.services),
        "requests": sorted(state.requests),
        "notifications": sorted(state.notifications) or [str(uuid.UUID(int=0))],
        "emails": sorted(u[0] for u in state.users.values()),
        **extra,
    }


ID_SPELLINGS = (as_is, as_is, as_is, str.upper, without_hyphens, in_braces, padded, nul_after, truncated)


def id_values(pool: str = "ids") -> st.SearchStrategy[Any]:
    """Ids of this and other kinds of objects, other spellings of them, random strings and numbers."""
    return st.one_of(
        known(pool, *ID_SPELLINGS), known("ids", *ID_SPELLINGS), st.uuids().map(str), TEXT, st.integers()
    )


def vars_of(**values: Any) -> dict[str, Any]:
    """Variables without the ones left out."""
    return {k: v for k, v in values.items() if v is not ABSENT}


def input_of(
    strategies: dict[str, st.SearchStrategy[Any]], *more: st.SearchStrategy[dict[str, Any]]
) -> st.SearchStrategy[Any]:
    """An input object of fuzzed fields (and of `more` partial objects drawn together); sometimes
    with an unknown field, or not an object at all."""
    fields = st.tuples(st.fixed_dictionaries(strategies), *more).map(
        lambda parts: vars_of(**{k: v for part in parts for k, v in part.items()})
    )
    with_extra = st.builds(lambda d, v: {**d, "unknownField": v}, fields, ANYTHING)
    return st.integers(0, 9).flatmap(
        lambda roll: fields if roll < 8 else with_extra if roll == 8 else ANYTHING
    )


def cursor_of(values: list[Any], *, padded: bool = False) -> str:
    """A cursor in the service's format (base64url of a JSON list), crafted from any values."""
    raw = base64.urlsafe_b64encode(json.dumps(values).encode()).decode()
    return raw if padded else raw.rstrip("=")


CRAFTED_CURSOR = st.builds(
    cursor_of,
    st.lists(
        st.one_of(
            TEXT,
            st.integers(),
            st.sampled_from(
                [
                    "9" * 30,
                    "-9223372036854775809",
                    "9223372036854775807",
                    "0001-01-01T00:00:00+23:59",
                    "9999-12-31T23:59:59-23:59",
                    "2020-01-01",
                    "2020-01-01T00:00:00+00:00",
                    str(uuid.uuid4()),
                    "١",
                ]
            ),
        ),
        max_size=3,
    ),
    padded=st.booleans(),
)


# ---------------------------------------------------------------------------------------------
# The database before and after each call
# ---------------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, str):
        return str(value)  # StrEnum members become their value
    return value


async def _rows(model: Any, *columns: str) -> dict[str, tuple[Any, ...]]:
    rows = await model.all().values_list("id", *columns)
    return {str(row[0]): tuple(_plain(v) for v in row[1:]) for row in rows}


@dataclass(frozen=True)
class State:
    """Every row that a call could change (API tokens' lastUsedAt aside)."""

    customers: dict[str, tuple[Any, ...]]  # name, balance, last_sequence, threshold, fired flags
    entries: dict[str, tuple[Any, ...]]  # customer, sequence, kind, amount, balance_after, note, request
    requests: dict[str, tuple[Any, ...]]  # customer, service, requested_by, quantity, amount, status, reason
    services: dict[str, tuple[Any, ...]]  # name, price
    users: dict[str, tuple[Any, ...]]  # email, email_key, name, role, customer, active
    tokens: dict[str, tuple[Any, ...]]  # user, name, revoked_at
    notifications: dict[str, tuple[Any, ...]]  # user, read_at
    alerts: int
    outbox: int
    keys: dict[tuple[str, str, str], str]  # (actor, operation, key) -> result id
    credits_enabled: bool

    def ids(self) -> list[str]:
        """Every object's id: customers, users, services, requests, tokens, ledger entries, notifications."""
        return [
            *self.customers,
            *self.users,
            *self.services,
            *self.requests,
            *self.tokens,
            *self.entries,
            *self.notifications,
        ]


async def read_state() -> State:
    """The whole database as plain values."""
    keys = await IdempotencyRecord.all().values_list("actor_id", "operation", "key", "result_id")
    return State(
        customers=await _rows(
            Customer,
            "name",
            "balance",
            "last_sequence",
            "alert_threshold",
            "below_zero_fired",
            "below_threshold_fired",
        ),
        entries=await _rows(
            CreditTransaction,
            "customer_id",
            "sequence",
            "kind",
            "amount",
            "balance_after",
            "note",
            "service_request_id",
        ),
        requests=await _rows(
            ServiceRequest,
            "customer_id",
            "service_id",
            "requested_by_id",
            "quantity",
            "amount",
            "status",
            "reason",
        ),
        services=await _rows(Service, "name", "credit_price"),
        users=await _rows(User, "email", "email_key", "name", "role", "customer_id", "active"),
        tokens=await _rows(ApiToken, "user_id", "name", "revoked_at"),
        notifications=await _rows(Notification, "user_id", "read_at"),
        alerts=await CreditAlert.all().count(),
        outbox=await EmailOutbox.all().count(),
        keys={(str(a), o, k): _plain(r) for a, o, k, r in keys},
        credits_enabled=await credit_management_enabled(),
    )


# What a successful call may touch besides its own rows: alerts fire on balance and threshold changes.
ALERT_TABLES = ("alerts", "outbox", "notifications")


def assert_only(before: State, after: State, *changed: str) -> None:
    """Every table not named in `changed` is exactly as it was."""
    for name in State.__dataclass_fields__:
        if name not in changed:
            assert getattr(after, name) == getattr(before, name), f"{name} changed"


def new_rows(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Rows added between two snapshots of a table."""
    assert set(before) <= set(after), "rows disappeared"
    return {k: v for k, v in after.items() if k not in before}


# ---------------------------------------------------------------------------------------------
# Oracles: what the contract says about an input
# ---------------------------------------------------------------------------------------------


class NotGraphQL(Exception):
    """The variables do not coerce to the declared GraphQL types: a request error, before any resolver."""


def as_str(value: Any, *, nullable: bool = False) -> str | None:
    """GraphQL String coercion."""
    if value is ABSENT or value is None:
        if nullable:
            return None
        raise NotGraphQL
    if not isinstance(value, str):
        raise NotGraphQL
    return value


def as_id(value: Any, *, nullable: bool = False) -> str | None:
    """GraphQL ID coercion: strings, and integral numbers as their decimal string."""
    if value is ABSENT or value is None:
        if nullable:
            return None
        raise NotGraphQL
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        raise NotGraphQL
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    raise NotGraphQL


def as_int(value: Any, *, nullable: bool = False, default: int | None = None) -> int | None:
    """GraphQL Int coercion: 32-bit integers (integral floats too); left out is the default."""
    if value is ABSENT:
        if nullable:
            return default
        raise NotGraphQL
    if value is None:
        if nullable:
            return None
        raise NotGraphQL
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise NotGraphQL
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise NotGraphQL
    if not -(2**31) <= value <= 2**31 - 1:
        raise NotGraphQL
    return int(value)


def as_bool(value: Any) -> bool:
    """GraphQL Boolean coercion (non-null)."""
    if not isinstance(value, bool):
        raise NotGraphQL
    return value


def as_decimal(value: Any, *, nullable: bool = False) -> Any:
    """Our Decimal scalar takes any JSON value; only null for a non-null one is a request error."""
    if value is ABSENT or value is None:
        if nullable:
            return None
        raise NotGraphQL
    return value


def as_input(value: Any, fields: set[str]) -> dict[str, Any]:
    """An input object: a JSON object of known fields."""
    if not isinstance(value, dict) or not set(value) <= fields:
        raise NotGraphQL
    return {k: value.get(k, ABSENT) for k in fields}


def as_id_list(value: Any) -> list[str] | None:
    """`[ID!]`: null, a list of ids, or a single id (GraphQL wraps it in a list)."""
    if value is ABSENT or value is None:
        return None
    if isinstance(value, list):
        return [as_id(item) for item in value]  # type: ignore[misc]
    return [as_id(value)]  # type: ignore[list-item]


def resolve(raw: str | None) -> str | None:
    """The object an id names: our ids are UUIDs, in any spelling of the standard."""
    if raw is None:
        return None
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        return None


def storable(text: str) -> bool:
    """Text a database can hold: no NUL, no unpaired surrogate."""
    return "\x00" not in text and not any("\ud800" <= ch <= "\udfff" for ch in text)


def valid_name(name: str) -> bool:
    """Names are 1 to 200 characters once stripped."""
    return 1 <= len(name.strip()) <= 200 and storable(name)


def valid_note(text: str | None, limit: int = 1000) -> bool:
    """Notes and reasons: null, or at most 1000 characters."""
    return text is None or (len(text) <= limit and storable(text))


def valid_key(key: str | None) -> bool:
    """Idempotency keys: null, or 1 to 255 characters."""
    return key is None or (1 <= len(key) <= 255 and storable(key))


AMOUNT = re.compile(r"-?[0-9]+(\.[0-9]{1,2})?", re.ASCII)


def amount_cents(value: Any) -> int | None:
    """API.md's amounts: a string of at most two decimals or a JSON integer, below 10^12; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        cents = value * 100
    elif isinstance(value, str) and AMOUNT.fullmatch(value):
        cents = int(Decimal(value) * 100)
    else:
        return None
    return cents if abs(cents) < LIMIT_CENTS else None


def money(cents: int) -> str:
    """The contract's two-decimal output."""
    return f"{Decimal(cents) / 100:.2f}"


def fold_email(email: str) -> str:
    """How emails compare: stripped, NFKC-normalised, case-folded."""
    return unicodedata.normalize("NFKC", email.strip()).casefold()


def one_address(email: str) -> str | None:
    """The address a new account stores (email-validator's normal form), None if not exactly one."""
    try:
        return parse_address(email).normalized
    except InvalidAddress:
        return None


def login_keys(email: str) -> set[str]:
    """The keys a login looks up: its address's, and the text's own (accounts older than the check)."""
    address = one_address(email)
    return {fold_email(email)} | ({fold_email(address)} if address else set())


Problem = tuple[str, tuple[str, ...] | None]  # an error code and the field it names


@dataclass(frozen=True)
class Expect:
    """What a call must answer: `ok` True (succeed), False (be rejected) or None (either).

    A rejection must name one of `problems` (code and field) when any are given.
    """

    ok: bool | None
    problems: frozenset[Problem] = frozenset()
    replay_of: str | None = None


ACCEPT = Expect(True)


def reject(*problems: Problem) -> Expect:
    """A rejection naming one of `problems`."""
    return Expect(False, frozenset(problems))


def from_problems(problems: list[Problem]) -> Expect:
    """Rejected for one of the problems found, or accepted when there are none."""
    return reject(*problems) if problems else ACCEPT


REQUEST_ERROR = reject((GRAPHQL, None))
CONFLICT: Problem = ("IDEMPOTENCY_CONFLICT", ("input", "idempotencyKey"))


def authorise(state: State, caller: Login | None, *roles: Role) -> Expect | None:
    """UNAUTHENTICATED without an active caller; FORBIDDEN for other roles; None when allowed."""
    if caller is None or not state.users[str(caller.user.id)][5]:
        return reject(("UNAUTHENTICATED", None))
    if roles and caller.user.role not in roles:
        return reject(("FORBIDDEN", None))
    return None


def own_customer(caller: Login) -> str | None:
    """The caller's customer id, if it has one."""
    return str(caller.user.customer_id) if caller.user.customer_id else None


def may_access(caller: Login, customer_id: str) -> bool:
    """Catalog administrators reach every customer; everybody else their own."""
    return caller.user.role == Role.CATALOG_ADMIN or own_customer(caller) == customer_id


def may_see_request(caller: Login, request: tuple[Any, ...]) -> bool:
    """End users see the requests they made; administrators those of their customers."""
    if caller.user.role == Role.END_USER:
        return request[2] == str(caller.user.id)
    return may_access(caller, request[0])


# ---------------------------------------------------------------------------------------------
# Calling the API and checking every answer
# ---------------------------------------------------------------------------------------------


def short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 400 else text[:400] + f"... ({len(text)} characters)"


def _assert_no_leak(text: str) -> None:
    assert text != MASKED, "an unexpected error was masked"
    for marker in LEAKS:
        assert marker not in text, f"internal detail {marker!r} in {short(text)}"


def check_well_formed(body: Any) -> None:
    """A GraphQL response; coded errors only; nothing masked; no internals; userErrors well formed."""
    assert isinstance(body, dict) and set(body) <= {"data", "errors", "extensions"}, short(body)
    assert "data" in body or "errors" in body
    for error in body.get("errors") or []:
        assert isinstance(error.get("message"), str) and error["message"], error
        _assert_no_leak(error["message"])
        _assert_no_leak(json.dumps(error.get("extensions") or {}))
        code = (error.get("extensions") or {}).get("code")
        if code in REQUEST_CODES:
            # GraphQL's own refusal of the request: nothing ran.
            assert "path" not in error and body.get("data") is None, short(error)
        else:
            assert code in TOP_LEVEL_CODES, short(error)
    _check_payloads(body.get("data"))


def _check_payloads(data: Any) -> None:
    if not isinstance(data, dict):
        return
    for value in data.values():
        if isinstance(value, dict) and "userErrors" in value:
            for error in value["userErrors"]:
                assert error["code"] in ERROR_CODES, error
                assert isinstance(error["message"], str) and error["message"], error
                _assert_no_leak(error["message"])
                assert error["field"] is None or all(isinstance(p, str) for p in error["field"]), error
            if value["userErrors"]:
                others = {k: v for k, v in value.items() if k != "userErrors"}
                assert all(v is None for v in others.values()), f"object beside userErrors: {others}"


@dataclass
class Answer:
    """A checked response: success, or the problem (code, field) it was rejected for."""

    body: dict[str, Any]
    payload: dict[str, Any] | None = None
    problem: Problem | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


async def post(
    http: httpx.AsyncClient, document: str, variables: dict[str, Any], caller: Login | None
) -> Any:
    """POST a request and check its answer; None when the body was too large (413).

    UTF-8 where possible; unpaired surrogates go out as JSON escapes; NaN and Infinity as Python
    writes them (its JSON parser on the server accepts them).
    """
    headers = {"Content-Type": "application/json"}
    if caller is not None:
        headers["Authorization"] = f"Bearer {caller.token}"
    request = {"query": document, "variables": variables}
    try:
        content = json.dumps(request, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        content = json.dumps(request).encode()
    response = await http.post("/graphql", content=content, headers=headers)
    if len(content) > get_settings().max_body_bytes:
        assert response.status_code == 413, (response.status_code, response.text[:500])
        return None
    assert response.status_code == 200, (response.status_code, response.text[:500])
    body = response.json()
    check_well_formed(body)
    return body


async def call(
    http: httpx.AsyncClient, document: str, variables: dict[str, Any], caller: Login | None, name: str
) -> Answer:
    """Run one operation and tell success from rejection."""
    body = await post(http, document, variables, caller)
    if body is None:
        return Answer({}, problem=TOO_LARGE)
    errors = body.get("errors")
    if errors:
        code = (errors[0].get("extensions") or {}).get("code")
        code = GRAPHQL if code in REQUEST_CODES else code
        return Answer(body, problem=(code, None))
    payload = body["data"][name]
    if isinstance(payload, dict) and payload.get("userErrors"):
        first = payload["userErrors"][0]
        return Answer(body, payload, (first["code"], tuple(first["field"]) if first["field"] else None))
    return Answer(body, payload)


def settle(expect: Expect, answer: Answer, before: State, after: State, variables: dict[str, Any]) -> None:
    """A rejection changed nothing and named a real problem; a verdict of the oracle was kept."""
    context = f"variables={short(variables)} answer={short(answer.body)}"
    event("ok" if answer.ok else f"rejected: {answer.problem[0]} {answer.problem[1] or ''}")
    if not answer.ok:
        assert after == before, f"changed despite {answer.problem}: {context}"
    if answer.problem == TOO_LARGE:
        return  # the transport's limit comes before any judgement of the input
    if expect.ok is True:
        assert answer.ok, f"valid input rejected: {context}"
    elif expect.ok is False:
        assert not answer.ok, f"invalid input accepted: {context}"
    if not answer.ok and expect.problems:
        assert answer.problem in expect.problems, f"expected one of {set(expect.problems)}: {context}"


# ---------------------------------------------------------------------------------------------
# The world every fuzzed call acts on
# ---------------------------------------------------------------------------------------------


@dataclass(repr=False)
class World:
    """Two customers with their people, services, requests, tokens and notifications."""

    admin: Login
    a_admin: Login
    a_user: Login
    b_user: Login
    a: Customer
    b: Customer
    priced: Service

    @property
    def logins(self) -> list[Login]:
        """Everybody who can log in."""
        return [self.admin, self.a_admin, self.a_user, self.b_user]

    def __repr__(self) -> str:
        return "World()"


# Who calls: mostly the catalog administrator, sometimes another role or nobody.
CALLERS = st.sampled_from(["admin"] * 5 + ["a_admin", "a_user", "b_user", "anonymous"])
SIGNED_IN = st.sampled_from(["admin", "admin", "a_admin", "a_user", "b_user"])


def caller_of(world: World, who: str) -> Login | None:
    """The login a drawn caller name stands for (None: anonymous)."""
    return None if who == "anonymous" else getattr(world, who)


async def fresh_request(world: World, data: st.DataObject) -> None:
    """Now and then a new REQUESTED request, so that transitions keep something to move."""
    if data.draw(st.booleans(), label="fresh request"):
        who = caller_of(world, data.draw(st.sampled_from(["a_user", "a_admin", "b_user"]), label="by"))
        customer = world.b if who is world.b_user else world.a
        await service_requests.request_service(who.actor, customer.id, world.priced.id, 1, None)
