"""Server processes as a user starts them (`python server.py --port P`), and what they cost (CPU, RSS)."""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def raise_fd_limit() -> int:
    """Raise this process's open-file soft limit to the hard limit (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (a `--workers` server's worker processes), from /proc."""
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                todo.extend(int(child) for child in (task / "children").read_text().split())
        except OSError:
            continue
    return tree


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds a process has used so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def rss_mb(pid: int) -> float:
    """A process's resident memory in MiB (from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class MachineCpu:
    """Busy share of every core between two readings of /proc/stat (everything on the machine)."""

    def __init__(self) -> None:
        self.busy, self.total = self._read()

    @staticmethod
    def _read() -> tuple[int, int]:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        idle = values[3] + values[4]
        total = sum(values[:8])
        return total - idle, total

    def percent(self) -> float:
        """Busy percent since construction (100 = every core busy)."""
        busy, total = self._read()
        return 100.0 * (busy - self.busy) / max(1, total - self.total)


class ServerProcess:
    """`python server.py --port P [args]` with the given environment; ready once /readyz answers 200.

    `python` and `tree` default to this interpreter and this checkout; a baseline (bench/baseline.py)
    passes another revision's tree and the interpreter that has its dependencies.
    """

    def __init__(
        self,
        env: dict[str, str],
        log_path: Path,
        port: int | None = None,
        args: tuple[str, ...] = (),
        *,
        python: str = sys.executable,
        tree: Path = PROJECT_DIR,
    ) -> None:
        self.port = port or free_port()
        self.env = env
        self.args = args
        self.python = python
        self.tree = tree
        self.log_path = log_path
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """The server's process id."""
        assert self.proc is not None, "server not started"
        return self.proc.pid

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) for the load generator."""
        return "127.0.0.1", self.port

    def start(self, timeout: float = 60) -> None:
        """Spawn the server and wait until it is ready; fail loudly with its log otherwise."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        raise_fd_limit()  # inherited: thousands of websockets need more than the usual 1024
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [self.python, "server.py", "--port", str(self.port), *self.args],
                cwd=self.tree,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early; log {self.log_path}:\n{self.tail()}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/readyz", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server not ready in {timeout}s; log {self.log_path}:\n{self.tail()}")

    def tail(self, chars: int = 3000) -> str:
        """The end of the server's log."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def cpu_seconds(self) -> float:
        """CPU seconds the server (with its workers) has used so far."""
        return sum(_or_zero(cpu_seconds, pid) for pid in process_tree(self.pid))

    def rss_mb(self) -> float:
        """The server's (and its workers') resident memory in MiB."""
        return sum(_or_zero(rss_mb, pid) for pid in process_tree(self.pid))

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not exit within 15 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _or_zero(read: Callable[[int], float], pid: int) -> float:
    """A /proc figure of a process that may just have exited (0 then)."""
    try:
        return read(pid)
    except OSError:
        return 0.0
