"""Model-based test of credit lots through the real domain and database, against the contract.

Each Hypothesis example empties the database, makes one customer, and runs random steps through
the domain functions the resolvers call: grants (random priorities, expiries at controlled times
or none), charges (`make_request`), cancellations, failures and rejections that refund,
completions, withdrawals, `update_lot`, and the expiry sweep's `expire_due` at a simulated clock
that only moves forward. Beside it runs `Contract`, a reference written from API.md's "Credit
lots" alone (lots as plain records, the debt as a number). After every step the database is
read back and checked: the invariants of "Credit lots" on their own, then every new entry's
kind, amount, allocations and created lot, and every lot's terms, remaining and status, against
the model. `tests/models/test_lot_allocation_model.py` checks the pure arithmetic the same way.

Async steps cannot run in a synchronous `RuleBasedStateMachine`: as in tests/api/fuzz/, an async
`@given(data=st.data())` test on pytest-asyncio's session loop draws one program per example.
CREDITS_HYPOTHESIS_EXAMPLES and CREDITS_HYPOTHESIS_STEPS raise the budget (default 25 × 30).
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from models import lot_expiry, lot_terms
from models.credits import change_balance
from models.customer import Customer
from models.errors import DomainError, ErrorCode
from models.ledger import CreditTransaction, TransactionKind
from models.lots import CreditAllocation, CreditLot
from models.service import RequestStatus
from models.service_requests import finish, make_request
from tests.conftest import empty_database
from tests.factories import Login, make_catalog_admin, make_customer, make_service
from tests.factories import enable_credits as turn_credits_on

EXAMPLES = int(os.environ.get("CREDITS_HYPOTHESIS_EXAMPLES", "25"))
STEPS = int(os.environ.get("CREDITS_HYPOTHESIS_STEPS", "30"))
PRICES = ("3.00", "12.50")  # hundredths 300 and 1250, times a quantity of 1-3
REFUNDING = (RequestStatus.CANCELLED, RequestStatus.FAILED, RequestStatus.REJECTED)
DEBT = None  # the model's key for the part of an entry that changed the debt

amounts = st.integers(1, 2_000) | st.sampled_from([1, 100, 300, 1250])
grants = st.integers(100, 6_000) | st.sampled_from([1, 300, 1250, 5000])
priorities = st.sampled_from([0, 50, 100]) | st.integers(0, 100)  # ties are common
minutes_ahead = st.integers(1, 6)  # expiries a few simulated minutes ahead: ties and expiries are common


# -- the reference model -------------------------------------------------------------------------


@dataclass
class Lot:
    """A lot as API.md describes it; `key` is its creation order, `expires` a simulated minute."""

    key: int
    amount: int
    remaining: int
    priority: int
    expires: int | None
    status: str = "ACTIVE"


@dataclass
class Expected:
    """An entry the contract says a step writes: net parts per lot key (DEBT for the debt)."""

    kind: str
    amount: int
    parts: dict[int | None, int]
    creates: int | None = None


@dataclass
class Contract:
    """One customer's lots and debt under the contract's rules, as plainly as they can be written."""

    lots: dict[int, Lot] = field(default_factory=dict)
    debt: int = 0
    next_key: int = 0
    seen: set[str] = field(default_factory=set)  # situations reached, for the statistics

    @property
    def balance(self) -> int:
        """ACTIVE remaining, or minus the debt."""
        return sum(lot.remaining for lot in self.lots.values() if lot.status == "ACTIVE") - self.debt

    def in_order(self) -> list[Lot]:
        """ACTIVE lots with credits: lowest priority, soonest expiry (none last), oldest grant."""
        active = [lot for lot in self.lots.values() if lot.status == "ACTIVE" and lot.remaining > 0]
        return sorted(active, key=lambda x: (x.priority, x.expires is None, x.expires or 0, x.key))

    def _add(self, parts: dict[int | None, int], key: int | None, amount: int) -> None:
        parts[key] = parts.get(key, 0) + amount

    def _set(self, lot: Lot, remaining: int) -> None:
        lot.remaining = remaining
        if lot.status != "EXPIRED":
            lot.status = "ACTIVE" if remaining > 0 else "DEPLETED"

    def _take(self, amount: int, parts: dict[int | None, int]) -> int:
        """Take `amount` from the lots in order; returns what they could not cover."""
        for lot in self.in_order():
            part = min(lot.remaining, amount)
            self._set(lot, lot.remaining - part)
            self._add(parts, lot.key, -part)
            amount -= part
        return amount

    def _new_lot(self, amount: int, priority: int, expires: int | None) -> Lot:
        self.next_key += 1
        lot = Lot(self.next_key, amount, amount, priority, expires)
        self.lots[lot.key] = lot
        return lot

    def debit(self, kind: str, amount: int) -> Expected:
        """A charge or withdrawal: lots in order, the rest is debt."""
        parts: dict[int | None, int] = {}
        uncovered = self._take(amount, parts)
        if len(parts) > 16:
            self.seen.add("a debit took from more than 16 lots")
        if uncovered:
            self.seen.add("a debit made debt")
            self.debt += uncovered
            parts[DEBT] = -uncovered
        return Expected(kind, -amount, _nonzero(parts))

    def grant(self, amount: int, priority: int, expires: int | None) -> Expected:
        """Credits pay the debt first; the rest is a new lot."""
        paid = min(self.debt, amount)
        self.debt -= paid
        self.seen |= {"a grant paid debt"} if paid else set()
        parts: dict[int | None, int] = {DEBT: paid}
        created = None
        if amount > paid:
            created = self._new_lot(amount - paid, priority, expires).key
            parts[created] = amount - paid
        return Expected("GRANT", amount, _nonzero(parts), created)

    def refund(self, charge: dict[int | None, int], amount: int) -> list[Expected]:
        """Each part back to its lot, the debt part into a new lot (50, no expiry), then the debt paid."""
        parts: dict[int | None, int] = {}
        expired: dict[int | None, int] = {}
        to_new_lot = 0
        for key, taken in charge.items():
            if key is DEBT:
                to_new_lot += -taken
                continue
            lot = self.lots[key]
            self._set(lot, lot.remaining - taken)
            self._add(parts, key, -taken)
            if lot.status == "EXPIRED":
                self._add(expired, key, -taken)
        assert to_new_lot + sum(parts.values()) == amount
        new = self._new_lot(to_new_lot, 50, None) if to_new_lot else None
        if new is not None:
            parts[new.key] = to_new_lot
        paid = self.debt - self._take(self.debt, parts)
        self.debt -= paid
        self.seen |= {"a refund paid debt"} if paid else set()
        self.seen |= {"a refund made a lot"} if new is not None and new.remaining else set()
        parts[DEBT] = paid
        created = None
        if new is not None and new.remaining:
            new.amount, created = new.remaining, new.key  # what it held when created
        elif new is not None:
            del self.lots[new.key]
        entries = [Expected("REFUND", amount, _nonzero(parts), created)]
        for key, part in expired.items():
            lot = self.lots[key]  # type: ignore[index]
            lot.remaining -= part
        if expired:
            self.seen.add("a refund's part expired at once")
            entries.append(
                Expected("EXPIRATION", -sum(expired.values()), {k: -v for k, v in expired.items()})
            )
        return entries

    def expire(self, now: int) -> list[Expected]:
        """Every lot due at `now` expires; what it had left leaves in an EXPIRATION entry."""
        entries = []
        for lot in sorted(self.lots.values(), key=lambda x: (x.expires or 0, x.key)):
            if lot.expires is None or lot.expires > now or lot.status == "EXPIRED":
                continue
            self.seen.add("a lot expired")
            if lot.remaining:
                entries.append(Expected("EXPIRATION", -lot.remaining, {lot.key: -lot.remaining}))
            lot.remaining, lot.status = 0, "EXPIRED"
        return entries


def _nonzero(parts: dict[int | None, int]) -> dict[int | None, int]:
    return {key: amount for key, amount in parts.items() if amount}


# -- the real system, and the checks -------------------------------------------------------------


@dataclass
class Run:
    """One example: the customer, its services, the simulated clock, the model and what maps to what."""

    admin: Login
    customer_id: uuid.UUID
    services: list[tuple[uuid.UUID, int]]
    epoch: dt.datetime
    model: Contract = field(default_factory=Contract)
    now: int = 0  # simulated minutes since `epoch`
    lot_ids: dict[int, uuid.UUID] = field(default_factory=dict)  # model key -> lot id
    requests: list[tuple[uuid.UUID, dict[int | None, int], int]] = field(default_factory=list)
    finished: set[uuid.UUID] = field(default_factory=set)
    last_sequence: int = 0

    def at(self, minute: int | None) -> dt.datetime | None:
        """A simulated minute as a time."""
        return None if minute is None else self.epoch + dt.timedelta(minutes=minute)


async def start() -> Run:
    """An empty database, credits on, one customer without credits, two priced services."""
    await empty_database()
    await turn_credits_on()
    admin = await make_catalog_admin()
    customer = await make_customer()
    services = [(await make_service(price)).id for price in PRICES]
    cents = [int(price.replace(".", "")) for price in PRICES]
    # The clock starts an hour ahead of real time: every expiry it hands out lies in the future.
    epoch = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(hours=1)
    return Run(admin, customer.id, list(zip(services, cents, strict=True)), epoch)


async def check(run: Run, expected: list[Expected], *, by_lot: bool = False) -> None:
    """The database holds the step's entries and every invariant of "Credit lots", as modelled."""
    customer = await Customer.get(id=run.customer_id)
    entries = await CreditTransaction.filter(customer_id=run.customer_id).order_by("sequence")
    allocations = await CreditAllocation.filter(transaction__customer_id=run.customer_id)
    lots = {lot.id: lot for lot in await CreditLot.filter(customer_id=run.customer_id)}
    parts: dict[uuid.UUID, dict[uuid.UUID | None, int]] = {e.id: {} for e in entries}
    for a in allocations:
        assert a.lot_id not in parts[a.transaction_id], "one allocation per lot per entry"
        parts[a.transaction_id][a.lot_id] = a.amount

    # The invariants on their own: the ledger sums to the balance; allocations add up to each entry.
    assert [e.sequence for e in entries] == list(range(1, len(entries) + 1))
    assert customer.balance == sum(e.amount for e in entries), "balance is not the ledger sum"
    for e in entries:
        assert sum(parts[e.id].values()) == e.amount, f"allocations of {e.kind} {e.amount}: {parts[e.id]}"
    # Each lot: remaining = amount (what it held when created) + its allocations since; status fits.
    for lot in lots.values():
        assert parts[lot.transaction_id].get(lot.id) == lot.amount, "a lot's amount is its creating part"
        since = sum(p.get(lot.id, 0) for entry_id, p in parts.items() if entry_id != lot.transaction_id)
        assert lot.remaining == lot.amount + since, f"lot {lot.amount}: {lot.remaining} != + {since}"
        assert lot.remaining >= 0
        assert (lot.status == "ACTIVE") == (lot.remaining > 0), f"{lot.status} lot with {lot.remaining}"
    active = sum(lot.remaining for lot in lots.values() if lot.status == "ACTIVE")
    if customer.balance >= 0:
        assert customer.balance == active, "balance is not what the ACTIVE lots hold"
    else:
        assert sum(lot.remaining for lot in lots.values()) == 0, "a lot holds credits while in debt"

    # Against the model: this step's entries, then every lot.
    new = [e for e in entries if e.sequence > run.last_sequence]
    run.last_sequence = len(entries)
    if by_lot:  # a sweep's entries: in expiry order, lots of one expiry in any order
        new.sort(key=lambda e: str(next(iter(parts[e.id]))))
        expected = sorted(expected, key=lambda x: str(run.lot_ids[next(iter(x.parts))]))  # type: ignore[index]
    assert len(new) == len(expected), f"{[(e.kind.value, e.amount) for e in new]} != {expected}"
    for entry, want in zip(new, expected, strict=True):
        assert (entry.kind.value, entry.amount) == (want.kind, want.amount)
        made = [lot for lot in lots.values() if lot.transaction_id == entry.id]
        assert len(made) == (want.creates is not None), f"{entry.kind} created {len(made)} lots, {want}"
        if want.creates is not None:
            run.lot_ids[want.creates] = made[0].id
        wanted = {None if k is DEBT else run.lot_ids[k]: v for k, v in want.parts.items()}
        assert parts[entry.id] == wanted, f"allocations of {entry.kind} {entry.amount}: {want}"
    model = run.model
    assert customer.balance == model.balance, "balance differs from the model"
    assert set(lots) == {run.lot_ids[key] for key in model.lots}, "lots differ from the model"
    for key, want_lot in model.lots.items():
        lot = lots[run.lot_ids[key]]
        got = (lot.amount, lot.remaining, lot.priority, lot.expires_at, lot.status)
        assert got == (
            want_lot.amount,
            want_lot.remaining,
            want_lot.priority,
            run.at(want_lot.expires),
            want_lot.status,
        ), f"lot {key}"


