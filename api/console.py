"""The web console: its HTML shell, its static files at versioned URLs, and GraphiQL served offline.

Every file under `web/` is served from `/static/<version>/<path>`, where the version is a hash of
the whole tree: the URLs change whenever any file does, so they are cached for a year as
immutable, while the HTML that names them is revalidated on every load. Text files of a
kilobyte or more are sent gzipped to browsers that accept it (api/compression.py), with an ETag of
their own and `Vary: Accept-Encoding`.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from api import compression
from settings import PROJECT_DIR, Settings

WEB_DIR = PROJECT_DIR / "web"
STATIC_PREFIX = "/static"
IMMUTABLE = "public, max-age=31536000, immutable"
# Client-side routes: typing one of these URLs loads the console, which then shows the screen.
CLIENT_ROUTES = (
    "login",
    "dashboard",
    "services",
    "users",
    "customers",
    "catalog",
    "tokens",
    "requests",
    "webhooks",
)
TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}

# No inline script or style, no other origin; websockets to this origin are covered by 'self'.
CONSOLE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
# GraphiQL (React, CodeMirror) sets style attributes and loads its icons as data: URLs.
GRAPHIQL_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self' data:; worker-src 'self' blob:; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


@dataclass(frozen=True)
class Asset:
    """One static file, held in memory, and its gzipped form once a browser has asked for it."""

    body: bytes
    media_type: str
    digest: str  # of the body: the ETags of both representations derive from it

    @property
    def compressible(self) -> bool:
        """Whether gzip could pay for this file (a text format, not tiny)."""
        return compression.compressible(self.media_type, len(self.body))

    @cached_property
    def gzipped(self) -> bytes | None:
        """The body gzipped, made on first use and kept (the file is immutable); None if it does not pay."""
        return compression.gzipped(self.body) if self.compressible else None


@dataclass(frozen=True)
class Assets:
    """The files under web/ and the version that names them in URLs."""

    files: dict[str, Asset]
    version: str

    @property
    def base(self) -> str:
        """The URL prefix of this version's files, e.g. `/static/3f2a…`."""
        return f"{STATIC_PREFIX}/{self.version}"


def _media_type(path: Path) -> str:
    return TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


@lru_cache(maxsize=1)
def assets() -> Assets:
    """Read web/ once: every file but scripts to refresh it, and a hash of them all as the version."""
    digest = hashlib.sha256()
    files: dict[str, Asset] = {}
    for path in sorted(WEB_DIR.rglob("*")):
        if not path.is_file() or path.suffix == ".sh":
            continue
        name = path.relative_to(WEB_DIR).as_posix()
        body = path.read_bytes()
        sha = hashlib.sha256(body)
        digest.update(name.encode() + b"\0" + sha.digest())
        files[name] = Asset(body, _media_type(path), sha.hexdigest()[:20])
    return Assets(files, digest.hexdigest()[:16])


def _page(template: str, csp: str) -> Response:
    """An HTML page of web/ with `{{static}}` pointing at this version; revalidated by ETag."""
    found = assets()
    html = found.files[template].body.replace(b"{{static}}", found.base.encode())
    etag = '"' + hashlib.sha256(html).hexdigest()[:20] + '"'
    return Response(
        html,
        media_type="text/html; charset=utf-8",
        headers={**PAGE_HEADERS, "Content-Security-Policy": csp, "ETag": etag},
    )


def _holds(request: Request, etag: str) -> bool:
    """Whether the request's If-None-Match names `etag` (weakly compared, as RFC 9110 asks for GET)."""
    header = request.headers.get("if-none-match")
    if not header:
        return False
    held = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return "*" in held or etag.removeprefix("W/") in held


def _revalidated(request: Request, response: Response) -> Response:
    """304 when the browser already holds this page."""
    if _holds(request, response.headers["etag"]):
        kept = {k: v for k, v in response.headers.items() if k != "content-length"}
        return Response(status_code=304, headers=kept)
    return response


