"""Automatic persisted queries (Apollo's protocol) and trusted documents, checked at the transport.

A request may carry `extensions.persistedQuery {version: 1, sha256Hash}` instead of its document
(POST, or GET with `extensions` as JSON). A hash this process knows gives its document; an unknown
one answers PERSISTED_QUERY_NOT_FOUND, and the client sends the document with its hash, which
registers it. The store is per process, bounded in bytes (least recently used go first): with
several processes each learns on its own, and a miss costs the client one retry, nothing else.

Trusted documents (CREDITS_TRUSTED_DOCUMENTS: manifests of sha256 hash → document) are known by
hash from the start, the console's own documents with them. With enforcement on, only they run:
a document sent in full must be one of them (else PERSISTED_QUERY_NOT_IN_LIST, Apollo Router's
code), nothing is registered, and an unknown hash stays PERSISTED_QUERY_NOT_FOUND. Documents are
refused before they are parsed. Websockets send documents in full and get the same check.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graphql import OperationDefinitionNode, parse
from starlette.responses import JSONResponse

from api.document_cache import DocumentCache
from api.graphql_http import GRAPHQL_RESPONSE_TYPE
from settings import PROJECT_DIR, Settings

PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
PERSISTED_QUERY_NOT_SUPPORTED = "PERSISTED_QUERY_NOT_SUPPORTED"
PERSISTED_QUERY_HASH_MISMATCH = "PERSISTED_QUERY_HASH_MISMATCH"
PERSISTED_QUERY_NOT_IN_LIST = "PERSISTED_QUERY_NOT_IN_LIST"
NOT_IN_LIST_MESSAGE = (
    "only trusted documents run here: this document is in no trusted-documents manifest"
    " (CREDITS_TRUSTED_DOCUMENTS)"
)
# Apollo Server's header on a miss: a CDN must not keep a GET's PersistedQueryNotFound.
NOT_CACHED = {"Cache-Control": "private, no-cache, must-revalidate"}
# A stored text's key, its object, the dictionary's node: measured roughly, per entry.
ENTRY_OVERHEAD_BYTES = 300
CONSOLE_DIR = PROJECT_DIR / "web" / "console"
APOLLO_MANIFEST_FORMAT = "apollo-persisted-query-manifest"

# A template literal that starts with an operation keyword; `${NAME}` inside names a constant.
_DOCUMENT = re.compile(r"`(\s*(?:query|mutation|subscription)\b[^`\\]*)`")
_CONSTANT = re.compile(
    r"""const\s+([A-Za-z_$][\w$]*)\s*=\s*(?:"([^"\\\n]*)"|'([^'\\\n]*)'|`([^`\\]*)`)\s*;"""
)
_IMPORT = re.compile(r"""import\s*\{([^}]*)\}\s*from\s*["']\./([\w.-]+)["']""")
_INTERPOLATION = re.compile(r"\$\{\s*([A-Za-z_$][\w$]*)\s*\}")


class PersistedQueryError(Exception):
    """A persisted-query request refused before anything ran: a GraphQL error with its code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def formatted(self) -> dict[str, Any]:
        """The error as it goes into `errors`."""
        return {"message": self.message, "extensions": {"code": self.code}}

    def response(self, graphql_response: bool) -> JSONResponse:
        """200 for a miss over `application/json` (Apollo Server's answer; the client retries with
        the document), else 400; `application/graphql-response+json` answers have no `data`."""
        errors = [self.formatted]
        if graphql_response:
            return JSONResponse({"errors": errors}, 400, headers=NOT_CACHED, media_type=GRAPHQL_RESPONSE_TYPE)
        status = 200 if self.code == PERSISTED_QUERY_NOT_FOUND else 400
        return JSONResponse({"data": None, "errors": errors}, status, headers=NOT_CACHED)


class ManifestError(ValueError):
    """A trusted-documents manifest that cannot be used as it is."""


@dataclass(frozen=True, slots=True)
class StoredQuery:
    """A registered document's text."""

    text: str
    weight: int


def document_hash(text: str) -> str:
    """The lowercase hex SHA-256 of the document's UTF-8 text, as Apollo's link computes it."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def read_manifest(path: Path) -> dict[str, str]:
    """A manifest's documents by hash: a JSON object of hash → document (graphql-codegen's
    `persisted-documents.json`), or Apollo's persisted query manifest; every hash is checked."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ManifestError(f"{path}: cannot read a JSON manifest: {exc}") from None
    if isinstance(data, dict) and data.get("format") == APOLLO_MANIFEST_FORMAT:
        operations = data.get("operations")
        if not isinstance(operations, list) or not all(isinstance(o, dict) for o in operations):
            raise ManifestError(f"{path}: `operations` must be a list of objects")
        data = {o.get("id"): o.get("body") for o in operations}
    if not isinstance(data, dict):
        raise ManifestError(f"{path}: expected a JSON object of sha256 hash → document")
    for key, text in data.items():
        if not isinstance(key, str) or not isinstance(text, str) or document_hash(text) != key:
            raise ManifestError(f"{path}: {str(key)[:80]!r} is not the sha256 hash of its document")
    return data


def merge_manifests(manifests: Iterable[Mapping[str, str]]) -> dict[str, str]:
    """One manifest of them all, sorted by hash (a hash names one text, so nothing conflicts)."""
    merged: dict[str, str] = {}
    for manifest in manifests:
        merged.update(manifest)
    return dict(sorted(merged.items()))


