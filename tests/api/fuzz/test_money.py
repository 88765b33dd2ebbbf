"""Fuzzed money: grants, withdrawals, service requests and their transitions."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.user import Role
from tests.api.fuzz.oracle import (
    ABSENT,
    ACCEPT,
    ALERT_TABLES,
    CALLERS,
    CANCEL,
    COMPLETE,
    CONFLICT,
    DECIMALISH,
    FAIL,
    FUZZ,
    GRANT,
    LIMIT_CENTS,
    REJECT,
    REQUEST_ERROR,
    REQUEST_SERVICE,
    TEXT,
    VALID_AMOUNT,
    WITHDRAW,
    Expect,
    NotGraphQL,
    Problem,
    State,
    World,
    amount_cents,
    as_decimal,
    as_id,
    as_input,
    as_int,
    as_str,
    assert_only,
    authorise,
    call,
    caller_of,
    fresh_request,
    from_problems,
    id_values,
    input_of,
    known,
    may_access,
    may_see_request,
    money,
    new_rows,
    own_customer,
    pools_of,
    read_state,
    realise,
    reject,
    resolve,
    settle,
    valid_key,
    valid_note,
    valid_or,
    vars_of,
)
from tests.factories import (
    Login,
)


def judge_balance_change(state: State, caller: Login | None, operation: str, value: Any) -> Expect:
    """grantCredits/withdrawCredits: an existing customer, an amount > 0, a note, a key; replays."""
    try:
        fields = as_input(value, {"customerId", "amount", "note", "idempotencyKey"})
        customer_id = resolve(as_id(fields["customerId"]))
        amount = as_decimal(fields["amount"])
        note = as_str(fields["note"], nullable=True)
        key = as_str(fields["idempotencyKey"], nullable=True)
    except NotGraphQL:
        return REQUEST_ERROR
    denied = authorise(state, caller, Role.CATALOG_ADMIN)
    if denied:
        return denied
    problems: list[Problem] = []
    if customer_id not in state.customers:
        problems.append(("NOT_FOUND", ("input", "customerId")))
    cents = amount_cents(amount)
    if cents is None or cents <= 0:
        problems.append(("INVALID_AMOUNT", ("input", "amount")))
    if not valid_note(note):
        problems.append(("INVALID_INPUT", ("input", "note")))
    if not valid_key(key):
        problems.append(("INVALID_INPUT", ("input", "idempotencyKey")))
    if not state.credits_enabled:
        problems.append(("CREDIT_MANAGEMENT_DISABLED", None))
    prior = state.keys.get((str(caller.user.id), operation, key)) if valid_key(key) and key else None
    if problems:
        # The key is looked up before the customer is: a used key with other arguments conflicts first.
        return reject(*problems, *([CONFLICT] if prior else []))
    if prior is not None:
        entry = state.entries[prior]
        if (entry[0], abs(entry[3]), entry[5]) == (customer_id, cents, note):
            return Expect(True, replay_of=prior)
        return reject(CONFLICT)
    return ACCEPT


@pytest.mark.parametrize(
    ("operation", "document", "sign"), [("grantCredits", GRANT, 1), ("withdrawCredits", WITHDRAW, -1)]
)
@FUZZ
@given(data=st.data())
async def test_balance_changes_fuzzed(
    operation: str, document: str, sign: int, data: st.DataObject, http: httpx.AsyncClient, world: World
) -> None:
    """Every field of BalanceChangeInput fuzzed: one exact ledger entry, a replay, or nothing at all."""
    # given: a caller and an input (small pools of amounts and keys, so that repeats happen)
    before = await read_state()
    caller = caller_of(world, data.draw(CALLERS, label="caller"))
    value = data.draw(
        input_of(
            {
                "customerId": valid_or(known("customers"), id_values("customers")),
                "amount": valid_or(VALID_AMOUNT, DECIMALISH),
                "note": valid_or(st.sampled_from([None, "top-up"]) | st.text(max_size=50), TEXT),
                "idempotencyKey": valid_or(st.sampled_from([None, "k1", "k2"]), TEXT),
            }
        ),
        label="input",
    )
    value = realise(value, pools_of(before))
    variables = vars_of(input=value)
    expect = judge_balance_change(before, caller, operation, value)

    # when: granting or withdrawing
    answer = await call(http, document, variables, caller, operation)

    # then: a replay changed nothing; a new change is exactly one entry of the asked amount
    after = await read_state()
    settle(expect, answer, before, after, variables)
    if answer.ok and expect.replay_of:
        assert answer.payload["transaction"]["id"] == expect.replay_of
        assert after == before
    elif answer.ok:
        customer_id = resolve(as_id(value["customerId"]))
        cents = amount_cents(value["amount"]) * sign
        note = value.get("note")
        name, balance, sequence = before.customers[customer_id][:3]
        transaction = answer.payload["transaction"]
        assert new_rows(before.entries, after.entries) == {
            transaction["id"]: (
                customer_id,
                sequence + 1,
                "GRANT" if sign > 0 else "WITHDRAWAL",
                cents,
                balance + cents,
                note,
                None,
            )
        }
        assert transaction["amount"] == money(cents) and transaction["note"] == note
        assert answer.payload["customer"]["balance"] == money(balance + cents)
        assert after.customers[customer_id][:3] == (name, balance + cents, sequence + 1)
        assert {k: v for k, v in after.customers.items() if k != customer_id} == {
            k: v for k, v in before.customers.items() if k != customer_id
        }
        assert_only(before, after, "customers", "entries", "keys", *ALERT_TABLES)


# ---------------------------------------------------------------------------------------------
# Service requests: request, cancel, complete, fail, reject
# ---------------------------------------------------------------------------------------------


def judge_request_service(state: State, caller: Login | None, value: Any) -> tuple[Expect, dict[str, Any]]:
    """requestService: a service, a quantity >= 1, the caller's own customer (or any, for admins)."""
    try:
        fields = as_input(value, {"serviceId", "quantity", "customerId", "idempotencyKey"})
        service_id = resolve(as_id(fields["serviceId"]))
        quantity = as_int(fields["quantity"], nullable=True, default=1)
        customer_raw = as_id(fields["customerId"], nullable=True)
        key = as_str(fields["idempotencyKey"], nullable=True)
    except NotGraphQL:
        return REQUEST_ERROR, {}
    denied = authorise(state, caller)
    if denied:
        return denied, {}
    problems: list[Problem] = []
    customer_field = ("input", "customerId")
    customer_id = resolve(customer_raw) if customer_raw is not None else own_customer(caller)
    if customer_raw is None and customer_id is None:
        problems.append(("INVALID_INPUT", customer_field))
    elif customer_id is None or customer_id not in state.customers or not may_access(caller, customer_id):
        problems.append(("NOT_FOUND", customer_field))
    if service_id not in state.services:
        problems.append(("NOT_FOUND", ("input", "serviceId")))
    if not valid_key(key):
        problems.append(("INVALID_INPUT", ("input", "idempotencyKey")))
    quantity = 1 if quantity is None else quantity
    if quantity < 1:
        problems.append(("INVALID_INPUT", ("input", "quantity")))
    price = (state.services[service_id][1] or 0) if service_id in state.services else 0
    if price * quantity >= LIMIT_CENTS:
        problems.append(("INVALID_INPUT", ("input", "quantity")))
    prior = state.keys.get((str(caller.user.id), "requestService", key)) if valid_key(key) and key else None
    if problems:
        # The key is looked up before the service and customer are: other arguments conflict first.
        return reject(*problems, *([CONFLICT] if prior else [])), {}
    details = {"customer": customer_id, "service": service_id, "quantity": quantity, "price": price}
    if prior is not None:
        request = state.requests[prior]
        if (request[0], request[1], request[3]) == (customer_id, service_id, quantity):
            return Expect(True, replay_of=prior), details
        return reject(CONFLICT), details
    return ACCEPT, details


