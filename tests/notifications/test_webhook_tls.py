"""An https destination: the sender connects to the checked address, and TLS verifies the URL's host."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from models import destinations
from notifications import webhook_http
from tests.processes import free_port

HOST = "hooks.example.test"


def _certificate(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for `name`, and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@pytest.fixture
async def tls_receiver(tmp_path: Path) -> AsyncIterator[tuple[int, list[bytes], Path]]:
    """An https server on 127.0.0.1 with a certificate for HOST: (port, requests' heads, certificate)."""
    cert, key = _certificate(tmp_path, HOST)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    heads: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        heads.append(head)
        length = next(
            int(v) for k, _, v in (h.partition(b": ") for h in head.split(b"\r\n")) if k == b"content-length"
        )
        await reader.readexactly(length)
        writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    port = free_port()
    server = await asyncio.start_server(serve, "127.0.0.1", port, ssl=context)
    yield port, heads, cert
    server.close()
    await server.wait_closed()


async def test_https_goes_to_the_checked_address_with_the_urls_host(tls_receiver, monkeypatch) -> None:
    # given: a name that resolves to the receiver's address, and its certificate trusted
    port, heads, cert = tls_receiver
    resolved: list[str] = []

    async def resolve(host: str, port: int) -> tuple[destinations.IPAddress, ...]:
        resolved.append(host)
        return (ipaddress.ip_address("127.0.0.1"),)

    monkeypatch.setattr(destinations, "resolve", resolve)
    monkeypatch.setattr(webhook_http, "_tls", lambda: ssl.create_default_context(cafile=str(cert)))
    destination = await destinations.check(
        f"https://{HOST}:{port}/in?x=1", production=True, allow_private=True
    )

    # when: a webhook is posted
    answer = await webhook_http.post(destination, {"webhook-id": "msg_1"}, b"{}", 4096)

    # then: the name was resolved once (by the check), TLS verified it, and the request names it
    assert answer.status == 204 and resolved == [HOST]
    (head,) = heads
    assert head.startswith(b"POST /in?x=1 HTTP/1.1\r\n")
    assert f"host: {HOST}:{port}".encode() in head and b"webhook-id: msg_1" in head


async def test_a_certificate_for_another_name_is_refused(tls_receiver, monkeypatch) -> None:
    # given: a destination whose name the receiver's certificate does not cover
    port, heads, cert = tls_receiver

    async def resolve(host: str, port: int) -> tuple[destinations.IPAddress, ...]:
        return (ipaddress.ip_address("127.0.0.1"),)

    monkeypatch.setattr(destinations, "resolve", resolve)
    monkeypatch.setattr(webhook_http, "_tls", lambda: ssl.create_default_context(cafile=str(cert)))
    destination = await destinations.check(
        f"https://other.example.test:{port}/", production=True, allow_private=True
    )

    # when / then: the TLS handshake fails on the name
    with pytest.raises(ssl.SSLCertVerificationError):
        await webhook_http.post(destination, {}, b"{}", 4096)
    assert heads == []
