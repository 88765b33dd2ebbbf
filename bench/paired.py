"""Verdicts of paired rounds: a variant's throughput over its base's in the same round, median.

This box drifts by ±15% between identical runs, so a variant is only compared with the base run
beside it, round by round (as the webhook runs are), and the median of those ratios is the figure.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from bench.report import Row


@dataclass(frozen=True)
class Pairing:
    """How one comparison names itself in a row's figures, notes and problems."""

    name: str  # the row's name
    unit: str  # the row's label after "N rounds: "
    key: str  # the ratio's figure; `{key}_by_round` and `cpu_{key}` beside it
    runs: tuple[str, str]  # the figures listing the base's and the variant's ops/s by round
    against: str  # the base in the notes: "median 0.92× {against} in the same round"
    verdict: str  # the problem when below target, "{ratio}" formatted: "five lots {ratio} one lot"
    missing: str  # "no pair of {missing} runs measured"
    target: float


def paired_rounds(pairing: Pairing, base: Sequence[Row], variant: Sequence[Row], *, strict: bool) -> Row:
    """The median over rounds of the variant's throughput over the base's in the same round."""
    rounds = f"{len(variant)} round{'s' if len(variant) > 1 else ''}"
    row = Row(pairing.name, f"{rounds}: {pairing.unit}")
    pairs = list(zip(variant, base, strict=False))
    ratios = [(v.ops_per_s or 0) / b.ops_per_s for v, b in pairs if b.ops_per_s]
    cpu = [
        v.figures["server_cpu_ms_per_op"] / b.figures["server_cpu_ms_per_op"]
        for v, b in pairs
        if v.figures.get("server_cpu_ms_per_op") and b.figures.get("server_cpu_ms_per_op")
    ]
    if not ratios:
        row.ok = False
        row.problems.append(f"no pair of {pairing.missing} runs measured")
        return row
    ratio = statistics.median(ratios)
    row.ops_per_s = statistics.median(v.ops_per_s or 0 for v in variant)
    base_runs, variant_runs = pairing.runs
    row.figures.update(
        {
            pairing.key: round(ratio, 3),
            f"{pairing.key}_by_round": [round(r, 3) for r in ratios],
            base_runs: [b.ops_per_s for b in base],
            variant_runs: [v.ops_per_s for v in variant],
            f"cpu_{pairing.key}": round(statistics.median(cpu), 3) if cpu else None,
        }
    )
    by_round = ", ".join(f"{r:.2f}×" for r in ratios)
    row.notes = f"median {ratio:.2f}× {pairing.against} in the same round ({by_round})"
    if cpu:
        row.notes += f"; server CPU per op {statistics.median(cpu):.2f}×"
    if ratio < pairing.target and strict:
        row.ok = False
        verdict = pairing.verdict.format(ratio=f"{ratio:.2f}×")
        row.problems.append(f"{verdict} (want ≥ {pairing.target}×)")
    return row
