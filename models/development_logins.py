"""Passwords the server makes up in development: the first administrator's and the demo users'.

Each is derived from the signing secret (generated once into the data dir in development) and the
email, so it is the same on every start while the data dir lives, and the demo can print its logins
on every start instead of changing them. Nothing but a hash of it is stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from settings import get_settings

_PURPOSE = b"credits development login\0"


def development_password(email: str) -> str:
    """The made-up password of `email` in this data dir: 16 URL-safe characters (96 bits)."""
    key = get_settings().resolved_jwt_secret().encode()
    digest = hmac.new(key, _PURPOSE + email.lower().encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:12]).decode()
