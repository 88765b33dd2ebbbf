"""gzip for the console's static files: which coding a request accepts, and whether gzip pays.

Only files that never change within a version are compressed (each once, then kept): no
middleware compresses responses, so nothing is compressed twice and event streams never are.
Brotli would need a library this service does not depend on; gzip is the standard library's.
"""

from __future__ import annotations

import gzip

from api.negotiation import weighted

GZIP = "gzip"
# Below this, gzip saves less than the header it needs, and the answer fits one packet anyway.
MIN_BYTES = 1024
# Kept only when it saves at least a tenth: not worth a second representation otherwise.
MAX_RATIO = 0.9
# zlib's default: level 9 takes twice the time (1.2 s for GraphiQL's script) for 0.1 to 0.7% less.
LEVEL = 6
COMPRESSIBLE = ("text/", "application/javascript", "application/json", "image/svg+xml", "application/xml")


def compressible(media_type: str, size: int) -> bool:
    """Whether a file of this type and size is worth gzipping (text formats, not tiny files)."""
    return size >= MIN_BYTES and media_type.startswith(COMPRESSIBLE)


def gzipped(body: bytes) -> bytes | None:
    """`body` gzipped (no timestamp: the same bytes every time), or None when it saves too little."""
    packed = gzip.compress(body, compresslevel=LEVEL, mtime=0)
    return packed if len(packed) <= len(body) * MAX_RATIO else None


def accepts(header: str | None, coding: str) -> bool:
    """Whether an Accept-Encoding header allows `coding` (`q=0` refuses; `*` covers codings not named)."""
    if not header:
        return False
    weights = dict(weighted(header))
    aliases = (coding, "x-" + coding) if coding == GZIP else (coding,)
    for name in aliases:
        if name in weights:
            return weights[name] > 0
    return weights.get("*", 0.0) > 0