# -- the steps -----------------------------------------------------------------------------------


async def grant(run: Run, data: st.DataObject) -> None:
    """Grant credits with a priority (or the default) and an expiry a few minutes ahead (or none)."""
    amount = data.draw(grants, label="grant")
    priority = data.draw(st.none() | priorities, label="priority")
    expires = data.draw(st.sampled_from([None, *range(1, 7)]), label="expires")
    expires = None if expires is None else run.now + expires
    expected = run.model.grant(amount, 50 if priority is None else priority, expires)
    await change_balance(
        run.admin.actor,
        TransactionKind.GRANT,
        run.customer_id,
        amount,
        None,
        None,
        priority=priority,
        expires_at=run.at(expires),
    )
    await check(run, [expected])


async def grant_many(run: Run, data: st.DataObject) -> None:
    """Grant many small lots: a debit then spans more lots than the ledger reads at first (16)."""
    expected = []
    for _ in range(data.draw(st.integers(2, 20), label="lots")):
        amount = data.draw(st.integers(1, 60), label="small grant")
        priority = data.draw(priorities, label="priority")
        expires = data.draw(st.sampled_from([None, *range(1, 7)]), label="expires")
        expires = None if expires is None else run.now + expires
        expected.append(run.model.grant(amount, priority, expires))
        await change_balance(
            run.admin.actor,
            TransactionKind.GRANT,
            run.customer_id,
            amount,
            None,
            None,
            priority=priority,
            expires_at=run.at(expires),
        )
    await check(run, expected)


