"""`python server.py dispatch`: mail and webhooks sent by a process of their own; refused where it cannot."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from models.outbox import EmailOutbox
from models.user import Role
from models.webhook_outbox import DeliveryStatus, WebhookDelivery
from models.webhooks import create_endpoint
from server import dispatch_refusal
from settings import Settings
from tests.client import GraphQLClient
from tests.conftest import IS_POSTGRES, IS_REDIS
from tests.documents import REQUEST_SERVICE
from tests.factories import enable_credits, make_catalog_admin, make_customer, make_service, make_user
from tests.polling import eventually
from tests.processes import ServerProcess, embedded_env, run_to_exit
from tests.smtp import SmtpServer
from tests.webhook_receiver import WebhookReceiver

POSTGRES = "postgres://credits@db.example:5432/credits"
REDIS = "redis://redis.example:6379/0"


@pytest.mark.parametrize(
    ("command", "database_url", "broadcast_url", "named"),
    [
        ("dispatch", None, REDIS, ["SQLite", "CREDITS_DATABASE_URL"]),
        ("dispatch", POSTGRES, "memory://", ["could not wake it", "CREDITS_BROADCAST_URL"]),
        ("serve", None, "memory://", ["SQLite", "CREDITS_DATABASE_URL", "CREDITS_BROADCAST_URL"]),
    ],
)
def test_sending_apart_is_refused_without_postgres_and_redis(
    settings: Settings, command: str, database_url: str | None, broadcast_url: str, named: list[str]
) -> None:
    """A dispatch process shares the database and hears the serving processes over Redis."""
    # given: CREDITS_OUTBOX_DISPATCH=separate where something is missing
    chosen = settings.model_copy(
        update={"database_url": database_url, "broadcast_url": broadcast_url, "outbox_dispatch": "separate"}
    )

    # when
    refusal = dispatch_refusal(chosen, command)

    # then: refused, naming what is missing, and how to do without a dispatch process
    assert refusal is not None
    assert refusal.startswith(
        "refusing to dispatch: " if command == "dispatch" else "refusing to serve with "
    )
    for words in named:
        assert words in refusal
    assert "leave CREDITS_OUTBOX_DISPATCH=inline" in refusal


def test_sending_apart_is_allowed_on_postgres_and_redis_and_inline_anywhere(settings: Settings) -> None:
    # given
    shared = settings.model_copy(
        update={"database_url": POSTGRES, "broadcast_url": REDIS, "outbox_dispatch": "separate"}
    )
    embedded = settings.model_copy(
        update={"database_url": None, "broadcast_url": "memory://", "outbox_dispatch": "inline"}
    )

    # when / then
    assert dispatch_refusal(shared, "dispatch") is None
    assert dispatch_refusal(shared, "serve") is None
    assert dispatch_refusal(embedded, "serve") is None


@pytest.mark.slow
def test_a_dispatch_process_on_sqlite_exits_with_the_reason(server_env: dict[str, str], tmp_path) -> None:
    # given: the embedded defaults
    env = embedded_env(server_env, tmp_path)

    # when
    done = run_to_exit(env, "dispatch")

    # then: a non-zero exit with the reason; nothing started or migrated
    assert done.returncode == 1, done.stderr
    assert "refusing to dispatch: SQLite belongs to the serving process" in done.stderr
    assert not (tmp_path / "credits.sqlite3").exists()


# --- a serving process and a dispatch process on PostgreSQL and Redis ---------------------------


@pytest.mark.slow
@pytest.mark.skipif(not (IS_POSTGRES and IS_REDIS), reason="needs PostgreSQL and Redis")
async def test_a_dispatch_process_sends_what_serving_processes_record(
    server_env: dict[str, str], receiver: WebhookReceiver, smtp: SmtpServer, no_local_webhook_dispatcher
) -> None:
    """The serving process records and tells the bus; the dispatch process, woken by it, sends.

    Both poll only every minute: a delivery within seconds was woken over the bus.
    """
    # given: an endpoint for every event, a customer with an administrator, 1.00 credits and a
    # service at 5.00; a serving process that leaves sending to dispatch processes
    admin = await make_catalog_admin()
    customer = await make_customer(balance=1, by=admin)
    await create_endpoint(receiver.url, None, None, None)
    await make_user(Role.CUSTOMER_ADMIN, customer, email="owner@acme.test")
    service = await make_service("5.00")
    await enable_credits()
    env = {
        **server_env,
        "CREDITS_OUTBOX_DISPATCH": "separate",
        "CREDITS_WEBHOOK_POLL_SECONDS": "60",
        "CREDITS_MAIL_POLL_SECONDS": "60",
        "CREDITS_SMTP_HOST": "127.0.0.1",
        "CREDITS_SMTP_PORT": str(smtp.port),
        "CREDITS_SMTP_STARTTLS": "false",
    }
    charge = {"input": {"customerId": str(customer.id), "serviceId": str(service.id)}}
    with ServerProcess(env) as serving:
        async with httpx.AsyncClient(base_url=serving.base_url, timeout=30) as http:
            gql = GraphQLClient(http)

            # when: a charge takes the balance below zero
            made = (await gql(REQUEST_SERVICE, charge, token=admin.token))["requestService"]
            assert made["userErrors"] == []

            # then: its deliveries and its email are recorded, and the serving process sends none
            await asyncio.sleep(1.5)
            recorded = await WebhookDelivery.all()
            assert sorted(d.event_type for d in recorded) == [
                "credit_alert.fired",
                "credit_transaction.created",
                "service_request.updated",
            ]
            assert {(d.status, d.attempts) for d in recorded} == {(DeliveryStatus.PENDING, 0)}
            assert await EmailOutbox.all().count() == 1
            assert receiver.requests == [] and smtp.handler.envelopes == []

            # when: a dispatch process starts
            with ServerProcess(env, "dispatch"):
                # then: it sends what was waiting
                await receiver.wait_count(3, timeout=20)
                await eventually(lambda: _sent(smtp, 1), what="the alert email")

                # when: another charge is made through the serving process
                made = (await gql(REQUEST_SERVICE, charge, token=admin.token))["requestService"]
                assert made["userErrors"] == []

                # then: the dispatch process, woken over the bus, sends it within seconds
                got = await receiver.wait_count(5, timeout=10)

                async def all_delivered() -> bool:
                    statuses = {d.status for d in await WebhookDelivery.all()}
                    return statuses == {DeliveryStatus.DELIVERED}

                await eventually(all_delivered, what="every delivery DELIVERED")
    ids = [r.headers["webhook-id"] for r in got]
    assert sorted(ids) == sorted(str(d.id) for d in await WebhookDelivery.all())


async def _sent(smtp: SmtpServer, n: int) -> bool:
    return len(smtp.handler.envelopes) >= n
