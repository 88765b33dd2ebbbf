"""Logging: one JSON object per line in production, every line carrying the request id.

Query strings are never logged (a GET could carry variables); tokens and passwords never are.
A record is one line whatever a client put in it: JSON escapes control characters by encoding,
the text format escapes them itself (`TextFormatter`), so no call site has to remember to.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import time
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from infra.request_id import current_request_id, new_request_id, set_request_id
from settings import Settings

access_log = logging.getLogger("credits.access")


class RequestIdFilter(logging.Filter):
    """Stamp each record with the request it belongs to."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, extra fields, error."""

    _EXTRA = ("method", "path", "status", "duration_ms", "client")

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        entry.update({k: getattr(record, k) for k in self._EXTRA if hasattr(record, k)})
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


# C0 controls, DEL, C1 controls (NEL among them), the Unicode line and paragraph separators, the
# bidirectional overrides and isolates (which reorder what a reader sees), and the backslash that
# introduces an escape (so `\n` in the output always means an escaped newline, never typed text).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\\\\]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def escape_controls(text: str) -> str:
    """`text` on one line: control and separator characters as escapes (`\\n`, `\\x1b`, `\\u2028`)."""
    return _UNSAFE.sub(_escape_char, text)


class TextFormatter(logging.Formatter):
    """`LEVEL logger [request id] message`, one line per record; a traceback follows, indented.

    Every record starts a line with its level; every line of a traceback starts with spaces,
    so text from a client (a path, a header, an exception's message) can neither end the record
    early nor pass for another one.
    """

    def __init__(self) -> None:
        super().__init__("%(levelname)s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        lines = [escape_controls(self.formatMessage(record))]
        details = []
        if record.exc_info:
            details.append(self.formatException(record.exc_info))
        if record.stack_info:
            details.append(self.formatStack(record.stack_info))
        lines.extend(f"    {escape_controls(line)}" for text in details for line in text.splitlines())
        return "\n".join(lines)


def configure(level: str, fmt: str) -> None:
    """Install the root handler: `json` for machines, `text` for people."""
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


def configure_from(settings: Settings) -> None:
    """`configure` with the level and format of these settings (text in development)."""
    configure(
        settings.log_level,
        settings.log_format or ("text" if settings.is_development else "json"),
    )


def begin_request(scope: Scope) -> str:
    """Set and return the request id of an HTTP request or websocket (the client's if well-formed)."""
    offered = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
    request_id = new_request_id(offered)
    set_request_id(request_id)
    return request_id


def log_access(scope: Scope, status: int, started: float) -> None:
    """One access line: method (WS for websockets), path, status, duration and client address."""
    client = scope.get("client")
    access_log.info(
        "%s %s %s",
        scope.get("method", "WS"),
        scope["path"],
        status or "-",
        extra={
            "method": scope.get("method", "WS"),
            "path": scope["path"],
            "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            "client": client[0] if client else None,
        },
    )


class RequestIdMiddleware:
    """Give every request an id (the client's X-Request-ID if well-formed), echo it, log access."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = begin_request(scope)
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append("X-Request-ID", request_id)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            log_access(scope, status, started)
