"""The server's shutdown signal, heard by the app (api/shutdown.py), and the event streams it ends."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from types import FrameType

import pytest

from api.shutdown import on_server_exit
from api.sse import SHUTDOWN_WORDS, OpenStreams


@pytest.fixture
def server_handler() -> Iterator[list[int]]:
    """A stand-in for uvicorn's SIGTERM handler; yields the signals it received."""
    received: list[int] = []

    def handle_exit(sig: int, frame: FrameType | None) -> None:
        received.append(sig)

    original = signal.signal(signal.SIGTERM, handle_exit)
    yield received
    signal.signal(signal.SIGTERM, original)


async def test_sigterm_reaches_the_app_after_the_servers_own_handler(server_handler):
    """SIGTERM runs the server's handler and, on the event loop, the app's callback."""
    # given
    heard = asyncio.Event()
    with on_server_exit(heard.set):
        # when
        signal.raise_signal(signal.SIGTERM)

        # then
        async with asyncio.timeout(10):
            await heard.wait()
    assert server_handler == [signal.SIGTERM]


async def test_the_servers_handler_is_put_back_on_leaving(server_handler):
    """After the lifespan, SIGTERM is the server's alone again."""
    # given
    heard = asyncio.Event()
    with on_server_exit(heard.set):
        pass

    # when
    signal.raise_signal(signal.SIGTERM)
    await asyncio.sleep(0)

    # then
    assert server_handler == [signal.SIGTERM]
    assert not heard.is_set()


def test_ending_all_streams_ends_the_open_ones_and_every_later_one():
    """At shutdown every open stream gets the last words; one opened afterwards ends at once."""
    # given
    streams = OpenStreams()
    open_one, closed_one = streams.open(), streams.open()
    streams.close(closed_one)

    # when
    streams.end_all()

    # then
    assert open_one.last_words == SHUTDOWN_WORDS
    assert closed_one.last_words is None
    assert streams.open().last_words == SHUTDOWN_WORDS
