"""Paired-rounds verdicts (bench/paired.py), as the lots and the spend-controls scenarios name them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pytest

from bench import controls, lots
from bench.report import Row


@dataclass(frozen=True)
class Case:
    """One scenario's comparison: its verdict function and the words and figures it uses."""

    verdict: Callable[..., Row]
    key: str
    shape: str
    below: str  # the problem of a variant at 80% of its base
    missing: str


CASES = {
    "lots": Case(
        lots.five_against_one,
        "five_vs_one",
        "3 rounds: 5 lots / 1 lot",
        "five lots 0.80× one lot (want ≥ 0.9×)",
        "no pair of one-lot and five-lot runs measured",
    ),
    "controls": Case(
        controls.controlled_against_plain,
        "controls_vs_none",
        "3 rounds: controls / none",
        "controls 0.80× none (want ≥ 0.9×)",
        "no pair of plain and controlled runs measured",
    ),
}


def run(ops_per_s: float | None, cpu_ms: float = 1.0) -> Row:
    """A row as Suite.measure makes it: throughput, and the server's CPU per operation in figures."""
    return Row("requestService", "distinct", ops_per_s=ops_per_s, figures={"server_cpu_ms_per_op": cpu_ms})


def judged(case: Case, base: Sequence[Row], variant: Sequence[Row], *, strict: bool) -> Row:
    """The case's verdict on these runs."""
    return case.verdict(base, variant, strict=strict)


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_the_ratio_is_the_median_of_each_rounds_pair(case: Case) -> None:
    # given: three rounds whose speed drifts, the variant at 95% of its base in each
    base = [run(100), run(200), run(60)]
    variant = [run(95, 1.1), run(190, 1.1), run(57, 1.1)]
    # when
    row = judged(case, base, variant, strict=True)
    # then
    assert row.ok and not row.problems
    assert row.figures[case.key] == pytest.approx(0.95)
    assert row.figures[f"{case.key}_by_round"] == pytest.approx([0.95, 0.95, 0.95])
    assert row.figures[f"cpu_{case.key}"] == pytest.approx(1.1)
    assert row.ops_per_s == 95
    assert row.shape == case.shape


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_below_the_target_fails_a_full_run_but_not_a_smoke_run(case: Case) -> None:
    # given: the variant at 80% of its base
    base, variant = [run(100)], [run(80)]
    # when
    full = judged(case, base, variant, strict=True)
    smoke = judged(case, base, variant, strict=False)
    # then
    assert not full.ok and full.problems == [case.below]
    assert smoke.ok and smoke.figures[case.key] == pytest.approx(0.8)


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_no_pair_measured_is_a_failure(case: Case) -> None:
    # given: the base run measured nothing
    base, variant = [run(None)], [run(100)]
    # when
    row = judged(case, base, variant, strict=False)
    # then
    assert not row.ok and row.problems == [case.missing]
