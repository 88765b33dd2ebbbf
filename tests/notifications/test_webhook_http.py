"""The webhook sender's HTTP exchange against receivers that keep the connection open."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from models import destinations
from notifications import webhook_http
from tests.processes import free_port


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
