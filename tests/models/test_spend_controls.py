"""models/spend_controls.py through the ledger: the floor, the auto top-up and spend limits per user."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import pytest

from infra import clock
from infra.batching import Ticket
from models import spend_controls, spend_settings
from models.credit_alert import CreditAlert
from models.credits import change_balance
from models.customer import Customer
from models.errors import DomainError, ErrorCode
from models.idempotency import IdempotencyRecord
from models.ledger import CreditTransaction, Movement, TransactionKind, prepare
from models.lots import CreditAllocation, CreditLot
from models.notification import AlertKind, Notification
from models.service import RequestStatus, ServiceRequest
from models.service_requests import _Charge, _charge_batch, make_request, transition
from models.spend_settings import TopUpRule
from models.unit_of_work import unit_of_work
from models.user import SpendLimitPeriod, User
from models.webhook_outbox import WebhookDelivery, WebhookEventType
from models.webhooks import create_endpoint
from tests.factories import World, make_service, make_world
from tests.webhook_receiver import WebhookReceiver

DAY_ONE = dt.datetime(2027, 1, 31, 23, 0, tzinfo=dt.UTC)  # the last hour of a month
DAY_TWO = dt.datetime(2027, 2, 1, 0, 30, tzinfo=dt.UTC)


async def charge(world: World, price_units: int, *, key: str | None = None) -> ServiceRequest:
    """The first end user requests `price_units` of the world's 1.00 service."""
    made = await make_request(world.end_user.actor, world.customer.id, world.service.id, price_units, key)
    return made.request


async def entries(customer: Customer) -> list[tuple[TransactionKind, int]]:
    """The customer's ledger as (kind, amount), oldest first."""
    rows = await CreditTransaction.filter(customer_id=customer.id).order_by("sequence")
    return [(row.kind, row.amount) for row in rows]


async def balance(customer: Customer) -> int:
    """The customer's balance as committed."""
    await customer.refresh_from_db()
    return customer.balance


async def grant(world: World, cents: int) -> None:
    """The catalog administrator grants `cents` to the first customer."""
    await change_balance(world.admin.actor, TransactionKind.GRANT, world.customer.id, cents, None, None)


async def refused(code: ErrorCode, work: object) -> DomainError:
    """Await `work` and return the DomainError of `code` it raised."""
    with pytest.raises(DomainError) as caught:
        await work  # type: ignore[misc]
    assert caught.value.code == code
    return caught.value


# --- the minimum balance ---------------------------------------------------------------------


async def test_a_charge_past_the_floor_is_refused_and_writes_nothing() -> None:
    # given: 100.00, a floor of -50.00 and a 1.00 service
    world = await make_world("shop", price="1.00", balance=100)
    await spend_settings.set_minimum_balance(world.customer.id, -5000)
    before = await entries(world.customer)

    # when: a request of 150.00 is fine (to -50.00), one more of 0.01 is not
    await charge(world, 150)
    await refused(ErrorCode.INSUFFICIENT_CREDITS, charge(world, 1))

    # then: the refused request left no request row and no entry
    assert await entries(world.customer) == [*before, (TransactionKind.SERVICE_CHARGE, -15000)]
    assert await ServiceRequest.filter(customer_id=world.customer.id).count() == 1
    assert await balance(world.customer) == -5000


async def test_a_withdrawal_past_the_floor_is_refused() -> None:
    # given: 100.00 and a floor of 0.00
    world = await make_world("shop", balance=100)
    await spend_settings.set_minimum_balance(world.customer.id, 0)

    # when: withdrawing 100.01, then 100.00
    await refused(
        ErrorCode.INSUFFICIENT_CREDITS,
        change_balance(world.admin.actor, TransactionKind.WITHDRAWAL, world.customer.id, 10001, None, "k"),
    )
    await change_balance(world.admin.actor, TransactionKind.WITHDRAWAL, world.customer.id, 10000, None, "k")

    # then: only the second withdrew (the refused one's key was not spent)
    assert await balance(world.customer) == 0
    assert (await entries(world.customer))[-1] == (TransactionKind.WITHDRAWAL, -10000)


