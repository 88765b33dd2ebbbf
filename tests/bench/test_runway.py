"""The runway scenario's verdict: p99 against the 5 ms target, the domain's figures beside it."""

from __future__ import annotations

from bench import runway
from bench.config import SCENARIOS
from bench.report import Row

DOMAIN = {
    "domain_p50_ms": 0.4,
    "domain_p99_ms": 0.9,
    "balance": "96.00",
    "burn_rate_per_day": "5.14",
    "depletes_in_days": 18,
    "expiring_before_depletion": "0.00",
}


def test_a_p99_under_5_ms_passes_and_the_figures_are_kept():
    # given: a server row with p99 4.9 ms
    row = Row("Customer.runway", "365 days of usage", p50_ms=2.0, p99_ms=4.9)

    # when
    judged = runway.judged(row, DOMAIN, 365, strict=True)

    # then
    assert judged.ok and not judged.problems
    assert judged.figures["entries"] == 365 * runway.CHARGES_PER_DAY
    assert judged.figures["domain_p99_ms"] == 0.9


def test_a_p99_of_5_ms_or_more_fails_a_full_run_but_not_a_smoke_run():
    # given: two rows with p99 5.0 ms
    full = Row("Customer.runway", "365 days of usage", p99_ms=5.0)
    smoke = Row("Customer.runway", "14 days of usage", p99_ms=5.0)

    # when
    runway.judged(full, DOMAIN, 365, strict=True)
    runway.judged(smoke, DOMAIN, 14, strict=False)

    # then
    assert not full.ok and full.problems == ["Customer.runway p99 5.0 ms (want < 5.0 ms)"]
    assert smoke.ok


def test_the_runway_scenario_runs_after_the_lots_scenarios():
    assert SCENARIOS.index("expiry") < SCENARIOS.index("runway")
