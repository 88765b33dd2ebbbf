"""One email address, and nothing else: the rule for accounts, alert recipients and the sender.

A regex let `a,outsider@evil.test` through, which an SMTP library reads as two recipients;
`email-validator` parses the RFC 5321/5322/6531 syntax instead, without DNS (no deliverability
check: the configured relay decides that). Refused: lists, display names and angle brackets,
quoted local parts, comments, IP literals, control and line-separator characters, more than
254 characters. Accepted on purpose: internationalised addresses (a Unicode domain is kept in
its Unicode form and sent in its IDNA form; a non-ASCII local part needs a relay that offers
SMTPUTF8, else that email fails), dotless and special-use domains such as `localhost`, `.test`,
`.local` (development and intranet relays use them).
"""

from __future__ import annotations

from dataclasses import dataclass

import email_validator

# The library's documented knob (a module-level list it reads on every call): refuse only the
# special-use names no mailbox of ours can have.
email_validator.SPECIAL_USE_DOMAIN_NAMES = [
    name for name in email_validator.SPECIAL_USE_DOMAIN_NAMES if name not in {"localhost", "local", "test"}
]

MAX_LENGTH = 254  # RFC 5321's path limit; also the width of the `email` columns


class InvalidAddress(ValueError):
    """Text that is not exactly one acceptable address; the message says why."""


@dataclass(frozen=True)
class Address:
    """A validated address: `normalized` to store and show, `smtp` for the envelope and headers."""

    normalized: str
    smtp: str
    display_name: str | None = None


def parse_address(text: str, *, display_name: bool = False) -> Address:
    """The one address in `text` (surrounding whitespace ignored), or InvalidAddress.

    `display_name=True` also accepts `Name <address>` (the sender setting only).
    """
    try:
        valid = email_validator.validate_email(
            text.strip(),
            check_deliverability=False,
            globally_deliverable=False,
            allow_display_name=display_name,
            allow_quoted_local=False,
            allow_domain_literal=False,
        )
    except email_validator.EmailNotValidError as exc:
        raise InvalidAddress(str(exc)) from None
    if len(valid.normalized) > MAX_LENGTH:
        raise InvalidAddress(f"The email address is longer than {MAX_LENGTH} characters.")
    return Address(valid.normalized, valid.ascii_email or valid.normalized, valid.display_name or None)
