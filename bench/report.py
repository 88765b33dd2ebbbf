"""The results: one row per measurement, printed as a table and written as JSON with the machine."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.processes import PROJECT_DIR


@dataclass
class Row:
    """One measurement: throughput, latency, its ratio to the ceilings, and whether it checked out."""

    scenario: str
    shape: str
    clients: int | None = None
    ops: int | None = None
    ops_per_s: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    vs_asyncpg: float | None = None
    vs_pgbench: float | None = None
    notes: str = ""
    ok: bool = True
    problems: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)


_COLUMNS = (
    ("scenario", "scenario", "<"),
    ("shape", "shape", "<"),
    ("clients", "clients", ">"),
    ("ops", "ops", ">"),
    ("ops/s", "ops_per_s", ">"),
    ("p50 ms", "p50_ms", ">"),
    ("p99 ms", "p99_ms", ">"),
    ("vs asyncpg", "vs_asyncpg", ">"),
    ("vs pgbench", "vs_pgbench", ">"),
    ("notes", "notes", "<"),
)


def _cell(name: str, value: Any) -> str:
    if value is None:
        return "-"
    if name in ("vs_asyncpg", "vs_pgbench"):
        return f"{value:.2f}×"
    if name == "ops_per_s":
        return f"{value:,.0f}"
    if name in ("p50_ms", "p99_ms"):
        return f"{value:.1f}" if value >= 10 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(rows: list[Row]) -> str:
    """The rows as a fixed-width text table; failed rows are marked and their problems listed."""
    cells = [[h for h, _, _ in _COLUMNS]]
    for row in rows:
        values = [_cell(key, getattr(row, key)) for _, key, _ in _COLUMNS]
        if not row.ok:
            values[0] = f"FAILED {values[0]}"
        cells.append(values)
    lines = grid(cells, [align for _, _, align in _COLUMNS])
    for row in rows:
        for problem in row.problems:
            lines.append(f"  ! {row.scenario} {row.shape}: {problem}")
    return "\n".join(lines)


def grid(cells: list[list[str]], aligns: list[str]) -> list[str]:
    """Lines of a fixed-width table: the first line of `cells` is the header, the last column unpadded."""
    widths = [max(len(line[i]) for line in cells) for i in range(len(aligns))]
    lines = []
    for n, line in enumerate(cells):
        text = "  ".join(
            f"{v:{align}{w}}" if i < len(aligns) - 1 else v
            for i, (v, w, align) in enumerate(zip(line, widths, aligns, strict=True))
        )
        lines.append(text.rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def machine(postgres: dict[str, str], redis: str | None) -> dict[str, Any]:
    """What the numbers were measured on: CPU, cores, memory, versions, commit."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in _read("/proc/cpuinfo").splitlines()
            if "model name" in line
        ),
        platform.processor() or None,
    )
    mem_kib = next(
        (
            int(line.split()[1])
            for line in _read("/proc/meminfo").splitlines()
            if line.startswith("MemTotal:")
        ),
        0,
    )
    status = _git("status", "--porcelain")
    try:
        import uvloop

        uvloop_version: str | None = uvloop.__version__
    except ImportError:
        uvloop_version = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024**2, 1),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "uvloop": uvloop_version,
        "postgresql": postgres.get("server_version"),
        "postgresql_settings": {k: v for k, v in postgres.items() if k != "server_version"},
        "redis": redis,
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(status) if status is not None else None,
    }


def write_json(
    path: Path,
    rows: list[Row],
    machine_info: dict[str, Any],
    config: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> None:
    """Everything measured, with the machine and the configuration, as one JSON document.

    `extra` adds sections (a baseline run's `baseline` and `comparison`).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_info,
        "config": config,
        "ok": all(r.ok for r in rows),
        "results": [asdict(r) for r in rows],
        **(extra or {}),
    }
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
