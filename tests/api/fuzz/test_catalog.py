"""Fuzzed catalog: the credit switch, customers, services, prices, alert thresholds."""

from __future__ import annotations

import httpx
from hypothesis import given
from hypothesis import strategies as st

from models.user import Role
from tests.api.fuzz.oracle import (
    ABSENT,
    ACCEPT,
    ALERT_TABLES,
    CALLERS,
    CREATE_CUSTOMER,
    CREATE_SERVICE,
    DECIMALISH,
    FUZZ,
    JUNK,
    REQUEST_ERROR,
    SET_CREDIT_ALERT,
    SET_CREDIT_MANAGEMENT,
    SET_SERVICE_PRICE,
    VALID_AMOUNT,
    NotGraphQL,
    Problem,
    World,
    amount_cents,
    as_bool,
    as_decimal,
    as_id,
    as_input,
    as_str,
    assert_only,
    authorise,
    call,
    caller_of,
    from_problems,
    id_values,
    input_of,
    known,
    may_access,
    money,
    new_rows,
    pools_of,
    read_state,
    realise,
    resolve,
    settle,
    valid_name,
    valid_or,
    vars_of,
)


@FUZZ
@given(data=st.data())
async def test_set_credit_management_fuzzed(
    data: st.DataObject, http: httpx.AsyncClient, world: World
) -> None:
    """Only a JSON boolean from a catalog administrator switches credit management."""
    # given: a caller and a value
    before = await read_state()
    caller = caller_of(world, data.draw(CALLERS, label="caller"))
    enabled = data.draw(valid_or(st.booleans(), JUNK), label="enabled")
    variables = vars_of(enabled=enabled)
    try:
        as_bool(enabled)
        expect = authorise(before, caller, Role.CATALOG_ADMIN) or ACCEPT
    except NotGraphQL:
        expect = REQUEST_ERROR

    # when: switching
    answer = await call(http, SET_CREDIT_MANAGEMENT, variables, caller, "setCreditManagement")

    # then: the switch is as asked, nothing else moved
    after = await read_state()
    settle(expect, answer, before, after, variables)
    if answer.ok:
        assert answer.payload["creditSettings"] == {"creditManagementEnabled": enabled}
        assert after.credits_enabled is enabled
        assert_only(before, after, "credits_enabled")


@FUZZ
@given(data=st.data())
async def test_create_customer_fuzzed(data: st.DataObject, http: httpx.AsyncClient, world: World) -> None:
    """Any name: a customer with a zero balance under the stripped name, or a rejection."""
    # given: a caller and an input
    before = await read_state()
    caller = caller_of(world, data.draw(CALLERS, label="caller"))
    value = data.draw(input_of({"name": valid_or(st.text(min_size=1, max_size=30))}), label="input")
    variables = vars_of(input=value)
    try:
        name = as_str(as_input(value, {"name"})["name"])
        expect = authorise(before, caller, Role.CATALOG_ADMIN) or from_problems(
            [] if valid_name(name) else [("INVALID_INPUT", ("input", "name"))]
        )
    except NotGraphQL:
        expect = REQUEST_ERROR

    # when: creating the customer
    answer = await call(http, CREATE_CUSTOMER, variables, caller, "createCustomer")

    # then: one new customer, empty ledger
    after = await read_state()
    settle(expect, answer, before, after, variables)
    if answer.ok:
        customer = answer.payload["customer"]
        assert customer["balance"] == "0.00" and customer["alertThreshold"] is None
        assert new_rows(before.customers, after.customers) == {
            customer["id"]: (name.strip(), 0, 0, None, False, False)
        }
        assert_only(before, after, "customers")


@FUZZ
@given(data=st.data())
async def test_create_service_fuzzed(data: st.DataObject, http: httpx.AsyncClient, world: World) -> None:
    """Any name and any Decimal-ish price: a price is >= 0 or null (not chargeable)."""
    # given: a caller and an input
    before = await read_state()
    caller = caller_of(world, data.draw(CALLERS, label="caller"))
    value = data.draw(
        input_of(
            {
                "name": valid_or(st.text(min_size=1, max_size=30)),
                "creditPrice": valid_or(VALID_AMOUNT | st.none(), DECIMALISH),
            }
        ),
        label="input",
    )
    variables = vars_of(input=value)
    try:
        fields = as_input(value, {"name", "creditPrice"})
        name = as_str(fields["name"])
        price = as_decimal(fields["creditPrice"], nullable=True)
        expect = authorise(before, caller, Role.CATALOG_ADMIN)
        if expect is None:
            problems: list[Problem] = []
            if not valid_name(name):
                problems.append(("INVALID_INPUT", ("input", "name")))
            cents = None if price is None else amount_cents(price)
            if price is not None and (cents is None or cents < 0):
                problems.append(("INVALID_AMOUNT", ("input", "creditPrice")))
            expect = from_problems(problems)
    except NotGraphQL:
        expect = REQUEST_ERROR

    # when: creating the service
    answer = await call(http, CREATE_SERVICE, variables, caller, "createService")

    # then: one new service at that exact price
    after = await read_state()
    settle(expect, answer, before, after, variables)
    if answer.ok:
        service = answer.payload["service"]
        assert service["creditPrice"] == (None if cents is None else money(cents))
        assert new_rows(before.services, after.services) == {service["id"]: (name.strip(), cents)}
        assert_only(before, after, "services")


