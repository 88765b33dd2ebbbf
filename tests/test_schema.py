"""schema.graphql: exported from the code, committed, and containing the public contract."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from resolvers.root import schema

PROJECT_DIR = Path(__file__).resolve().parent.parent
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
