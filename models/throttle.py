"""Login throttling: failed attempts per email and per client address within a window.

Kept in the database, so every server process counts the same attempts.
"""

from __future__ import annotations

import datetime as dt
import uuid

from tortoise import fields
from tortoise.models import Model

from models.errors import DomainError, ErrorCode
from settings import get_settings


class LoginFailure(Model):
    """One failed login, keyed by email and by client address."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    key = fields.CharField(max_length=300, db_index=True)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "login_failure"


def _keys(email_key: str | None, address: str | None) -> list[tuple[str, int]]:
    """The counters an attempt touches; no email counter for an address no account can have."""
    s = get_settings()
    keys = [(f"email:{email_key}", s.login_max_failures_per_email)] if email_key is not None else []
    if address:
        keys.append((f"address:{address}", s.login_max_failures_per_address))
    return keys


def _window_start() -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(seconds=get_settings().login_window_seconds)


async def ensure_allowed(email_key: str | None, address: str | None) -> None:
    """RATE_LIMITED while an email or an address has too many recent failures."""
    since = _window_start()
    for key, limit in _keys(email_key, address):
        if await LoginFailure.filter(key=key, created_at__gte=since).count() >= limit:
            raise DomainError(ErrorCode.RATE_LIMITED, "too many failed logins; try again later")


async def record_failure(email_key: str | None, address: str | None) -> None:
    """Count a failed attempt (and forget ones older than the window)."""
    await LoginFailure.filter(created_at__lt=_window_start()).delete()
    for key, _ in _keys(email_key, address):
        await LoginFailure.create(key=key)


async def forget_failures(email_key: str) -> None:
    """A successful login clears its email's failures (the address keeps its count)."""
    await LoginFailure.filter(key=f"email:{email_key}").delete()