async def test_refunds_grants_and_free_requests_are_never_refused() -> None:
    # given: a charge of 60.00, then a floor above the balance
    world = await make_world("shop", price="1.00", balance=100)
    request = await charge(world, 60)
    await spend_settings.set_minimum_balance(world.customer.id, 50000)
    free = await world.add("free")  # credits on, nothing to charge: a free service below
    free_service = await make_service(None)

    # when: the request is cancelled, credits are granted, and a free service is requested
    await transition(world.admin.actor, request.id, RequestStatus.CANCELLED)
    await grant(world, 100)
    await spend_settings.set_minimum_balance(free.customer.id, 0)
    made = await make_request(free.end_user.actor, free.customer.id, free_service.id, 3, None)

    # then: all went through, though the balance stays below the floor
    assert await balance(world.customer) == 10100
    assert made.request.amount == 0


# --- the auto top-up -------------------------------------------------------------------------


async def test_the_top_up_comes_before_the_debit_with_its_lot_and_the_floor_is_checked_after_it() -> None:
    # given: 60.00, a floor of 0.00, a top-up of 100.00 below 50.00 into lots of priority 10 for 30 days
    world = await make_world("shop", price="1.00", balance=60)
    await spend_settings.set_minimum_balance(world.customer.id, 0)
    await spend_settings.set_auto_top_up(world.customer.id, TopUpRule(5000, 10000, 10, 30, 2))

    # when: a charge of 100.00 would leave -40.00 without the top-up
    with clock.set_to(DAY_ONE):
        request = await charge(world, 100)

    # then: AUTO_TOP_UP, then the charge, in one go; the charge took the top-up's lot first
    assert (await entries(world.customer))[-2:] == [
        (TransactionKind.AUTO_TOP_UP, 10000),
        (TransactionKind.SERVICE_CHARGE, -10000),
    ]
    top_up = await CreditTransaction.get(customer_id=world.customer.id, kind=TransactionKind.AUTO_TOP_UP)
    assert top_up.actor_id is None
    lot = await CreditLot.get(transaction_id=top_up.id)
    assert (lot.priority, lot.expires_at, lot.remaining) == (10, DAY_ONE + dt.timedelta(days=30), 0)
    debit = await CreditTransaction.get(service_request_id=request.id)
    assert [(p.lot_id, p.amount) for p in await CreditAllocation.filter(transaction_id=debit.id)] == [
        (lot.id, -10000)
    ]
    assert await balance(world.customer) == 6000
    assert spend_settings.topped_up_today(world.customer) == 0  # the real clock: another day
    with clock.set_to(DAY_ONE):
        assert spend_settings.topped_up_today(world.customer) == 1


async def test_a_refused_debit_writes_no_top_up() -> None:
    # given: 60.00, a floor of 0.00 and a top-up of only 10.00 below 50.00
    world = await make_world("shop", price="1.00", balance=60)
    await spend_settings.set_minimum_balance(world.customer.id, 0)
    await spend_settings.set_auto_top_up(world.customer.id, TopUpRule(5000, 1000))
    before = await entries(world.customer)

    # when: a charge of 100.00 (70.00 after the top-up is not enough)
    await refused(ErrorCode.INSUFFICIENT_CREDITS, charge(world, 100))

    # then: neither the top-up nor the charge, and no top-up counted
    assert await entries(world.customer) == before
    assert await CreditLot.filter(customer_id=world.customer.id).count() == 1
    await world.customer.refresh_from_db()
    assert world.customer.top_up_count == 0 and world.customer.top_up_day is None


async def test_a_top_up_happens_once_per_crossing_and_re_arms_above_the_threshold() -> None:
    # given: 60.00 and a top-up of 5.00 below 50.00
    world = await make_world("shop", price="1.00", balance=60)
    await spend_settings.set_auto_top_up(world.customer.id, TopUpRule(5000, 500, max_per_day=24))

    # when: 60 → (65) → 45 crosses; 45 → 35 does not; a grant re-arms; 65 → (70) → 45 crosses again
    await charge(world, 20)
    await charge(world, 10)
    await grant(world, 3000)
    await charge(world, 20)

    # then: two top-ups
    assert [kind for kind, _ in await entries(world.customer)].count(TransactionKind.AUTO_TOP_UP) == 2
    assert await balance(world.customer) == 6000 + 1000 + 3000 - 5000


