"""`--baseline REV`: every scenario against REV's servers and this tree's in one run, as ratios.

This VM's speed drifts by ±15% between identical runs and by far more between days, so a figure
from another day says little; two measured minutes apart say more. Each scenario runs in rounds,
the order alternating (current then baseline, then baseline then current, …), so a drift during
the run hits both sides alike. A ratio is the median of the rounds' paired ratios (round n's
current over round n's baseline), given with their spread. The ceilings are shared: measured once,
on the same database server both sides use.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.report import Row, grid
from bench.scenarios import Suite

log = logging.getLogger("bench")

SHARED = ("ceilings",)  # measured once for both sides: raw SQL, no server, no code of either side


@dataclass
class Comparison:
    """One measurement on both sides: medians over rounds, and current / baseline with its spread."""

    scenario: str
    shape: str
    rounds: int
    current: dict[str, Any]
    baseline: dict[str, Any] | None = None  # None: shared (a ceiling)
    ratio: dict[str, Any] = field(default_factory=dict)
    ok: bool = True
    problems: list[str] = field(default_factory=list)
    notes: str = ""


async def run(current: Suite, baseline: Suite, scenarios: Sequence[str], rounds: int) -> list[Comparison]:
    """Each scenario `rounds` times on each side, alternating; one comparison per row it makes."""
    baseline.ceiling = current.ceiling  # both sides' ratios to the same ceilings
    comparisons: list[Comparison] = []
    for name in scenarios:
        if name in SHARED:
            for row in await current.run_one(name):
                row.figures.update(side="shared", round=1)
                comparisons.append(_shared(row))
            continue
        by_side: dict[str, list[list[Row]]] = {current.side.name: [], baseline.side.name: []}
        for n in range(rounds):
            for suite in (current, baseline) if n % 2 == 0 else (baseline, current):
                rows = await suite.run_one(name)
                for row in rows:
                    row.figures.update(side=suite.side.name, round=n + 1)
                by_side[suite.side.name].append(rows)
        comparisons += compare(by_side[current.side.name], by_side[baseline.side.name])
    return comparisons


def compare(current: list[list[Row]], baseline: list[list[Row]]) -> list[Comparison]:
    """One scenario's rows matched by their place in each round's output (a shape may name a rate)."""
    positions = max((len(rows) for rows in current), default=0)
    return [
        _compare([_at(rows, i) for rows in current], [_at(rows, i) for rows in baseline], baseline)
        for i in range(positions)
    ]


def _at(rows: list[Row], i: int) -> Row | None:
    return rows[i] if i < len(rows) else None


def _measured(row: Row | None) -> bool:
    """A row with figures: not missing, not the one row a crashed scenario leaves."""
    return row is not None and row.shape != "-"


def _usable(row: Row | None) -> bool:
    """A row whose figures count for a ratio: measured, and its checks passed."""
    return _measured(row) and row is not None and row.ok


def _compare(current: list[Row | None], baseline: list[Row | None], rounds: list[list[Row]]) -> Comparison:
    first = next(r for r in current if r is not None)
    comparison = Comparison(first.scenario, first.shape, len(current), _figures(current), _figures(baseline))
    for row in current:
        if row is not None and not row.ok:
            comparison.ok = False
            comparison.problems += [f"round {row.figures.get('round', '?')}: {p}" for p in row.problems]
    pairs = [(c, b) for c, b in zip(current, baseline, strict=False) if _usable(c) and _usable(b)]
    for key in ("ops_per_s", "cpu_ms_per_op"):
        ratios = [c / b for c, b in ((_figure(c, key), _figure(b, key)) for c, b in pairs) if c and b]
        if ratios:
            comparison.ratio[key] = round(statistics.median(ratios), 3)
            comparison.ratio[f"{key}_by_round"] = [round(r, 3) for r in ratios]
    if not any(_usable(b) for b in baseline):
        comparison.notes = f"baseline n/a: {_why(baseline, rounds)}"
    elif not all(_usable(b) for b in baseline):
        comparison.notes = f"baseline n/a in some rounds: {_why(baseline, rounds)}"
    return comparison


def _figure(row: Row | None, key: str) -> float | None:
    if row is None:
        return None
    if key == "ops_per_s":
        return row.ops_per_s
    if key == "vs_asyncpg":
        return row.vs_asyncpg
    if key in ("p50_ms", "p99_ms"):
        return getattr(row, key)
    return row.figures.get("server_cpu_ms_per_op")


def _figures(rows: list[Row | None]) -> dict[str, Any]:
    """A side's medians over its measured rounds, and each round's figure (None where it has none)."""
    figures: dict[str, Any] = {}
    for key in ("ops_per_s", "cpu_ms_per_op", "p50_ms", "p99_ms", "vs_asyncpg"):
        values = [_figure(r, key) if _measured(r) else None for r in rows]
        present = [v for v in values if v is not None]
        figures[key] = round(statistics.median(present), 3) if present else None
        figures[f"{key}_by_round"] = values
    figures["ok_by_round"] = [_usable(r) for r in rows]
    return figures


def _why(rows: list[Row | None], rounds: list[list[Row]]) -> str:
    """Why the baseline has no figure: its problems (a scenario or server option it lacks), first one."""
    for row, output in zip(rows, rounds, strict=False):
        if row is not None and row.problems:
            return _one_line(row.problems[0])
        crashed = [r for r in output if r.shape == "-" and r.problems]
        if row is None and crashed:
            return _one_line(crashed[0].problems[0])
    return "no such row"


def _one_line(problem: str) -> str:
    """A problem fit for a table cell: a server's log tail ends with what went wrong."""
    lines = [line.strip() for line in problem.splitlines() if line.strip()]
    if len(lines) > 1:
        return f"{lines[0].rstrip(':')}: … {lines[-1]}"
    return lines[0] if lines else problem


