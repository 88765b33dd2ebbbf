"""The layout shows the architecture: imports point one way, api → resolvers → schema → models."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parent.parent
PACKAGES = ("api", "resolvers", "schema", "models", "notifications", "infra")

# Which of the project's packages each package may import (itself always). settings.py and
# metrics.py are leaves anyone may import; server.py (the command line) may import anything.
MAY_IMPORT: dict[str, frozenset[str]] = {
    "api": frozenset({"resolvers", "schema", "models", "notifications", "infra"}),
    "resolvers": frozenset({"schema", "models", "notifications", "infra"}),
    "schema": frozenset({"models", "infra"}),
    "notifications": frozenset({"models", "infra"}),
    "models": frozenset({"infra"}),
    "infra": frozenset(),
}
# The domain and its infrastructure know nothing of GraphQL or HTTP.
NO_TRANSPORT = ("models", "infra", "notifications")
TRANSPORT_LIBRARIES = frozenset({"strawberry", "graphql", "starlette", "uvicorn"})


def modules(package: str) -> Iterator[Path]:
    """Every Python file of `package`, migrations excepted (generated)."""
    for path in sorted((PROJECT_DIR / package).rglob("*.py")):
        if "migrations" not in path.parts:
            yield path


def imported(path: Path) -> set[str]:
    """The top-level names of everything `path` imports, at any depth (functions, TYPE_CHECKING)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_every_package_is_walked():
    """The walk sees the packages it rules (a renamed package cannot silently escape it)."""
    # given / when: the files of each package
    counts = {package: len(list(modules(package))) for package in PACKAGES}
    # then: none is empty
    assert all(counts.values()), counts


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_point_down_the_layers(package):
    """api → resolvers → schema → models; notifications → models; infra is imported by anyone."""
    # given: the project's packages a module of `package` may import
    allowed = MAY_IMPORT[package] | {package, "settings", "metrics"}
    # when: every module's imports are read
    wrong = {
        f"{path.relative_to(PROJECT_DIR)} imports {name}"
        for path in modules(package)
        for name in imported(path)
        if name in {*PACKAGES, "server"} and name not in allowed
    }
    # then: none points up (or sideways) the layers
    assert not wrong, sorted(wrong)


@pytest.mark.parametrize("package", NO_TRANSPORT)
def test_the_domain_knows_no_graphql_or_http(package):
    """models/, infra/ and notifications/ import neither Strawberry, graphql-core nor Starlette."""
    # given / when: the libraries the package's modules import
    wrong = {
        f"{path.relative_to(PROJECT_DIR)} imports {name}"
        for path in modules(package)
        for name in imported(path) & TRANSPORT_LIBRARIES
    }
    # then: none of them is a transport library
    assert not wrong, sorted(wrong)


def test_leaf_modules_import_nothing_of_the_project():
    """settings.py and metrics.py, imported by anyone, import no package of the project."""
    # given / when: their imports
    wrong = {
        f"{name}.py imports {module}"
        for name in ("settings", "metrics")
        for module in imported(PROJECT_DIR / f"{name}.py")
        if module in {*PACKAGES, "server"}
    }
    # then: none
    assert not wrong, sorted(wrong)


@pytest.mark.parametrize("package", (*PACKAGES, "bench", "tests"))
def test_every_module_says_what_it_holds(package):
    """Every module's first line is a docstring."""
    # given / when: the modules whose first statement is no docstring (empty files aside)
    silent = [
        str(path.relative_to(PROJECT_DIR))
        for path in modules(package)
        if path.read_text().strip() and ast.get_docstring(ast.parse(path.read_text())) is None
    ]
    # then: none
    assert not silent, silent