async def console_page(request: Request) -> Response:
    """The console's HTML shell, for `/` and every client-side route."""
    return _revalidated(request, _page("console/index.html", CONSOLE_CSP))


async def not_found_page(request: Request) -> Response:
    """Any other path: 404, with the console's page for browsers (it shows its own "Page not found")."""
    if "text/html" not in request.headers.get("accept", ""):
        return PlainTextResponse("Not Found", status_code=404)
    page = _page("console/index.html", CONSOLE_CSP)
    page.status_code = 404
    return page


def graphiql_page() -> Response:
    """GraphiQL from vendored React and GraphiQL files: works without internet."""
    return _page("console/graphiql.html", GRAPHIQL_CSP)


async def _gzipped(asset: Asset) -> bytes | None:
    """The asset's gzip body; compressed in a worker thread the first time (GraphiQL's script takes 0.5 s)."""
    if not asset.compressible:
        return None
    if "gzipped" in vars(asset):  # made and kept by the cached property
        return asset.gzipped
    return await run_in_threadpool(lambda: asset.gzipped)


async def static_file(request: Request) -> Response:
    """A file of web/ at `/static/<version>/<path>`; another version's URL is served, not cached.

    Gzipped when the browser accepts it and it pays; each representation has its own ETag.
    """
    found = assets()
    asset = found.files.get(request.path_params["path"])
    if asset is None:
        return Response("not found", status_code=404, media_type="text/plain")
    current = request.path_params["version"] == found.version
    headers = {
        "Cache-Control": IMMUTABLE if current else "no-cache",
        "X-Content-Type-Options": "nosniff",
        # Public files: a host page on another origin may import the embeddable element.
        "Access-Control-Allow-Origin": "*",
        "Cross-Origin-Resource-Policy": "cross-origin",
        "ETag": f'"{asset.digest}"',
    }
    body = asset.body
    if asset.compressible:
        # Caches must key this URL by the coding asked for, whichever this answer is.
        headers["Vary"] = "Accept-Encoding"
        packed = (
            await _gzipped(asset)
            if compression.accepts(request.headers.get("accept-encoding"), "gzip")
            else None
        )
        if packed is not None:
            body = packed
            headers["Content-Encoding"] = compression.GZIP
            headers["ETag"] = f'"{asset.digest}-{compression.GZIP}"'
    if _holds(request, headers["ETag"]):
        # What a 304 may update of the stored answer: not its coding (RFC 9110 §15.4.5).
        kept = {k: v for k, v in headers.items() if k != "Content-Encoding"}
        return Response(status_code=304, headers=kept)
    if request.method == "HEAD":
        # The length of what a GET would send, and no body.
        return Response(headers={**headers, "Content-Length": str(len(body))}, media_type=asset.media_type)
    return Response(body, media_type=asset.media_type, headers=headers)


async def embed_module(_: Request) -> Response:
    """`/embed/credit-balance.js`: a stable URL that loads this version's `<credit-balance>`."""
    base = assets().base
    body = (
        f'export * from "{base}/console/credit-balance.js";\n'
        f'import "{base}/console/credit-balance-define.js";\n'
    )
    headers = {
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
        "Access-Control-Allow-Origin": "*",
        "Cross-Origin-Resource-Policy": "cross-origin",
    }
    return Response(body, media_type=TYPES[".js"], headers=headers)


def routes(settings: Settings) -> list[BaseRoute]:
    """The static files (GraphiQL needs them too) and, unless turned off, the console's pages."""
    found: list[BaseRoute] = [
        Route(f"{STATIC_PREFIX}/{{version}}/{{path:path}}", static_file, methods=["GET", "HEAD"])
    ]
    if not settings.console_enabled:
        return found
    found += [Route("/embed/credit-balance.js", embed_module), Route("/", console_page)]
    for section in CLIENT_ROUTES:
        found += [Route(f"/{section}", console_page), Route(f"/{section}/{{rest:path}}", console_page)]
    # Last of all routes: a browser typing an unknown URL gets the console's styled not-found page.
    return [*found, Route("/{path:path}", not_found_page)]
