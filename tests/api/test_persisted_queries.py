"""Automatic persisted queries (Apollo's protocol, POST and GET) and trusted documents (API.md,
"Clients"): a hash runs once its document was sent, a wrong hash or version is refused, the store
is bounded in bytes, and with enforcement only the manifests' and the console's documents run."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import OperationDefinitionNode, parse, validate

from api.persisted_queries import (
    CONSOLE_DIR,
    ManifestError,
    PersistedQueries,
    PersistedQueryError,
    console_documents,
    document_hash,
    read_manifest,
)
from api.schema import schema
from models.user import ApiToken
from settings import Settings
from tests.client import error_codes
from tests.factories import make_catalog_admin
from tests.processes import run_to_exit
from tests.ws_client import PROTOCOLS, GraphQLSocket

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
NOT_IN_LIST = "PERSISTED_QUERY_NOT_IN_LIST"
CREATE_TOKEN = 'mutation CreateToken { createApiToken(name: "apq") { token } }'
# The integrator's document of the enforced app's manifest.
INTEGRATOR = "query IntegratorViewer { viewer { email } }"
UNTRUSTED = "query Untrusted { viewer { email role } }"
# What the console's scripts name as operations, however their documents are built.
OPERATION_NAME = re.compile(r"\b(?:query|mutation|subscription)\s+([A-Za-z_]\w*)\s*[({]")


def fresh_query() -> str:
    """A document no test has registered yet (the store lives as long as the app)."""
    return f"query Fresh{uuid.uuid4().hex} {{ viewer {{ email }} }}"


def persisted(text: str, version: int = 1, digest: str | None = None) -> dict[str, Any]:
    """Apollo's `extensions` for `text`."""
    return {"persistedQuery": {"version": version, "sha256Hash": digest or document_hash(text)}}


async def post(
    http: httpx.AsyncClient, token: str, body: dict[str, Any], accept: str = JSON
) -> httpx.Response:
    """A POST as Apollo's HttpLink sends it."""
    headers = {"Authorization": f"Bearer {token}", "Accept": accept}
    return await http.post("/graphql", json=body, headers=headers)


async def get(http: httpx.AsyncClient, token: str, text: str, accept: str = JSON) -> httpx.Response:
    """A hash-only GET as Apollo's link sends it with `useGETForHashedQueries`."""
    params = {"extensions": json.dumps(persisted(text)), "variables": "{}"}
    headers = {"Authorization": f"Bearer {token}", "Accept": accept}
    return await http.get("/graphql", params=params, headers=headers)


async def hash_only(
    http: httpx.AsyncClient, token: str, text: str, method: str, accept: str = JSON
) -> httpx.Response:
    """The hash of `text` without the text, over `method`."""
    if method == "GET":
        return await get(http, token, text, accept)
    return await post(http, token, {"extensions": persisted(text)}, accept)


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_a_hash_answers_not_found_until_its_document_was_sent_once(http, method):
    """PersistedQueryNotFound (as Apollo's link checks it) until the client sends the document and
    its hash; from then on the hash alone runs it."""
    # given
    admin = await make_catalog_admin()
    query = fresh_query()

    # when
    missed = await hash_only(http, admin.token, query, method)
    registered = await post(http, admin.token, {"query": query, "extensions": persisted(query)})
    hit = await hash_only(http, admin.token, query, method)

    # then: the miss is 200 (as Apollo Server answers it), not to be cached, and carries both signs
    assert missed.status_code == 200, missed.text
    assert missed.headers["cache-control"] == "private, no-cache, must-revalidate"
    assert missed.json() == {
        "data": None,
        "errors": [{"message": "PersistedQueryNotFound", "extensions": {"code": NOT_FOUND}}],
    }
    assert registered.json() == {"data": {"viewer": {"email": admin.user.email}}}
    assert hit.status_code == 200
    assert hit.json() == {"data": {"viewer": {"email": admin.user.email}}}


async def test_a_hash_only_get_accepting_anything_is_answered_not_graphiql(http):
    """A GET with `extensions` and no `query` under `Accept: */*` (curl, fetch) is a GraphQL request."""
    # given
    admin = await make_catalog_admin()
    query = fresh_query()
    await post(http, admin.token, {"query": query, "extensions": persisted(query)})

    # when
    response = await get(http, admin.token, query, "*/*")

    # then
    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"viewer": {"email": admin.user.email}}}


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_a_miss_asking_for_graphql_response_json_is_400_without_data(http, method):
    """Under `application/graphql-response+json` the miss is a request error: 400, no `data`, the code."""
    # given
    admin = await make_catalog_admin()
    query = fresh_query()

    # when
    response = await hash_only(http, admin.token, query, method, GRAPHQL_RESPONSE)

    # then
    assert response.status_code == 400
    assert response.headers["content-type"] == f"{GRAPHQL_RESPONSE}; charset=utf-8"
    assert response.json() == {
        "errors": [{"message": "PersistedQueryNotFound", "extensions": {"code": NOT_FOUND}}]
    }


