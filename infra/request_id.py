"""The request being served, so every ledger entry and log line can name it."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

_request_id: ContextVar[str | None] = ContextVar("credits_request_id", default=None)
_VALID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def new_request_id(offered: str | None = None) -> str:
    """A client's well-formed X-Request-ID, or a fresh one."""
    if offered and _VALID.fullmatch(offered):
        return offered
    return uuid.uuid4().hex


def set_request_id(request_id: str | None) -> None:
    """Bind the current task (and tasks it starts) to a request id."""
    _request_id.set(request_id)


def current_request_id() -> str | None:
    """The id of the request being served, if any."""
    return _request_id.get()
