"""Where a webhook may go: an absolute http(s) URL whose host resolves to public addresses only.

The same rules run when an endpoint is saved and before every attempt, against every address
the name resolves to (DNS can change); the sender then connects to an address it checked.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, quote, urlsplit

import idna

from models.errors import DomainError, invalid_input
from models.input_text import require_storable

log = logging.getLogger("credits.webhooks")

MAX_URL_LENGTH = 2000
URL_FIELD = "url"  # under the input object
# Production says only this when a host does not resolve or resolves to an internal address: the
# difference would tell a customer administrator which internal names exist and their addresses.
NOT_PUBLIC = "url's host does not resolve to a public address"
# What stays as it is in a path, query or fragment: RFC 3986's reserved and unreserved characters,
# and "%" (an escape already there is kept, never encoded twice). Anything else, non-ASCII first,
# is percent-encoded as UTF-8, as browsers send it.
_PATH_SAFE = "/:@!$&'()*+,;=%~"
_QUERY_SAFE = _PATH_SAFE + "?"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Destination:
    """A checked URL: its parts, and the addresses its host resolved to (all of them allowed)."""

    url: SplitResult
    host: str
    port: int
    addresses: tuple[IPAddress, ...]


def parse_url(url: str, *, production: bool) -> SplitResult:
    """The URL's parts, if it is an absolute https URL (http too outside production)."""
    schemes = ("https",) if production else ("https", "http")
    require_storable(url, "url", URL_FIELD)
    if len(url) > MAX_URL_LENGTH:
        raise invalid_input(f"url is longer than {MAX_URL_LENGTH} characters", URL_FIELD)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise invalid_input("url is not a valid URL", URL_FIELD) from None
    if parts.scheme not in schemes or not parts.hostname:
        raise invalid_input(f"url must be an absolute {' or '.join(schemes)} URL", URL_FIELD)
    if parts.username is not None or parts.password is not None:
        raise invalid_input("url must not carry credentials", URL_FIELD)
    if any(c.isspace() or ord(c) < 0x20 for c in url):
        raise invalid_input("url must not contain whitespace or control characters", URL_FIELD)
    return _ascii(parts)


def _ascii(parts: SplitResult) -> SplitResult:
    """The URL as it goes on the wire: the host in IDNA, the rest percent-encoded (UTF-8).

    HTTP request lines are ASCII; a character outside it would be sent as raw bytes or not at all.
    Saving this form means what is stored and shown is exactly what is sent.
    """
    netloc = parts.netloc
    if not netloc.isascii():
        host = parts.hostname or ""
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except idna.IDNAError:
            message = "url's host is not a valid internationalised domain name"
            raise invalid_input(message, URL_FIELD) from None
        netloc = host if parts.port is None else f"{host}:{parts.port}"
    ascii_parts = parts._replace(
        netloc=netloc,
        path=quote(parts.path, safe=_PATH_SAFE),
        query=quote(parts.query, safe=_QUERY_SAFE),
        fragment=quote(parts.fragment, safe=_QUERY_SAFE),
    )
    if len(ascii_parts.geturl()) > MAX_URL_LENGTH:
        raise invalid_input(f"url is longer than {MAX_URL_LENGTH} characters once percent-encoded", URL_FIELD)
    return ascii_parts


def is_forbidden(address: IPAddress) -> bool:
    """Loopback, private, link-local, multicast, unspecified or otherwise not a public address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None and is_forbidden(embedded):
            return True
    return (
        not address.is_global
        or address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_unspecified
        or address.is_reserved
    )


def _literal(host: str) -> IPAddress | None:
    """The address a host spells directly: dotted, IPv6, or the legacy decimal, octal and hex forms."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    try:
        # inet_aton accepts what browsers and resolvers accept: 127.1, 2130706433, 0x7f.1, 017700000001.
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


async def resolve(host: str, port: int) -> tuple[IPAddress, ...]:
    """Every address `host` resolves to (an IP literal, in any spelling, is itself)."""
    literal = _literal(host)
    if literal is not None:
        return (literal,)
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[IPAddress] = []
    for _, _, _, _, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return tuple(found)


async def check(url: str, *, production: bool, allow_private: bool) -> Destination:
    """The destination, if `url` is allowed; INVALID_INPUT on ["input","url"] otherwise."""
    parts = parse_url(url, production=production)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = await resolve(host, port)
    except (OSError, UnicodeError):
        addresses = ()
    if not addresses:
        raise _not_public(f"url's host {host!r} does not resolve", production)
    if not allow_private:
        refused = [a for a in addresses if is_forbidden(a)]
        if refused:
            detail = f"url's host resolves to a non-public address ({refused[0]}): refused"
            raise _not_public(detail, production)
    return Destination(parts, host, port, addresses)


def _not_public(detail: str, production: bool) -> DomainError:
    """The refusal: in production one message for every reason (the detail goes to the log only)."""
    if not production:
        return invalid_input(detail, URL_FIELD)
    log.info("webhook destination refused: %s", detail)
    return invalid_input(NOT_PUBLIC, URL_FIELD)


def refusal(error: DomainError) -> str:
    """A destination refusal as a delivery's lastError."""
    return f"destination refused: {error.message}"
