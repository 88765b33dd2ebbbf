"""The runway: when a customer's credits run out at the last 7 days' net rate, through its lots' expiries.

Pure arithmetic, exact: amounts are integer hundredths, the rate a Fraction of hundredths per day
(net / 7 is seldom whole), times Fractions of days after `now`. Only the answer is rounded, once:
the rate and what expires to the nearest hundredth (halves to even), the moment down to the
microsecond a datetime holds (and to its last one, 9999-12-31T23:59:59.999999Z, beyond that).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

WINDOW = dt.timedelta(days=7)  # the usage the rate is taken from: (now - 7 days, now]
_MICROSECONDS_PER_DAY = 86_400_000_000
# A huge balance spent slowly lasts beyond the last moment a datetime holds: it depletes "then".
LATEST = dt.datetime.max.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class LotLeft:
    """What a lot holds now and when it expires (None: never); a customer's are in consumption order."""

    remaining: int
    expires_at: dt.datetime | None


@dataclass(frozen=True)
class Runway:
    """The forecast as the API gives it: hundredths (rounded) and a moment (None: no depletion)."""

    burn_rate_per_day: int
    depletes_at: dt.datetime | None
    expiring_before_depletion: int


@dataclass(frozen=True)
class Course:
    """The exact course of the spending: when nothing is left (days after now; None: never), what expired."""

    depletes_in: Fraction | None
    expired: Fraction


def burn_rate(net_usage: int) -> Fraction:
    """Hundredths a day: the last 7 days' net usage (charges less refunds, hundredths) over 7."""
    return Fraction(net_usage, 7)


def fitted(lots: Sequence[LotLeft], balance: int) -> list[LotLeft]:
    """The lots as far as the balance goes: what the simulation spends is the balance.

    The ledger keeps the balance equal to what ACTIVE lots hold (a debit beyond them is debt, and
    a lot never holds credits while there is debt), so this is the identity; should they differ,
    a shortfall of lots is spent last and never expires, and lots beyond the balance are cut from
    the end of the consumption order. A balance ≤ 0 has nothing to spend.
    """
    left = max(balance, 0)
    kept: list[LotLeft] = []
    for lot in lots:
        if left == 0:
            break
        part = min(lot.remaining, left)
        if part > 0:
            kept.append(lot if part == lot.remaining else LotLeft(part, lot.expires_at))
            left -= part
    if left:
        kept.append(LotLeft(left, None))
    return kept


def course(lots: Sequence[LotLeft], rate: Fraction, now: dt.datetime) -> Course:
    """Spend `rate` hundredths a day from `now` through `lots` in order, each expiring at its expiry.

    Spending takes one lot at a time, so a lot's fate depends only on when spending reaches it:
    if it has expired by then, all of it expires; if it would expire before it is used up, the
    rest expires then and spending goes on from that moment; otherwise it is used up. A rate ≤ 0
    uses nothing: every lot that has an expiry expires whole, and nothing depletes.
    """
    if rate <= 0:
        return Course(None, Fraction(sum(lot.remaining for lot in lots if lot.expires_at is not None)))
    at = Fraction(0)
    expired = Fraction(0)
    for lot in lots:
        end = None if lot.expires_at is None else days_after(now, lot.expires_at)
        if end is not None and end <= at:
            expired += lot.remaining
            continue
        used_up = at + lot.remaining / rate
        if end is None or used_up <= end:
            at = used_up
        else:
            expired += lot.remaining - rate * (end - at)
            at = end
    return Course(at, expired)


def days_after(now: dt.datetime, moment: dt.datetime) -> Fraction:
    """`moment` as exact days after `now` (negative before it)."""
    delta = moment - now
    microseconds = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return Fraction(microseconds, _MICROSECONDS_PER_DAY)


def moment_after(now: dt.datetime, days: Fraction) -> dt.datetime:
    """`now` plus exact `days`, rounded down to the microsecond; at most LATEST (a datetime ends there)."""
    microseconds = math.floor(days * _MICROSECONDS_PER_DAY)
    if microseconds >= (LATEST - now) // dt.timedelta(microseconds=1):
        return LATEST
    return now + dt.timedelta(microseconds=microseconds)


def runway(lots: Sequence[LotLeft], balance: int, net_usage: int, now: dt.datetime) -> Runway:
    """The runway of a customer with `balance` and ACTIVE `lots` (consumption order), at `now`.

    `net_usage`: the last 7 days' SERVICE_CHARGE less REFUND, hundredths. No depletion (None) when
    the rate is ≤ 0 or the balance ≤ 0; what expires unused is then what expires at all.
    """
    rate = burn_rate(net_usage)
    spent = course(fitted(lots, balance), rate, now)
    depletes_at = None
    if spent.depletes_in is not None and balance > 0:
        depletes_at = moment_after(now, spent.depletes_in)
    return Runway(round(rate), depletes_at, round(spent.expired))