async def test_the_daily_cap_resets_at_utc_midnight_with_one_limit_alert_a_day() -> None:
    # given: a top-up of 5.00 below 50.00 at most once a day, and a customer administrator
    world = await make_world("shop", price="1.00", balance=60)
    await spend_settings.set_auto_top_up(world.customer.id, TopUpRule(5000, 500, max_per_day=1))

    async def cross() -> None:
        """Back above the threshold, then a charge across it."""
        if await balance(world.customer) < 5000:
            await grant(world, 5000 - world.customer.balance + 1000)
        await charge(world, 20)

    # when: three crossings late on day one, two early on day two
    with clock.set_to(DAY_ONE):
        for _ in range(3):
            await cross()
    with clock.set_to(DAY_TWO):
        for _ in range(2):
            await cross()

    # then: one top-up a day, and one AUTO_TOP_UP_LIMIT_REACHED a day (the cap stopped two on day one)
    top_ups = await CreditTransaction.filter(customer_id=world.customer.id, kind=TransactionKind.AUTO_TOP_UP)
    assert sorted(t.created_at for t in top_ups) == [DAY_ONE, DAY_TWO]
    alerts = await CreditAlert.filter(customer_id=world.customer.id, kind=AlertKind.AUTO_TOP_UP_LIMIT_REACHED)
    assert len(alerts) == 2
    assert await Notification.filter(kind=AlertKind.AUTO_TOP_UP_LIMIT_REACHED).count() == 2
    with clock.set_to(DAY_TWO):
        await world.customer.refresh_from_db()
        assert spend_settings.topped_up_today(world.customer) == 1


# --- spend limits per user -------------------------------------------------------------------


async def limit_user(world: World, cents: int, period: SpendLimitPeriod) -> None:
    """Give the first end user a spend limit."""
    await spend_settings.set_spend_limit(world.end_user.user, cents, period)


async def limit_state(world: World) -> spend_settings.LimitState | None:
    """The first end user's limit as shown now."""
    return await spend_settings.limit_state(await User.get(id=world.end_user.user.id))


@pytest.mark.parametrize("period", [SpendLimitPeriod.DAY, SpendLimitPeriod.MONTH])
async def test_a_spend_limit_counts_its_utc_day_or_month(period: SpendLimitPeriod) -> None:
    # given: a limit of 100.00 per day or month
    world = await make_world("shop", price="1.00", balance=1000)
    await limit_user(world, 10000, period)

    # when: 80.00 late on the month's last day, then 30.00 (over), then 30.00 early next month
    with clock.set_to(DAY_ONE):
        await charge(world, 80)
        await refused(ErrorCode.SPEND_LIMIT_EXCEEDED, charge(world, 30))
        await charge(world, 20)  # exactly the limit
    with clock.set_to(DAY_TWO):
        await charge(world, 30)
        state = await limit_state(world)

    # then: the new day (and month) starts from zero
    assert await ServiceRequest.filter(customer_id=world.customer.id).count() == 3
    assert state is not None and state.spent == 3000
    expected_reset = DAY_TWO.replace(hour=0, minute=0) + dt.timedelta(days=1)
    if period is SpendLimitPeriod.MONTH:
        expected_reset = dt.datetime(2027, 3, 1, tzinfo=dt.UTC)
    assert state.resets_at == expected_reset


async def test_a_monthly_limit_spans_the_days_of_its_month() -> None:
    # given: a limit of 100.00 a month, 80.00 spent on the first
    world = await make_world("shop", price="1.00", balance=1000)
    await limit_user(world, 10000, SpendLimitPeriod.MONTH)
    with clock.set_to(DAY_TWO):
        await charge(world, 80)

    # when: 30.00 two weeks later in the same month
    with clock.set_to(DAY_TWO + dt.timedelta(days=14)):
        error = await refused(ErrorCode.SPEND_LIMIT_EXCEEDED, charge(world, 30))

    # then: refused, and nothing was written
    assert error.argument is None
    assert await ServiceRequest.filter(customer_id=world.customer.id).count() == 1


