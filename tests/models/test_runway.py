"""The runway's simulation against a reference that plays the days out, event by event."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.runway import Course, LotLeft, course, days_after, fitted, moment_after, runway

NOW = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def reference(lots: list[LotLeft], rate: Fraction, now: dt.datetime) -> Course:
    """Time runs from `now`: at each event, lots whose expiry has come expire; spending takes the first left.

    The next event is the current lot running out or the soonest expiry of any lot left, whichever
    comes first. Written for clarity, not speed; a rate ≤ 0 spends nothing (lots only expire).
    """
    left = [
        [Fraction(lot.remaining), None if lot.expires_at is None else days_after(now, lot.expires_at)]
        for lot in lots
    ]
    at, expired = Fraction(0), Fraction(0)
    while True:
        for lot in left:
            if lot[1] is not None and lot[1] <= at and lot[0] > 0:
                expired += lot[0]
                lot[0] = Fraction(0)
        holding = [lot for lot in left if lot[0] > 0]
        if not holding:
            return Course(at, expired)
        expiries = [lot[1] for lot in holding if lot[1] is not None]
        if rate <= 0:
            if not expiries:
                return Course(None, expired)
            at = min(expiries)
            continue
        current = holding[0]
        runs_out = at + current[0] / rate
        soonest = min(expiries, default=None)
        if soonest is None or runs_out <= soonest:
            current[0], at = Fraction(0), runs_out
        else:
            current[0] -= rate * (soonest - at)
            at = soonest


def test_the_contracts_example_exactly():
    # given: 80 expiring in 1 day, then 20 without expiry; 70.00 a week of net charges: 10 a day
    lots = [LotLeft(8000, NOW + DAY), LotLeft(2000, None)]

    # when
    forecast = runway(lots, 10_000, 7000, NOW)

    # then: 10 used from the first lot, 70 expires, the 20 last 2 more days
    assert forecast.burn_rate_per_day == 1000
    assert forecast.depletes_at == NOW + 3 * DAY
    assert forecast.expiring_before_depletion == 7000


def test_no_lots_and_a_positive_balance_spend_the_balance():
    # given: a balance no lot accounts for, 1.00 a day
    # when
    forecast = runway([], 500, 700, NOW)

    # then: it lasts 5 days, nothing expires
    assert (forecast.depletes_at, forecast.expiring_before_depletion) == (NOW + 5 * DAY, 0)


def test_lots_that_have_all_expired_deplete_at_once():
    # given: two lots past their expiry that the sweep has not reached yet
    lots = [LotLeft(300, NOW - DAY), LotLeft(200, NOW)]

    # when
    forecast = runway(lots, 500, 700, NOW)

    # then: nothing is left now, all of it expires unused
    assert (forecast.depletes_at, forecast.expiring_before_depletion) == (NOW, 500)


def test_a_rate_of_zero_never_depletes_and_everything_with_an_expiry_expires():
    # given: one lot expiring, one not, no usage this week
    lots = [LotLeft(300, NOW + DAY), LotLeft(200, None)]

    # when
    forecast = runway(lots, 500, 0, NOW)

    # then
    assert (forecast.burn_rate_per_day, forecast.depletes_at, forecast.expiring_before_depletion) == (
        0,
        None,
        300,
    )


def test_more_refunds_than_charges_make_a_negative_rate_and_no_depletion():
    # given: refunds exceeded charges by 14.00 this week
    # when
    forecast = runway([LotLeft(500, None)], 500, -1400, NOW)

    # then
    assert (forecast.burn_rate_per_day, forecast.depletes_at) == (-200, None)


def test_a_balance_at_or_below_zero_has_no_runway():
    # given / when: a customer in debt (its lots hold nothing), and one at zero
    in_debt = runway([], -500, 700, NOW)
    at_zero = runway([], 0, 700, NOW)

    # then
    assert in_debt.depletes_at is None and in_debt.expiring_before_depletion == 0
    assert at_zero.depletes_at is None


def test_the_rate_and_what_expires_round_to_the_nearest_hundredth_and_the_moment_down():
    # given: 0.10 a week (1.428… hundredths a day), a lot of 1.00 expiring in a day
    lots = [LotLeft(100, NOW + DAY), LotLeft(100, None)]

    # when
    forecast = runway(lots, 200, 10, NOW)

    # then: 1 hundredth a day shown; 100 - 10/7 = 98.57… expire, shown 99; 70 days for the rest
    assert forecast.burn_rate_per_day == 1
    assert forecast.expiring_before_depletion == 99
    assert forecast.depletes_at == NOW + DAY + 70 * DAY


def test_a_moment_is_rounded_down_to_the_microsecond():
    # given: a third of a microsecond past a whole one
    days = Fraction(1, 86_400_000_000) + Fraction(1, 3 * 86_400_000_000)

    # when / then
    assert moment_after(NOW, days) == NOW + dt.timedelta(microseconds=1)


def test_a_depletion_beyond_the_last_datetime_is_that_datetime():
    # given: 10 billion credits spent at 0.01 a week
    # when
    forecast = runway([], 10**12, 1, NOW)

    # then: the last moment a datetime holds
    assert forecast.depletes_at == dt.datetime.max.replace(tzinfo=dt.UTC)


def test_lots_beyond_the_balance_are_cut_from_the_end_and_a_shortfall_added_last():
    # given: lots holding 5.00 in order
    lots = [LotLeft(300, NOW + DAY), LotLeft(200, None)]

    # when / then: a balance of 4.00 keeps the first lot and 1.00 of the second; 6.00 adds 1.00 never expiring
    assert fitted(lots, 400) == [LotLeft(300, NOW + DAY), LotLeft(100, None)]
    assert fitted(lots, 600) == [*lots, LotLeft(100, None)]
    assert fitted(lots, -100) == []


_offsets = st.one_of(
    st.none(),
    st.integers(min_value=-2, max_value=30).map(lambda days: dt.timedelta(days=days)),
    st.integers(min_value=-86_400_000_000, max_value=40 * 86_400_000_000).map(
        lambda us: dt.timedelta(microseconds=us)
    ),
)
_lots = st.lists(
    st.tuples(st.integers(min_value=1, max_value=100_000), _offsets).map(
        lambda pair: LotLeft(pair[0], None if pair[1] is None else NOW + pair[1])
    ),
    max_size=12,
)


# Pure and fast; a box busy with other suites made one draw slow once: no deadline, no slow-draw check.
_EXAMPLES = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_EXAMPLES
@given(lots=_lots, net=st.integers(min_value=-10_000, max_value=1_000_000))
def test_the_one_pass_course_matches_the_event_by_event_reference(lots: list[LotLeft], net: int):
    # given: random lots in some consumption order, expiries in the past, now and future, any rate
    rate = Fraction(net, 7)

    # when
    fast = course(lots, rate, NOW)

    # then: the same expired credits and (spending at all) the same moment, exactly; never without spending
    played = reference(lots, rate, NOW)
    assert fast.expired == played.expired
    assert fast.depletes_in == (played.depletes_in if rate > 0 else None)


@_EXAMPLES
@given(lots=_lots, net=st.integers(min_value=1, max_value=1_000_000))
def test_what_is_spent_and_what_expires_add_up_to_the_balance(lots: list[LotLeft], net: int):
    # given: a positive rate over lots holding the balance
    balance = sum(lot.remaining for lot in lots)
    rate = Fraction(net, 7)

    # when
    spent = course(lots, rate, NOW)

    # then: by depletion the rate used exactly what did not expire
    assert spent.depletes_in is not None
    assert spent.depletes_in * rate + spent.expired == balance
