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

    # when / then: refused, naming the internal one (outside production, where the detail helps)
    with pytest.raises(DomainError, match=r"10\.0\.0\.7") as refused:
        await destinations.check("https://hooks.example.com/x", production=False, allow_private=False)
    assert refused.value.argument == "url"


async def test_allowing_private_networks_lifts_the_address_rule_only() -> None:
    # given / when: a loopback destination with private networks allowed
    allowed = await destinations.check("http://127.0.0.1:9/x", production=False, allow_private=True)

    # then: accepted, with the address to connect to
    assert allowed.addresses == (ipaddress.ip_address("127.0.0.1"),)
    with pytest.raises(DomainError):
        await destinations.check("http://127.0.0.1:9/x", production=True, allow_private=True)


async def test_production_refuses_an_internal_name_and_an_unknown_one_alike(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # given: one name that resolves to an internal address and one that does not resolve
    async def internal_or_none(host: str, port: int) -> tuple[destinations.IPAddress, ...]:
        if host == "db.internal.example":
            return (ipaddress.ip_address("10.0.0.7"),)
        raise OSError("Name or service not known")

    monkeypatch.setattr(destinations, "resolve", internal_or_none)
    caplog.set_level("INFO", "credits.webhooks")

    # when: production checks both
    messages = []
    for host in ("db.internal.example", "nothing.internal.example"):
        with pytest.raises(DomainError) as refused:
            await destinations.check(f"https://{host}/x", production=True, allow_private=False)
        messages.append(refused.value.message)

    # then: the same message, naming neither the address nor which reason it was; the log has the detail
    assert messages[0] == messages[1] == destinations.NOT_PUBLIC
    assert "10.0.0.7" in caplog.text and "does not resolve" in caplog.text


@pytest.mark.parametrize(
    ("url", "sent"),
    [
        ("https://bücher.example/x", "https://xn--bcher-kva.example/x"),
        ("https://BÜCHER.example:8443/ä?q=ü#f", "https://xn--bcher-kva.example:8443/%C3%A4?q=%C3%BC#f"),
        (
            "https://hooks.example/日本?a=€&b=%7E",
            "https://hooks.example/%E6%97%A5%E6%9C%AC?a=%E2%82%AC&b=%7E",
        ),
        ("https://hooks.example/a|b{c}", "https://hooks.example/a%7Cb%7Bc%7D"),
        ("https://hooks.example/plain/path?x=1&y=2", "https://hooks.example/plain/path?x=1&y=2"),
    ],
)
def test_a_url_is_parsed_into_the_ascii_form_that_is_sent(url: str, sent: str) -> None:
    # given / when
    parts = destinations.parse_url(url, production=True)

    # then: IDNA for the host, UTF-8 percent-encoding elsewhere, existing escapes kept
    assert parts.geturl() == sent
    assert parts.geturl().isascii()


@pytest.mark.parametrize("url", ["https://☃.example/x", "https://a\u200db.example/x"])
def test_a_host_without_an_idna_form_is_refused(url: str) -> None:
    # given / when / then
    with pytest.raises(DomainError) as refused:
        destinations.parse_url(url, production=True)
    assert refused.value.argument == "url"
