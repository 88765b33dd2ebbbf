"""Client compatibility: the npm GraphQL clients, pinned in package-lock.json, against a real server.

Selected with `-m clients` (the default run leaves them out, so `make test` needs no Node.js). They
skip when `node` or `npm` is missing, unless CREDITS_TEST_CLIENTS=required, which turns that into a
failure (CI). `npm ci` installs the locked packages once per lockfile into
CREDITS_TEST_CLIENTS_CACHE (default ~/.cache/credits-clients/<lockfile hash>); each script runs from
a temporary folder beside a link to those node_modules and prints one JSON line.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import ws_client
from tests.processes import ServerProcess

HERE = Path(__file__).resolve().parent
LOCKFILE = HERE / "package-lock.json"
REQUIRED = os.environ.get("CREDITS_TEST_CLIENTS") == "required"
CACHE = Path(os.environ.get("CREDITS_TEST_CLIENTS_CACHE") or Path.home() / ".cache" / "credits-clients")
NODE = shutil.which("node")
NPM = shutil.which("npm")


def _unavailable() -> str | None:
    """Why the client scripts cannot run here, or None."""
    missing = [name for name, path in (("node", NODE), ("npm", NPM)) if path is None]
    return f"{' and '.join(missing)} missing (apt-get install nodejs npm)" if missing else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test here `clients`; skip them (or fail, when required) without Node.js."""
    reason = _unavailable()
    for item in items:
        if HERE not in Path(str(item.fspath)).parents:
            continue
        item.add_marker(pytest.mark.clients)
        if reason and not REQUIRED:
            item.add_marker(pytest.mark.skip(reason=reason))


def install_packages() -> Path:
    """node_modules of the lockfile, installed by `npm ci` unless this lockfile's already are."""
    target = CACHE / hashlib.sha256(LOCKFILE.read_bytes()).hexdigest()[:16]
    if (target / "node_modules").is_dir():
        return target / "node_modules"
    CACHE.mkdir(parents=True, exist_ok=True)
    # Installed aside and renamed into place: a run that stops halfway, or one running beside it
    # from another worktree, never leaves a half-installed folder under the final name.
    staging = Path(tempfile.mkdtemp(prefix="installing-", dir=CACHE))
    staging.chmod(0o755)
    shutil.copy(HERE / "package.json", staging)
    shutil.copy(LOCKFILE, staging)
    done = subprocess.run(
        [str(NPM), "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=staging,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        pytest.fail(f"npm ci failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    try:
        staging.rename(target)
    except OSError:  # another run installed the same lockfile first
        shutil.rmtree(staging, ignore_errors=True)
    return target / "node_modules"


@pytest.fixture(scope="session")
def scripts_dir() -> Iterator[Path]:
    """A folder holding this directory's .mjs scripts and a link to the installed node_modules."""
    if reason := _unavailable():
        pytest.fail(f"CREDITS_TEST_CLIENTS=required but {reason}")
    modules = install_packages()
    folder = Path(tempfile.mkdtemp(prefix="credits-clients-"))
    for script in HERE.glob("*.mjs"):
        shutil.copy(script, folder)
    (folder / "node_modules").symlink_to(modules, target_is_directory=True)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def server(server_env: dict[str, str]) -> Iterator[ServerProcess]:
    """One real server for the module (the database is emptied between tests)."""
    with ServerProcess(server_env) as process:
        yield process


@dataclass
class Script:
    """A client script started with node; `await script.result()` is the JSON line it printed."""

    name: str
    process: asyncio.subprocess.Process

    async def until_subscribed(self, server: ServerProcess, field: str, timeout: float = 60) -> None:
        """Wait until the server runs the script's subscription; fail at once if the script ends first."""
        gauge = ws_client.until_subscribed(server.base_url, field, timeout=timeout)
        registered = asyncio.ensure_future(gauge)
        ended = asyncio.ensure_future(self.process.wait())
        await asyncio.wait((registered, ended), return_when=asyncio.FIRST_COMPLETED)
        ended.cancel()
        if not registered.done():
            registered.cancel()
            pytest.fail(f"{self.name} ended before it subscribed: {await self.result()}")
        registered.result()

    async def result(self, timeout: float = 60) -> dict[str, Any]:
        """Wait for the script to end; what it printed last, with its exit code and stderr."""
        try:
            async with asyncio.timeout(timeout):
                stdout, stderr = await self.process.communicate()
        except TimeoutError:
            self.process.kill()
            stdout, stderr = await self.process.communicate()
            pytest.fail(f"{self.name} did not finish in {timeout}s:\n{stdout.decode()}\n{stderr.decode()}")
        lines = stdout.decode().strip().splitlines()
        output = json.loads(lines[-1]) if lines else {}
        assert self.process.returncode == 0, (self.name, output, stderr.decode()[-3000:])
        return output


@pytest.fixture
async def run_script(scripts_dir: Path, server: ServerProcess) -> Any:
    """`await run_script("x.mjs", TOKEN=...)` → a Script started against the module's server."""
    started: list[Script] = []

    async def start(name: str, **variables: object) -> Script:
        env = {**os.environ, "CREDITS_URL": server.base_url, **{k: str(v) for k, v in variables.items()}}
        process = await asyncio.create_subprocess_exec(
            str(NODE),
            str(scripts_dir / name),
            cwd=scripts_dir,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        script = Script(name, process)
        started.append(script)
        return script

    yield start
    for script in started:
        if script.process.returncode is None:
            script.process.kill()
            await script.process.wait()
