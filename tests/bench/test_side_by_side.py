"""`--baseline`'s rounds and comparisons: alternating order, paired ratios, "n/a" where the baseline fails."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from bench import side_by_side
from bench.report import Row
from bench.scenarios import Side


def measured(ops_per_s: float, cpu_ms: float, shape: str = "distinct") -> Row:
    """A row as Suite.measure makes it: throughput, and the server's CPU per operation in figures."""
    return Row("requestService", shape, ops_per_s=ops_per_s, figures={"server_cpu_ms_per_op": cpu_ms})


@dataclass
class FakeSuite:
    """Answers run_one with prepared rows, one list per call, and notes who ran when."""

    side: Side
    answers: list[list[Row]]
    log: list[str]
    ceiling: dict = field(default_factory=dict)

    async def run_one(self, name: str) -> list[Row]:
        self.log.append(f"{self.side.name} {name}")
        return self.answers.pop(0)


async def test_rounds_alternate_which_side_goes_first_and_ceilings_run_once():
    # given: three rounds of requestService on each side, after the ceilings
    log: list[str] = []
    current = FakeSuite(Side("current"), [[Row("ceiling asyncpg", "distinct", ops_per_s=5000.0)]], log)
    current.answers += [[measured(100, 1.0)] for _ in range(3)]
    baseline = FakeSuite(Side("baseline"), [[measured(100, 1.0)] for _ in range(3)], log)
    # when
    comparisons = await side_by_side.run(current, baseline, ("ceilings", "request"), rounds=3)  # type: ignore[arg-type]
    # then: the ceilings once, on the current side; the rounds in ABBA order
    assert log == [
        "current ceilings",
        "current request",
        "baseline request",
        "baseline request",
        "current request",
        "current request",
        "baseline request",
    ]
    assert [c.scenario for c in comparisons] == ["ceiling asyncpg", "requestService"]
    assert comparisons[0].baseline is None  # shared by both sides
    assert baseline.ceiling is current.ceiling


def test_the_ratio_is_the_median_of_each_round_paired_with_its_baseline():
    # given: three rounds whose speed drifts, the current side 10% faster in each
    current = [[measured(110, 0.9)], [measured(220, 0.45)], [measured(55, 1.8)]]
    baseline = [[measured(100, 1.0)], [measured(200, 0.5)], [measured(50, 2.0)]]
    # when
    (comparison,) = side_by_side.compare(current, baseline)
    # then: each round's pair says 1.1 (medians of the sides taken apart would say the same only by luck)
    assert comparison.ratio["ops_per_s"] == pytest.approx(1.1)
    assert comparison.ratio["ops_per_s_by_round"] == pytest.approx([1.1, 1.1, 1.1])
    assert comparison.ratio["cpu_ms_per_op"] == pytest.approx(0.9)
    assert comparison.current["ops_per_s"] == 110 and comparison.baseline is not None
    assert comparison.baseline["ops_per_s_by_round"] == [100, 200, 50]
    assert comparison.ok and not comparison.notes


def test_a_scenario_the_baseline_cannot_run_is_na_and_not_a_failure():
    # given: the baseline's server refused an option (its scenario crashed: one row "-"), twice
    log_tail = "server exited early; log server.log:\nusage: server.py\nunrecognized arguments: --workers 2"
    crashed = Row("requestService --workers 2", "-", ok=False, problems=[log_tail])
    current = [[measured(100, 1.0, "distinct"), measured(50, 1.0, "cross")] for _ in range(2)]
    baseline = [[crashed], [crashed]]
    # when
    comparisons = side_by_side.compare(current, baseline)
    # then: every current row is there, without a ratio, marked n/a with the reason, and not failed
    assert [c.shape for c in comparisons] == ["distinct", "cross"]
    for comparison in comparisons:
        assert comparison.ok
        assert comparison.ratio == {}
        assert comparison.notes == (
            "baseline n/a: server exited early; log server.log: … unrecognized arguments: --workers 2"
        )
    table = side_by_side.table(comparisons)
    assert "FAILED" not in table and "n/a" in table


def test_a_failed_check_on_the_current_side_fails_the_row():
    # given: the current side's check found a problem in round 2
    broken = measured(120, 1.0)
    broken.ok, broken.problems = False, ["3 requests charged twice"]
    broken.figures["round"] = 2
    current = [[measured(100, 1.0)], [broken]]
    baseline = [[measured(100, 1.0)], [measured(100, 1.0)]]
    # when
    (comparison,) = side_by_side.compare(current, baseline)
    # then: the row fails with the problem, and the ratio comes from the clean round only
    assert not comparison.ok
    assert comparison.problems == ["round 2: 3 requests charged twice"]
    assert comparison.ratio["ops_per_s_by_round"] == [1.0]
    assert "FAILED requestService" in side_by_side.table([comparison])
