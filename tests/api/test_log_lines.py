"""Log lines a client cannot forge: every record is one line, in text and in JSON."""

from __future__ import annotations

import asyncio
import json
import logging
import sys

import httpx
import pytest

from api.logs import JsonFormatter, TextFormatter
from tests.processes import ServerProcess

pytestmark = pytest.mark.slow

LEVELS = ("DEBUG ", "INFO ", "WARNING ", "ERROR ", "CRITICAL ")
FORGED = "ERROR credits.accounts forged"
# Every kind of line break a reader may split on: LF, CR, VT, FF, NEL, U+2028, U+2029 (and ESC).
HOSTILE_PATHS = {
    "/x%0AERROR%20credits.accounts%20forged": "/x\\nERROR credits.accounts forged",
    "/y%0DERROR%0B%0C%C2%85%E2%80%A8%E2%80%A9%1B[2K": "/y\\rERROR\\x0b\\x0c\\x85\\u2028\\u2029\\x1b[2K",
}


def text_env(server_env: dict[str, str], **extra: str) -> dict[str, str]:
    """A development server writing text logs (the default a forged line would fool a person in)."""
    return {**server_env, "CREDITS_ENV": "development", "CREDITS_LOG_FORMAT": "text", **extra}


def records(log: str) -> list[str]:
    """The log's lines as any reader splits them (str.splitlines breaks on NEL and U+2028 too)."""
    return log.splitlines()


def assert_every_line_is_a_record_or_indented(lines: list[str]) -> None:
    """A record starts with its level; only a traceback's lines may follow it, indented."""
    strays = [line for line in lines if line and not line.startswith(LEVELS) and not line.startswith(" ")]
    assert not strays, strays


async def upgrade(port: int, forwarded_for: bytes) -> tuple[bytes, asyncio.StreamWriter]:
    """Ask for a websocket from a trusted proxy naming `forwarded_for`; the answer's status line."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"GET /graphql HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Protocol: graphql-transport-ws\r\nX-Forwarded-For: " + forwarded_for + b"\r\n\r\n"
    )
    status = await asyncio.wait_for(reader.readline(), 10)
    return status, writer


async def test_an_encoded_newline_in_the_path_stays_inside_its_text_log_line(
    server_env: dict[str, str],
) -> None:
    # given: a development server writing text logs
    with ServerProcess(text_env(server_env)) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
            # when: paths carrying encoded line breaks and a fake record are requested
            for path in HOSTILE_PATHS:
                assert (await http.get(path)).status_code == 404
    lines = records(server.log_path.read_text())

    # then: each request has exactly one access line, its path's breaks shown escaped
    for shown in HOSTILE_PATHS.values():
        access = [line for line in lines if line.startswith("INFO credits.access") and shown in line]
        assert len(access) == 1, [line for line in lines if "credits.access" in line]
        assert access[0].endswith(f"GET {shown} 404")
    # and: no line of the log is one the client wrote
    assert not [line for line in lines if line.startswith(FORGED)]
    assert_every_line_is_a_record_or_indented(lines)


async def test_a_line_break_in_a_logged_header_stays_inside_its_text_log_line(
    server_env: dict[str, str],
) -> None:
    # given: a text-logging server allowing one unauthenticated websocket per client address
    env = text_env(server_env, CREDITS_MAX_UNAUTHENTICATED_WEBSOCKETS_PER_ADDRESS="1")
    forwarded = b"10.0.0.1\x85" + FORGED.encode()
    with ServerProcess(env) as server:
        # when: a trusted proxy names a client address with a raw NEL (a line break to Unicode
        # readers) twice, so the second socket is refused and the address logged
        first, held = await upgrade(server.port, forwarded)
        second, refused = await upgrade(server.port, forwarded)
        for writer in (held, refused):
            writer.close()
            await writer.wait_closed()
    lines = records(server.log_path.read_text(encoding="utf-8"))

    # then: the refusal is one line naming the address with the break escaped
    assert first.startswith(b"HTTP/1.1 101") and second.startswith(b"HTTP/1.1 503")
    refusals = [line for line in lines if "refusing websocket from" in line]
    assert len(refusals) == 1 and refusals[0].startswith("INFO credits.websocket [")
    assert refusals[0].endswith(f"] refusing websocket from 10.0.0.1\\x85{FORGED}: address limit reached")
    assert not [line for line in lines if line.startswith(FORGED)]
    assert_every_line_is_a_record_or_indented(lines)


def make_record(message: str, *args: object, error: BaseException | None = None) -> logging.LogRecord:
    """A record as a logger makes it, with the request id the filter adds."""
    exc_info = (type(error), error, error.__traceback__) if error else None
    record = logging.LogRecord("credits.test", logging.INFO, __file__, 1, message, args, exc_info)
    record.request_id = "req-1"
    return record


def raised(message: str) -> BaseException:
    """An exception with a traceback, its message chosen by a client."""
    try:
        raise ValueError(message)
    except ValueError:
        return sys.exc_info()[1]


def test_a_text_record_escapes_its_arguments_and_indents_its_traceback() -> None:
    # given: a message whose argument and exception carry line breaks and a backslash
    record = make_record(
        "login from %s", "a\r\nERROR forged \\n\u2028\x00", error=raised(f"bad\n{FORGED}\u2029")
    )

    # when: it is formatted as text
    lines = TextFormatter().format(record).splitlines()

    # then: the record is its first line, escaped; the traceback follows, each line indented
    assert lines[0] == "INFO credits.test [req-1] login from a\\r\\nERROR forged \\\\n\\u2028\\x00"
    assert lines[1:] and all(line.startswith("    ") for line in lines[1:])
    assert f"    {FORGED}" in lines


def test_a_json_record_stays_one_line_whatever_it_carries() -> None:
    # given: the same hostile record
    record = make_record("login from %s", f"a\r\n{FORGED}\u2028\x85", error=raised(f"bad\n{FORGED}"))

    # when: it is formatted as JSON
    text = JsonFormatter().format(record)

    # then: one line, which decodes back to exactly what was logged
    assert text.splitlines() == [text]
    entry = json.loads(text)
    assert entry["message"] == f"login from a\r\n{FORGED}\u2028\x85"
    assert entry["error"].endswith(f"ValueError: bad\n{FORGED}")
