"""Spend controls in the bench: `requestService` for customers with every control set against none.

Issue 22's target on this machine: distinct-customer `requestService` with a minimum balance, an
auto top-up rule and a spend limit on every customer (the spend limit on the requesting user)
at least 0.9× the same for customers with none. The controls are set so that none acts: the
floor and the threshold lie far below the float, the limit far above what a run can spend, so
the figure is what checking them costs, not what a top-up or a refusal does.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from bench.paired import Pairing, paired_rounds
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


CONTROLS_PAIRING = Pairing(
    name="requestService controls",
    unit="controls / none",
    key="controls_vs_none",
    runs=("none_ops_per_s", "controls_ops_per_s"),
    against="no controls",
    verdict="controls {ratio} none",
    missing="plain and controlled",
    target=CONTROLLED_VS_PLAIN_TARGET,
)


def controlled_against_plain(plain: Sequence[Row], controlled: Sequence[Row], *, strict: bool) -> Row:
    """The median over rounds of controlled customers' throughput over plain ones' in the same round."""
    return paired_rounds(CONTROLS_PAIRING, plain, controlled, strict=strict)
