"""Spend controls in the bench: `requestService` for customers with every control set against none.

Issue 22's target on this machine: distinct-customer `requestService` with a minimum balance, an
auto top-up rule and a spend limit on every customer (the spend limit on the requesting user)
at least 0.9× the same for customers with none. The controls are set so that none acts: the
floor and the threshold lie far below the float, the limit far above what a run can spend, so
the figure is what checking them costs, not what a top-up or a refusal does.
"""

from __future__ import annotations

import statistics
import uuid
from collections.abc import Sequence

from bench.report import Row
from bench.world import FLOAT_CENTS, Seat
from infra import db
from models.spend_settings import TopUpRule, set_auto_top_up, set_minimum_balance, set_spend_limit
from models.user import SpendLimitPeriod, User
from settings import Settings

CONTROLS_ROUNDS = 5  # plain and controlled runs alternate; the figure is the median of paired ratios
CONTROLLED_VS_PLAIN_TARGET = 0.9
FIRST_CONTROLS_SEAT = 400_000  # seat numbers for this scenario (lots' are 100,000…, runway's 300,000)
MINIMUM_BALANCE = 0
TOP_UP = TopUpRule(threshold=100_00, amount=1_000_00)  # never crossed: the float is 10⁹ credits
# A month's limit: the costlier period to check (its sum spans more requests than a day's).
SPEND_LIMIT = FLOAT_CENTS
SPEND_LIMIT_PERIOD = SpendLimitPeriod.MONTH


async def set_controls(settings: Settings, seats: Sequence[Seat]) -> None:
    """A floor, an auto top-up rule and the requesting user's monthly spend limit on each seat."""
    await db.init_db(settings)
    try:
        for seat in seats:
            customer_id = uuid.UUID(seat.customer_id)
            await set_minimum_balance(customer_id, MINIMUM_BALANCE)
            await set_auto_top_up(customer_id, TOP_UP)
            user = await User.get(id=uuid.UUID(seat.user_id))
            await set_spend_limit(user, SPEND_LIMIT, SPEND_LIMIT_PERIOD)
    finally:
        await db.close_db()


def controlled_against_plain(plain: Sequence[Row], controlled: Sequence[Row], *, strict: bool) -> Row:
    """The median over rounds of controlled customers' throughput over plain ones' in the same round."""
    rounds = f"{len(controlled)} round{'s' if len(controlled) > 1 else ''}"
    row = Row("requestService controls", f"{rounds}: controls / none")
    pairs = zip(controlled, plain, strict=False)
    ratios = [(c.ops_per_s or 0) / p.ops_per_s for c, p in pairs if p.ops_per_s]
    cpu = [
        c.figures["server_cpu_ms_per_op"] / p.figures["server_cpu_ms_per_op"]
        for c, p in zip(controlled, plain, strict=False)
        if c.figures.get("server_cpu_ms_per_op") and p.figures.get("server_cpu_ms_per_op")
    ]
    if not ratios:
        row.ok = False
        row.problems.append("no pair of plain and controlled runs measured")
        return row
    ratio = statistics.median(ratios)
    row.ops_per_s = statistics.median(c.ops_per_s or 0 for c in controlled)
    row.figures.update(
        controls_vs_none=round(ratio, 3),
        controls_vs_none_by_round=[round(r, 3) for r in ratios],
        none_ops_per_s=[p.ops_per_s for p in plain],
        controls_ops_per_s=[c.ops_per_s for c in controlled],
        cpu_controls_vs_none=round(statistics.median(cpu), 3) if cpu else None,
    )
    by_round = ", ".join(f"{r:.2f}×" for r in ratios)
    row.notes = f"median {ratio:.2f}× no controls in the same round ({by_round})"
    if cpu:
        row.notes += f"; server CPU per op {statistics.median(cpu):.2f}×"
    if ratio < CONTROLLED_VS_PLAIN_TARGET and strict:
        row.ok = False
        row.problems.append(f"controls {ratio:.2f}× none (want ≥ {CONTROLLED_VS_PLAIN_TARGET}×)")
    return row