@FUZZ
@given(data=st.data())
async def test_set_service_price_fuzzed(data: st.DataObject, http: httpx.AsyncClient, world: World) -> None:
    """Any service id and any Decimal-ish price: earlier requests keep what they were charged."""
    # given: a caller, an id and a price
    before = await read_state()
    caller = caller_of(world, data.draw(CALLERS, label="caller"))
    raw = realise(
        data.draw(valid_or(known("services"), id_values("services")), label="serviceId"), pools_of(before)
    )
    price = data.draw(valid_or(VALID_AMOUNT | st.none(), DECIMALISH), label="creditPrice")
    variables = vars_of(serviceId=raw, creditPrice=price)
    try:
        service_id = resolve(as_id(raw))
        as_decimal(price, nullable=True)
        expect = authorise(before, caller, Role.CATALOG_ADMIN)
        if expect is None:
            problems: list[Problem] = []
            cents = None if price in (None, ABSENT) else amount_cents(price)
            if price not in (None, ABSENT) and (cents is None or cents < 0):
                problems.append(("INVALID_AMOUNT", ("creditPrice",)))
            if service_id not in before.services:
                problems.append(("NOT_FOUND", ("serviceId",)))
            expect = from_problems(problems)
    except NotGraphQL:
        expect = REQUEST_ERROR

    # when: changing the price
    answer = await call(http, SET_SERVICE_PRICE, variables, caller, "setServicePrice")

    # then: that service's price, and nothing else
    after = await read_state()
    settle(expect, answer, before, after, variables)
    if answer.ok:
        assert answer.payload["service"]["creditPrice"] == (None if cents is None else money(cents))
        assert after.services[service_id] == (before.services[service_id][0], cents)
        assert_only(before, after, "services")


@FUZZ
@given(data=st.data())
async def test_set_credit_alert_fuzzed(data: st.DataObject, http: httpx.AsyncClient, world: World) -> None:
    """Any customer id and any Decimal-ish threshold (negative allowed, null turns it off)."""
    # given: a caller and an input
    before = await read_state()
    caller = caller_of(world, data.draw(CALLERS, label="caller"))
    value = data.draw(
        input_of(
            {
                "customerId": valid_or(known("customers"), id_values("customers")),
                "threshold": valid_or(VALID_AMOUNT | st.none(), DECIMALISH),
            }
        ),
        label="input",
    )
    value = realise(value, pools_of(before))
    variables = vars_of(input=value)
    try:
        fields = as_input(value, {"customerId", "threshold"})
        customer_id = resolve(as_id(fields["customerId"]))
        threshold = as_decimal(fields["threshold"], nullable=True)
        expect = authorise(before, caller, Role.CATALOG_ADMIN, Role.CUSTOMER_ADMIN)
        if expect is None:
            problems: list[Problem] = []
            if customer_id not in before.customers or not may_access(caller, customer_id):
                problems.append(("NOT_FOUND", ("input", "customerId")))
            cents = None if threshold is None else amount_cents(threshold)
            if threshold is not None and cents is None:
                problems.append(("INVALID_AMOUNT", ("input", "threshold")))
            expect = from_problems(problems)
    except NotGraphQL:
        expect = REQUEST_ERROR

    # when: setting the threshold
    answer = await call(http, SET_CREDIT_ALERT, variables, caller, "setCreditAlert")

    # then: that customer's threshold; only its alert state may follow
    after = await read_state()
    settle(expect, answer, before, after, variables)
    if answer.ok:
        assert answer.payload["customer"]["alertThreshold"] == (None if cents is None else money(cents))
        name, balance, sequence = before.customers[customer_id][:3]
        assert after.customers[customer_id][:4] == (name, balance, sequence, cents)
        others = {k: v for k, v in after.customers.items() if k != customer_id}
        assert others == {k: v for k, v in before.customers.items() if k != customer_id}
        assert_only(before, after, "customers", *ALERT_TABLES)
