"""An unreachable database or event bus answers at once with 503 SERVICE_UNAVAILABLE ("retry"),
never "Unexpected error." nor UNAUTHENTICATED, and never hangs: bounded asyncpg waits and /readyz."""

from __future__ import annotations

import asyncio
import errno
import logging

import asyncpg
import httpx
import pytest
import redis.exceptions
from tortoise.exceptions import DBConnectionError, IntegrityError, OperationalError

import api.context
import models.alerts
import resolvers.queries
from api.unavailable import is_unavailable
from infra import db
from models.customer import Customer
from models.ledger import CreditTransaction
from settings import Settings
from tests.documents import CREDIT_SETTINGS, GRANT_CREDITS
from tests.factories import enable_credits, make_catalog_admin, make_customer

MESSAGE = (
    "The service is temporarily unavailable. Retry shortly; send the same idempotencyKey to "
    "retry a mutation safely."
)


def _chained(outer: BaseException, cause: BaseException, *, explicit: bool) -> BaseException:
    """`outer` raised while handling `cause` (explicitly `from` it, or implicitly)."""
    try:
        try:
            raise cause
        except BaseException as inner:
            if explicit:
                raise outer from inner
            raise outer  # noqa: B904
    except BaseException as raised:
        return raised


CONNECTION_LOST = [
    pytest.param(ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"), id="refused"),
    pytest.param(ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"), id="reset"),
    pytest.param(OSError(errno.EHOSTUNREACH, "No route to host"), id="unreachable-host"),
    pytest.param(TimeoutError(), id="timeout"),
    pytest.param(
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        id="asyncpg-closed-mid-operation",
    ),
    pytest.param(asyncpg.CannotConnectNowError("the database system is starting up"), id="pg-starting"),
    pytest.param(asyncpg.AdminShutdownError("terminating connection"), id="pg-shutdown"),
    pytest.param(asyncpg.TooManyConnectionsError("too many clients"), id="pg-too-many-connections"),
    pytest.param(
        asyncpg.InternalClientError("cannot switch to state 12; another operation (2) is in progress"),
        id="asyncpg-terminated-between-statements",
    ),
    pytest.param(DBConnectionError("can't connect"), id="tortoise-connection"),
    pytest.param(
        _chained(OperationalError("wrapped"), ConnectionResetError("reset"), explicit=True),
        id="tortoise-operational-from-connection-loss",
    ),
    pytest.param(
        _chained(
            asyncpg.InterfaceError("cannot call Transaction.rollback(): the underlying connection is closed"),
            asyncpg.ConnectionDoesNotExistError("connection was closed"),
            explicit=False,
        ),
        id="rollback-on-a-closed-connection",
    ),
    pytest.param(redis.exceptions.ConnectionError("Error 111 connecting"), id="redis-connection"),
    pytest.param(redis.exceptions.TimeoutError("Timeout reading"), id="redis-timeout"),
]

NOT_AN_OUTAGE = [
    pytest.param(RuntimeError("secret detail"), id="bug"),
    pytest.param(FileNotFoundError(errno.ENOENT, "secret detail"), id="file-not-found"),
    pytest.param(IntegrityError("secret detail"), id="integrity"),
    pytest.param(OperationalError("secret detail"), id="operational-without-connection-loss"),
    pytest.param(asyncpg.InterfaceError("secret detail"), id="asyncpg-misuse"),
    pytest.param(asyncpg.UniqueViolationError("secret detail"), id="unique-violation"),
]


# --- the predicate -------------------------------------------------------------------------------


@pytest.mark.parametrize("error", CONNECTION_LOST)
def test_connection_level_errors_count_as_unavailable(error: BaseException) -> None:
    """Refused, reset, timed out, shut down or closed mid-operation, also when wrapped."""
    # when / then
    assert is_unavailable(error) is True


@pytest.mark.parametrize("error", NOT_AN_OUTAGE)
def test_other_errors_do_not_count_as_unavailable(error: BaseException) -> None:
    """Bugs and constraint violations stay unexpected errors."""
    # when / then
    assert is_unavailable(error) is False


def test_an_error_raised_while_handling_a_connection_loss_counts_as_unavailable() -> None:
    """The cause is looked for through __cause__ and __context__, several levels deep."""
    # given
    inner = _chained(OperationalError("wrapped"), ConnectionResetError("reset"), explicit=True)
    outer = _chained(RuntimeError("while cleaning up"), inner, explicit=False)

    # when / then
    assert is_unavailable(outer) is True
    assert is_unavailable(None) is False


# --- over HTTP -----------------------------------------------------------------------------------


async def credit_settings_failing_with(
    error: BaseException, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> httpx.Response:
    """A catalog administrator's creditSettings query, answered while reading the switch raises `error`."""
    admin = await make_catalog_admin()

    async def failing(*_args: object) -> bool:
        raise error

    monkeypatch.setattr(resolvers.queries, "credit_management_enabled", failing)
    return await http.post(
        "/graphql", json={"query": CREDIT_SETTINGS}, headers={"Authorization": f"Bearer {admin.token}"}
    )


@pytest.mark.parametrize("error", CONNECTION_LOST)
async def test_a_lost_connection_in_a_query_answers_503_service_unavailable(
    http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    """The client is told to retry, with the code, a 503 and Retry-After; no internal detail."""
    # given / when: the database is unreachable as the query reads the credit switch
    response = await credit_settings_failing_with(error, http, monkeypatch)

    # then
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json() == {
        "data": None,
        "errors": [
            {
                "message": MESSAGE,
                "locations": [{"line": 1, "column": 9}],
                "path": ["creditSettings"],
                "extensions": {"code": "SERVICE_UNAVAILABLE"},
            }
        ],
    }
    assert type(error).__name__ not in response.text
    assert "Traceback" not in response.text


@pytest.mark.parametrize("error", NOT_AN_OUTAGE)
async def test_other_failures_stay_masked_as_unexpected_errors(
    http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    """Only an outage says "retry"; a bug is still "Unexpected error." with 200."""
    # given / when: something else breaks as the query reads the credit switch
    response = await credit_settings_failing_with(error, http, monkeypatch)

    # then
    assert response.status_code == 200
    assert "retry-after" not in response.headers
    assert response.json()["errors"] == [
        {
            "message": "Unexpected error.",
            "locations": [{"line": 1, "column": 9}],
            "path": ["creditSettings"],
            "extensions": {"code": "INTERNAL_SERVER_ERROR"},
        }
    ]
    assert "secret detail" not in response.text


async def test_a_lost_connection_in_a_mutation_answers_503_and_writes_nothing(
    http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection drops inside the ledger's transaction: 503, and the balance and ledger stay."""
    # given
    await enable_credits()
    admin = await make_catalog_admin()
    customer = await make_customer("Acme", balance=100, by=admin)

    async def dropped(*_args: object, **_kwargs: object) -> object:
        raise asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation")

    monkeypatch.setattr(models.alerts, "evaluate", dropped)

    # when
    response = await http.post(
        "/graphql",
        json={
            "query": GRANT_CREDITS,
            "variables": {"input": {"customerId": str(customer.id), "amount": "40"}},
        },
        headers={"Authorization": f"Bearer {admin.token}"},
    )

    # then
    assert response.status_code == 503
    assert response.json()["data"] is None
    assert [e["extensions"]["code"] for e in response.json()["errors"]] == ["SERVICE_UNAVAILABLE"]
    assert (await Customer.get(id=customer.id)).balance == 10000
    assert await CreditTransaction.filter(customer_id=customer.id).count() == 1


async def test_the_database_failing_during_authentication_answers_503_not_unauthenticated(
    http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A valid token whose user cannot be looked up is an outage, not a reason to log the user out."""
    # given
    admin = await make_catalog_admin()

    async def unreachable(_token: str) -> object:
        raise ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")

    monkeypatch.setattr(api.context, "authenticate", unreachable)

    # when
    response = await http.post(
        "/graphql", json={"query": CREDIT_SETTINGS}, headers={"Authorization": f"Bearer {admin.token}"}
    )

    # then
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json() == {
        "data": None,
        "errors": [{"message": MESSAGE, "extensions": {"code": "SERVICE_UNAVAILABLE"}}],
    }


async def test_an_outage_is_logged_as_one_warning_line_not_an_error_with_traceback(
    http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """During an outage every request fails: the log says why in one line per request."""
    # given: the database refuses connections
    refused = ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")

    # when
    with caplog.at_level(logging.WARNING, logger="credits.graphql"):
        await credit_settings_failing_with(refused, http, monkeypatch)

    # then
    records = [r for r in caplog.records if r.name == "credits.graphql"]
    assert [(r.levelname, r.getMessage()) for r in records] == [
        (
            "WARNING",
            "service unavailable in ['creditSettings']: "
            "ConnectionRefusedError: [Errno 111] Connection refused",
        )
    ]
    assert all(r.exc_info is None for r in records)


# --- bounded waits -------------------------------------------------------------------------------


def test_postgres_connections_get_connect_and_command_timeouts_from_settings() -> None:
    """asyncpg never waits unboundedly for a connection or a statement."""
    # given
    settings = Settings(
        database_url="postgres://credits@db.internal:5432/credits",
        db_connect_timeout_seconds=2.5,
        db_command_timeout_seconds=7,
        db_pool_max=12,
    )

    # when
    connection = db.tortoise_config(settings)["connections"]["default"]

    # then
    assert connection["credentials"]["timeout"] == 2.5
    assert connection["credentials"]["command_timeout"] == 7
    assert connection["credentials"]["maxsize"] == 12


def test_the_timeouts_default_to_five_and_fifteen_seconds() -> None:
    """Defaults: 5 s to connect, 15 s per statement."""
    # when
    settings = Settings(database_url="postgres://credits@db.internal:5432/credits")

    # then
    assert (settings.db_connect_timeout_seconds, settings.db_command_timeout_seconds) == (5.0, 15.0)


async def test_readyz_answers_503_promptly_when_the_database_hangs(
    http: httpx.AsyncClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database that accepts but never answers makes /readyz 503 after the connect timeout."""

    # given
    class Hanging:
        async def execute_query(self, *_args: object) -> None:
            await asyncio.sleep(3600)

    monkeypatch.setattr(settings, "db_connect_timeout_seconds", 0.2)
    monkeypatch.setattr(db.connections, "get", lambda _name: Hanging())

    # when
    response = await asyncio.wait_for(http.get("/readyz"), 5)

    # then
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "unreachable", "eventBus": "ok"}
