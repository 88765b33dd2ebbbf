"""Who did something: a user, possibly through one of its API tokens."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from models.user import Role, User


@dataclass(frozen=True)
class Actor:
    """The authenticated caller; work done through a token is recorded as its owner's."""

    user: User
    api_token_id: uuid.UUID | None = None
    session_id: uuid.UUID | None = None  # the console session it came through (models/console_sessions.py)
    expires_at: float | None = None  # Unix time its console session ends (JWTs carry their own `exp`)

    @property
    def user_id(self) -> uuid.UUID:
        """The id recorded as the actor of ledger entries and idempotency keys."""
        return self.user.id

    @property
    def role(self) -> Role:
        """The caller's role."""
        return self.user.role

    @property
    def customer_id(self) -> uuid.UUID | None:
        """The caller's customer; None for catalog administrators."""
        return self.user.customer_id
