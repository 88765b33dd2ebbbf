"""Which coding an Accept-Encoding header allows, and when gzip pays."""

from __future__ import annotations

import gzip

import pytest

from api import compression


@pytest.mark.parametrize(
    ("header", "allowed"),
    [
        (None, False),
        ("", False),
        ("identity", False),
        ("br, zstd", False),
        ("gzip", True),
        ("GZip", True),
        ("deflate, gzip;q=0.5", True),
        ("x-gzip", True),
        ("*", True),
        ("gzip;q=0", False),
        ("gzip ; q=0.0", False),
        ("*;q=0", False),
        ("*, gzip;q=0", False),  # named beats the wildcard
        ("gzip;q=0, *", False),
        ("gzip;q=nonsense", False),  # an unreadable weight refuses
        ("gzip;q=2", False),
        ("br;q=1, *;q=0.1", True),
    ],
)
def test_accept_encoding_is_read_with_its_weights(header: str | None, allowed: bool) -> None:
    assert compression.accepts(header, "gzip") is allowed


def test_gzip_is_kept_only_where_it_pays() -> None:
    # given text that repeats, and bytes that do not
    text = b"export function h() { return 1; }\n" * 100
    noise = bytes(range(256)) * 8

    # then the text is gzipped (without a timestamp: the same bytes each time), the noise is not
    packed = compression.gzipped(text)
    assert packed is not None and gzip.decompress(packed) == text
    assert packed == compression.gzipped(text)
    assert compression.gzipped(gzip.compress(noise)) is None

    # and only text formats of a kilobyte or more are candidates
    assert compression.compressible("text/javascript; charset=utf-8", 4096)
    assert compression.compressible("image/svg+xml", 4096)
    assert not compression.compressible("text/css; charset=utf-8", 1023)
    assert not compression.compressible("image/png", 4096)