async def withdraw(run: Run, data: st.DataObject) -> None:
    """Withdraw credits: a debit like a charge."""
    amount = data.draw(amounts, label="withdraw")
    expected = run.model.debit("WITHDRAWAL", amount)
    await change_balance(run.admin.actor, TransactionKind.WITHDRAWAL, run.customer_id, amount, None, None)
    await check(run, [expected])


async def charge(run: Run, data: st.DataObject) -> None:
    """Request a priced service: a SERVICE_CHARGE of price × quantity."""
    service_id, price = data.draw(st.sampled_from(run.services), label="service")
    quantity = data.draw(st.integers(1, 3), label="quantity")
    expected = run.model.debit("SERVICE_CHARGE", price * quantity)
    made = await make_request(run.admin.actor, run.customer_id, service_id, quantity, None)
    run.requests.append((made.request.id, expected.parts, price * quantity))
    await check(run, [expected])


async def finish_request(run: Run, data: st.DataObject) -> None:
    """Cancel, fail, reject (each refunds) or complete a request; a finished one is INVALID_STATE."""
    if not run.requests:
        return
    request_id, charged, amount = data.draw(st.sampled_from(run.requests), label="request")
    status = data.draw(st.sampled_from([*REFUNDING, RequestStatus.COMPLETED]), label="status")
    if request_id in run.finished:
        with pytest.raises(DomainError) as refused:
            await finish(run.admin.actor, request_id, status)
        assert refused.value.code is ErrorCode.INVALID_STATE
        await check(run, [])
        return
    run.finished.add(request_id)
    expected = run.model.refund(charged, amount) if status in REFUNDING else []
    reason = None if status is RequestStatus.CANCELLED else "model"
    await finish(run.admin.actor, request_id, status, reason)
    await check(run, expected)


