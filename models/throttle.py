"""Login throttling: failed attempts per (email, client address), per client address and per email.

A stranger's failures for an email count against the stranger's address, so they cannot lock the
owner out from elsewhere; the much higher per-email ceiling stops guessing spread over many
addresses. Kept in the database, so every server process counts the same attempts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import uuid

from tortoise import fields
from tortoise.functions import Count
from tortoise.models import Model

from models.errors import DomainError, ErrorCode
from settings import get_settings

_MAX_KEY_LENGTH = 300  # the column `key`


class LoginFailure(Model):
    """One failed login, keyed by email and by client address."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    key = fields.CharField(max_length=300, db_index=True)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "login_failure"


def _key(kind: str, value: str) -> str:
    """`kind:value`, or a digest of it when it would not fit the column."""
    key = f"{kind}:{value}"
    if len(key) <= _MAX_KEY_LENGTH:
        return key
    return f"{kind}#{hashlib.sha256(value.encode()).hexdigest()}"


def _email_keys(email_key: str, address: str | None) -> list[str]:
    """The counters a success clears: the email's from this address, and the email's overall."""
    return [_key("pair", f"{address or ''} {email_key}"), _key("email", email_key)]


def _keys(email_key: str | None, address: str | None) -> list[tuple[str, int]]:
    """The counters an attempt touches; no email counters for an address no account can have."""
    s = get_settings()
    keys: list[tuple[str, int]] = []
    if email_key is not None:
        pair, email = _email_keys(email_key, address)
        keys += [(pair, s.login_max_failures_per_email_and_address), (email, s.login_max_failures_per_email)]
    if address:
        keys.append((_key("address", address), s.login_max_failures_per_address))
    return keys


def _window() -> dt.timedelta:
    return dt.timedelta(seconds=get_settings().login_window_seconds)


def _window_start() -> dt.datetime:
    return dt.datetime.now(dt.UTC) - _window()


async def ensure_allowed(email_key: str | None, address: str | None) -> None:
    """RATE_LIMITED while any of the attempt's counters has too many recent failures, saying when to retry."""
    keys = _keys(email_key, address)
    if not keys:
        return
    counts = dict(
        await LoginFailure.filter(key__in=[key for key, _ in keys], created_at__gte=_window_start())
        .annotate(failures=Count("id"))
        .group_by("key")
        .values_list("key", "failures")
    )
    blocked = [(key, limit, counts[key]) for key, limit in keys if counts.get(key, 0) >= limit]
    if blocked:
        wait = max([await _seconds_until_below(*counter) for counter in blocked])
        raise DomainError(ErrorCode.RATE_LIMITED, f"too many failed logins; try again in {wait} seconds")


async def _seconds_until_below(key: str, limit: int, count: int) -> int:
    """Seconds until fewer than `limit` of the key's `count` recent failures are within the window.

    That is when the (count - limit + 1)-th oldest of them leaves it (at least 1: never "in 0").
    """
    now = dt.datetime.now(dt.UTC)
    moments = (
        await LoginFailure.filter(key=key, created_at__gte=now - _window())
        .order_by("created_at")
        .offset(count - limit)
        .limit(1)
        .values_list("created_at", flat=True)
    )
    if not moments:
        return 1
    return max(1, math.ceil((moments[0] + _window() - now).total_seconds()))


async def record_failure(email_key: str | None, address: str | None) -> None:
    """Count a failed attempt (and forget ones older than the window)."""
    await LoginFailure.filter(created_at__lt=_window_start()).delete()
    for key, _ in _keys(email_key, address):
        await LoginFailure.create(key=key)


async def forget_failures(email_key: str, address: str | None) -> None:
    """A successful login clears its email's failures (its address keeps its count)."""
    await LoginFailure.filter(key__in=_email_keys(email_key, address)).delete()
