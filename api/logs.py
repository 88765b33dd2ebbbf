"""Logging: one JSON object per line in production, every line carrying the request id.

Query strings are never logged (a GET could carry variables); tokens and passwords never are.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
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


def configure(level: str, fmt: str) -> None:
    """Install the root handler: `json` for machines, `text` for people."""
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s [%(request_id)s] %(message)s"))
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