@FUZZ
@given(data=st.data())
async def test_request_service_fuzzed(data: st.DataObject, http: httpx.AsyncClient, world: World) -> None:
    """Every field of RequestServiceInput fuzzed, by every role: one charged request, a replay, or nothing."""
    # given: a caller and an input
    before = await read_state()
    caller = caller_of(world, data.draw(CALLERS, label="caller"))
    value = data.draw(
        input_of(
            {
                "serviceId": valid_or(known("services"), id_values("services")),
                "quantity": valid_or(
                    st.integers(min_value=1, max_value=3) | st.none(),
                    st.integers(min_value=-3, max_value=0)
                    | st.sampled_from([2**31 - 1, 2**31, -(2**31), 10**10, 10**12, 2.0, 2.5]),
                ),
                "customerId": valid_or(
                    st.sampled_from([None, ABSENT]) | known("customers"), id_values("customers")
                ),
                "idempotencyKey": valid_or(st.sampled_from([None, "r1", "r2"]), TEXT),
            }
        ),
        label="input",
    )
    value = realise(value, pools_of(before))
    variables = vars_of(input=value)
    expect, details = judge_request_service(before, caller, value)

    # when: requesting
    answer = await call(http, REQUEST_SERVICE, variables, caller, "requestService")

    # then: a replay changed nothing; a new request charged price × quantity at once (when priced)
    after = await read_state()
    settle(expect, answer, before, after, variables)
    if answer.ok and expect.replay_of:
        assert answer.payload["serviceRequest"]["id"] == expect.replay_of
        assert after == before
    elif answer.ok:
        request = answer.payload["serviceRequest"]
        charged = details["price"] * details["quantity"] if before.credits_enabled else 0
        customer_id = details["customer"]
        assert new_rows(before.requests, after.requests) == {
            request["id"]: (
                customer_id,
                details["service"],
                str(caller.user.id),
                details["quantity"],
                charged,
                "REQUESTED",
                None,
            )
        }
        assert request["amount"] == money(charged)
        entries = new_rows(before.entries, after.entries)
        balance, sequence = before.customers[customer_id][1:3]
        if charged:
            assert list(entries.values()) == [
                (
                    customer_id,
                    sequence + 1,
                    "SERVICE_CHARGE",
                    -charged,
                    balance - charged,
                    None,
                    request["id"],
                )
            ]
        else:
            assert entries == {}
        assert after.customers[customer_id][1] == balance - charged
        assert_only(before, after, "customers", "entries", "requests", "keys", *ALERT_TABLES)


