"""Console sessions: a browser's login, held in an HttpOnly cookie and revocable on the server.

A session is two random secrets, both stored as SHA-256 only: the session token (the HttpOnly
cookie, which page scripts never see) and a CSRF token (readable by the console's own scripts and
sent back in a header or in `connection_init`). It acts as its user until it expires
(`CREDITS_CONSOLE_SESSION_SECONDS` after login), is ended (logout), or the user is deactivated
(the user's token generation moves on, as for JWTs). How the cookie reaches this module, and
from which origins, is api/console_session.py's business.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass

from tortoise import fields
from tortoise.models import Model

from models.accounts import AuthenticationError, check_credentials
from models.actor import Actor
from models.events import AccessRevoked
from models.unit_of_work import unit_of_work
from models.user import User
from settings import get_settings

SESSION_PREFIX = "crs_"


class ConsoleSession(Model):
    """One console login: the hashes of its two secrets, its user, when it ends."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    user = fields.ForeignKeyField("models.User", related_name="console_sessions")
    token_hash = fields.CharField(max_length=64, unique=True)
    csrf_hash = fields.CharField(max_length=64)
    generation = fields.IntField(description="the user's token generation at login")
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField(db_index=True)
    ended_at = fields.DatetimeField(null=True, description="logout")

    user_id: uuid.UUID

    class Meta:
        table = "console_session"


@dataclass(frozen=True)
class NewSession:
    """A session just started: its secrets (shown once, to the browser), its end and its user."""

    id: uuid.UUID
    token: str
    csrf_token: str
    expires_at: dt.datetime
    user: User


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def start(email: str, password: str, address: str | None = None) -> NewSession:
    """Log in (throttled exactly as the login mutation) and start a session for the user."""
    user = await check_credentials(email, password, address)
    token = SESSION_PREFIX + secrets.token_urlsafe(32)
    csrf_token = secrets.token_urlsafe(32)
    lifetime = dt.timedelta(seconds=get_settings().console_session_seconds)
    expires_at = (_now() + lifetime).replace(microsecond=0)
    row = await ConsoleSession.create(
        user_id=user.id,
        token_hash=_digest(token),
        csrf_hash=_digest(csrf_token),
        generation=user.token_generation,
        expires_at=expires_at,
    )
    return NewSession(row.id, token, csrf_token, expires_at, user)


async def _live(token: str, csrf_token: str) -> ConsoleSession | None:
    """The session of `token` if it is live and `csrf_token` is its CSRF token."""
    if not token.startswith(SESSION_PREFIX) or not csrf_token:
        return None
    row = await ConsoleSession.filter(token_hash=_digest(token)).select_related("user").first()
    if row is None or row.ended_at is not None or row.expires_at <= _now():
        return None
    if not hmac.compare_digest(row.csrf_hash, _digest(csrf_token)):
        return None
    return row


async def authenticate(token: str, csrf_token: str) -> Actor:
    """The session's user, with the CSRF token that belongs to it; else AuthenticationError."""
    row = await _live(token, csrf_token)
    # A session started before the user's last deactivation stays dead after a reactivation.
    if row is None or not row.user.active or row.user.token_generation != row.generation:
        raise AuthenticationError("invalid session")
    return Actor(row.user, session_id=row.id, expires_at=row.expires_at.timestamp())


async def end(token: str, csrf_token: str) -> bool:
    """Log out: the session ends at once, and its open sockets and streams close (4403)."""
    row = await _live(token, csrf_token)
    if row is None:
        return False
    async with unit_of_work() as uow:
        live = ConsoleSession.filter(id=row.id, ended_at=None).using_db(uow.conn)
        ended = await live.update(ended_at=_now())
        if ended:
            uow.events.append(AccessRevoked(session_id=row.id))
    return True


async def prune(before: dt.datetime) -> int:
    """Delete the sessions that expired before `before` (ended ones are kept only until then)."""
    return await ConsoleSession.filter(expires_at__lt=before).delete()
