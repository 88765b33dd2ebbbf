"""Every argument of every mutation (and `first`, `after`, `search`, `id` of the queries), fuzzed.

What every call must answer, decided here:
- HTTP 200 with a GraphQL body; 413 for a body above CREDITS_MAX_BODY_BYTES; 400 for a body that is
  not a GraphQL request (not JSON, not an object, `query` not a string, `variables` not an object,
  a JSON number Python refuses to read). Never a 500.
- A rejection is either a contract code in `userErrors` (with the `field` of a real problem), or a
  top-level error with our `extensions.code` (UNAUTHENTICATED, FORBIDDEN, INVALID_INPUT), or GraphQL's
  own validation/coercion error of the request (no path, `data` null). Never "Unexpected error.",
  never a stack trace or a database's words.
- A rejected call leaves every customer's balance and ledger, and every other table, as they were.
- A call succeeds only where its input really is valid, and then it did exactly what it should.

The rules the oracles below state (beyond API.md): text is stored as given (names and emails
stripped) and must not contain NUL or unpaired surrogates, which no database column can hold;
names are 1-200 characters, notes and reasons at most 1000, idempotency keys 1-255; emails are
unique after NFKC normalisation and case folding, and both the address and its folded key fit in
254 characters.

Hypothesis drives the in-process app: pytest-asyncio 1.x runs `@given` async tests on the session
loop, so no server process is needed, and an exception escaping the app (what uvicorn would answer
500) fails the test through httpx's ASGI transport. Each example reads the whole database before
and after its call. Strategies never depend on the database (Hypothesis replays them): they draw
`Known` placeholders that `realise` turns into the ids, emails and cursors of the moment.
Examples per test: CREDITS_HYPOTHESIS_EXAMPLES (default 40; about a minute on SQLite).
"""

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
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from models import accounts, catalog, service_requests
from models.alerts import CreditAlert
from models.customer import Customer
from models.idempotency import IdempotencyRecord
from models.ledger import CreditTransaction
from models.notification import AlertKind, Notification
from models.outbox import EmailOutbox
from models.platform import credit_management_enabled
from models.service import Service, ServiceRequest
from models.user import ApiToken, Role, User
from settings import Settings, get_settings
from tests.factories import (
    PASSWORD,
    Login,
    make_service,
    make_user,
    make_world,
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
GRAPHQL = "GRAPHQL"  # a validation/coercion error of the request: no extensions.code
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


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 400 else text[:400] + f"... ({len(text)} characters)"


def _assert_no_leak(text: str) -> None:
    assert text != MASKED, "an unexpected error was masked"
    for marker in LEAKS:
        assert marker not in text, f"internal detail {marker!r} in {_short(text)}"


def check_well_formed(body: Any) -> None:
    """A GraphQL response; coded errors only; nothing masked; no internals; userErrors well formed."""
    assert isinstance(body, dict) and set(body) <= {"data", "errors", "extensions"}, _short(body)
    assert "data" in body or "errors" in body
    for error in body.get("errors") or []:
        assert isinstance(error.get("message"), str) and error["message"], error
        _assert_no_leak(error["message"])
        _assert_no_leak(json.dumps(error.get("extensions") or {}))
        code = (error.get("extensions") or {}).get("code")
        if code is None:
            # GraphQL's own refusal of the request: nothing ran.
            assert "path" not in error and body.get("data") is None, _short(error)
        else:
            assert code in TOP_LEVEL_CODES, _short(error)
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
        code = (errors[0].get("extensions") or {}).get("code") or GRAPHQL
        return Answer(body, problem=(code, None))
    payload = body["data"][name]
    if isinstance(payload, dict) and payload.get("userErrors"):
        first = payload["userErrors"][0]
        return Answer(body, payload, (first["code"], tuple(first["field"]) if first["field"] else None))
    return Answer(body, payload)


def settle(expect: Expect, answer: Answer, before: State, after: State, variables: dict[str, Any]) -> None:
    """A rejection changed nothing and named a real problem; a verdict of the oracle was kept."""
    context = f"variables={_short(variables)} answer={_short(answer.body)}"
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


@pytest.fixture
async def world() -> World:
    """Credit management on, customers A (100, threshold 150: a notification) and B (50), requests."""
    base = await make_world(price="10.00", service_name="Priced")
    admin, priced = base.admin, base.service
    a = (await base.add("a", "Acme Ünïcode 50% off_co", balance=100, admins=0, end_users=0)).customer
    b = (await base.add("b", "Beta Ελληνικά", balance=50, admins=0)).customer
    b_user = base.tenants["b"].end_user
    await base.add("gamma", "Gamma 100% Ltd", admins=0, end_users=0)
    await base.add("delta", "delta_ops", admins=0, end_users=0)
    a_admin = await make_user(Role.CUSTOMER_ADMIN, a, email="Ops.Admin@Example.com")
    a_user = await make_user(Role.END_USER, a, email="straße@example.com")
    free = await make_service("0.00", "Free")
    unpriced = await make_service(None, "Unpriced")
    for service in (priced, priced, free, unpriced):
        await service_requests.request_service(a_user.actor, a.id, service.id, 1, None)
    await service_requests.request_service(a_admin.actor, a.id, priced.id, 2, None)
    await service_requests.request_service(b_user.actor, b.id, priced.id, 1, None)
    await accounts.create_api_token(admin.actor, "ci")
    await accounts.create_api_token(a_user.actor, "laptop")
    await catalog.set_alert_threshold(a.id, 150_00)
    await a.refresh_from_db()
    await b.refresh_from_db()
    return World(admin, a_admin, a_user, b_user, a, b, priced)


async def fresh_request(world: World, data: st.DataObject) -> None:
    """Now and then a new REQUESTED request, so that transitions keep something to move."""
    if data.draw(st.booleans(), label="fresh request"):
        who = caller_of(world, data.draw(st.sampled_from(["a_user", "a_admin", "b_user"]), label="by"))
        customer = world.b if who is world.b_user else world.a
        await service_requests.request_service(who.actor, customer.id, world.priced.id, 1, None)


# ---------------------------------------------------------------------------------------------
# Accounts: login, API tokens, users
# ---------------------------------------------------------------------------------------------


@FUZZ
@given(data=st.data())
async def test_login_fuzzed(
    data: st.DataObject, http: httpx.AsyncClient, world: World, settings: Settings, monkeypatch
) -> None:
    """Any email and password: a token only for an active user's own credentials, else INVALID_CREDENTIALS."""
    # given: throttling out of the way (every rejection here is a failed login), and the users' emails
    monkeypatch.setattr(settings, "login_max_failures_per_email_and_address", 10**9)
    monkeypatch.setattr(settings, "login_max_failures_per_email", 10**9)
    monkeypatch.setattr(settings, "login_max_failures_per_address", 10**9)
    before = await read_state()
    pools = pools_of(before)
    spellings = (as_is, str.upper, padded, str.casefold, decomposed, nul_after)
    email = realise(data.draw(valid_or(known("emails", *spellings)), label="email"), pools)
    wrong = st.sampled_from([PASSWORD + "\x00", PASSWORD.upper(), PASSWORD + "\ud800", " " + PASSWORD])
    password = data.draw(valid_or(st.just(PASSWORD), wrong | TEXT), label="password")
    variables = vars_of(email=email, password=password)
    try:
        as_str(email), as_str(password)
        folded = fold_email(email)
        users = [u for u in before.users.values() if u[1] == folded]
        expect = (
            ACCEPT
            if users and users[0][5] and password == PASSWORD
            else reject(("INVALID_CREDENTIALS", None))
        )
    except NotGraphQL:
        expect = REQUEST_ERROR

    # when: logging in
    answer = await call(http, LOGIN, variables, None, "login")

    # then: a session for exactly that user, or a rejection that changed nothing
    after = await read_state()
    settle(expect, answer, before, after, variables)
    if answer.ok:
        assert answer.payload["token"] and answer.payload["expiresAt"]
        assert fold_email(answer.payload["user"]["email"]) == fold_email(email)
        assert after == before


@FUZZ
@given(data=st.data())
async def test_create_api_token_fuzzed(data: st.DataObject, http: httpx.AsyncClient, world: World) -> None:
    """Any name from any caller: a token named after the stripped name, or a rejection."""
    # given: a caller and a name
    before = await read_state()
    caller = caller_of(world, data.draw(CALLERS, label="caller"))
    name = data.draw(valid_or(st.text(min_size=1, max_size=30)), label="name")
    variables = vars_of(name=name)
    try:
        as_str(name)
        expect = authorise(before, caller) or from_problems(
            [] if valid_name(name) else [("INVALID_INPUT", ("name",))]
        )
    except NotGraphQL:
        expect = REQUEST_ERROR

    # when: creating the token
    answer = await call(http, CREATE_API_TOKEN, variables, caller, "createApiToken")

    # then: one new token of the caller, named as asked
    after = await read_state()
    settle(expect, answer, before, after, variables)
    if answer.ok:
        assert answer.payload["token"].startswith("crd_")
        assert new_rows(before.tokens, after.tokens) == {
            answer.payload["apiToken"]["id"]: (str(caller.user.id), name.strip(), None)
        }
        assert_only(before, after, "tokens")


@FUZZ
@given(data=st.data())
async def test_revoke_api_token_fuzzed(data: st.DataObject, http: httpx.AsyncClient, world: World) -> None:
    """Ids of tokens, of other objects, or none at all: only the owner or a catalog admin revokes."""
    # given: a caller and an id
    before = await read_state()
    caller = caller_of(world, data.draw(CALLERS, label="caller"))
    raw = realise(
        data.draw(valid_or(known("tokens"), id_values("tokens")), label="id"),
        pools_of(before, tokens=sorted(before.tokens)),
    )
    variables = vars_of(id=raw)
    try:
        token_id = resolve(as_id(raw))
        token = before.tokens.get(token_id) if token_id else None
        visible = (
            token is not None
            and caller is not None
            and (caller.user.role == Role.CATALOG_ADMIN or token[0] == str(caller.user.id))
        )
        expect = authorise(before, caller) or from_problems([] if visible else [("NOT_FOUND", ("id",))])
    except NotGraphQL:
        expect = REQUEST_ERROR

    # when: revoking
    answer = await call(http, REVOKE_API_TOKEN, variables, caller, "revokeApiToken")

    # then: that token is revoked (once: a repeat keeps the first time), nothing else
    after = await read_state()
    settle(expect, answer, before, after, variables)
    if answer.ok:
        assert answer.payload["apiToken"]["id"] == token_id
        assert after.tokens[token_id][2] is not None
        if before.tokens[token_id][2] is not None:
            assert after.tokens[token_id] == before.tokens[token_id]
        assert {k: v for k, v in after.tokens.items() if k != token_id} == {
            k: v for k, v in before.tokens.items() if k != token_id
        }
        assert_only(before, after, "tokens")


def judge_create_user(state: State, caller: Login | None, value: Any) -> Expect:
    """createUser's rules: who may, which customer, and every field's value."""
    try:
        fields = as_input(value, {"email", "name", "role", "customerId", "password"})
        email, name, password = (as_str(fields[k]) for k in ("email", "name", "password"))
        role = fields["role"]
        if not isinstance(role, str) or role not in {r.value for r in Role}:
            raise NotGraphQL
        customer_raw = as_id(fields["customerId"], nullable=True)
    except NotGraphQL:
        return REQUEST_ERROR
    denied = authorise(state, caller, Role.CATALOG_ADMIN, Role.CUSTOMER_ADMIN)
    if denied:
        return denied
    if caller.user.role == Role.CUSTOMER_ADMIN and role == Role.CATALOG_ADMIN:
        return reject(("FORBIDDEN", None))
    problems: list[Problem] = []
    customer_field = ("input", "customerId")
    customer = resolve(customer_raw)
    if customer_raw is not None and customer is None:
        problems.append(("NOT_FOUND", customer_field))
    if caller.user.role == Role.CUSTOMER_ADMIN:
        if customer_raw is None:
            customer = own_customer(caller)
        elif customer is not None and customer != own_customer(caller):
            problems.append(("NOT_FOUND", customer_field))
    if role == Role.CATALOG_ADMIN and customer is not None:
        problems.append(("INVALID_INPUT", customer_field))
    if role != Role.CATALOG_ADMIN:
        if customer_raw is None and customer is None:
            problems.append(("INVALID_INPUT", customer_field))
        elif customer is not None and customer not in state.customers:
            problems.append(("NOT_FOUND", customer_field))
    stripped = email.strip()
    folded = fold_email(email)
    if not (
        re.fullmatch(r"[^@\s]+@[^@\s]+", stripped)
        and len(stripped) <= 254
        and len(folded) <= 254
        and storable(stripped)
    ):
        problems.append(("INVALID_INPUT", ("input", "email")))
    elif folded in {u[1] for u in state.users.values()}:
        problems.append(("INVALID_INPUT", ("input", "email")))
    if not valid_name(name):
        problems.append(("INVALID_INPUT", ("input", "name")))
    if len(password) < 8 or not storable(password):
        problems.append(("INVALID_INPUT", ("input", "password")))
    return from_problems(problems)


# A role and its customer, drawn together so that valid pairs are common; or each fuzzed apart.
ROLE_AND_CUSTOMER = st.one_of(
    st.fixed_dictionaries({"role": st.just("CATALOG_ADMIN"), "customerId": st.sampled_from([ABSENT, None])}),
    st.fixed_dictionaries(
        {"role": st.sampled_from(["CUSTOMER_ADMIN", "END_USER"]), "customerId": known("customers")}
    ),
    st.fixed_dictionaries(
        {
            "role": valid_or(
                st.sampled_from([r.value for r in Role]), st.sampled_from(["catalog_admin", "ROOT", ""])
            ),
            "customerId": valid_or(known("customers") | st.none(), id_values("customers")),
        }
    ),
)


@FUZZ
@given(data=st.data())
async def test_create_user_fuzzed(data: st.DataObject, http: httpx.AsyncClient, world: World) -> None:
    """Every field of CreateUserInput fuzzed, by catalog and customer administrators (and others)."""
    # given: a caller and an input
    before = await read_state()
    caller = caller_of(world, data.draw(CALLERS, label="caller"))
    local = st.one_of(st.from_regex(r"[a-z0-9.]{1,20}", fullmatch=True), TEXT)
    valid_email = st.builds(
        lambda a, n: f"{a}.{n}@example.com",
        st.from_regex(r"[a-z0-9]{1,20}", fullmatch=True),
        st.integers(0, 10**9),
    )
    email = st.one_of(
        st.builds(
            lambda a, b: f"{a}@{b}", local, st.sampled_from(["example.com", "ÉXAMPLE.com", "x", "ß.de"])
        ),
        known("emails", str.upper, padded, decomposed),
        st.sampled_from(["İ" * 200 + "@example.com", "ﷺ" * 20 + "@example.com", "a@" + "b" * 252]),
        TEXT,
    )
    value = data.draw(
        input_of(
            {
                "email": valid_or(valid_email, email),
                "name": valid_or(st.text(min_size=1, max_size=30)),
                "password": valid_or(st.text(min_size=8, max_size=20)),
            },
            ROLE_AND_CUSTOMER,
        ),
        label="input",
    )
    value = realise(value, pools_of(before))
    variables = vars_of(input=value)
    expect = judge_create_user(before, caller, value)

    # when: creating the user
    answer = await call(http, CREATE_USER, variables, caller, "createUser")

    # then: exactly one new user, as asked
    after = await read_state()
    settle(expect, answer, before, after, variables)
    if answer.ok:
        user = answer.payload["user"]
        customer = (user["customer"] or {}).get("id")
        asked = resolve(as_id(value.get("customerId", ABSENT), nullable=True))
        assert customer == (asked or (own_customer(caller) if value["role"] != "CATALOG_ADMIN" else None))
        assert new_rows(before.users, after.users) == {
            user["id"]: (
                value["email"].strip(),
                fold_email(value["email"]),
                value["name"].strip(),
                value["role"],
                customer,
                True,
            )
        }
        assert_only(before, after, "users")


@FUZZ
@given(data=st.data())
async def test_set_user_active_fuzzed(data: st.DataObject, http: httpx.AsyncClient, world: World) -> None:
    """Any id and any `active`: only users the caller manages change, and never oneself to inactive."""
    # given: a caller, an id and a flag
    before = await read_state()
    caller = caller_of(world, data.draw(CALLERS, label="caller"))
    raw = realise(
        data.draw(valid_or(known("users"), id_values("users")), label="id"),
        pools_of(before, users=sorted(before.users)),
    )
    active = data.draw(valid_or(st.booleans(), JUNK), label="active")
    variables = vars_of(id=raw, active=active)
    try:
        target_id = resolve(as_id(raw))
        as_bool(active)
        expect = authorise(before, caller, Role.CATALOG_ADMIN, Role.CUSTOMER_ADMIN)
        if expect is None:
            target = before.users.get(target_id) if target_id else None
            manages = target is not None and (
                caller.user.role == Role.CATALOG_ADMIN
                or (target[3] != Role.CATALOG_ADMIN and target[4] == own_customer(caller))
            )
            if not manages:
                expect = reject(("NOT_FOUND", ("id",)))
            elif target_id == str(caller.user.id) and not active:
                expect = reject(("INVALID_INPUT", ("active",)))
            else:
                expect = ACCEPT
    except NotGraphQL:
        expect = REQUEST_ERROR

    # when: (de)activating
    answer = await call(http, SET_USER_ACTIVE, variables, caller, "setUserActive")

    # then: only that user's flag is as asked; a deactivation also revoked that user's API tokens
    after = await read_state()
    settle(expect, answer, before, after, variables)
    if answer.ok:
        assert after.users[target_id] == (*before.users[target_id][:5], active)
        assert {k: v for k, v in after.users.items() if k != target_id} == {
            k: v for k, v in before.users.items() if k != target_id
        }
        deactivated = before.users[target_id][5] and not active
        for token_id, (user_id, name, revoked_at) in after.tokens.items():
            if deactivated and str(user_id) == target_id and before.tokens[token_id][2] is None:
                assert revoked_at is not None and before.tokens[token_id][:2] == (user_id, name)
            else:
                assert before.tokens[token_id] == (user_id, name, revoked_at)
        assert_only(before, after, "users", "tokens")
        if deactivated:
            await _log_in_again(world, target_id)


async def _log_in_again(world: World, user_id: str) -> None:
    """A deactivation killed the user's tokens for good: its login in the world gets a new one."""
    for login in world.logins:
        if str(login.user.id) == user_id:
            await login.user.refresh_from_db(fields=["token_generation"])
            login.token = accounts.issue_jwt(login.user).token


# ---------------------------------------------------------------------------------------------
# Catalog: credit switch, customers, services, prices, thresholds
# ---------------------------------------------------------------------------------------------


@FUZZ
@given(data=st.data())
async def test_set_credit_management_fuzzed(
    data: st.DataObject, http: httpx.AsyncClient, world: World
) -> None:
    """Only a JSON boolean from a catalog administrator switches credit management."""
    # given: a caller and a value
    before = await read_state()
    caller = caller_of(world, data.draw(CALLERS, label="caller"))
    enabled = data.draw(valid_or(st.booleans(), JUNK), label="enabled")
    variables = vars_of(enabled=enabled)
    try:
        as_bool(enabled)
        expect = authorise(before, caller, Role.CATALOG_ADMIN) or ACCEPT
    except NotGraphQL:
        expect = REQUEST_ERROR

    # when: switching
    answer = await call(http, SET_CREDIT_MANAGEMENT, variables, caller, "setCreditManagement")

    # then: the switch is as asked, nothing else moved
    after = await read_state()
    settle(expect, answer, before, after, variables)
    if answer.ok:
        assert answer.payload["creditSettings"] == {"creditManagementEnabled": enabled}
        assert after.credits_enabled is enabled
        assert_only(before, after, "credits_enabled")


@FUZZ
@given(data=st.data())
async def test_create_customer_fuzzed(data: st.DataObject, http: httpx.AsyncClient, world: World) -> None:
    """Any name: a customer with a zero balance under the stripped name, or a rejection."""
    # given: a caller and an input
    before = await read_state()
    caller = caller_of(world, data.draw(CALLERS, label="caller"))
    value = data.draw(input_of({"name": valid_or(st.text(min_size=1, max_size=30))}), label="input")
    variables = vars_of(input=value)
    try:
        name = as_str(as_input(value, {"name"})["name"])
        expect = authorise(before, caller, Role.CATALOG_ADMIN) or from_problems(
            [] if valid_name(name) else [("INVALID_INPUT", ("input", "name"))]
        )
    except NotGraphQL:
        expect = REQUEST_ERROR

    # when: creating the customer
    answer = await call(http, CREATE_CUSTOMER, variables, caller, "createCustomer")

    # then: one new customer, empty ledger
    after = await read_state()
    settle(expect, answer, before, after, variables)
    if answer.ok:
        customer = answer.payload["customer"]
        assert customer["balance"] == "0.00" and customer["alertThreshold"] is None
        assert new_rows(before.customers, after.customers) == {
            customer["id"]: (name.strip(), 0, 0, None, False, False)
        }
        assert_only(before, after, "customers")


@FUZZ
@given(data=st.data())
async def test_create_service_fuzzed(data: st.DataObject, http: httpx.AsyncClient, world: World) -> None:
    """Any name and any Decimal-ish price: a price is >= 0 or null (not chargeable)."""
    # given: a caller and an input
    before = await read_state()
    caller = caller_of(world, data.draw(CALLERS, label="caller"))
    value = data.draw(
        input_of(
            {
                "name": valid_or(st.text(min_size=1, max_size=30)),
                "creditPrice": valid_or(VALID_AMOUNT | st.none(), DECIMALISH),
            }
        ),
        label="input",
    )
    variables = vars_of(input=value)
    try:
        fields = as_input(value, {"name", "creditPrice"})
        name = as_str(fields["name"])
        price = as_decimal(fields["creditPrice"], nullable=True)
        expect = authorise(before, caller, Role.CATALOG_ADMIN)
        if expect is None:
            problems: list[Problem] = []
            if not valid_name(name):
                problems.append(("INVALID_INPUT", ("input", "name")))
            cents = None if price is None else amount_cents(price)
            if price is not None and (cents is None or cents < 0):
                problems.append(("INVALID_AMOUNT", ("input", "creditPrice")))
            expect = from_problems(problems)
    except NotGraphQL:
        expect = REQUEST_ERROR

    # when: creating the service
    answer = await call(http, CREATE_SERVICE, variables, caller, "createService")

    # then: one new service at that exact price
    after = await read_state()
    settle(expect, answer, before, after, variables)
    if answer.ok:
        service = answer.payload["service"]
        assert service["creditPrice"] == (None if cents is None else money(cents))
        assert new_rows(before.services, after.services) == {service["id"]: (name.strip(), cents)}
        assert_only(before, after, "services")


@FUZZ
@given(data=st.data())
async def test_set_service_price_fuzzed(data: st.DataObject, http: httpx.AsyncClient, world: World) -> None:
    """Any service id and any Decimal-ish price: earlier requests keep what they were charged."""
    # given: a caller, an id and a price
    before = await read_state()
    caller = caller_of(world, data.draw(CALLERS, label="caller"))
    raw = realise(
        data.draw(valid_or(known("services"), id_values("services")), label="serviceId"), pools_of(before)
    )
    price = data.draw(valid_or(VALID_AMOUNT | st.none(), DECIMALISH), label="creditPrice")
    variables = vars_of(serviceId=raw, creditPrice=price)
    try:
        service_id = resolve(as_id(raw))
        as_decimal(price, nullable=True)
        expect = authorise(before, caller, Role.CATALOG_ADMIN)
        if expect is None:
            problems: list[Problem] = []
            cents = None if price in (None, ABSENT) else amount_cents(price)
            if price not in (None, ABSENT) and (cents is None or cents < 0):
                problems.append(("INVALID_AMOUNT", ("creditPrice",)))
            if service_id not in before.services:
                problems.append(("NOT_FOUND", ("serviceId",)))
            expect = from_problems(problems)
    except NotGraphQL:
        expect = REQUEST_ERROR

    # when: changing the price
    answer = await call(http, SET_SERVICE_PRICE, variables, caller, "setServicePrice")

    # then: that service's price, and nothing else
    after = await read_state()
    settle(expect, answer, before, after, variables)
    if answer.ok:
        assert answer.payload["service"]["creditPrice"] == (None if cents is None else money(cents))
        assert after.services[service_id] == (before.services[service_id][0], cents)
        assert_only(before, after, "services")


@FUZZ
@given(data=st.data())
async def test_set_credit_alert_fuzzed(data: st.DataObject, http: httpx.AsyncClient, world: World) -> None:
    """Any customer id and any Decimal-ish threshold (negative allowed, null turns it off)."""
    # given: a caller and an input
    before = await read_state()
    caller = caller_of(world, data.draw(CALLERS, label="caller"))
    value = data.draw(
        input_of(
            {
                "customerId": valid_or(known("customers"), id_values("customers")),
                "threshold": valid_or(VALID_AMOUNT | st.none(), DECIMALISH),
            }
        ),
        label="input",
    )
    value = realise(value, pools_of(before))
    variables = vars_of(input=value)
    try:
        fields = as_input(value, {"customerId", "threshold"})
        customer_id = resolve(as_id(fields["customerId"]))
        threshold = as_decimal(fields["threshold"], nullable=True)
        expect = authorise(before, caller, Role.CATALOG_ADMIN, Role.CUSTOMER_ADMIN)
        if expect is None:
            problems: list[Problem] = []
            if customer_id not in before.customers or not may_access(caller, customer_id):
                problems.append(("NOT_FOUND", ("input", "customerId")))
            cents = None if threshold is None else amount_cents(threshold)
            if threshold is not None and cents is None:
                problems.append(("INVALID_AMOUNT", ("input", "threshold")))
            expect = from_problems(problems)
    except NotGraphQL:
        expect = REQUEST_ERROR

    # when: setting the threshold
    answer = await call(http, SET_CREDIT_ALERT, variables, caller, "setCreditAlert")

    # then: that customer's threshold; only its alert state may follow
    after = await read_state()
    settle(expect, answer, before, after, variables)
    if answer.ok:
        assert answer.payload["customer"]["alertThreshold"] == (None if cents is None else money(cents))
        name, balance, sequence = before.customers[customer_id][:3]
        assert after.customers[customer_id][:4] == (name, balance, sequence, cents)
        others = {k: v for k, v in after.customers.items() if k != customer_id}
        assert others == {k: v for k, v in before.customers.items() if k != customer_id}
        assert_only(before, after, "customers", *ALERT_TABLES)


# ---------------------------------------------------------------------------------------------
# Credits: grants and withdrawals
# ---------------------------------------------------------------------------------------------


def judge_balance_change(state: State, caller: Login | None, operation: str, value: Any) -> Expect:
    """grantCredits/withdrawCredits: an existing customer, an amount > 0, a note, a key; replays."""
    try:
        fields = as_input(value, {"customerId", "amount", "note", "idempotencyKey"})
        customer_id = resolve(as_id(fields["customerId"]))
        amount = as_decimal(fields["amount"])
        note = as_str(fields["note"], nullable=True)
        key = as_str(fields["idempotencyKey"], nullable=True)
    except NotGraphQL:
        return REQUEST_ERROR
    denied = authorise(state, caller, Role.CATALOG_ADMIN)
    if denied:
        return denied
    problems: list[Problem] = []
    if customer_id not in state.customers:
        problems.append(("NOT_FOUND", ("input", "customerId")))
    cents = amount_cents(amount)
    if cents is None or cents <= 0:
        problems.append(("INVALID_AMOUNT", ("input", "amount")))
    if not valid_note(note):
        problems.append(("INVALID_INPUT", ("input", "note")))
    if not valid_key(key):
        problems.append(("INVALID_INPUT", ("input", "idempotencyKey")))
    if not state.credits_enabled:
        problems.append(("CREDIT_MANAGEMENT_DISABLED", None))
    prior = state.keys.get((str(caller.user.id), operation, key)) if valid_key(key) and key else None
    if problems:
        # The key is looked up before the customer is: a used key with other arguments conflicts first.
        return reject(*problems, *([CONFLICT] if prior else []))
    if prior is not None:
        entry = state.entries[prior]
        if (entry[0], abs(entry[3]), entry[5]) == (customer_id, cents, note):
            return Expect(True, replay_of=prior)
        return reject(CONFLICT)
    return ACCEPT


@pytest.mark.parametrize(
    ("operation", "document", "sign"), [("grantCredits", GRANT, 1), ("withdrawCredits", WITHDRAW, -1)]
)
@FUZZ
@given(data=st.data())
async def test_balance_changes_fuzzed(
    operation: str, document: str, sign: int, data: st.DataObject, http: httpx.AsyncClient, world: World
) -> None:
    """Every field of BalanceChangeInput fuzzed: one exact ledger entry, a replay, or nothing at all."""
    # given: a caller and an input (small pools of amounts and keys, so that repeats happen)
    before = await read_state()
    caller = caller_of(world, data.draw(CALLERS, label="caller"))
    value = data.draw(
        input_of(
            {
                "customerId": valid_or(known("customers"), id_values("customers")),
                "amount": valid_or(VALID_AMOUNT, DECIMALISH),
                "note": valid_or(st.sampled_from([None, "top-up"]) | st.text(max_size=50), TEXT),
                "idempotencyKey": valid_or(st.sampled_from([None, "k1", "k2"]), TEXT),
            }
        ),
        label="input",
    )
    value = realise(value, pools_of(before))
    variables = vars_of(input=value)
    expect = judge_balance_change(before, caller, operation, value)

    # when: granting or withdrawing
    answer = await call(http, document, variables, caller, operation)

    # then: a replay changed nothing; a new change is exactly one entry of the asked amount
    after = await read_state()
    settle(expect, answer, before, after, variables)
    if answer.ok and expect.replay_of:
        assert answer.payload["transaction"]["id"] == expect.replay_of
        assert after == before
    elif answer.ok:
        customer_id = resolve(as_id(value["customerId"]))
        cents = amount_cents(value["amount"]) * sign
        note = value.get("note")
        name, balance, sequence = before.customers[customer_id][:3]
        transaction = answer.payload["transaction"]
        assert new_rows(before.entries, after.entries) == {
            transaction["id"]: (
                customer_id,
                sequence + 1,
                "GRANT" if sign > 0 else "WITHDRAWAL",
                cents,
                balance + cents,
                note,
                None,
            )
        }
        assert transaction["amount"] == money(cents) and transaction["note"] == note
        assert answer.payload["customer"]["balance"] == money(balance + cents)
        assert after.customers[customer_id][:3] == (name, balance + cents, sequence + 1)
        assert {k: v for k, v in after.customers.items() if k != customer_id} == {
            k: v for k, v in before.customers.items() if k != customer_id
        }
        assert_only(before, after, "customers", "entries", "keys", *ALERT_TABLES)


# ---------------------------------------------------------------------------------------------
# Service requests: request, cancel, complete, fail, reject
# ---------------------------------------------------------------------------------------------


def judge_request_service(state: State, caller: Login | None, value: Any) -> tuple[Expect, dict[str, Any]]:
    """requestService: a service, a quantity >= 1, the caller's own customer (or any, for admins)."""
    try:
        fields = as_input(value, {"serviceId", "quantity", "customerId", "idempotencyKey"})
        service_id = resolve(as_id(fields["serviceId"]))
        quantity = as_int(fields["quantity"], nullable=True, default=1)
        customer_raw = as_id(fields["customerId"], nullable=True)
        key = as_str(fields["idempotencyKey"], nullable=True)
    except NotGraphQL:
        return REQUEST_ERROR, {}
    denied = authorise(state, caller)
    if denied:
        return denied, {}
    problems: list[Problem] = []
    customer_field = ("input", "customerId")
    customer_id = resolve(customer_raw) if customer_raw is not None else own_customer(caller)
    if customer_raw is None and customer_id is None:
        problems.append(("INVALID_INPUT", customer_field))
    elif customer_id is None or customer_id not in state.customers or not may_access(caller, customer_id):
        problems.append(("NOT_FOUND", customer_field))
    if service_id not in state.services:
        problems.append(("NOT_FOUND", ("input", "serviceId")))
    if not valid_key(key):
        problems.append(("INVALID_INPUT", ("input", "idempotencyKey")))
    quantity = 1 if quantity is None else quantity
    if quantity < 1:
        problems.append(("INVALID_INPUT", ("input", "quantity")))
    price = (state.services[service_id][1] or 0) if service_id in state.services else 0
    if price * quantity >= LIMIT_CENTS:
        problems.append(("INVALID_INPUT", ("input", "quantity")))
    prior = state.keys.get((str(caller.user.id), "requestService", key)) if valid_key(key) and key else None
    if problems:
        # The key is looked up before the service and customer are: other arguments conflict first.
        return reject(*problems, *([CONFLICT] if prior else [])), {}
    details = {"customer": customer_id, "service": service_id, "quantity": quantity, "price": price}
    if prior is not None:
        request = state.requests[prior]
        if (request[0], request[1], request[3]) == (customer_id, service_id, quantity):
            return Expect(True, replay_of=prior), details
        return reject(CONFLICT), details
    return ACCEPT, details


@FUZZ
@given(data=st.data())
async def test_request_service_fuzzed(data: st.DataObject, http: httpx.AsyncClient, world: World) -> None:
    """Every field of RequestServiceInput fuzzed, by every role: one charged request, a replay, or nothing."""
    # given: a caller and an input
    before = await read_state()
    caller = caller_of(world, data.draw(CALLERS, label="caller"))
    value = data.draw(
        input_of(
            {
                "serviceId": valid_or(known("services"), id_values("services")),
                "quantity": valid_or(
                    st.integers(min_value=1, max_value=3) | st.none(),
                    st.integers(min_value=-3, max_value=0)
                    | st.sampled_from([2**31 - 1, 2**31, -(2**31), 10**10, 10**12, 2.0, 2.5]),
                ),
                "customerId": valid_or(
                    st.sampled_from([None, ABSENT]) | known("customers"), id_values("customers")
                ),
                "idempotencyKey": valid_or(st.sampled_from([None, "r1", "r2"]), TEXT),
            }
        ),
        label="input",
    )
    value = realise(value, pools_of(before))
    variables = vars_of(input=value)
    expect, details = judge_request_service(before, caller, value)

    # when: requesting
    answer = await call(http, REQUEST_SERVICE, variables, caller, "requestService")

    # then: a replay changed nothing; a new request charged price × quantity at once (when priced)
    after = await read_state()
    settle(expect, answer, before, after, variables)
    if answer.ok and expect.replay_of:
        assert answer.payload["serviceRequest"]["id"] == expect.replay_of
        assert after == before
    elif answer.ok:
        request = answer.payload["serviceRequest"]
        charged = details["price"] * details["quantity"] if before.credits_enabled else 0
        customer_id = details["customer"]
        assert new_rows(before.requests, after.requests) == {
            request["id"]: (
                customer_id,
                details["service"],
                str(caller.user.id),
                details["quantity"],
                charged,
                "REQUESTED",
                None,
            )
        }
        assert request["amount"] == money(charged)
        entries = new_rows(before.entries, after.entries)
        balance, sequence = before.customers[customer_id][1:3]
        if charged:
            assert list(entries.values()) == [
                (
                    customer_id,
                    sequence + 1,
                    "SERVICE_CHARGE",
                    -charged,
                    balance - charged,
                    None,
                    request["id"],
                )
            ]
        else:
            assert entries == {}
        assert after.customers[customer_id][1] == balance - charged
        assert_only(before, after, "customers", "entries", "requests", "keys", *ALERT_TABLES)


TRANSITIONS = [
    (
        "cancelServiceRequest",
        CANCEL,
        "CANCELLED",
        False,
        (Role.CATALOG_ADMIN, Role.CUSTOMER_ADMIN, Role.END_USER),
    ),
    ("completeServiceRequest", COMPLETE, "COMPLETED", False, (Role.CATALOG_ADMIN,)),
    ("failServiceRequest", FAIL, "FAILED", True, (Role.CATALOG_ADMIN,)),
    ("rejectServiceRequest", REJECT, "REJECTED", True, (Role.CATALOG_ADMIN,)),
]


@pytest.mark.parametrize(("operation", "document", "status", "has_reason", "roles"), TRANSITIONS)
@FUZZ
@given(data=st.data())
async def test_transitions_fuzzed(
    operation: str,
    document: str,
    status: str,
    has_reason: bool,
    roles: tuple[Role, ...],
    data: st.DataObject,
    http: httpx.AsyncClient,
    world: World,
) -> None:
    """Any id (and reason): a visible REQUESTED request moves once and refunds exactly its amount."""
    # given: sometimes a fresh request, then a caller, an id and a reason
    await fresh_request(world, data)
    before = await read_state()
    caller = caller_of(world, data.draw(CALLERS, label="caller"))
    raw = realise(data.draw(valid_or(known("requests"), id_values("requests")), label="id"), pools_of(before))
    reason = data.draw(valid_or(st.sampled_from([None, "out of stock"]), TEXT), label="reason")
    variables = vars_of(id=raw, reason=reason) if has_reason else vars_of(id=raw)
    try:
        request_id = resolve(as_id(raw))
        reason = as_str(reason, nullable=True) if has_reason else None
        expect = authorise(before, caller, *roles)
        if expect is None:
            request = before.requests.get(request_id) if request_id else None
            problems: list[Problem] = []
            if request is None or not may_see_request(caller, request):
                problems.append(("NOT_FOUND", ("id",)))
            elif request[5] != "REQUESTED":
                problems.append(("INVALID_STATE", ("id",)))
            if not valid_note(reason):
                problems.append(("INVALID_INPUT", ("reason",)))
            expect = from_problems(problems)
    except NotGraphQL:
        expect = REQUEST_ERROR

    # when: moving the request
    answer = await call(http, document, variables, caller, operation)

    # then: its final status, and a refund of exactly what it was charged (none on completion)
    after = await read_state()
    settle(expect, answer, before, after, variables)
    if answer.ok:
        customer_id, _, _, _, amount, _, _ = before.requests[request_id]
        assert after.requests[request_id] == (*before.requests[request_id][:5], status, reason)
        assert answer.payload["serviceRequest"]["status"] == status
        entries = new_rows(before.entries, after.entries)
        balance, sequence = before.customers[customer_id][1:3]
        if amount and status != "COMPLETED":
            assert list(entries.values()) == [
                (customer_id, sequence + 1, "REFUND", amount, balance + amount, None, request_id)
            ]
        else:
            assert entries == {}
        assert_only(before, after, "customers", "entries", "requests", *ALERT_TABLES)


# ---------------------------------------------------------------------------------------------
# Notifications
# ---------------------------------------------------------------------------------------------


@FUZZ
@given(data=st.data())
async def test_mark_notifications_read_fuzzed(
    data: st.DataObject, http: httpx.AsyncClient, world: World
) -> None:
    """Any list of ids (or one, or null): exactly the caller's unread ones among them are marked."""
    # given: now and then a new unread notification, then a caller and ids
    if data.draw(st.booleans(), label="new notification"):
        user = caller_of(world, data.draw(SIGNED_IN, label="for"))
        await Notification.create(
            user_id=user.user.id,
            customer_id=world.a.id,
            kind=AlertKind.BELOW_ZERO,
            balance=-100,
            message="Balance below zero",
        )
    before = await read_state()
    caller = caller_of(world, data.draw(CALLERS, label="caller"))
    one_id = id_values("notifications")
    ids = data.draw(
        st.one_of(
            st.just(ABSENT),
            st.none(),
            st.lists(one_id, max_size=5),
            one_id,
            st.lists(JUNK, min_size=1, max_size=2),
            st.just([str(uuid.UUID(int=i)) for i in range(2000)]),
        ),
        label="ids",
    )
    ids = realise(ids, pools_of(before))
    variables = vars_of(ids=ids)
    try:
        wanted = as_id_list(ids)
        expect = authorise(before, caller) or ACCEPT
    except NotGraphQL:
        expect = REQUEST_ERROR

    # when: marking them read
    answer = await call(http, MARK_READ, variables, caller, "markNotificationsRead")

    # then: the count and the rows agree with the caller's unread notifications among the ids
    after = await read_state()
    settle(expect, answer, before, after, variables)
    if answer.ok:
        unread = {
            k
            for k, (user, read) in before.notifications.items()
            if user == str(caller.user.id) and read is None
        }
        marked = unread if wanted is None else unread & {resolve(i) for i in wanted}
        assert answer.payload["count"] == len(marked)
        for key, (_, read) in after.notifications.items():
            assert (read is not None) == (key in marked or before.notifications[key][1] is not None)
        assert_only(before, after, "notifications")


# ---------------------------------------------------------------------------------------------
# Query arguments: first, after, search, id
# ---------------------------------------------------------------------------------------------


def judge_page(first: Any, after: Any, real_cursors: list[str]) -> Expect:
    """`first` is 1…100 (null: 50); `after` is null or a cursor the service gave; else INVALID_INPUT."""
    size = as_int(first, nullable=True, default=50)
    cursor = as_str(after, nullable=True)
    if size is not None and not 1 <= size <= 100:
        return reject(("INVALID_INPUT", None))
    if cursor is None or cursor in real_cursors:
        return ACCEPT
    return Expect(None, frozenset({("INVALID_INPUT", None)}))


def page_size(first: Any) -> int:
    """The page size a valid `first` asks for."""
    size = as_int(first, nullable=True, default=50)
    return 50 if size is None else size


FIRST = valid_or(
    st.integers(min_value=1, max_value=100) | st.none(),
    st.integers(min_value=-2, max_value=102) | st.sampled_from([2**31 - 1, 2**31, -(2**31), 1.0, 1.5]),
)


# Cursors the service gave (pool "cursors"), crafted ones, and anything else.
AFTER = valid_or(known("cursors") | st.none(), CRAFTED_CURSOR | TEXT)


def matches(name: str, search: str) -> bool:
    """Case-insensitive containment, by any of the case mappings a database may use."""
    ascii_upper = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    return any(
        f(search) in f(name) for f in (str.lower, str.upper, str.casefold, lambda s: s.translate(ascii_upper))
    )


@FUZZ
@given(data=st.data())
async def test_customers_query_arguments_fuzzed(
    data: st.DataObject, http: httpx.AsyncClient, world: World
) -> None:
    """customers(first, after, search): a page of matching customers, or a coded top-level error."""
    # given: real cursors, then a caller and the arguments
    admin = world.admin
    page = await post(http, CUSTOMERS_FIRST_PAGE, {"first": 100}, admin)
    real = [edge["cursor"] for edge in page["data"]["customers"]["edges"]]
    before = await read_state()
    caller = caller_of(world, data.draw(CALLERS, label="caller"))
    first = data.draw(FIRST, label="first")
    after = realise(data.draw(AFTER, label="after"), pools_of(before, cursors=real))
    search = data.draw(
        valid_or(st.sampled_from([None, "", "acme", "ÜNÏ", "%", "_", "50% off", "ελλ", "x%", "LTD"]), TEXT),
        label="search",
    )
    variables = vars_of(first=first, after=after, search=search)
    try:
        expect = judge_page(first, after, real)
        text = as_str(search, nullable=True)
        denied = authorise(before, caller, Role.CATALOG_ADMIN)
        if denied:
            expect = denied
        elif text and (len(text) > 200 or not storable(text)):
            expect = reject(("INVALID_INPUT", None))  # no name is longer than 200 characters
    except NotGraphQL:
        expect = REQUEST_ERROR

    # when: listing
    answer = await call(http, CUSTOMERS, variables, caller, "customers")

    # then: at most `first` customers, each matching the search; all of them when nothing limits
    settle(expect, answer, before, await read_state(), variables)
    if answer.ok:
        nodes = answer.payload["nodes"]
        assert len(nodes) <= page_size(first)
        assert all(matches(node["name"], text or "") for node in nodes), (text, nodes)
        if after in (ABSENT, None) and (text or "").isascii():
            expected = {
                k for k, v in before.customers.items() if matches(v[0], text or "") and v[0].isascii()
            }
            assert expected <= {node["id"] for node in nodes} or len(nodes) == page_size(first)
        if after in real:
            position = real.index(after)
            assert not {node["id"] for node in nodes} & {
                edge["node"]["id"] for edge in page["data"]["customers"]["edges"][: position + 1]
            }


@FUZZ
@given(data=st.data())
async def test_customer_and_ledger_arguments_fuzzed(
    data: st.DataObject, http: httpx.AsyncClient, world: World
) -> None:
    """customer(id) { transactions(first, after) }: only a visible customer; a page or INVALID_INPUT."""
    # given: real cursors of A's ledger, then a caller and the arguments
    ledger = await post(http, CUSTOMER_LEDGER, {"id": str(world.a.id), "first": 100}, world.admin)
    real = [edge["cursor"] for edge in ledger["data"]["customer"]["transactions"]["edges"]]
    before = await read_state()
    caller = caller_of(world, data.draw(SIGNED_IN, label="caller"))
    pools = pools_of(before, cursors=real)
    raw = realise(data.draw(st.one_of(st.just(ABSENT), st.none(), id_values("customers")), label="id"), pools)
    first = data.draw(FIRST, label="first")
    after = realise(data.draw(AFTER, label="after"), pools)
    variables = vars_of(id=raw, first=first, after=after)
    try:
        wanted = as_id(raw, nullable=True)
        page_expect = judge_page(first, after, real)
        customer_id = own_customer(caller) if wanted is None else resolve(wanted)
        visible = customer_id in before.customers and may_access(caller, customer_id)
        # End users get an empty ledger whatever they ask; nobody gets another tenant's customer.
        expect = page_expect if visible and caller.user.role != Role.END_USER else ACCEPT
    except NotGraphQL:
        expect = REQUEST_ERROR

    # when: reading the customer and its ledger
    answer = await call(http, CUSTOMER_LEDGER, variables, caller, "customer")

    # then: null for a customer the caller may not see; else newest-first entries of that customer
    settle(expect, answer, before, await read_state(), variables)
    if answer.ok:
        customer = answer.payload
        if not visible:
            assert customer is None
        else:
            assert customer["id"] == customer_id
            nodes = customer["transactions"]["nodes"]
            if caller.user.role == Role.END_USER:
                assert nodes == []
            own = {k for k, v in before.entries.items() if v[0] == customer_id}
            assert {n["id"] for n in nodes} <= own and len(nodes) <= max(page_size(first), 0)
            sequences = [n["sequence"] for n in nodes]
            assert sequences == sorted(sequences, reverse=True)


@FUZZ
@given(data=st.data())
async def test_other_list_arguments_fuzzed(
    data: st.DataObject, http: httpx.AsyncClient, world: World
) -> None:
    """serviceRequests, alerts, notifications (first, after) and serviceRequest(id): never a masked error."""
    # given: real cursors of A's requests and the administrator's notifications, and the arguments
    lists = await post(http, CUSTOMER_LISTS, {"id": str(world.a.id), "first": 100}, world.admin)
    real = [e["cursor"] for e in lists["data"]["customer"]["serviceRequests"]["edges"]]
    real += [e["cursor"] for e in lists["data"]["customer"]["alerts"]["edges"]]
    before = await read_state()
    caller = caller_of(world, data.draw(SIGNED_IN, label="caller"))
    pools = pools_of(before, cursors=real)
    first = data.draw(FIRST, label="first")
    after = realise(data.draw(AFTER, label="after"), pools)
    raw = realise(data.draw(id_values("requests"), label="id"), pools)
    try:
        expect = judge_page(first, after, real)
    except NotGraphQL:
        expect = REQUEST_ERROR

    # when: reading lists and one request
    page = vars_of(first=first, after=after)
    lists_answer = await call(http, CUSTOMER_LISTS, {**page, "id": str(world.a.id)}, world.admin, "customer")
    notes_answer = await call(http, NOTIFICATIONS, page, caller, "notifications")
    request_answer = await call(http, SERVICE_REQUEST, vars_of(id=raw), caller, "serviceRequest")

    # then: pages within `first`, or INVALID_INPUT; a request only when the caller may see it
    after_state = await read_state()
    for answer in (lists_answer, notes_answer):
        settle(expect, answer, before, after_state, page)
    if lists_answer.ok:
        assert len(lists_answer.payload["serviceRequests"]["nodes"]) <= page_size(first)
        assert len(lists_answer.payload["alerts"]["nodes"]) <= page_size(first)
    if notes_answer.ok:
        assert len(notes_answer.payload["nodes"]) <= page_size(first)
    try:
        request_id = resolve(as_id(raw))
        request = before.requests.get(request_id) if request_id else None
        visible = request is not None and may_see_request(caller, request)
        settle(ACCEPT, request_answer, before, after_state, {"id": raw})
        assert (request_answer.payload or {}).get("id") == (request_id if visible else None)
    except NotGraphQL:
        settle(REQUEST_ERROR, request_answer, before, after_state, {"id": raw})


# ---------------------------------------------------------------------------------------------
# Request bodies
# ---------------------------------------------------------------------------------------------

MALFORMED_BODIES = [
    b"",
    b"{",
    b"null",
    b"[]",
    b"42",
    b'"query"',
    b'{"query": 1}',
    b'{"query": ["{ viewer { id } }"]}',
    b'{"query": "{ viewer { id } }", "variables": []}',
    b'{"query": "{ viewer { id } }", "variables": "x"}',
    b'{"query": "{ viewer { id } }", "variables": 1}',
    b"\xff\xfe\x00",
    b'{"query": "\xff"}',
    b'{"query": "{ viewer { id } }", "variables": {"a": ' + b"9" * 5000 + b"}}",
    b"[" * 100_000,
    b'{"query": "{ viewer { id } }", "variables": {"a": ' + b"[" * 50_000 + b"]" * 50_000 + b"}}",
]


@pytest.mark.parametrize("body", MALFORMED_BODIES, ids=lambda b: _short(b)[:40])
async def test_a_malformed_request_body_is_400(body: bytes, http: httpx.AsyncClient, world: World) -> None:
    """A body that is no GraphQL request is 400, never a 500, and changes nothing."""
    # given: the world as it is
    before = await read_state()

    # when: the body is posted
    response = await http.post(
        "/graphql",
        content=body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {world.admin.token}"},
    )

    # then: 400, and nothing changed
    assert response.status_code == 400, (response.status_code, response.text[:300])
    assert await read_state() == before


@FUZZ
@given(
    body=st.one_of(
        st.binary(max_size=200),
        st.recursive(JUNK, lambda c: st.lists(c) | st.dictionaries(st.text(), c)).map(
            lambda v: json.dumps(v).encode()
        ),
    )
)
async def test_random_bodies_are_answered_400_or_200(
    body: bytes, http: httpx.AsyncClient, world: World
) -> None:
    """Random bytes and random JSON: 400, or 200 with a well-formed GraphQL error; never a 500."""
    # given: the world as it is
    before = await read_state()

    # when: the body is posted
    response = await http.post(
        "/graphql",
        content=body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {world.admin.token}"},
    )

    # then: refused as malformed, or answered as GraphQL; nothing changed
    assert response.status_code in (200, 400), (response.status_code, response.text[:300])
    if response.status_code == 200:
        check_well_formed(response.json())
    assert await read_state() == before


async def test_a_body_above_the_limit_is_413(
    http: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    """A grant whose body exceeds CREDITS_MAX_BODY_BYTES is refused with 413 and changes nothing."""
    # given: a grant padded with a note just beyond the body limit
    before = await read_state()
    variables = {
        "input": {"customerId": str(world.a.id), "amount": "1", "note": "x" * settings.max_body_bytes}
    }

    # when: it is posted
    response = await http.post(
        "/graphql",
        content=json.dumps({"query": GRANT, "variables": variables}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {world.admin.token}"},
    )

    # then: 413, and the ledger is as it was
    assert response.status_code == 413
    assert await read_state() == before


async def test_a_note_of_100_kb_is_invalid_input_not_a_crash(http: httpx.AsyncClient, world: World) -> None:
    """A 100 kB note (below the body limit) is INVALID_INPUT on ["input","note"]; the balance stays."""
    # given: customer A at 100.00
    before = await read_state()

    # when: a grant carries a note of 100 000 characters
    answer = await call(
        http,
        GRANT,
        {"input": {"customerId": str(world.a.id), "amount": "1", "note": "é" * 100_000}},
        world.admin,
        "grantCredits",
    )

    # then: rejected for the note, and nothing moved
    assert answer.problem == ("INVALID_INPUT", ("input", "note"))
    assert await read_state() == before


def _requested(state: State) -> str:
    """A REQUESTED request of the world."""
    return next(k for k, v in sorted(state.requests.items()) if v[5] == "REQUESTED")


def _user_input(world: World, **fields: str) -> dict[str, Any]:
    base = {
        "email": f"new-{uuid.uuid4().hex[:8]}@example.com",
        "name": "New User",
        "role": "END_USER",
        "customerId": str(world.a.id),
        "password": PASSWORD,
    }
    return {"input": {**base, **fields}}


def _grant(world: World, **fields: str) -> dict[str, Any]:
    return {"input": {"customerId": str(world.a.id), "amount": "1", **fields}}


# Every text argument that is stored or looked up: (operation, document, variables, expected problem).
TEXT_ARGUMENTS: list[tuple[str, str, Callable[[World, State, str], dict[str, Any]], Problem]] = [
    (
        "createCustomer",
        CREATE_CUSTOMER,
        lambda w, s, t: {"input": {"name": t}},
        ("INVALID_INPUT", ("input", "name")),
    ),
    (
        "createService",
        CREATE_SERVICE,
        lambda w, s, t: {"input": {"name": t}},
        ("INVALID_INPUT", ("input", "name")),
    ),
    ("createApiToken", CREATE_API_TOKEN, lambda w, s, t: {"name": t}, ("INVALID_INPUT", ("name",))),
    (
        "createUser",
        CREATE_USER,
        lambda w, s, t: _user_input(w, email=f"a{t}b@example.com"),
        ("INVALID_INPUT", ("input", "email")),
    ),
    ("createUser", CREATE_USER, lambda w, s, t: _user_input(w, name=t), ("INVALID_INPUT", ("input", "name"))),
    (
        "createUser",
        CREATE_USER,
        lambda w, s, t: _user_input(w, password=PASSWORD + t),
        ("INVALID_INPUT", ("input", "password")),
    ),
    ("grantCredits", GRANT, lambda w, s, t: _grant(w, note=t), ("INVALID_INPUT", ("input", "note"))),
    (
        "grantCredits",
        GRANT,
        lambda w, s, t: _grant(w, idempotencyKey=t),
        ("INVALID_INPUT", ("input", "idempotencyKey")),
    ),
    ("withdrawCredits", WITHDRAW, lambda w, s, t: _grant(w, note=t), ("INVALID_INPUT", ("input", "note"))),
    (
        "withdrawCredits",
        WITHDRAW,
        lambda w, s, t: _grant(w, idempotencyKey=t),
        ("INVALID_INPUT", ("input", "idempotencyKey")),
    ),
    (
        "requestService",
        REQUEST_SERVICE,
        lambda w, s, t: {
            "input": {"serviceId": str(w.priced.id), "customerId": str(w.a.id), "idempotencyKey": t}
        },
        ("INVALID_INPUT", ("input", "idempotencyKey")),
    ),
    (
        "failServiceRequest",
        FAIL,
        lambda w, s, t: {"id": _requested(s), "reason": t},
        ("INVALID_INPUT", ("reason",)),
    ),
    (
        "rejectServiceRequest",
        REJECT,
        lambda w, s, t: {"id": _requested(s), "reason": t},
        ("INVALID_INPUT", ("reason",)),
    ),
    (
        "login",
        LOGIN,
        lambda w, s, t: {"email": t + s.users[str(w.a_user.user.id)][0], "password": PASSWORD},
        ("INVALID_CREDENTIALS", None),
    ),
    (
        "login",
        LOGIN,
        lambda w, s, t: {"email": s.users[str(w.a_user.user.id)][0], "password": PASSWORD + t},
        ("INVALID_CREDENTIALS", None),
    ),
    ("customers", CUSTOMERS, lambda w, s, t: {"search": t}, ("INVALID_INPUT", None)),
]


@pytest.mark.parametrize(
    "text",
    ["Acme\x00", "Acme\ud800", "\udfffAcme"],
    ids=["nul", "unpaired-high-surrogate", "unpaired-low-surrogate"],
)
@pytest.mark.parametrize(
    ("operation", "document", "variables", "problem"),
    TEXT_ARGUMENTS,
    ids=[f"{op}-{i}" for i, (op, *_) in enumerate(TEXT_ARGUMENTS)],
)
async def test_text_no_database_can_hold_is_rejected_with_its_field(
    operation: str,
    document: str,
    variables: Callable[[World, State, str], dict[str, Any]],
    problem: Problem,
    text: str,
    http: httpx.AsyncClient,
    world: World,
) -> None:
    """NUL and unpaired surrogates in any text argument: a coded rejection of that field, nothing written."""
    # given: the world as it is
    before = await read_state()

    # when: the argument carries the text
    answer = await call(
        http,
        document,
        variables(world, before, text),
        None if operation == "login" else world.admin,
        operation,
    )

    # then: rejected for that argument (never masked), and nothing changed
    assert answer.problem == problem, answer.body
    assert await read_state() == before


async def test_names_of_100_000_characters_are_invalid_input(http: httpx.AsyncClient, world: World) -> None:
    """A customer name of 10^5 characters (below the body limit) is INVALID_INPUT, not a crash."""
    # given: the world as it is
    before = await read_state()

    # when: a customer is created with that name
    answer = await call(
        http, CREATE_CUSTOMER, {"input": {"name": "x" * 100_000}}, world.admin, "createCustomer"
    )

    # then: a coded rejection of the name, no new customer
    assert answer.problem == ("INVALID_INPUT", ("input", "name"))
    assert await read_state() == before


async def test_a_login_with_an_address_longer_than_any_account_fails_like_any_other(
    http: httpx.AsyncClient, world: World
) -> None:
    """An email of 255 (or 10^5) characters is INVALID_CREDENTIALS, not a masked error."""
    # given: no account can have such an address
    before = await read_state()

    # when: logging in with them
    answers = [
        await call(http, LOGIN, {"email": email, "password": PASSWORD}, None, "login")
        for email in ("x" * 255, "x" * 100_000 + "@example.com")
    ]

    # then: both are ordinary failed logins
    assert [a.problem for a in answers] == [("INVALID_CREDENTIALS", None)] * 2
    assert await read_state() == before


CRAFTED_CURSORS = [
    ("customers", CUSTOMERS, {}, ["x" * 201, str(uuid.UUID(int=1))]),
    ("customers", CUSTOMERS, {}, ["Acme\x00", str(uuid.UUID(int=1))]),
    ("customers", CUSTOMERS, {}, ["Acme\ud800", str(uuid.UUID(int=1))]),
    ("ledger", CUSTOMER_LEDGER, {"id": "A"}, ["9" * 30]),
    ("ledger", CUSTOMER_LEDGER, {"id": "A"}, [str(-(2**63) - 1)]),
    ("notifications", NOTIFICATIONS, {}, ["9999-12-31T23:59:59-23:59", str(uuid.UUID(int=1))]),
    ("notifications", NOTIFICATIONS, {}, ["0001-01-01T00:00:00+23:59", str(uuid.UUID(int=1))]),
    ("notifications", NOTIFICATIONS, {}, ["2020-01-01T00:00:00", str(uuid.UUID(int=1))]),
    ("notifications", NOTIFICATIONS, {}, "[" * 100_000),  # not a list of values: nested beyond recursion
]


@pytest.mark.parametrize(
    ("name", "document", "extra", "values"),
    CRAFTED_CURSORS,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(CRAFTED_CURSORS)],
)
async def test_a_crafted_cursor_no_row_can_have_is_invalid_input(
    name: str,
    document: str,
    extra: dict[str, str],
    values: list[str] | str,
    http: httpx.AsyncClient,
    world: World,
) -> None:
    """A cursor holding a value no column can hold (too long, NUL, beyond 64 bits, beyond year 9999
    in UTC, without time zone) is INVALID_INPUT, not a database error."""
    # given: a cursor in the service's format with such a value
    after = (
        cursor_of(values) if isinstance(values, list) else base64.urlsafe_b64encode(values.encode()).decode()
    )
    variables = {"after": after, **{k: str(world.a.id) for k in extra}}

    # when: a page after it is asked for
    body = await post(http, document, variables, world.admin)

    # then: a top-level INVALID_INPUT
    assert [(e.get("extensions") or {}).get("code") for e in body["errors"]] == ["INVALID_INPUT"]


async def test_emails_equal_after_unicode_normalisation_are_the_same_account(
    http: httpx.AsyncClient, world: World
) -> None:
    """ "e\u0301" and "é", "STRASSE" and "straße": one account each, and either spelling logs in."""
    # given: a user "josé@example.com" (precomposed) and the world's "straße@example.com"
    created = await call(
        http,
        CREATE_USER,
        {
            "input": {
                "email": "jos\u00e9@example.com",
                "name": "José",
                "role": "END_USER",
                "customerId": str(world.a.id),
                "password": PASSWORD,
            }
        },
        world.admin,
        "createUser",
    )
    assert created.ok, created.body
    before = await read_state()

    # when: the decomposed and the upper-case spellings are registered again, and used to log in
    again = [
        await call(
            http,
            CREATE_USER,
            {
                "input": {
                    "email": email,
                    "name": "Twin",
                    "role": "END_USER",
                    "customerId": str(world.a.id),
                    "password": PASSWORD,
                }
            },
            world.admin,
            "createUser",
        )
        for email in ("JOSE\u0301@example.com", "STRASSE@EXAMPLE.COM")
    ]
    login = await call(http, LOGIN, {"email": "JOSE\u0301@example.com", "password": PASSWORD}, None, "login")

    # then: both are duplicates, and the other spelling logs into the same user
    assert [a.problem for a in again] == [("INVALID_INPUT", ("input", "email"))] * 2
    assert login.ok and login.payload["user"]["id"] == created.payload["user"]["id"]
    assert await read_state() == before


async def test_an_email_that_folds_beyond_254_characters_is_invalid_input(
    http: httpx.AsyncClient, world: World
) -> None:
    """ "İ" lower-cases to two characters: the folded key must fit its column too (PostgreSQL)."""
    # given: an address of 212 characters whose folded form has 412
    email = "İ" * 200 + "@example.com"
    before = await read_state()

    # when: a user is created with it, and someone logs in with it
    created = await call(
        http,
        CREATE_USER,
        {"input": {"email": email, "name": "Dotted", "role": "CATALOG_ADMIN", "password": PASSWORD}},
        world.admin,
        "createUser",
    )
    login = await call(http, LOGIN, {"email": email, "password": PASSWORD}, None, "login")

    # then: a coded rejection of the email, and an ordinary failed login
    assert created.problem == ("INVALID_INPUT", ("input", "email"))
    assert login.problem == ("INVALID_CREDENTIALS", None)
    assert await read_state() == before
