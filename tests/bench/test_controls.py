"""The spend-controls scenario's verdict: paired ratios of controlled over plain runs, the 0.9× target."""

from __future__ import annotations

import pytest

from bench import controls
from bench.config import SCENARIOS
from bench.report import Row
from bench.world import FLOAT_CENTS


def run(ops_per_s: float, cpu_ms: float = 1.0, shape: str = "distinct, none") -> Row:
    """A row as Suite.measure makes it: throughput, and the server's CPU per operation in figures."""
    return Row(
        "requestService controls", shape, ops_per_s=ops_per_s, figures={"server_cpu_ms_per_op": cpu_ms}
    )


def test_the_ratio_is_the_median_of_each_rounds_pair():
    # given: three rounds whose speed drifts, the controlled runs at 95% of the plain ones in each
    plain = [run(100), run(200), run(60)]
    controlled = [run(95, 1.05), run(190, 1.05), run(57, 1.05)]
    # when
    row = controls.controlled_against_plain(plain, controlled, strict=True)
    # then
    assert row.ok and not row.problems
    assert row.figures["controls_vs_none"] == pytest.approx(0.95)
    assert row.figures["controls_vs_none_by_round"] == pytest.approx([0.95, 0.95, 0.95])
    assert row.figures["cpu_controls_vs_none"] == pytest.approx(1.05)
    assert row.shape == "3 rounds: controls / none"


def test_controls_below_the_target_fail_a_full_run_but_not_a_smoke_run():
    # given: controlled runs at 85% of the plain ones
    plain, controlled = [run(100)], [run(85)]
    # when
    full = controls.controlled_against_plain(plain, controlled, strict=True)
    smoke = controls.controlled_against_plain(plain, controlled, strict=False)
    # then
    assert not full.ok and full.problems == ["controls 0.85× none (want ≥ 0.9×)"]
    assert smoke.ok and smoke.figures["controls_vs_none"] == pytest.approx(0.85)


def test_no_pair_measured_is_a_failure():
    # given: the plain run measured nothing
    plain, controlled = [run(0)], [run(100)]
    plain[0].ops_per_s = None
    # when
    row = controls.controlled_against_plain(plain, controlled, strict=False)
    # then
    assert not row.ok and row.problems == ["no pair of plain and controlled runs measured"]


def test_the_controls_set_never_act_within_a_run_and_the_scenario_follows_the_ceilings():
    # given / when / then: floor and threshold far below the float, the limit as large as the float
    assert controls.MINIMUM_BALANCE < controls.TOP_UP.threshold < FLOAT_CENTS
    assert controls.SPEND_LIMIT >= FLOAT_CENTS
    assert SCENARIOS.index("ceilings") < SCENARIOS.index("controls")
