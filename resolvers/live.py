"""What a subscription needs of the connection it runs on; api/ gives it (a websocket), resolvers/ uses it."""

from __future__ import annotations

from typing import Protocol


class LiveConnection(Protocol):
    """A long-lived connection carrying a subscription's events (api/context.py: `Context.live`)."""

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Close the connection with a close code and reason (e.g. 1013, subscriber too slow)."""
        ...