async def update_lot(run: Run, data: st.DataObject) -> None:
    """Change a lot's priority and/or expiry (None removes it); only an ACTIVE lot accepts."""
    if not run.model.lots:
        return
    key = data.draw(st.sampled_from(sorted(run.model.lots)), label="lot")
    change_priority, change_expiry = data.draw(
        st.sampled_from([(True, False), (False, True), (True, True)]), label="changes"
    )
    priority = data.draw(priorities, label="new priority") if change_priority else None
    expires = data.draw(st.none() | minutes_ahead.map(lambda m: run.now + m), label="new expiry")
    lot = run.model.lots[key]

    async def update() -> None:
        await lot_terms.update_lot(
            run.lot_ids[key],
            priority=priority,
            expires_at=run.at(expires),
            change_priority=change_priority,
            change_expiry=change_expiry,
        )

    if lot.status != "ACTIVE":
        with pytest.raises(DomainError) as refused:
            await update()
        assert refused.value.code is ErrorCode.INVALID_STATE
    else:
        await update()
        if change_priority:
            lot.priority = priority  # type: ignore[assignment]
        if change_expiry:
            lot.expires = expires
    await check(run, [])


async def advance(run: Run, data: st.DataObject) -> None:
    """Move the simulated clock forward and run the sweep's expiry at that time."""
    run.now += data.draw(st.integers(1, 4), label="minutes")
    expected = run.model.expire(run.now)
    await lot_expiry.expire_due(run.at(run.now))  # type: ignore[arg-type]
    await check(run, expected, by_lot=True)


STEP_KINDS = [
    grant,
    grant,
    grant_many,
    charge,
    charge,
    finish_request,
    withdraw,
    update_lot,
    advance,
    advance,
]


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_lots_follow_the_contract_through_the_ledger(data: st.DataObject) -> None:
    """Random grants, charges, refunds, withdrawals, lot changes and expiries keep lots as contracted."""
    # given: one customer without credits, a clock at its epoch
    run = await start()
    # when / then: every step leaves the database as the model says, every invariant holding
    for _ in range(data.draw(st.integers(min(5, STEPS), STEPS), label="steps")):
        step = data.draw(st.sampled_from(STEP_KINDS), label="step")
        await step(run, data)
    # (what the example reached, for --hypothesis-show-statistics)
    for situation in run.model.seen:
        event(situation)
