"""Users and credentials: login, JWTs, API tokens, user management, the first admin."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
import secrets
import time
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from tortoise import connections
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F

from infra import sql
from infra.batching import Combiner, Ticket
from infra.email_address import MAX_LENGTH as MAX_EMAIL_LENGTH
from infra.email_address import InvalidAddress, parse_address
from infra.transactions import transaction
from models import throttle
from models.actor import Actor
from models.customer import Customer
from models.development_logins import development_password
from models.errors import DomainError, ErrorCode, invalid_input, not_found
from models.events import AccessRevoked
from models.input_text import bounded, require_storable, storable
from models.passwords import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    dummy_hash,
    hash_password,
    verify_password,
)
from models.unit_of_work import unit_of_work
from models.user import ApiToken, Role, User
from settings import get_settings

# The catalog administrator made up in development when the environment names none.
GENERATED_ADMIN_EMAIL = "admin@localhost"

log = logging.getLogger("credits.accounts")

API_TOKEN_PREFIX = "crd_"
_JWT_ALGORITHM = "HS256"
_ACTIVE_USERS = 'SELECT * FROM "app_user" WHERE "active" AND "id" {among}'


class AuthenticationError(Exception):
    """A token that is missing, malformed, expired, revoked or of an inactive user."""


@dataclass(frozen=True)
class Session:
    """A successful login: the signed token, when it expires, and who it is for."""

    token: str
    expires_at: dt.datetime
    user: User


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def normalise_email(email: str) -> str:
    """Emails are unique and compared case-insensitively, and after Unicode normalisation.

    NFKC then case folding (Unicode's caseless identifier match): "JOSÉ" typed precomposed or
    decomposed, "STRASSE" and "straße", full-width letters: each the same account. The key can
    be longer than the address ("İ" folds to two characters): callers check its length.
    """
    return unicodedata.normalize("NFKC", email.strip()).casefold()


def _possible_email_key(email_key: str) -> bool:
    """Whether some account could have this key; others are never looked up (or stored)."""
    return len(email_key) <= MAX_EMAIL_LENGTH and storable(email_key)


def valid_email(email: str) -> tuple[str, str]:
    """A new account's address as stored and its key, or INVALID_INPUT on `email` (one address only)."""
    try:
        address = parse_address(email).normalized
    except InvalidAddress as exc:
        raise invalid_input(f"email is not a valid address: {exc}", "email") from None
    email_key = normalise_email(address)
    if not _possible_email_key(email_key):
        raise invalid_input(f"email must be at most {MAX_EMAIL_LENGTH} characters once case-folded", "email")
    return address, email_key


def login_keys(email: str) -> list[str]:
    """The keys an account typed so could have: its address's, then (older accounts) the text's own.

    Accounts created before addresses were validated keep the key of what was typed then, even
    if it is no valid address today: they still log in, and still answer INVALID_CREDENTIALS
    like anyone else when the password is wrong.
    """
    keys = []
    try:
        keys.append(normalise_email(parse_address(email).normalized))
    except InvalidAddress:
        pass
    keys.append(normalise_email(email))
    return [key for key in dict.fromkeys(keys) if _possible_email_key(key)]


def issue_jwt(user: User) -> Session:
    """Sign a short-lived access token for a user."""
    s = get_settings()
    now = _now()
    expires_at = now + dt.timedelta(seconds=s.jwt_ttl_seconds)
    claims = {
        "sub": str(user.id),
        "iat": now,
        "exp": expires_at,
        "jti": secrets.token_hex(8),
        "gen": user.token_generation,
    }
    token = jwt.encode(claims, s.resolved_jwt_secret(), algorithm=_JWT_ALGORITHM)
    return Session(token, expires_at.replace(microsecond=0), user)


async def login(email: str, password: str, address: str | None = None) -> Session:
    """Check credentials (see `check_credentials`) and sign a JWT for the user."""
    return issue_jwt(await check_credentials(email, password, address))


async def check_credentials(email: str, password: str, address: str | None = None) -> User:
    """The active user of these credentials; unknown email, wrong password and inactive user answer the same.

    Throttled per (email, client address), per client address and per email (RATE_LIMITED),
    before the password is checked: see models/throttle.py. The login mutation and the console's
    session login both come here.
    """
    keys = login_keys(email)
    # No key: no account has such an address, an unknown email throttled by the client address only.
    email_key = keys[0] if keys else None
    await throttle.ensure_allowed(email_key, address)
    if len(password) > MAX_PASSWORD_LENGTH:
        # No account has such a password: refused like a wrong one, without spending a hash on it.
        await throttle.record_failure(email_key, address)
        raise DomainError(ErrorCode.INVALID_CREDENTIALS, "invalid email or password")
    found = {user.email_key: user for user in await User.filter(email_key__in=keys)} if keys else {}
    user = next((found[key] for key in keys if key in found), None)
    # An unknown email costs a hash check too, so timing does not tell which emails exist.
    valid = await verify_password(user.password_hash if user else dummy_hash(), password)
    if user is None or not valid or not user.active:
        await throttle.record_failure(email_key, address)
        raise DomainError(ErrorCode.INVALID_CREDENTIALS, "invalid email or password")
    await throttle.forget_failures(email_key, address)
    return user


async def authenticate(token: str) -> Actor:
    """Resolve a bearer token (JWT or API token) to an active user, or raise."""
    if token.startswith(API_TOKEN_PREFIX):
        return await _authenticate_api_token(token)
    try:
        user_id, expires, generation = _verified_jwt(token, get_settings().resolved_jwt_secret())
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise AuthenticationError("invalid token") from exc
    if expires <= time.time():
        raise AuthenticationError("invalid token")
    row = await _active_users.submit(None, user_id)
    # A token issued before the user's last deactivation stays dead after a reactivation.
    if row is None or row["token_generation"] != generation:
        raise AuthenticationError("invalid token")
    return Actor(User._init_from_db(**row))


# Verifying the signature and claims was a few % of every request's CPU; what a valid token
# says cannot change, so it is kept. Expiry is time, so callers check it on every use.
@functools.lru_cache(maxsize=4096)
def _verified_jwt(token: str, secret: str) -> tuple[uuid.UUID, int, int]:
    """A token's user, expiry and user generation, once its signature and claims check out.

    Tokens signed before generations existed have none: generation 0, every user's first.
    """
    claims = jwt.decode(token, secret, algorithms=[_JWT_ALGORITHM], options={"require": ["exp", "sub"]})
    generation = claims.get("gen", 0)
    if type(generation) is not int:
        raise ValueError("malformed generation")
    return uuid.UUID(claims["sub"]), int(claims["exp"]), generation


async def _load_active_users(tickets: list[Ticket[uuid.UUID, dict[str, Any] | None]]) -> None:
    """One query for the users of every request authenticating at the same time."""
    conn = connections.get("default")
    query = _ACTIVE_USERS.format(among=sql.among(conn, 0))
    rows = await sql.fetch(conn, query, sorted({t.job for t in tickets}))
    by_id = {sql.as_uuid(row["id"]): row for row in rows}
    for ticket in tickets:
        ticket.resolve(by_id.get(ticket.job))


# Concurrent requests' user lookups are combined: one round trip for all who wait meanwhile.
_active_users: Combiner[uuid.UUID, dict[str, Any] | None] = Combiner(_load_active_users, max_batch=256)


async def _authenticate_api_token(token: str) -> Actor:
    row = await ApiToken.get_or_none(token_hash=_token_hash(token)).prefetch_related("user")
    if row is None or row.revoked_at is not None or not row.user.active:
        raise AuthenticationError("invalid token")
    await ApiToken.filter(id=row.id).update(last_used_at=_now())
    return Actor(row.user, api_token_id=row.id)


async def create_api_token(actor: Actor, name: str) -> tuple[str, ApiToken]:
    """Create a token acting as the caller; the secret is returned once and stored hashed."""
    name = bounded(name.strip(), "name", "name", min_length=1, max_length=200)
    secret = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = await ApiToken.create(user_id=actor.user_id, name=name, token_hash=_token_hash(secret))
    return secret, row


async def revoke_api_token(actor: Actor, token_id: uuid.UUID) -> ApiToken:
    """Revoke a token; its owner or a catalog administrator may."""
    row = await ApiToken.get_or_none(id=token_id)
    if row is None or (actor.role != Role.CATALOG_ADMIN and row.user_id != actor.user_id):
        raise not_found("API token", "id")
    if row.revoked_at is None:
        async with unit_of_work() as uow:
            row.revoked_at = _now()
            await row.save(update_fields=["revoked_at"], using_db=uow.conn)
            uow.events.append(AccessRevoked(api_token_id=row.id))
    return row


async def create_user(
    *,
    email: str,
    name: str,
    role: Role,
    customer_id: uuid.UUID | None,
    password: str,
) -> User:
    """Create a user; customer roles need an existing customer, catalog admins none."""
    email, email_key = valid_email(email)
    name = bounded(name.strip(), "name", "name", min_length=1, max_length=200)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise invalid_input(f"password must be at least {MIN_PASSWORD_LENGTH} characters", "password")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise invalid_input(f"password must be at most {MAX_PASSWORD_LENGTH} characters", "password")
    require_storable(password, "password", "password")
    if role == Role.CATALOG_ADMIN:
        if customer_id is not None:
            raise invalid_input("a catalog administrator has no customer", "customerId")
    else:
        if customer_id is None:
            raise invalid_input("customerId is required for this role", "customerId")
        if not await Customer.exists(id=customer_id):
            raise not_found("customer", "customerId")
    password_hash = await hash_password(password)
    try:
        async with transaction():
            return await User.create(
                email=email,
                email_key=email_key,
                name=name,
                role=role,
                customer_id=customer_id,
                password_hash=password_hash,
            )
    except IntegrityError:
        raise invalid_input("a user with this email exists", "email") from None


async def set_user_active(actor: Actor, user: User, active: bool) -> User:
    """(De)activate a user; a deactivated user's tokens stop working at once, and for good.

    Deactivation moves the user to a new token generation (its JWTs so far never work again, even
    after a reactivation) and revokes its API tokens.
    """
    if user.id == actor.user_id and not active:
        raise invalid_input("you cannot deactivate yourself", "active")
    if user.active == active:
        return user
    if active:
        await User.filter(id=user.id).update(active=True)
    else:
        async with unit_of_work() as uow:
            await (
                User.filter(id=user.id)
                .using_db(uow.conn)
                .update(active=False, token_generation=F("token_generation") + 1)
            )
            revoked = ApiToken.filter(user_id=user.id, revoked_at__isnull=True).using_db(uow.conn)
            await revoked.update(revoked_at=_now())
            uow.events.append(AccessRevoked(user_id=user.id))
    await user.refresh_from_db(fields=["active", "token_generation"])
    return user


async def ensure_first_admin(email: str | None, password: str | None, *, development: bool) -> None:
    """Create the first catalog administrator from the environment, never overwriting one."""
    if email and password:
        if not await User.filter(email_key__in=login_keys(email)).exists():
            await create_user(
                email=email,
                name="Administrator",
                role=Role.CATALOG_ADMIN,
                customer_id=None,
                password=password,
            )
            log.info("created catalog administrator %s from the environment", email)
        return
    if await User.exists(role=Role.CATALOG_ADMIN):
        return
    if not development:
        raise RuntimeError("CREDITS_ADMIN_EMAIL and CREDITS_ADMIN_PASSWORD are required")
    generated = development_password(GENERATED_ADMIN_EMAIL)
    await create_user(
        email=GENERATED_ADMIN_EMAIL,
        name="Administrator",
        role=Role.CATALOG_ADMIN,
        customer_id=None,
        password=generated,
    )
    # The one sanctioned exception to "no secret is logged": development first start.
    print(f"\n  First start: catalog administrator {GENERATED_ADMIN_EMAIL} / {generated}\n", flush=True)
