"""Fault-test infrastructure the tests own: a private PostgreSQL cluster, a private redis-server,
an aiosmtpd server and real server processes pointed at them.

Never the machine's PostgreSQL (5432) or Redis (6379): other runs use those, and these tests
kill and restart what they talk to. PostgreSQL runs as the `postgres` OS user when the tests run
as root (initdb refuses root).
"""

from __future__ import annotations

import asyncio
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import TEST_ENV
from tests.processes import ServerProcess, free_port


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


# --- PostgreSQL ----------------------------------------------------------------------------------


class PrivatePostgres:
    """A throw-away PostgreSQL cluster in a temp dir: trust auth, its own port and socket dir."""

    def __init__(self, initdb: str, pg_ctl: str) -> None:
        self.initdb = initdb
        self.pg_ctl = pg_ctl
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="credits-faults-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            entry = pwd.getpwnam("postgres")
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)

    def _run(self, *args: str, timeout: float = 60) -> None:
        command = list(args)
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}\n{self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            return self.log.read_text()[-2000:]
        except OSError:
            return ""

    def init(self) -> None:
        """initdb with trust authentication."""
        self._run(
            self.initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"
        )

    @property
    def _options(self) -> str:
        return (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c full_page_writes=off -c max_connections=200"
        )

    def start(self) -> None:
        """Start and wait until it accepts connections."""
        pg_ctl = (self.pg_ctl, "-D", str(self.data), "-l", str(self.log), "-o", self._options)
        self._run(*pg_ctl, "-w", "-t", "30", "start")

    def restart(self, mode: str = "fast") -> None:
        """`pg_ctl restart`: down and up again at once, faster than pools notice."""
        pg_ctl = (self.pg_ctl, "-D", str(self.data), "-l", str(self.log), "-o", self._options)
        self._run(*pg_ctl, "-m", mode, "-w", "-t", "30", "restart")

    def ensure_running(self) -> None:
        """Start it if a failed test left it stopped."""
        command = [self.pg_ctl, "-D", str(self.data), "status"]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        if subprocess.run(command, capture_output=True, timeout=30, check=False).returncode != 0:
            self.start()

    def stop(self, mode: str = "fast") -> None:
        """Stop (`fast`: disconnect clients, roll back; `immediate`: like a crash)."""
        self._run(self.pg_ctl, "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")

    def destroy(self) -> None:
        """Stop if running and remove the cluster."""
        try:
            self.stop("immediate")
        except (RuntimeError, subprocess.TimeoutExpired):
            pass
        shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        """A Tortoise/asyncpg URL for `database` on this cluster."""
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    async def create_database(self) -> str:
        """A new empty database; its URL."""
        name = f"credits_{uuid.uuid4().hex[:10]}"
        conn = await asyncpg.connect(self.url(), timeout=10)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return self.url(name)


@pytest.fixture(scope="session")
def private_postgres() -> Iterator[PrivatePostgres]:
    """A PostgreSQL cluster of this test session alone, which tests may stop and restart."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("initdb/pg_ctl not found (PostgreSQL server binaries are needed for fault tests)")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root without a `postgres` OS user to run initdb as")
    cluster = PrivatePostgres(initdb, pg_ctl)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
async def database_url(private_postgres: PrivatePostgres) -> AsyncIterator[str]:
    """A fresh database on the private cluster."""
    private_postgres.ensure_running()
    yield await private_postgres.create_database()


# --- Redis ---------------------------------------------------------------------------------------


class PrivateRedis:
    """A throw-away redis-server without persistence on its own port; restartable on that port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10) -> None:
        """Start and wait until it answers PING."""
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}")
            done = subprocess.run(
                ["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True, check=False
            )
            if done.stdout.strip() == "PONG":
                return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server on port {self.port} not ready in {timeout}s")

    def stop(self) -> None:
        """Kill it (SIGKILL: connections drop at once)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    """A redis-server of this test alone."""
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        pytest.skip("redis-server/redis-cli not installed")
    server = PrivateRedis()
    server.start()
    yield server
    server.stop()


# --- server processes ----------------------------------------------------------------------------


@pytest.fixture
def fault_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    """The environment of a server process on the private database (memory bus, no mail)."""
    return {
        **os.environ,
        **TEST_ENV,
        "CREDITS_DATA_DIR": str(tmp_path),
        "CREDITS_DATABASE_URL": database_url,
        "CREDITS_BROADCAST_URL": "memory://",
        "CREDITS_DB_CONNECT_TIMEOUT_SECONDS": "3",
        "CREDITS_DB_COMMAND_TIMEOUT_SECONDS": "5",
        "CREDITS_LOG_FORMAT": "text",
    }


@pytest.fixture
def start_server() -> Iterator[Callable[..., Awaitable[ServerProcess]]]:
    """`await start_server(env, port=None)`: a server process, ready; all are killed afterwards."""
    started: list[ServerProcess] = []

    async def start(env: dict[str, str], port: int | None = None) -> ServerProcess:
        server = ServerProcess(env, port=port)
        started.append(server)
        await asyncio.to_thread(server.start)
        return server

    yield start
    for server in started:
        server.stop(signal.SIGKILL)