TRANSITIONS = [
    (
        "cancelServiceRequest",
        CANCEL,
        "CANCELLED",
        False,
        (Role.CATALOG_ADMIN, Role.CUSTOMER_ADMIN, Role.END_USER),
    ),
    ("completeServiceRequest", COMPLETE, "COMPLETED", False, (Role.CATALOG_ADMIN,)),
    ("failServiceRequest", FAIL, "FAILED", True, (Role.CATALOG_ADMIN,)),
    ("rejectServiceRequest", REJECT, "REJECTED", True, (Role.CATALOG_ADMIN,)),
]


@pytest.mark.parametrize(("operation", "document", "status", "has_reason", "roles"), TRANSITIONS)
@FUZZ
@given(data=st.data())
async def test_transitions_fuzzed(
    operation: str,
    document: str,
    status: str,
    has_reason: bool,
    roles: tuple[Role, ...],
    data: st.DataObject,
    http: httpx.AsyncClient,
    world: World,
) -> None:
    """Any id (and reason): a visible REQUESTED request moves once and refunds exactly its amount."""
    # given: sometimes a fresh request, then a caller, an id and a reason
    await fresh_request(world, data)
    before = await read_state()
    caller = caller_of(world, data.draw(CALLERS, label="caller"))
    raw = realise(data.draw(valid_or(known("requests"), id_values("requests")), label="id"), pools_of(before))
    reason = data.draw(valid_or(st.sampled_from([None, "out of stock"]), TEXT), label="reason")
    variables = vars_of(id=raw, reason=reason) if has_reason else vars_of(id=raw)
    try:
        request_id = resolve(as_id(raw))
        reason = as_str(reason, nullable=True) if has_reason else None
        expect = authorise(before, caller, *roles)
        if expect is None:
            request = before.requests.get(request_id) if request_id else None
            problems: list[Problem] = []
            if request is None or not may_see_request(caller, request):
                problems.append(("NOT_FOUND", ("id",)))
            elif request[5] != "REQUESTED":
                problems.append(("INVALID_STATE", ("id",)))
            if not valid_note(reason):
                problems.append(("INVALID_INPUT", ("reason",)))
            expect = from_problems(problems)
    except NotGraphQL:
        expect = REQUEST_ERROR

    # when: moving the request
    answer = await call(http, document, variables, caller, operation)

    # then: its final status, and a refund of exactly what it was charged (none on completion)
    after = await read_state()
    settle(expect, answer, before, after, variables)
    if answer.ok:
        customer_id, _, _, _, amount, _, _ = before.requests[request_id]
        assert after.requests[request_id] == (*before.requests[request_id][:5], status, reason)
        assert answer.payload["serviceRequest"]["status"] == status
        entries = new_rows(before.entries, after.entries)
        balance, sequence = before.customers[customer_id][1:3]
        if amount and status != "COMPLETED":
            assert list(entries.values()) == [
                (customer_id, sequence + 1, "REFUND", amount, balance + amount, None, request_id)
            ]
        else:
            assert entries == {}
        assert_only(before, after, "customers", "entries", "requests", *ALERT_TABLES)
