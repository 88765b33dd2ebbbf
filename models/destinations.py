"""Where a webhook may go: an absolute http(s) URL whose host resolves to public addresses only.

The same rules run when an endpoint is saved and before every attempt, against every address
the name resolves to (DNS can change); the sender then connects to an address it checked.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from models.errors import DomainError, invalid_input
from models.input_text import require_storable

MAX_URL_LENGTH = 2000
URL_FIELD = "url"  # under the input object

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
    return parts


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
        raise invalid_input(f"url's host {host!r} does not resolve", URL_FIELD) from None
    if not addresses:
        raise invalid_input(f"url's host {host!r} does not resolve", URL_FIELD)
    if not allow_private:
        refused = [a for a in addresses if is_forbidden(a)]
        if refused:
            raise invalid_input(
                f"url's host resolves to a non-public address ({refused[0]}): refused", URL_FIELD
            )
    return Destination(parts, host, port, addresses)


def refusal(error: DomainError) -> str:
    """A destination refusal as a delivery's lastError."""
    return f"destination refused: {error.message}"