async def test_a_hash_that_does_not_match_its_document_is_refused_and_not_kept(http):
    """Apollo Server's "provided sha does not match query": 400, nothing runs, nothing registered."""
    # given
    admin = await make_catalog_admin()
    other = fresh_query()

    # when
    refused = await post(
        http,
        admin.token,
        {"query": CREATE_TOKEN, "extensions": persisted(CREATE_TOKEN, digest=document_hash(other))},
    )
    later = await post(http, admin.token, {"extensions": persisted(other)})

    # then
    assert refused.status_code == 400
    assert refused.json()["errors"] == [
        {
            "message": "provided sha does not match query",
            "extensions": {"code": "PERSISTED_QUERY_HASH_MISMATCH"},
        }
    ]
    assert await ApiToken.all().count() == 0
    assert error_codes(later.json()) == [NOT_FOUND]


@pytest.mark.parametrize("version", [2, None])
async def test_an_unsupported_version_is_refused(http, version):
    """Only version 1 exists: another is refused (400) and nothing runs."""
    # given
    admin = await make_catalog_admin()

    # when
    response = await post(
        http, admin.token, {"query": CREATE_TOKEN, "extensions": persisted(CREATE_TOKEN, version)}
    )

    # then
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "message": "Unsupported persisted query version",
            "extensions": {"code": "PERSISTED_QUERY_NOT_SUPPORTED"},
        }
    ]
    assert await ApiToken.all().count() == 0


async def test_a_persisted_mutation_never_runs_from_get(http):
    """A mutation registered by POST, asked for by its hash over GET: 405, and it does not run again."""
    # given: the mutation ran once over POST, registering its hash
    admin = await make_catalog_admin()
    first = await post(http, admin.token, {"query": CREATE_TOKEN, "extensions": persisted(CREATE_TOKEN)})
    assert first.json()["data"]["createApiToken"]["token"]

    # when
    response = await get(http, admin.token, CREATE_TOKEN, GRAPHQL_RESPONSE)

    # then
    assert response.status_code == 405
    assert await ApiToken.all().count() == 1


def test_the_store_is_bounded_in_bytes_least_recently_used_first() -> None:
    """Registering more than the bound keeps the store within it, dropping the least recently used."""
    # given: room for about sixteen documents of ~400 bytes (one may weigh a sixteenth of the bound)
    queries = PersistedQueries({}, enforce=False, max_bytes=16 * 400)
    texts = [f"query Q{i} {{ viewer {{ email }} }} # {'x' * 60}" for i in range(40)]
    queries.resolve(texts[0], persisted(texts[0]))

    # when: many more arrive, while the first keeps being asked for by hash
    for text in texts[1:]:
        queries.resolve(text, persisted(text))
        assert queries.resolve(None, persisted(texts[0])) == texts[0]

    # then
    assert queries.store.bytes <= queries.store.max_bytes
    assert queries.resolve(None, persisted(texts[-1])) == texts[-1]
    with pytest.raises(PersistedQueryError) as missed:
        queries.resolve(None, persisted(texts[1]))
    assert missed.value.code == NOT_FOUND


# Trusted documents


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    """An integrator's manifest holding INTEGRATOR."""
    path = tmp_path / "integrator.json"
    path.write_text(json.dumps({document_hash(INTEGRATOR): INTEGRATOR}))
    return path


@pytest.fixture
async def enforced(settings: Settings, manifest: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The app with only trusted documents: the console's and the integrator's manifest."""
    from api.app import create_app

    app = create_app(
        settings.model_copy(update={"trusted_documents": str(manifest), "trusted_documents_only": True})
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        yield http


async def test_only_trusted_documents_run_when_enforced(enforced):
    """The manifest's document runs, in full or by its hash alone; any other is refused unparsed,
    with a code, and is not registered by sending it with its hash."""
    # given
    admin = await make_catalog_admin()

    # when
    by_text = await post(enforced, admin.token, {"query": INTEGRATOR})
    by_hash = await post(enforced, admin.token, {"extensions": persisted(INTEGRATOR)})
    untrusted = await post(enforced, admin.token, {"query": UNTRUSTED})
    unparsable = await post(enforced, admin.token, {"query": "{ viewer {"})
    registering = await post(enforced, admin.token, {"query": UNTRUSTED, "extensions": persisted(UNTRUSTED)})
    unknown_hash = await post(enforced, admin.token, {"extensions": persisted(UNTRUSTED)})

    # then
    expected = {"data": {"viewer": {"email": admin.user.email}}}
    assert (by_text.json(), by_hash.json()) == (expected, expected)
    for refused in (untrusted, unparsable, registering):
        assert refused.status_code == 400
        assert error_codes(refused.json()) == [NOT_IN_LIST]
        assert "CREDITS_TRUSTED_DOCUMENTS" in refused.json()["errors"][0]["message"]
    assert error_codes(unknown_hash.json()) == [NOT_FOUND]


def test_every_document_of_the_console_is_in_the_generated_manifest(manifest: Path, server_env):
    """`server.py trusted-documents` prints every operation the console's scripts name (a new
    console query cannot be forgotten), and merges an integrator's manifest in."""
    # given: the operation names written in the console's scripts, found independently
    named = set()
    for path in CONSOLE_DIR.glob("*.js"):
        named |= set(OPERATION_NAME.findall(path.read_text()))

    # when
    result = run_to_exit(server_env, "trusted-documents", "--merge", str(manifest))

    # then
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    operations = {
        d.name.value
        for text in printed.values()
        for d in parse(text).definitions
        if isinstance(d, OperationDefinitionNode) and d.name
    }
    assert len(named) > 40
    assert named | {"IntegratorViewer"} == operations
    assert printed[document_hash(INTEGRATOR)] == INTEGRATOR
    assert all(document_hash(text) == key for key, text in printed.items())


