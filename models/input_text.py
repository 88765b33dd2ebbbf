"""Input text checks: length bounds, and text a database can hold.

JSON carries strings no column can store: NUL (PostgreSQL refuses it in text) and unpaired
surrogates (`"\\ud800"`: not Unicode, no driver can encode them). Both are INVALID_INPUT on the
argument, on every backend, before anything is written or looked up.
"""

from __future__ import annotations

import re

from models.errors import invalid_input

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(text: str) -> bool:
    """Whether `text` has neither NUL nor an unpaired surrogate."""
    return _UNSTORABLE.search(text) is None


def require_storable(text: str, what: str, argument: str | None) -> str:
    """`text` itself, or INVALID_INPUT on `argument`."""
    if not storable(text):
        raise invalid_input(f"{what} must not contain NUL characters or unpaired surrogates", argument)
    return text


def bounded(text: str, what: str, argument: str | None, *, max_length: int, min_length: int = 0) -> str:
    """`text` if its length is within bounds and a database can hold it; INVALID_INPUT on `argument`."""
    if not min_length <= len(text) <= max_length:
        bounds = f"{min_length} to {max_length}" if min_length else f"at most {max_length}"
        raise invalid_input(f"{what} must be {bounds} characters", argument)
    return require_storable(text, what, argument)
