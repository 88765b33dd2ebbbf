"""Password hashing with argon2, off the event loop."""

from __future__ import annotations

import asyncio
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from settings import get_settings

MIN_PASSWORD_LENGTH = 8
# Hashing cost grows with the length: longer passwords are refused, and never hashed at login.
MAX_PASSWORD_LENGTH = 1024


@lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    """One hasher with the configured cost (cheap in tests, strong by default)."""
    s = get_settings()
    return PasswordHasher(time_cost=s.argon2_time_cost, memory_cost=s.argon2_memory_kib)


async def hash_password(password: str) -> str:
    """Hash in a thread: argon2 would otherwise block every other request."""
    return await asyncio.to_thread(_hasher().hash, password)


async def verify_password(password_hash: str, password: str) -> bool:
    """Check a password in constant time against its hash (False for text UTF-8 cannot encode)."""
    try:
        return await asyncio.to_thread(_hasher().verify, password_hash, password)
    except (VerificationError, InvalidHashError, UnicodeEncodeError):
        return False


@lru_cache(maxsize=1)
def dummy_hash() -> str:
    """A hash to verify against for unknown emails, so both answers take as long."""
    return _hasher().hash("not-a-real-password")


def reset_hasher() -> None:
    """Forget cached hashers after the settings change (tests)."""
    _hasher.cache_clear()
    dummy_hash.cache_clear()
