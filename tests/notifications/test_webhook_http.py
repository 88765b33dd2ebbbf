"""The webhook sender's HTTP exchange against receivers that keep the connection open or never answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from models import destinations
from models.credits import change_balance
from models.ledger import TransactionKind
from models.webhook_outbox import DeliveryStatus, WebhookDelivery
from models.webhooks import create_endpoint
from notifications import webhook_http
from notifications.webhooks import WebhookDispatcher
from tests.factories import enable_credits, make_catalog_admin, make_customer
from tests.processes import free_port
from tests.webhook_receiver import WebhookReceiver


@pytest.fixture
async def open_ended() -> AsyncIterator[tuple[int, list[bytes]]]:
    """A receiver whose answer (set per test) never closes the connection: (port, answers to give)."""
    answers: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answers.pop(0))
        await writer.drain()
        await reader.read()  # stays open until the sender hangs up

    port = free_port()
    server = await asyncio.start_server(serve, "127.0.0.1", port)
    yield port, answers
    server.close()


async def _post(port: int) -> webhook_http.Answer:
    destination = await destinations.check(f"http://127.0.0.1:{port}/", production=False, allow_private=True)
    async with asyncio.timeout(5):
        return await webhook_http.post(destination, {}, b"{}", 4096)


async def test_a_2xx_without_length_that_stays_open_is_delivered_at_once(open_ended) -> None:
    # given: a receiver answering 200 with neither Content-Length nor a close
    port, answers = open_ended
    answers.append(b"HTTP/1.1 200 OK\r\n\r\nstill talking")

    # when / then: the answer counts as soon as its head arrived
    assert (await _post(port)).status == 200


async def test_a_chunked_error_that_stays_open_is_read_to_its_end(open_ended) -> None:
    # given: a receiver answering 500 with a chunked body, then keeping the connection
    port, answers = open_ended
    answers.append(b"HTTP/1.1 500 Oops\r\ntransfer-encoding: chunked\r\n\r\n4\r\nboom\r\n0\r\n\r\n")

    # when
    answer = await _post(port)

    # then: the body (as sent) is there, without waiting for a close
    assert answer.status == 500 and "boom" in answer.body


# --- kept-alive connections ----------------------------------------------------------------------


async def _pooled(receiver: WebhookReceiver, pool: webhook_http.Pool) -> webhook_http.Answer:
    destination = await destinations.check(receiver.url, production=False, allow_private=True)
    return await webhook_http.post(destination, {}, b"{}", 4096, pool, 5)


async def test_deliveries_to_one_destination_reuse_a_kept_alive_connection(receiver) -> None:
    # given
    pool = webhook_http.Pool()

    # when: five deliveries one after the other
    answers = [await _pooled(receiver, pool) for _ in range(5)]

    # then: one connection carried them all
    assert [a.status for a in answers] == [200] * 5
    assert (len(receiver.requests), receiver.connections) == (5, 1)
    pool.close()


async def test_concurrent_deliveries_open_at_most_the_pools_width_of_connections(receiver) -> None:
    # given: a receiver slow enough that requests overlap, and a pool three wide
    receiver.delay_seconds = 0.01
    pool = webhook_http.Pool(per_destination=3)

    # when: twenty deliveries at once, then twenty more
    for _ in range(2):
        answers = await asyncio.gather(*(_pooled(receiver, pool) for _ in range(20)))
        assert {a.status for a in answers} == {200}

    # then
    assert len(receiver.requests) == 40 and receiver.connections <= 3
    pool.close()


async def test_a_kept_alive_connection_the_receiver_dropped_is_replaced_without_a_failure(receiver) -> None:
    # given: a pooled connection the receiver closes as the next request comes
    pool = webhook_http.Pool()
    await _pooled(receiver, pool)
    receiver.drop_reused = 1

    # when
    answer = await _pooled(receiver, pool)

    # then: delivered over a new connection
    assert answer.status == 200
    assert (len(receiver.requests), receiver.connections) == (2, 2)
    pool.close()


async def test_a_connection_whose_answer_was_not_read_to_its_end_is_not_reused(receiver) -> None:
    # given: errors with a body longer than the 4 KB read, then a short one
    receiver.statuses = [500, 500]
    receiver.answer_body = b"x" * 5000

    # when
    pool = webhook_http.Pool()
    first, second = await _pooled(receiver, pool), await _pooled(receiver, pool)
    receiver.answer_body = b"short"
    third, fourth = await _pooled(receiver, pool), await _pooled(receiver, pool)

    # then: the cut answers cost their connections; the short ones share one
    assert [a.status for a in (first, second, third, fourth)] == [500, 500, 200, 200]
    assert receiver.connections == 3
    pool.close()


# --- informational answers -----------------------------------------------------------------------


@pytest.fixture
async def endless_continue() -> AsyncIterator[int]:
    """A receiver that answers every request with `100 Continue`, over and over, never a final answer."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        try:
            while True:
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n" * 16)
                await writer.drain()
        except ConnectionError:
            return

    port = free_port()
    server = await asyncio.start_server(serve, "127.0.0.1", port)
    yield port
    server.close()


async def test_a_few_informational_answers_before_the_final_one_are_skipped(open_ended) -> None:
    # given: two 100 Continue heads, then the answer
    port, answers = open_ended
    answers.append(b"HTTP/1.1 100 Continue\r\n\r\n" * 2 + b"HTTP/1.1 204 No Content\r\n\r\n")

    # when / then
    assert (await _post(port)).status == 204


async def test_endless_100_continue_fails_the_attempt_instead_of_spinning(endless_continue) -> None:
    # when: a receiver answers with informational heads only
    with pytest.raises(webhook_http.ProtocolError) as refused:
        await _post(endless_continue)

    # then: the exchange gave up after a few of them (not at the timeout), saying why
    assert "informational (1xx)" in str(refused.value)


async def test_a_delivery_to_an_endless_100_continue_is_retried_with_the_reason_recorded(
    endless_continue, no_local_webhook_dispatcher, settings
) -> None:
    # given: a delivery due to a receiver that only ever says `100 Continue`
    admin = await make_catalog_admin()
    await create_endpoint(f"http://127.0.0.1:{endless_continue}/hooks", None, None, None)
    customer = await make_customer(by=admin)
    await enable_credits()
    await change_balance(admin.actor, TransactionKind.GRANT, customer.id, 100, None, None)

    # when: the dispatcher tries it
    assert await WebhookDispatcher(settings).dispatch_once() == 1

    # then: the attempt failed with a clear error and waits for its retry like any failure
    delivery = await WebhookDelivery.get()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 1)
    assert delivery.next_attempt_at is not None
    assert delivery.last_error is not None and "informational (1xx)" in delivery.last_error
