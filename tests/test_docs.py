"""The documentation a clone carries: every relative link resolves inside it, and the API reference
(docs/api.md) is the one the schema's descriptions generate."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from graphql import build_schema

from api.schema import schema
from schema import reference

PROJECT_DIR = Path(__file__).resolve().parent.parent
DOCUMENTS = [
    PROJECT_DIR / "README.md",
    PROJECT_DIR / "SECURITY.md",
    *sorted((PROJECT_DIR / "docs").glob("*.md")),
]
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)|\b(?:href|src)=\"([^\"]+)\"")


def links(document: Path) -> list[str]:
    """The targets of the Markdown links and HTML href/src of `document`, code blocks left out."""
    text = FENCE.sub("", document.read_text())
    return [first or second for first, second in LINK.findall(text)]


def heading_anchors(document: Path) -> set[str]:
    """The anchors GitHub gives the headings of `document` (lower case, punctuation dropped)."""
    anchors: set[str] = set()
    for line in FENCE.sub("", document.read_text()).splitlines():
        if match := re.match(r"#{1,6}\s+(.*)", line):
            anchors.add(re.sub(r"[^\w\- ]", "", match.group(1).strip().lower()).replace(" ", "-"))
    return anchors


def test_the_documents_are_found():
    """The walk sees the README and the docs (a moved file cannot silently escape the checks)."""
    # given / when: the documents checked
    names = {path.name for path in DOCUMENTS}
    # then: the README, SECURITY.md and the API reference are among them, each with links
    assert {"README.md", "SECURITY.md", "api.md"} <= names
    assert all(links(path) for path in (PROJECT_DIR / "README.md", PROJECT_DIR / "docs" / "api.md"))


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(PROJECT_DIR)))
def test_every_relative_link_resolves_to_a_file_of_the_repository(document: Path):
    """No link leaves the clone: relative targets exist, inside the repository; same-file anchors exist."""
    # given: the document's links that are not to the web
    local = [t for t in links(document) if not re.match(r"[a-z][a-z0-9+.-]*:", t) and not t.startswith("/")]
    # when: each is resolved from the document's folder
    broken = []
    for target in local:
        path, _, anchor = target.partition("#")
        resolved = (document.parent / path).resolve() if path else document
        if PROJECT_DIR not in (resolved, *resolved.parents) or not resolved.exists():
            broken.append(target)
        elif anchor and resolved.suffix == ".md" and anchor not in heading_anchors(resolved):
            broken.append(target)
    # then: none is dead
    assert not broken, broken


def test_the_api_reference_is_generated_from_the_schema():
    """docs/api.md is what `python server.py api-docs` writes now (run `make docs` after a change)."""
    # given: the committed reference
    committed = (PROJECT_DIR / "docs" / "api.md").read_text()
    # when: it is generated from the code's schema
    generated = reference.render(schema.as_str())
    # then: they are the same
    assert committed == generated, "docs/api.md is stale: run `make docs`"


def test_the_api_reference_describes_every_operation_and_type():
    """Queries, Mutations, Subscriptions and Types, each root field and named type with a heading."""
    # given: the reference of the schema
    text = reference.render(schema.as_str())
    anchors = heading_anchors(PROJECT_DIR / "docs" / "api.md")
    # then: the four groups appear in order
    positions = [
        text.index(f"\n## {title}\n") for title in ("Queries", "Mutations", "Subscriptions", "Types")
    ]
    assert positions == sorted(positions)
    # and every root field and every named type has its heading, with the schema's description
    graphql_schema = build_schema(schema.as_str())
    for operation in ("query", "mutation", "subscription"):
        for name in getattr(graphql_schema, f"{operation}_type").fields:
            assert f"{name.lower()}-{operation}" in anchors, name
    assert "createUser(input: CreateUserInput!): UserPayload!" in text
    assert "| `CUSTOMER_ADMIN` | Its own customer: balance, ledger" in text
    for name in ("Customer", "CreateUserInput", "Role", "Decimal", "Node"):
        assert name.lower() in anchors
