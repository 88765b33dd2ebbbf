"""schema.graphql: exported from the code, committed, and containing the public contract."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from api.schema import schema

PROJECT_DIR = Path(__file__).resolve().parents[2]
CONTRACT_CHECK = PROJECT_DIR.parent / "shared" / "check_contract.py"


def test_committed_schema_is_current() -> None:
    # given: the committed schema.graphql
    committed = (PROJECT_DIR / "schema.graphql").read_text()

    # when: the schema is exported from the code
    exported = schema.as_str() + "\n"

    # then: they are the same (run `make schema` after changing types)
    assert committed == exported


def test_schema_contains_the_public_contract() -> None:
    # given: shared/check_contract.py beside the project
    assert CONTRACT_CHECK.exists(), "shared/ must sit beside the project"

    # when: it checks the committed schema
    result = subprocess.run(
        [sys.executable, str(CONTRACT_CHECK), str(PROJECT_DIR / "schema.graphql")],
        capture_output=True,
        text=True,
        check=False,
    )

    # then: nothing differs
    assert result.returncode == 0, result.stdout + result.stderr


async def test_a_repeated_document_is_validated_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # given: the production schema (query limits and introspection rule included), validation counted
    import graphql
    import strawberry.schema.schema

    import api.document_cache
    from api.schema import build_schema
    from settings import Settings

    validations: list[object] = []

    def counted(*args: Any, **kwargs: Any) -> Any:
        validations.append(args[1])
        return graphql.validate(*args, **kwargs)

    monkeypatch.setattr(api.document_cache, "validate", counted)
    monkeypatch.setattr(strawberry.schema.schema, "validate", counted)
    production = build_schema(Settings(env="production", jwt_secret="x" * 32))
    document = "query Repeated { __typename }"
    first = await production.execute(document)

    # when: the same document arrives again
    second = await production.execute(document)

    # then: it was validated once (a per-request rule class would validate every time)
    assert first.errors is None and second.errors is None
    assert len(validations) == 1