async def test_refunded_requests_do_not_count_against_the_limit() -> None:
    # given: a limit of 100.00 and a request of 80.00 that was then cancelled
    world = await make_world("shop", price="1.00", balance=1000)
    await limit_user(world, 10000, SpendLimitPeriod.MONTH)
    request = await charge(world, 80)
    await transition(world.end_user.actor, request.id, RequestStatus.CANCELLED)

    # when: another 80.00
    await charge(world, 80)

    # then: it went through; spent counts only the second
    state = await limit_state(world)
    assert state is not None and state.spent == 8000


async def test_a_batch_whose_requesters_have_no_limit_locks_no_user(monkeypatch: pytest.MonkeyPatch) -> None:
    # given: the users' lock and read watched; one user without a limit, then the same user with one
    world = await make_world("shop", price="1.00", balance=1000)
    read: list[list[object]] = []
    real = spend_controls.read_limits

    async def watched(conn: object, user_ids: list[object], now: dt.datetime) -> object:
        if user_ids:
            read.append(list(user_ids))
        return await real(conn, user_ids, now)  # type: ignore[arg-type]

    monkeypatch.setattr(spend_controls, "read_limits", watched)

    # when: a request without a limit, then one with a limit
    await charge(world, 10)
    unlimited = list(read)
    await limit_user(world, 10000, SpendLimitPeriod.MONTH)
    await charge(world, 10)

    # then: the first batch locked no user; the second locked and read its user
    assert unlimited == []
    assert read == [[world.end_user.user.id]]


async def test_a_limit_set_while_a_batch_is_read_applies_from_the_next_batch() -> None:
    # given: a user whose limit of 5.00 was set after its batch read that it had none
    world = await make_world("shop", price="1.00", balance=1000)
    charges = [(world.customer.id, [Movement(1000, TransactionKind.SERVICE_CHARGE, world.end_user.actor)])]
    await limit_user(world, 500, SpendLimitPeriod.MONTH)

    # when: the ledger is told nobody has a limit, then posts with no hint
    async with unit_of_work() as uow:
        unguarded = await prepare(uow, charges, limited=frozenset())
    async with unit_of_work() as uow:
        guarded = await prepare(uow, charges)

    # then: only the posting that read the limit refused the charge
    assert unguarded.refused == []
    assert [error.code for _, error in guarded.refused] == [ErrorCode.SPEND_LIMIT_EXCEEDED]


async def test_a_catalog_admins_limit_holds_across_customers() -> None:
    # given: a catalog administrator limited to 50.00 a day, and two customers (either lane)
    world = await make_world("a", price="1.00", balance=1000)
    second = await world.add("b", balance=1000)
    await spend_settings.set_spend_limit(world.admin.user, 5000, SpendLimitPeriod.DAY)

    # when: it requests 30.00 for each, together
    outcomes = await asyncio.gather(
        *(
            make_request(world.admin.actor, c.id, world.service.id, 30, None)
            for c in (world.customer, second.customer)
        ),
        return_exceptions=True,
    )

    # then: exactly one went through
    errors = [o for o in outcomes if isinstance(o, DomainError)]
    assert [e.code for e in errors] == [ErrorCode.SPEND_LIMIT_EXCEEDED]
    assert await ServiceRequest.all().count() == 1


# --- charge batches: a refused entry fails alone -----------------------------------------------


def ticket(world: World, units: int, key: str | None = None) -> Ticket:
    """A requestService call of the first end user as the charge lane would batch it."""
    job = _Charge(world.end_user.actor, world.customer.id, world.service.id, units, key, f"{units}", None)
    return Ticket(job)


async def test_in_a_batch_a_refused_charge_fails_alone_and_releases_its_key() -> None:
    # given: 100.00, a floor of 0.00, and a batch of charges of 40, 70, 50 and 10, and 120 with a key
    world = await make_world("shop", price="1.00", balance=100)
    await spend_settings.set_minimum_balance(world.customer.id, 0)
    tickets = [
        ticket(world, 40),
        ticket(world, 70),
        ticket(world, 50),
        ticket(world, 10),
        ticket(world, 120, "k"),
    ]

    # when: the batch runs as one transaction
    await _charge_batch(tickets)

    # then: in ledger order 40 and 50 and 10 fit, the 70 did not; its request, entry and key are gone
    outcomes = [t.outcome for t in tickets]
    codes = [o.code if isinstance(o, DomainError) else None for o in outcomes]
    assert codes == [None, ErrorCode.INSUFFICIENT_CREDITS, None, None, ErrorCode.INSUFFICIENT_CREDITS]
    charged = [o.request.quantity for o in outcomes if not isinstance(o, BaseException)]
    assert sorted(charged) == [10, 40, 50]
    assert await balance(world.customer) == 0
    assert sorted(r.quantity for r in await ServiceRequest.all()) == [10, 40, 50]
    assert not await IdempotencyRecord.filter(key="k").exists()
    assert [k for k, _ in await entries(world.customer)].count(TransactionKind.SERVICE_CHARGE) == 3


