"""Download links for a ledger export: signed, valid 60 s, for one customer and viewer, used once.

A browser saves a download to disk only when it navigates to it, and a navigation carries no
`Authorization` header: the console asks for a link (with its bearer token) and then navigates.
The link is a JWT with its own audience, so it is no session token, and a session token is no
link; it names the viewer's token generation, so a deactivation ends it. Its id is claimed as an
idempotency key on use (one row, pruned with the others): a second download of the same link is
refused by every process.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from dataclasses import dataclass

import jwt
from tortoise.exceptions import IntegrityError

from models.actor import Actor
from models.idempotency import IdempotencyRecord
from models.user import User
from settings import get_settings

LINK_SECONDS = 60
AUDIENCE = "credits:ledger-export"
_ALGORITHM = "HS256"
_OPERATION = "ledgerExportLink"


class LinkRefused(Exception):
    """The link is forged, altered, expired, already used, for another customer, or its viewer left."""


@dataclass(frozen=True)
class ExportGrant:
    """What a valid link allows: this viewer exports this customer's entries in this range."""

    actor: Actor
    customer_id: uuid.UUID
    since: dt.datetime | None
    until: dt.datetime | None


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _moment(value: object) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("not a date")
    return dt.datetime.fromisoformat(value)


def issue_link(
    actor: Actor,
    customer_id: uuid.UUID,
    since: dt.datetime | None,
    until: dt.datetime | None,
    now: dt.datetime | None = None,
) -> tuple[str, dt.datetime]:
    """A signed link token for `actor` to export `customer_id` in `[since, until)`, and its expiry.

    The caller has already checked that `actor` may read that ledger; the redeemer checks again.
    """
    expires = (now or dt.datetime.now(dt.UTC)) + dt.timedelta(seconds=LINK_SECONDS)
    claims = {
        "aud": AUDIENCE,
        "sub": str(actor.user_id),
        "gen": actor.user.token_generation,
        "cus": str(customer_id),
        "since": _iso(since),
        "until": _iso(until),
        "exp": expires,
        "jti": secrets.token_urlsafe(16),
    }
    return jwt.encode(claims, get_settings().resolved_jwt_secret(), algorithm=_ALGORITHM), expires


async def redeem_link(token: str, customer_id: uuid.UUID) -> ExportGrant:
    """The grant of a link presented for `customer_id`, claimed so that it works once; else LinkRefused."""
    try:
        claims = jwt.decode(
            token,
            get_settings().resolved_jwt_secret(),
            algorithms=[_ALGORITHM],
            audience=AUDIENCE,
            options={"require": ["aud", "sub", "exp", "jti", "cus", "gen"]},
        )
        user_id, linked = uuid.UUID(claims["sub"]), uuid.UUID(claims["cus"])
        since, until = _moment(claims.get("since")), _moment(claims.get("until"))
        nonce = claims["jti"]
        if not isinstance(nonce, str) or not 1 <= len(nonce) <= 64:
            raise ValueError("bad id")
    except (jwt.PyJWTError, ValueError, TypeError, AttributeError) as exc:
        raise LinkRefused("invalid or expired link") from exc
    if linked != customer_id:
        raise LinkRefused("the link is for another customer")
    user = await User.get_or_none(id=user_id, active=True)
    if user is None or user.token_generation != claims["gen"]:
        raise LinkRefused("the link's viewer has no access any more")
    try:
        await IdempotencyRecord.create(
            actor=user, operation=_OPERATION, key=nonce, fingerprint=str(customer_id)
        )
    except IntegrityError:
        raise LinkRefused("the link was used already") from None
    return ExportGrant(Actor(user), customer_id, since, until)
