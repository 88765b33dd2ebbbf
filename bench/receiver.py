"""A local webhook receiver for the bench: answers 200 to every POST and counts them, in a process of its own.

It stands in for an integrator's server, which runs on another machine: here it shares the box,
so it runs at idle CPU priority (SCHED_IDLE) and takes only CPU nothing else wants, instead of
competing with the server it measures (in the bench's own process it cost the charges up to 15%).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import socket
import time
from multiprocessing.sharedctypes import Synchronized

from bench.processes import free_port


class Receiver:
    """An asyncio HTTP/1.1 server on 127.0.0.1 (keep-alive); `count` requests, `last` (epoch) the newest."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._count: Synchronized[int] = context.Value("q", 0)
        self._last: Synchronized[float] = context.Value("d", 0.0)
        self.port = free_port()
        self._process = context.Process(
            target=_serve_forever, args=(self.port, self._count, self._last), daemon=True
        )

    @property
    def url(self) -> str:
        """Where the bench's endpoints send."""
        return f"http://127.0.0.1:{self.port}/hooks"

    @property
    def count(self) -> int:
        """Requests answered so far."""
        return self._count.value

    @property
    def last(self) -> float:
        """When the newest request was answered (time.time()), 0 before the first."""
        return self._last.value

    async def start(self) -> None:
        """Start the process and wait (up to 10 s) until it accepts connections."""
        self._process.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.5):
                return
            await asyncio.sleep(0.05)
        raise RuntimeError(f"webhook receiver not listening on {self.port} after 10 s")

    async def stop(self) -> None:
        """Stop the process."""
        if self._process.is_alive():
            self._process.terminate()
            await asyncio.to_thread(self._process.join, 5)


def _serve_forever(port: int, count: Synchronized[int], last: Synchronized[float]) -> None:
    """The receiver process: idle priority, then serve until terminated."""
    os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                if not line.strip():
                    continue
                length = 0
                while (header := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = header.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                count.value += 1
                last.value = time.time()
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def main() -> None:
        server = await asyncio.start_server(serve, "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    asyncio.run(main())
