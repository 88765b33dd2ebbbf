"""An open websocket stays authenticated: expired, revoked or deactivated means closed (4403)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

import jwt
from starlette.websockets import WebSocket, WebSocketState

from models.accounts import AuthenticationError, authenticate

log = logging.getLogger("credits.websocket")

FORBIDDEN_CLOSE = 4403


def _expires_in(token: str) -> float | None:
    """Seconds until a JWT's `exp` (None for API tokens, which do not expire)."""
    try:
        exp = jwt.decode(token, options={"verify_signature": False}).get("exp")
    except jwt.PyJWTError:
        return None
    if exp is None:
        return None
    return exp - dt.datetime.now(dt.UTC).timestamp()


async def watch_socket(socket: WebSocket, token: str, recheck_seconds: float) -> None:
    """Re-check the socket's token every `recheck_seconds` and at its expiry; close when it fails."""
    while socket.application_state != WebSocketState.DISCONNECTED:
        remaining = _expires_in(token)
        await asyncio.sleep(
            max(0.0, min(recheck_seconds, remaining if remaining is not None else recheck_seconds))
        )
        if socket.application_state == WebSocketState.DISCONNECTED:
            return
        try:
            await authenticate(token)
        except AuthenticationError:
            log.info("closing websocket: token expired, revoked or user deactivated")
            try:
                await socket.close(code=FORBIDDEN_CLOSE, reason="Forbidden")
            except RuntimeError:
                pass
            return
        except Exception:
            log.warning("could not re-check a websocket's token", exc_info=True)
