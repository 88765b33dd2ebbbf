"""The destination rules on their own: URL shape, address spellings, every resolved address."""

from __future__ import annotations

import ipaddress

import pytest

from models import destinations
from models.errors import DomainError


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("::ffff:127.0.0.1", "::ffff:127.0.0.1"),
    ],
)
async def test_every_spelling_of_an_address_resolves_to_it(host: str, address: str) -> None:
    # given / when: a host written as an IP literal in one of its legacy spellings
    resolved = await destinations.resolve(host, 80)

    # then: it is that address, without asking DNS
    assert resolved == (ipaddress.ip_address(address),)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.0.1",
        "169.254.169.254",
        "0.0.0.0",
        "224.0.0.1",
        "100.64.0.1",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "2002:7f00:1::",  # 6to4 around 127.0.0.1
    ],
)
def test_internal_addresses_are_forbidden(address: str) -> None:
    # given / when / then
    assert destinations.is_forbidden(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address: str) -> None:
    # given / when / then
    assert not destinations.is_forbidden(ipaddress.ip_address(address))


async def test_a_name_with_any_internal_address_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # given: a name that resolves to a public and an internal address
    async def two(host: str, port: int) -> tuple[destinations.IPAddress, ...]:
        return (ipaddress.ip_address("93.184.215.14"), ipaddress.ip_address("10.0.0.7"))

    monkeypatch.setattr(destinations, "resolve", two)

    # when / then: refused, naming the internal one
    with pytest.raises(DomainError, match=r"10\.0\.0\.7") as refused:
        await destinations.check("https://hooks.example.com/x", production=True, allow_private=False)
    assert refused.value.argument == "url"


async def test_allowing_private_networks_lifts_the_address_rule_only() -> None:
    # given / when: a loopback destination with private networks allowed
    allowed = await destinations.check("http://127.0.0.1:9/x", production=False, allow_private=True)

    # then: accepted, with the address to connect to
    assert allowed.addresses == (ipaddress.ip_address("127.0.0.1"),)
    with pytest.raises(DomainError):
        await destinations.check("http://127.0.0.1:9/x", production=True, allow_private=True)
