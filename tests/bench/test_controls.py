"""The spend-controls scenario: controls that never act within a run (its verdict: test_paired.py)."""

from __future__ import annotations

from bench import controls
from bench.config import SCENARIOS
from bench.world import FLOAT_CENTS


def test_the_controls_set_never_act_within_a_run_and_the_scenario_follows_the_ceilings():
    # given / when / then: floor and threshold far below the float, the limit as large as the float
    assert controls.MINIMUM_BALANCE < controls.TOP_UP.threshold < FLOAT_CENTS
    assert controls.SPEND_LIMIT >= FLOAT_CENTS
    assert SCENARIOS.index("ceilings") < SCENARIOS.index("controls")
