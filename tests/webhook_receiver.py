"""A real HTTP receiver for webhook tests: records every request, answers a programmable status sequence."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.processes import free_port


@dataclass(frozen=True)
class Received:
    """One request as it arrived."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookReceiver:
    """An asyncio HTTP/1.1 server on 127.0.0.1: `statuses` are answered in turn, then `default_status`."""

    statuses: list[int] = field(default_factory=list)
    default_status: int = 200
    answer_body: bytes = b"ok"
    delay_seconds: float = 0.0  # before answering
    # When set, requests are recorded but never answered (a receiver that hangs mid-request).
    hang: bool = False
    # When set, answers wait until this event is set (requests are recorded as they arrive).
    gate: asyncio.Event | None = None
    requests: list[Received] = field(default_factory=list)
    # Requests held at the gate whose sender hung up before the answer (it gave up on them).
    abandoned: list[Received] = field(default_factory=list)
    # Requests arriving on a connection that already carried one, to drop unanswered and unrecorded
    # (a receiver closing an idle kept-alive connection just as the next request comes).
    drop_reused: int = 0
    connections: int = 0  # accepted so far (keep-alive reuse shows as fewer connections than requests)
    port: int = 0
    _server: asyncio.Server | None = None
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    @property
    def url(self) -> str:
        """Where to send webhooks."""
        return f"http://127.0.0.1:{self.port}/hooks"

    async def start(self) -> None:
        """Listen on a free port (or the one it had: a restart after `stop`)."""
        self.port = self.port or free_port()
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def stop(self) -> None:
        """Stop listening (the receiver is down)."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def wait_for(
        self, predicate: Callable[[list[Received]], bool], timeout: float = 30
    ) -> list[Received]:
        """Wait until the received requests satisfy `predicate`; returns them."""
        async with asyncio.timeout(timeout), self._arrived:
            await self._arrived.wait_for(lambda: predicate(self.requests))
        return list(self.requests)

    async def wait_count(self, n: int, timeout: float = 30) -> list[Received]:
        """Wait for at least `n` requests."""
        return await self.wait_for(lambda got: len(got) >= n, timeout)

    async def _gate_opened(self, reader: asyncio.StreamReader) -> bool:
        """Wait for the gate; False if the sender hung up first."""
        assert self.gate is not None
        opened = asyncio.ensure_future(self.gate.wait())
        gone = asyncio.ensure_future(reader.read(1))
        await asyncio.wait({opened, gone}, return_when=asyncio.FIRST_COMPLETED)
        was_opened = opened.done()
        for waiting in (opened, gone):
            waiting.cancel()
        await asyncio.gather(opened, gone, return_exceptions=True)  # the reader is free again
        return was_opened

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        served = 0
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                _, path, _ = line.decode().split(" ", 2)
                headers: dict[str, str] = {}
                while (header := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = header.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                if served and self.drop_reused:
                    self.drop_reused -= 1
                    return
                served += 1
                received = Received(path, headers, body)
                async with self._arrived:
                    self.requests.append(received)
                    self._arrived.notify_all()
                if self.hang:
                    await reader.read()  # until the sender goes away
                    return
                status = self.statuses.pop(0) if self.statuses else self.default_status
                await asyncio.sleep(self.delay_seconds)
                if self.gate is not None and not await self._gate_opened(reader):
                    self.abandoned.append(received)
                    return
                head = f"HTTP/1.1 {status} X\r\nlocation: http://169.254.169.254/\r\n"
                writer.write(
                    f"{head}content-length: {len(self.answer_body)}\r\n\r\n".encode() + self.answer_body
                )
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            with contextlib.suppress(Exception):
                writer.close()
