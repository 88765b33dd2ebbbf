"""One HTTP/1.1 POST to an address the destination check accepted, and a bounded read of the answer.

Written on asyncio streams rather than httpx: measured on this machine, an httpx request costs
about ten times the CPU (2 ms against 0.2 ms), which the charges of the same process would pay.
It connects to the checked IP itself (TLS still verifies the certificate against the URL's host,
sent as SNI), so DNS cannot change between check and connect; it never follows a redirect, and
reads at most `limit` bytes of the body.
"""

from __future__ import annotations

import asyncio
import ssl
from contextlib import suppress
from dataclasses import dataclass
from functools import lru_cache

from notifications.destinations import Destination

MAX_HEADER_LINES = 100


class ProtocolError(Exception):
    """The answer is not HTTP/1.x."""


@dataclass(frozen=True)
class Answer:
    """The status code and the start of the body."""

    status: int
    body: str


@lru_cache(maxsize=1)
def _tls() -> ssl.SSLContext:
    return ssl.create_default_context()


def _target(destination: Destination) -> str:
    url = destination.url
    return (url.path or "/") + (f"?{url.query}" if url.query else "")


async def post(destination: Destination, headers: dict[str, str], body: bytes, limit: int) -> Answer:
    """POST `body` to the destination's first checked address; the answer, its body cut at `limit` bytes."""
    https = destination.url.scheme == "https"
    reader, writer = await asyncio.open_connection(
        str(destination.addresses[0]),
        destination.port,
        ssl=_tls() if https else None,
        server_hostname=destination.host if https else None,
    )
    try:
        lines = [f"POST {_target(destination)} HTTP/1.1", f"host: {destination.url.netloc}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        lines += [f"content-length: {len(body)}", "connection: close", "", ""]
        writer.write("\r\n".join(lines).encode("latin-1") + body)
        await writer.drain()
        return await _answer(reader, limit)
    finally:
        writer.close()
        with suppress(Exception):
            await writer.wait_closed()


async def _answer(reader: asyncio.StreamReader, limit: int) -> Answer:
    while True:
        status, length = await _head(reader)
        if status >= 200:
            break
    want = limit if length is None else min(length, limit)
    data = b""
    while len(data) < want:
        chunk = await reader.read(want - len(data))
        if not chunk:
            break
        data += chunk
    return Answer(status, data.decode("utf-8", "replace"))


async def _head(reader: asyncio.StreamReader) -> tuple[int, int | None]:
    """The status line and headers of one response: its status and Content-Length (if given)."""
    status_line = await reader.readline()
    parts = status_line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise ProtocolError(f"not an HTTP/1.x answer: {status_line[:100]!r}")
    length: int | None = None
    for _ in range(MAX_HEADER_LINES):
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            return int(parts[1]), length
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            length = int(value.strip())
    raise ProtocolError("too many header lines")