async def test_in_a_batch_the_spend_limit_counts_the_batchs_earlier_requests() -> None:
    # given: a limit of 50.00 a month and a batch of 30, 30 and 20
    world = await make_world("shop", price="1.00", balance=1000)
    await limit_user(world, 5000, SpendLimitPeriod.MONTH)
    tickets = [ticket(world, 30), ticket(world, 30), ticket(world, 20)]

    # when: the batch runs
    await _charge_batch(tickets)

    # then: the second would take spent to 60.00: refused; the third fits
    codes = [t.outcome.code if isinstance(t.outcome, DomainError) else None for t in tickets]
    assert codes == [None, ErrorCode.SPEND_LIMIT_EXCEEDED, None]
    assert await balance(world.customer) == 100000 - 5000


async def test_concurrent_requests_through_the_combiner_are_refused_one_by_one() -> None:
    # given: 100.00 and a floor of 0.00
    world = await make_world("shop", price="1.00", balance=100)
    await spend_settings.set_minimum_balance(world.customer.id, 0)

    # when: requests of 10, 40, 70, 30 and 20 arrive together (the lane batches those that wait)
    outcomes = await asyncio.gather(
        *(charge(world, units) for units in (10, 40, 70, 30, 20)), return_exceptions=True
    )

    # then: in ledger order only the 70 does not fit; the others were charged, batch or not
    codes = [o.code if isinstance(o, DomainError) else None for o in outcomes]
    assert codes == [None, None, ErrorCode.INSUFFICIENT_CREDITS, None, None]
    assert await balance(world.customer) == 0


async def test_a_batch_that_refuses_everything_writes_nothing() -> None:
    # given: 10.00 and a floor of 0.00
    world = await make_world("shop", price="1.00", balance=10)
    await spend_settings.set_minimum_balance(world.customer.id, 0)
    before = await entries(world.customer)

    # when: a batch of two charges of 20.00
    tickets = [ticket(world, 20), ticket(world, 20)]
    await _charge_batch(tickets)

    # then: both refused, nothing written
    assert all(isinstance(t.outcome, DomainError) for t in tickets)
    assert await entries(world.customer) == before
    assert not await ServiceRequest.all().exists()


async def test_top_ups_and_the_limit_alert_reach_webhooks(receiver: WebhookReceiver) -> None:
    # given: a webhook endpoint for every event, and a top-up of 5.00 below 50.00 once a day
    await create_endpoint(receiver.url, None, None, None)
    world = await make_world("shop", price="1.00", balance=60)
    await spend_settings.set_auto_top_up(world.customer.id, TopUpRule(5000, 500, max_per_day=1))

    # when: one crossing tops up, a second one (after a grant) is stopped by the cap
    with clock.set_to(DAY_ONE):
        await charge(world, 20)
        await grant(world, 1000)
        await charge(world, 20)

    # then: the AUTO_TOP_UP entry went out as credit_transaction.created, the alert as credit_alert.fired
    created = await WebhookDelivery.filter(event_type=WebhookEventType.CREDIT_TRANSACTION_CREATED.value)
    kinds = [json.loads(d.payload)["data"]["kind"] for d in created]
    assert kinds.count("AUTO_TOP_UP") == 1
    fired = await WebhookDelivery.filter(event_type=WebhookEventType.CREDIT_ALERT_FIRED.value)
    alerts = [json.loads(d.payload)["data"] for d in fired]
    assert [(a["kind"], a["threshold"]) for a in alerts] == [("AUTO_TOP_UP_LIMIT_REACHED", "50.00")]