async def test_every_console_document_validates_and_passes_enforcement(enforced):
    """Browser-free: each console document is valid against the schema, and sent by its hash alone
    to the enforced app it is found, trusted and parsed (variables left out are the only complaint)."""
    # given
    admin = await make_catalog_admin()
    documents = console_documents()
    refused = {NOT_FOUND, NOT_IN_LIST, "GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED"}

    for text in documents.values():
        # when
        errors = validate(schema._schema, parse(text))
        response = await post(enforced, admin.token, {"extensions": persisted(text)})

        # then
        assert errors == [], (text, errors)
        assert not refused & set(error_codes(response.json())), (text, response.text)
        assert "PersistedQuery" not in response.text


@pytest.fixture(scope="module")
def enforcing_server(tmp_path_factory, server_env) -> Iterator[str]:
    """A real server process (websockets) that runs only trusted documents."""
    from tests.processes import ServerProcess

    path = tmp_path_factory.mktemp("manifest") / "integrator.json"
    path.write_text(json.dumps({document_hash(INTEGRATOR): INTEGRATOR}))
    env = {**server_env, "CREDITS_TRUSTED_DOCUMENTS": str(path), "CREDITS_TRUSTED_DOCUMENTS_ONLY": "true"}
    with ServerProcess(env) as server:
        yield server.base_url


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_websockets_run_only_trusted_documents_when_enforced(enforcing_server, protocol):
    """The console's subscription runs over both protocols; another document gets NOT_IN_LIST."""
    # given
    admin = await make_catalog_admin()
    console = next(t for t in console_documents().values() if t.startswith("subscription Added"))

    async with GraphQLSocket(enforcing_server, protocol, admin.token) as socket:
        # when
        trusted = await socket.subscribe(console)
        untrusted = await socket.subscribe("subscription Other { notificationAdded { id kind } }")

        # then
        assert [e["extensions"]["code"] for e in await untrusted.errors()] == [NOT_IN_LIST]
        await trusted.expect_silence()
        assert not socket.is_closed


def test_a_manifest_entry_whose_hash_is_not_its_documents_is_refused(tmp_path: Path) -> None:
    """A manifest is checked when read: a wrong hash names the entry."""
    # given
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({document_hash(INTEGRATOR): UNTRUSTED}))

    # when / then
    with pytest.raises(ManifestError, match="is not the sha256 hash"):
        read_manifest(path)


def test_the_server_refuses_to_start_on_a_bad_manifest(tmp_path: Path, server_env) -> None:
    """A manifest that cannot be read, or with a wrong hash, stops the server with the reason."""
    # given
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({document_hash(INTEGRATOR): UNTRUSTED}))

    # when
    result = run_to_exit({**server_env, "CREDITS_TRUSTED_DOCUMENTS": str(path)})

    # then
    assert result.returncode != 0
    assert "CREDITS_TRUSTED_DOCUMENTS" in result.stderr and "is not the sha256 hash" in result.stderr


def test_apollos_persisted_query_manifest_is_read_too(tmp_path: Path) -> None:
    """The format of Apollo's generate-persisted-query-manifest gives the same documents."""
    # given
    path = tmp_path / "apollo.json"
    operation = {
        "id": document_hash(INTEGRATOR),
        "body": INTEGRATOR,
        "name": "IntegratorViewer",
        "type": "query",
    }
    path.write_text(
        json.dumps({"format": "apollo-persisted-query-manifest", "version": 1, "operations": [operation]})
    )

    # when / then
    assert read_manifest(path) == {document_hash(INTEGRATOR): INTEGRATOR}


@pytest.mark.parametrize(
    ("env", "only", "enforced"),
    [
        ("production", None, True),
        ("development", None, False),
        ("production", False, False),
        ("development", True, True),
    ],
)
def test_enforcement_defaults_to_production_when_a_manifest_is_named(env, only, enforced, manifest) -> None:
    """CREDITS_TRUSTED_DOCUMENTS alone enforces in production only; CREDITS_TRUSTED_DOCUMENTS_ONLY decides."""
    # given
    secrets = {"jwt_secret": "s", "admin_email": "a@example.com", "admin_password": "p"}

    # when
    settings = Settings(env=env, trusted_documents=str(manifest), trusted_documents_only=only, **secrets)

    # then
    assert settings.enforces_trusted_documents is enforced
