"""The console's HTTP surface: pages, versioned assets, caching, CSP, GraphiQL offline, vendoring."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import httpx

from api import console
from settings import Settings

WEB = Path(__file__).resolve().parents[2] / "web"


def static_urls(html: str) -> list[str]:
    """Every /static/… URL an HTML page names."""
    return re.findall(r'(?:src|href)="(/static/[^"]+)"', html)


async def test_the_console_page_is_strict_and_revalidated(http: httpx.AsyncClient) -> None:
    # when the browser opens /
    response = await http.get("/")

    # then it gets the console's HTML, revalidated on every load, under a strict policy
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-content-type-options"] == "nosniff"
    policy = dict(
        part.strip().split(" ", 1) for part in response.headers["content-security-policy"].split(";")
    )
    assert policy["script-src"] == "'self'"
    assert policy["connect-src"] == "'self'"
    assert policy["default-src"] == "'none'"
    assert "unsafe" not in response.headers["content-security-policy"]
    assert "<script>" not in response.text and " style=" not in response.text  # nothing inline

    # and a second load with its ETag is a 304
    again = await http.get("/", headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304


async def test_client_routes_serve_the_same_page_and_unknown_paths_do_not(http: httpx.AsyncClient) -> None:
    home = (await http.get("/")).text
    pages = ("/catalog", "/tokens", "/requests", "/webhooks/abc")
    for path in ("/login", "/dashboard", "/customers/abc/credit-management", *pages):
        response = await http.get(path)
        assert response.status_code == 200, path
        assert response.text == home
    assert (await http.get("/nothing-here")).status_code == 404


async def test_browsers_get_the_consoles_own_not_found_page_for_unknown_urls(
    http: httpx.AsyncClient,
) -> None:
    # given the console's page
    home = (await http.get("/")).text

    # when a browser opens URLs the service does not have
    browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    unknown = await http.get("/nothing-here/at/all", headers=browser)
    api_client = await http.get("/nothing-here")

    # then the browser gets the console (which shows its styled "Page not found") with a 404 status,
    # under the same strict policy; other clients a plain 404
    assert unknown.status_code == 404
    assert unknown.text == home
    assert "'unsafe" not in unknown.headers["content-security-policy"]
    assert api_client.status_code == 404 and api_client.headers["content-type"].startswith("text/plain")


async def test_assets_have_versioned_immutable_urls(http: httpx.AsyncClient) -> None:
    # given the URLs the page names
    urls = static_urls((await http.get("/")).text)
    version = console.assets().version
    assert urls and all(url.startswith(f"/static/{version}/") for url in urls)

    # then each is served for a year, immutable, with its own type
    for url in urls:
        response = await http.get(url)
        assert response.status_code == 200, url
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.headers["x-content-type-options"] == "nosniff"
        if url.endswith(".js"):
            assert response.headers["content-type"].startswith("text/javascript")
        if url.endswith(".css"):
            assert response.headers["content-type"].startswith("text/css")

    # and another version's URL is answered but not cached; unknown files and escapes are 404
    stale = await http.get("/static/0000000000000000/console/app.js")
    assert stale.status_code == 200 and stale.headers["cache-control"] == "no-cache"
    assert (await http.get(f"/static/{version}/console/nope.js")).status_code == 404
    assert (await http.get(f"/static/{version}/console/%2e%2e/%2e%2e/settings.py")).status_code == 404
    assert (await http.get(f"/static/{version}/vendor/refresh.sh")).status_code == 404


async def raw_get(
    http: httpx.AsyncClient, url: str, accept_encoding: str, method: str = "GET", **headers: str
) -> tuple[httpx.Response, bytes]:
    """The answer to `url` and its body as sent (httpx would otherwise decode gzip itself)."""
    sent = {"Accept-Encoding": accept_encoding, **headers}
    async with http.stream(method, url, headers=sent) as response:
        return response, b"".join([chunk async for chunk in response.aiter_raw()])


async def test_static_files_are_sent_gzipped_to_browsers_that_accept_it(http: httpx.AsyncClient) -> None:
    # given a script of the console
    url = f"{console.assets().base}/console/app.js"
    file = (WEB / "console" / "app.js").read_bytes()

    # when a browser that accepts gzip asks for it
    response, body = await raw_get(http, url, "gzip, deflate, br, zstd")

    # then it gets gzip that decompresses (once) to the file, smaller, with its length and coding
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert gzip.decompress(body) == file
    assert len(body) < len(file) / 2
    assert response.headers["content-length"] == str(len(body))
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"

    # and the file as is, with another ETag, to a client that asks for no coding or for another
    for accept_encoding in ("identity", "br", "deflate, zstd"):
        plain, plain_body = await raw_get(http, url, accept_encoding)
        assert "content-encoding" not in plain.headers, accept_encoding
        assert plain_body == file
        assert plain.headers["content-length"] == str(len(file))
        assert plain.headers["vary"] == "Accept-Encoding"
        assert plain.headers["etag"] != response.headers["etag"]


async def test_a_refused_gzip_is_not_sent(http: httpx.AsyncClient) -> None:
    # given a stylesheet of the console
    url = f"{console.assets().base}/console/style.css"
    file = (WEB / "console" / "style.css").read_bytes()

    # when the browser refuses gzip with q=0, by name or by the wildcard, it gets the file as is
    for refused in ("gzip;q=0", "gzip; q=0.000, br", "*;q=0", "br, *;q=0", "*, gzip;q=0"):
        response, body = await raw_get(http, url, refused)
        assert "content-encoding" not in response.headers, refused
        assert body == file, refused

    # and a wildcard, a weight above 0 or the old alias x-gzip is accepted
    for accepted in ("*", "gzip;q=0.1", "br;q=1, gzip;q=0.5", "x-gzip"):
        response, body = await raw_get(http, url, accepted)
        assert response.headers["content-encoding"] == "gzip", accepted
        assert gzip.decompress(body) == file, accepted


async def test_tiny_files_are_not_compressed(http: httpx.AsyncClient) -> None:
    # given a module of a few hundred bytes
    url = f"{console.assets().base}/console/credit-balance-define.js"
    file = (WEB / "console" / "credit-balance-define.js").read_bytes()
    assert len(file) < 1024

    # when a browser that accepts gzip asks for it, it gets the file as is (gzip would not pay)
    response, body = await raw_get(http, url, "gzip")
    assert "content-encoding" not in response.headers
    assert "vary" not in response.headers
    assert body == file


async def test_head_and_revalidation_match_the_representation(http: httpx.AsyncClient) -> None:
    # given a gzipped module of the console
    url = f"{console.assets().base}/console/chart.js"
    got, body = await raw_get(http, url, "gzip")

    # when a client asks for its headers only, it gets those of the same GET, without a body
    head, head_body = await raw_get(http, url, "gzip", method="HEAD")
    assert head.status_code == 200 and head_body == b""
    for name in ("content-length", "content-encoding", "etag", "vary", "content-type"):
        assert head.headers[name] == got.headers[name], name
    assert head.headers["content-length"] == str(len(body))

    # and revalidating with its ETag answers 304 for gzip, but the identity file's ETag does not match it
    same, _ = await raw_get(http, url, "gzip", **{"If-None-Match": got.headers["etag"]})
    assert same.status_code == 304 and same.headers["vary"] == "Accept-Encoding"
    assert same.headers["etag"] == got.headers["etag"] and "content-encoding" not in same.headers
    other, _ = await raw_get(http, url, "identity", **{"If-None-Match": got.headers["etag"]})
    assert other.status_code == 200 and "content-encoding" not in other.headers


async def test_graphiql_is_served_from_vendored_files(http: httpx.AsyncClient) -> None:
    # when a browser opens /graphql (development)
    response = await http.get("/graphql", headers={"Accept": "text/html"})

    # then GraphiQL's page names only this service's files: it works without internet
    assert response.status_code == 200
    assert "unpkg" not in response.text and "https://" not in response.text
    urls = static_urls(response.text)
    assert any("graphiql@3.8.3/graphiql.min.js" in url for url in urls)
    assert any("react@18.2.0" in url for url in urls) and any("react-dom@18.2.0" in url for url in urls)
    for url in urls:
        assert (await http.get(url)).status_code == 200, url
    assert "script-src 'self'" in response.headers["content-security-policy"]


async def test_the_console_can_be_turned_off(settings: Settings) -> None:
    # given CREDITS_CONSOLE_ENABLED=false
    from api.app import create_app

    app = create_app(settings.model_copy(update={"console_enabled": False}))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        # then / and the client routes are not served
        assert (await http.get("/")).status_code == 404
        assert (await http.get("/dashboard")).status_code == 404
        assert (await http.get("/embed/credit-balance.js")).status_code == 404


async def test_the_embeddable_element_has_a_stable_url(http: httpx.AsyncClient) -> None:
    response = await http.get("/embed/credit-balance.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["access-control-allow-origin"] == "*"
    base = console.assets().base
    assert f'"{base}/console/credit-balance.js"' in response.text
    assert f'"{base}/console/credit-balance-define.js"' in response.text


async def test_the_chart_library_is_served_from_its_vendored_files_with_its_license(
    http: httpx.AsyncClient,
) -> None:
    # given the version of uPlot the chart module loads (it names its directory under vendor/)
    chart = (WEB / "console" / "chart.js").read_text()
    [directory] = re.findall(r"vendor/(uplot@[0-9.]+)/", chart)
    base = f"{console.assets().base}/vendor/{directory}"

    # then its script, its stylesheet and its MIT license come from this service, cached as immutable
    script = await http.get(f"{base}/uPlot.iife.min.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert script.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert "uPlot" in script.text
    style = await http.get(f"{base}/uPlot.min.css")
    assert style.status_code == 200 and style.headers["content-type"].startswith("text/css")
    license_text = await http.get(f"{base}/LICENSE")
    assert license_text.status_code == 200 and "MIT License" in license_text.text
    assert f"| uplot | {directory.split('@')[1]} | LICENSE |" in (WEB / "vendor" / "README.md").read_text()


def test_every_vendored_package_has_its_license_and_a_manifest_row() -> None:
    manifest = (WEB / "vendor" / "README.md").read_text()
    packages = [p for p in (WEB / "vendor").iterdir() if p.is_dir()]
    assert {p.name for p in packages} >= {
        "graphql-ws@6.4.2",
        "axe-core@4.14.1",
        "react@18.2.0",
        "react-dom@18.2.0",
        "graphiql@3.8.3",
        "uplot@1.6.32",
    }
    for package in packages:
        assert any(f.name.startswith("LICENSE") for f in package.iterdir()), package.name
        name, version = package.name.rsplit("@", 1)
        assert f"| {name} | {version} |" in manifest, package.name


def test_the_console_keeps_tokens_out_of_local_storage_and_amounts_out_of_floats() -> None:
    for path in (WEB / "console").glob("*.js"):
        source = path.read_text()
        assert "localStorage" not in source, path.name
        assert "parseFloat" not in source and "toFixed" not in source, path.name


def test_amounts_are_shown_and_read_by_rewriting_strings_never_as_numbers() -> None:
    # given the modules that format and read amounts (money.js, amount-field.js)
    for name in ("money.js", "amount-field.js"):
        source = (WEB / "console" / name).read_text()

        # then none of them turns an amount into a JavaScript number or a locale's number format
        for banned in ("Number(", "Number.", "parseInt", "Math.", "toLocaleString", "Intl."):
            assert banned not in source, (name, banned)
