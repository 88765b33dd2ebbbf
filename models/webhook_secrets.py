"""Webhook signing secrets: generated, sealed at rest with AES-GCM, opened only to sign.

A signing secret must be usable for HMAC, so it cannot be hashed like an API token. It is
encrypted with a key derived (HKDF-SHA256) from CREDITS_WEBHOOK_SECRET_KEY, or from the JWT
secret when that is not set; the endpoint's id is the associated data, so a sealed secret
copied to another row does not open.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import uuid
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from settings import get_settings

PREFIX = "whsec_"
_VERSION = "v1:"
_NONCE_BYTES = 12


def generate() -> str:
    """A new secret: `whsec_` + base64 of 32 random bytes."""
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def key_bytes(secret: str) -> bytes:
    """The HMAC key of a secret: the base64-decoded part after `whsec_`."""
    return base64.b64decode(secret.removeprefix(PREFIX))


def sign(secret: str, message_id: str, timestamp: int, body: str) -> str:
    """One Standard Webhooks signature: `v1,<base64 of HMAC-SHA256 over "{id}.{timestamp}.{body}">`."""
    digest = hmac.new(key_bytes(secret), f"{message_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


@lru_cache(maxsize=4)
def _cipher(master: str) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"credits webhook secrets v1").derive(
        master.encode()
    )
    return AESGCM(key)


def _current_cipher() -> AESGCM:
    settings = get_settings()
    return _cipher(settings.webhook_secret_key or settings.resolved_jwt_secret())


def seal(secret: str, endpoint_id: uuid.UUID) -> str:
    """The secret encrypted for storage in the endpoint's row."""
    nonce = os.urandom(_NONCE_BYTES)
    sealed = _current_cipher().encrypt(nonce, secret.encode(), endpoint_id.bytes)
    return _VERSION + base64.b64encode(nonce + sealed).decode()


def open_sealed(sealed: str, endpoint_id: uuid.UUID) -> str:
    """The secret a `seal` stored; raises if the key or the row does not match."""
    raw = base64.b64decode(sealed.removeprefix(_VERSION))
    return _current_cipher().decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], endpoint_id.bytes).decode()
