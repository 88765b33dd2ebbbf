"""`--baseline REV`: a detached git worktree of REV and an interpreter that has REV's dependencies.

The worktree lives in a temporary folder for one run and is removed afterwards (also after a
failure or Ctrl-C), with `git worktree prune`. The interpreter is this one when REV's runtime
dependencies are the working tree's; otherwise a venv cached under ~/.cache/credits-bench by a
hash of those dependencies, built once with the library versions of this venv wherever REV's
ranges allow them, so that a ratio measures the code rather than a library upgrade.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.processes import PROJECT_DIR

log = logging.getLogger("bench")

# What the JSON records of each side's interpreter: the libraries a request goes through.
LIBRARIES = ("strawberry-graphql", "graphql-core", "starlette", "uvicorn", "tortoise-orm", "asyncpg", "redis")


class BaselineError(RuntimeError):
    """REV cannot be resolved, checked out or given an interpreter: the bench refuses to run."""


@dataclass(frozen=True)
class Checkout:
    """A revision's tree and the Python that runs it."""

    revision: str  # as given: a hash, `main~3`, a tag
    commit: str
    subject: str
    tree: Path
    python: str
    environment: str  # "this venv" | "cached venv" | "new venv"

    def describe(self) -> dict[str, object]:
        """What the JSON says about the baseline."""
        return {
            "revision": self.revision,
            "commit": self.commit,
            "subject": self.subject,
            "tree": str(self.tree),  # removed at the end of the run
            "python": self.python,
            "environment": self.environment,
            "libraries": library_versions(self.python, self.tree),
        }


def git(*args: str, cwd: Path = PROJECT_DIR) -> str:
    """Run git in this checkout; its output, or BaselineError with git's own message."""
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError) as exc:
        raise BaselineError(f"git {' '.join(args)}: {exc}") from exc
    if done.returncode != 0:
        raise BaselineError(f"git {' '.join(args)}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout.strip()


def resolve(revision: str) -> str:
    """The full commit hash REV names (any revision git understands)."""
    return git("rev-parse", "--verify", "--quiet", "--end-of-options", f"{revision}^{{commit}}")


@contextlib.contextmanager
def checkout(revision: str) -> Iterator[Checkout]:
    """REV in a temporary detached worktree with its interpreter; removed on the way out, however it goes."""
    try:
        commit = resolve(revision)
    except BaselineError as exc:
        raise BaselineError(f"--baseline {revision!r} is not a commit here ({exc})") from exc
    folder = Path(tempfile.mkdtemp(prefix="credits-bench-baseline-"))
    tree = folder / "tree"
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)  # so that `finally` runs on a plain `kill` too
    try:
        git("worktree", "add", "--detach", "--quiet", str(tree), commit)
        python, environment = interpreter(tree)
        subject = git("log", "-1", "--format=%s", commit)
        log.info("baseline %s (%s) in %s, %s", revision, commit[:10], tree, environment)
        yield Checkout(revision, commit, subject, tree, python, environment)
    finally:
        signal.signal(signal.SIGTERM, previous)
        with contextlib.suppress(BaselineError):
            git("worktree", "remove", "--force", str(tree))
        shutil.rmtree(folder, ignore_errors=True)
        with contextlib.suppress(BaselineError):
            git("worktree", "prune")


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def dependencies(pyproject: Path) -> list[str]:
    """A pyproject.toml's runtime dependencies (what a server process imports)."""
    try:
        data = tomllib.loads(pyproject.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BaselineError(f"cannot read {pyproject}: {exc}") from exc
    return sorted(data.get("project", {}).get("dependencies", []))


def cache_dir() -> Path:
    """Where baseline venvs are kept between runs."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "credits-bench"


def interpreter(tree: Path) -> tuple[str, str]:
    """(python, how it was obtained) for a tree: this one if the dependencies match, else a cached venv.

    Reusing this venv is safe although it has this checkout installed in editable mode: the server
    and the seeding run with the other tree as their working directory, which comes first on
    sys.path, so they import that tree's modules.
    """
    wanted = dependencies(tree / "pyproject.toml")
    if wanted == dependencies(PROJECT_DIR / "pyproject.toml"):
        return sys.executable, "this venv"
    key = hashlib.sha256(json.dumps([sys.version_info[:2], wanted]).encode()).hexdigest()[:16]
    venv = cache_dir() / f"venv-{key}"
    python = venv / "bin" / "python"
    stamp = venv / ".complete"
    venv.parent.mkdir(parents=True, exist_ok=True)
    with (venv.parent / f"venv-{key}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two runs needing the same venv build it once
        if stamp.exists():
            return str(python), "cached venv"
        shutil.rmtree(venv, ignore_errors=True)
        log.info("baseline: building a venv for its dependencies in %s (once)", venv)
        _build(venv, wanted)
        stamp.write_text("\n".join(wanted) + "\n")
    return str(python), "new venv"


def _build(venv: Path, wanted: list[str]) -> None:
    """A venv with `wanted`, pinned to this venv's versions where possible (plain ranges otherwise)."""
    _run([sys.executable, "-m", "venv", str(venv)])
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    frozen = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--exclude-editable"], capture_output=True, text=True
    ).stdout
    pins = [line for line in frozen.splitlines() if "==" in line and " @ " not in line]
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as constraints:
        constraints.write("\n".join(pins) + "\n")
        constraints.flush()
        try:
            _run([*pip, "-c", constraints.name, *wanted])
        except BaselineError as exc:
            log.info("baseline: this venv's versions do not fit its ranges (%s); newest allowed", exc)
            _run([*pip, *wanted])


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip()[-1500:]
        raise BaselineError(f"{' '.join(command[:4])} … failed: {tail}")


def library_versions(python: str, tree: Path) -> dict[str, str | None]:
    """Versions of LIBRARIES as `python` sees them from `tree` (None where one is missing)."""
    script = (
        "import json, importlib.metadata as m\n"
        "def v(n):\n"
        "    try:\n        return m.version(n)\n"
        "    except m.PackageNotFoundError:\n        return None\n"
        f"print(json.dumps({{n: v(n) for n in {list(LIBRARIES)!r}}}))"
    )
    done = subprocess.run([python, "-c", script], cwd=tree, capture_output=True, text=True, timeout=60)
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError:
        return {}