def _shared(row: Row) -> Comparison:
    """A ceiling: one figure for both sides."""
    comparison = Comparison(row.scenario, row.shape, 1, _figures([row]), None, ok=row.ok)
    comparison.problems = list(row.problems)
    comparison.notes = "shared by both sides"
    return comparison


# -- the table ----------------------------------------------------------------------------------------

_HEADER = ["scenario", "shape", "ops/s", "baseline", "ratio", "ms/op", "baseline", "ratio", "notes"]
_ALIGN = ["<", "<", ">", ">", ">", ">", ">", ">", "<"]


def table(comparisons: Sequence[Comparison]) -> str:
    """Current and baseline side by side: throughput and server CPU per operation, and their ratios."""
    cells = [_HEADER]
    for c in comparisons:
        base = c.baseline
        cells.append(
            [
                c.scenario if c.ok else f"FAILED {c.scenario}",
                c.shape,
                _number(c.current["ops_per_s"], "{:,.0f}"),
                "shared" if base is None else _number(base["ops_per_s"], "{:,.0f}", na=True),
                _ratio(c, "ops_per_s"),
                _number(c.current["cpu_ms_per_op"], "{:.2f}"),
                "" if base is None else _number(base["cpu_ms_per_op"], "{:.2f}", na=True),
                _ratio(c, "cpu_ms_per_op"),
                _notes(c),
            ]
        )
    lines = grid(cells, _ALIGN)
    for c in comparisons:
        lines += [f"  ! {c.scenario} {c.shape}: {p}" for p in c.problems]
    return "\n".join(lines)


def _number(value: float | None, form: str, *, na: bool = False) -> str:
    if value is None:
        return "n/a" if na else "-"
    return form.format(value)


def _ratio(c: Comparison, key: str) -> str:
    if c.baseline is None:
        return ""
    median = c.ratio.get(key)
    if median is None:
        return "n/a" if c.current[key] is not None else "-"
    by_round = c.ratio[f"{key}_by_round"]
    if len(by_round) == 1:
        return f"{median:.2f}×"
    return f"{median:.2f}× ({min(by_round):.2f}–{max(by_round):.2f})"


def _notes(c: Comparison) -> str:
    notes = [c.notes] if c.notes else []
    now = c.current.get("vs_asyncpg")
    if now is not None:
        then = (c.baseline or {}).get("vs_asyncpg")
        shown = f"{now:.2f}×" if c.baseline is None or then is None else f"{now:.2f}× / {then:.2f}×"
        notes.append(f"vs asyncpg {shown}")
    return "; ".join(notes)