def _interpolated(template: str, constants: Mapping[str, str], where: str, depth: int = 0) -> str:
    """A template literal's value, with `${NAME}` replaced by that constant's (itself interpolated)."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in constants or depth > 8:
            raise ManifestError(f"{where}: cannot resolve ${{{name}}} in a GraphQL document")
        return _interpolated(constants[name], constants, where, depth + 1)

    return _INTERPOLATION.sub(value, template)


def _is_operation_document(text: str) -> bool:
    try:
        document = parse(text)
    except Exception:  # a template literal that only looks like a document
        return False
    return any(isinstance(d, OperationDefinitionNode) for d in document.definitions)


def _constants(source: str) -> dict[str, str]:
    """A module's string constants (plain strings and template literals) by name."""
    return {m.group(1): next(g for g in m.groups()[1:] if g is not None) for m in _CONSTANT.finditer(source)}


def console_documents(directory: Path = CONSOLE_DIR) -> dict[str, str]:
    """The GraphQL documents the console (and `<credit-balance>`) send, by hash, read from its
    scripts: template literals starting with `query`, `mutation` or `subscription`, with the
    `${CONSTANT}`s they use (of their module, or imported) filled in, as the browser builds them."""
    sources = {p.name: p.read_text(encoding="utf-8").replace("\r\n", "\n") for p in directory.glob("*.js")}
    constants = {name: _constants(source) for name, source in sources.items()}
    found: dict[str, str] = {}
    for name, source in sorted(sources.items()):
        scope: dict[str, str] = {}
        for match in _IMPORT.finditer(source):
            exported = constants.get(match.group(2), {})
            for part in match.group(1).split(","):
                original, _, alias = (w.strip() for w in part.partition(" as "))
                if original in exported:
                    scope[alias or original] = exported[original]
        scope.update(constants[name])
        for match in _DOCUMENT.finditer(source):
            text = _interpolated(match.group(1), scope, name)
            if _is_operation_document(text):
                found[document_hash(text)] = text
    return dict(sorted(found.items()))


def trusted_documents(paths: Iterable[Path]) -> dict[str, str]:
    """The console's documents and those of every manifest named."""
    return merge_manifests([console_documents(), *(read_manifest(path) for path in paths)])


class PersistedQueries:
    """Resolves and checks each request's document: Apollo's APQ, then the trusted documents."""

    def __init__(self, trusted: Mapping[str, str], *, enforce: bool, max_bytes: int) -> None:
        self.trusted = dict(trusted)
        self.enforce = enforce
        self.store: DocumentCache[StoredQuery] = DocumentCache(
            max_entries=max(1, max_bytes // ENTRY_OVERHEAD_BYTES), max_bytes=max_bytes
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> PersistedQueries:
        """This process's store; the manifests are read (and checked) once, here."""
        paths = settings.trusted_documents_paths
        enforce = settings.enforces_trusted_documents
        trusted = trusted_documents(paths) if paths or enforce else {}
        return cls(trusted, enforce=enforce, max_bytes=settings.apq_max_bytes)

    def resolve(self, query: str | None, extensions: Mapping[str, Any] | None) -> str | None:
        """The document to run; raises PersistedQueryError for a refusal."""
        persisted = (extensions or {}).get("persistedQuery")
        if persisted is None:
            if query and self.enforce and document_hash(query) not in self.trusted:
                raise PersistedQueryError(PERSISTED_QUERY_NOT_IN_LIST, NOT_IN_LIST_MESSAGE)
            return query
        if not isinstance(persisted, dict) or persisted.get("version") != 1:
            raise PersistedQueryError(PERSISTED_QUERY_NOT_SUPPORTED, "Unsupported persisted query version")
        digest = persisted.get("sha256Hash")
        if not query:
            found = self._known(digest)
            if found is None:
                raise PersistedQueryError(PERSISTED_QUERY_NOT_FOUND, "PersistedQueryNotFound")
            return found
        if not isinstance(digest, str) or document_hash(query) != digest:
            raise PersistedQueryError(PERSISTED_QUERY_HASH_MISMATCH, "provided sha does not match query")
        if digest not in self.trusted:
            if self.enforce:
                raise PersistedQueryError(PERSISTED_QUERY_NOT_IN_LIST, NOT_IN_LIST_MESSAGE)
            weight = len(query.encode("utf-8", "surrogatepass")) + ENTRY_OVERHEAD_BYTES
            self.store.put(digest, StoredQuery(query, weight))
        return query

    def socket_refusal(self, query: str) -> dict[str, Any] | None:
        """The error for a websocket operation's document when only trusted documents run, else None."""
        if self.enforce and document_hash(query) not in self.trusted:
            return PersistedQueryError(PERSISTED_QUERY_NOT_IN_LIST, NOT_IN_LIST_MESSAGE).formatted
        return None

    def _known(self, digest: object) -> str | None:
        """The trusted document, or (without enforcement) the registered one, of a hash."""
        if not isinstance(digest, str):
            return None
        if digest in self.trusted:
            return self.trusted[digest]
        if self.enforce:
            return None
        entry = self.store.get(digest)
        return entry.text if entry is not None else None
