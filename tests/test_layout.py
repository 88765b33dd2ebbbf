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


# resolvers/ use Strawberry but never the HTTP layer: a subscription's socket is a LiveConnection
# (resolvers/live.py) that api/ provides.
NO_HTTP = frozenset({"starlette", "uvicorn"})
# The ledger changes balances; what follows a change (alerts, webhooks, notifications, mail) is
# models/balance_rules.py's, called once per posting batch.
LEDGER_FOLLOWERS = frozenset(
    {
        "models.alerts",
        "models.webhooks",
        "models.webhook_outbox",
        "models.customer_admins",
        "models.notification",
        "models.outbox",
    }
)


def imported_modules(path: Path) -> set[str]:
    """The full dotted names `path` imports (`from a import b` counts as `a` and `a.b`)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def module_name(path: Path) -> str:
    """`models/ledger.py` → `models.ledger`; a package's `__init__.py` → the package."""
    parts = path.relative_to(PROJECT_DIR).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_resolvers_know_no_http():
    """resolvers/ import neither Starlette nor uvicorn."""
    # given / when: the HTTP libraries resolvers/ import
    wrong = {
        f"{path.relative_to(PROJECT_DIR)} imports {name}"
        for path in modules("resolvers")
        for name in imported(path) & NO_HTTP
    }
    # then: none
    assert not wrong, sorted(wrong)


def test_the_ledger_leaves_what_follows_a_balance_change_to_the_balance_rules():
    """models/ledger.py imports no alert, webhook or notification module; its SQL names no alert column."""
    # given: the ledger's source
    path = PROJECT_DIR / "models" / "ledger.py"
    # when: its imports and its text are read
    followers = imported_modules(path) & LEDGER_FOLLOWERS
    # then: it calls the balance rules, and knows nothing of what they do
    assert "models.balance_rules" in imported_modules(path)
    assert not followers, sorted(followers)
    assert "_fired" not in path.read_text() and "alert_threshold" not in path.read_text()


def test_the_webhook_outbox_does_not_know_the_endpoints_module():
    """Recording deliveries (models/webhook_outbox.py) sits below managing endpoints (models/webhooks.py)."""
    # given / when: the outbox's imports
    names = imported_modules(PROJECT_DIR / "models" / "webhook_outbox.py")
    # then: not the endpoints' module (which imports the outbox)
    assert "models.webhooks" not in names


@pytest.mark.parametrize("package", PACKAGES)
def test_project_imports_are_at_the_top_of_the_module(package):
    """No module imports the project inside a function, where an import cycle would hide."""
    # given / when: the project imports nested in a function of `package`
    nested = {
        f"{path.relative_to(PROJECT_DIR)}:{node.lineno}"
        for path in modules(package)
        for function in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
        for node in ast.walk(function)
        if isinstance(node, ast.Import | ast.ImportFrom)
        and _top_level_names(node) & {*PACKAGES, "settings", "metrics"}
    }
    # then: none
    assert not nested, sorted(nested)


def _top_level_names(node: ast.Import | ast.ImportFrom) -> set[str]:
    if isinstance(node, ast.Import):
        return {alias.name.split(".")[0] for alias in node.names}
    return {node.module.split(".")[0]} if node.level == 0 and node.module else set()


def test_the_project_modules_import_no_cycle():
    """The modules' imports (anywhere in a file) form no cycle."""
    # given: each module and the project modules it imports (a package's own modules aside)
    paths = [path for package in PACKAGES for path in modules(package)]
    known = {module_name(path) for path in paths}
    graph = {
        name: {
            other
            for other in imported_modules(path) & known
            if other != name and not other.startswith(name + ".")
        }
        for path in paths
        for name in [module_name(path)]
    }
    # when: the graph is walked depth first
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the current path, 2 done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for other in sorted(graph[name]):
            if state.get(other) == 1:
                cycles.append([*path[path.index(other) :], other])
            elif other not in state:
                visit(other, [*path, other])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    # then: none closes on itself
    assert not cycles, [" -> ".join(cycle) for cycle in cycles]


def test_transactions_begin_only_through_infra_transactions():
    """Tortoise's `in_transaction` breaks a task whose BEGIN fails; only infra/transactions.py uses it."""
    # given / when: the modules that import it, the server's included
    paths = [p for package in PACKAGES for p in modules(package)] + [PROJECT_DIR / "server.py"]
    users = {
        str(path.relative_to(PROJECT_DIR))
        for path in paths
        if "tortoise.transactions.in_transaction" in imported_modules(path)
    }
    # then: the wrapper alone
    assert users == {"infra/transactions.py"}
