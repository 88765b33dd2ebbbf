"""customerChanged: a customer's settings (threshold, floor, top-up, runway alert) reach open screens
live, with the same tenant rules as balanceChanged; setting the same value again publishes nothing."""

from __future__ import annotations

import asyncio
from typing import Any

from api.context import Context
from api.schema import schema
from models.user import Role
from tests.documents import (
    CUSTOMER_CHANGED,
    CUSTOMER_CONTROLS_CHANGED,
    DISABLE_AUTO_TOP_UP,
    SET_AUTO_TOP_UP,
    SET_CREDIT_ALERT,
    SET_MINIMUM_BALANCE,
    SET_RUNWAY_ALERT,
)
from tests.factories import make_catalog_admin, make_customer, make_user


async def _subscribe(runtime: Any, actor: Any, variables: dict[str, Any]) -> Any:
    context = Context(request=None, response=None, actor=actor, bus=runtime.bus)
    return await schema.subscribe(CUSTOMER_CHANGED, variable_values=variables, context_value=context)


async def _registered(stream: Any, bus: Any, before: int) -> asyncio.Task[Any]:
    """Start reading the subscription; return once it is registered on the bus."""
    task = asyncio.ensure_future(stream.__anext__())
    async with asyncio.timeout(5):
        while bus.subscriber_count() <= before and not task.done():
            await asyncio.sleep(0.01)
    return task


async def test_a_threshold_set_by_the_catalog_administrator_reaches_the_customer_administrator(
    runtime: Any, gql: Any
) -> None:
    # given a customer administrator watching its own customer's settings
    customer = await make_customer("Settings Oy", balance=10)
    admin = await make_user(Role.CUSTOMER_ADMIN, customer)
    catalog = await make_catalog_admin()
    stream = await _subscribe(runtime, admin.actor, {})
    try:
        pending = await _registered(stream, runtime.bus, runtime.bus.subscriber_count())

        # when the catalog administrator sets a threshold
        variables = {"customerId": str(customer.id), "threshold": "25"}
        answer = await gql(SET_CREDIT_ALERT, variables, token=catalog.token)
        assert answer["setCreditAlert"]["userErrors"] == []

        # then the customer administrator's subscription says it, with the customer as committed
        result = await asyncio.wait_for(pending, 5)
        assert result.errors is None
        assert result.data == {
            "customerChanged": {"id": str(customer.id), "name": "Settings Oy", "alertThreshold": "25.00"}
        }

        # when the same value is set again, then turned off
        await gql(SET_CREDIT_ALERT, variables, token=catalog.token)
        await gql(SET_CREDIT_ALERT, {"customerId": str(customer.id), "threshold": None}, token=catalog.token)

        # then the next event is the change to null: the repeat published nothing
        result = await asyncio.wait_for(stream.__anext__(), 5)
        assert result.data["customerChanged"]["alertThreshold"] is None
    finally:
        await stream.aclose()


async def test_a_catalog_administrator_without_customer_id_hears_every_customer(
    runtime: Any, gql: Any
) -> None:
    # given the catalog administrator watching every customer's settings
    customer = await make_customer("Every Oy")
    catalog = await make_catalog_admin()
    stream = await _subscribe(runtime, catalog.actor, {})
    try:
        pending = await _registered(stream, runtime.bus, runtime.bus.subscriber_count())

        # when a customer's threshold is set
        await gql(SET_CREDIT_ALERT, {"customerId": str(customer.id), "threshold": "-5"}, token=catalog.token)

        # then it hears of it
        result = await asyncio.wait_for(pending, 5)
        assert result.data["customerChanged"] == {
            "id": str(customer.id),
            "name": "Every Oy",
            "alertThreshold": "-5.00",
        }
    finally:
        await stream.aclose()


async def test_another_customer_is_forbidden(runtime: Any) -> None:
    # given a customer administrator and another customer
    own, other = await make_customer(), await make_customer()
    admin = await make_user(Role.CUSTOMER_ADMIN, own)

    # when it subscribes to the other customer's settings
    stream = await _subscribe(runtime, admin.actor, {"customerId": str(other.id)})
    try:
        result = await asyncio.wait_for(stream.__anext__(), 5)
    finally:
        await stream.aclose()

    # then it is FORBIDDEN, as for balanceChanged
    assert result.data is None
    assert [e.extensions["code"] for e in result.errors] == ["FORBIDDEN"]


async def test_the_spend_controls_and_the_runway_alert_reach_open_screens_too(runtime: Any, gql: Any) -> None:
    # given a customer administrator watching its customer's settings
    customer = await make_customer("Controls Oy", balance=10)
    admin = await make_user(Role.CUSTOMER_ADMIN, customer)
    catalog = await make_catalog_admin()
    context = Context(request=None, response=None, actor=admin.actor, bus=runtime.bus)
    stream = await schema.subscribe(CUSTOMER_CONTROLS_CHANGED, variable_values={}, context_value=context)
    try:
        pending = await _registered(stream, runtime.bus, runtime.bus.subscriber_count())
        cid = str(customer.id)
        rule = {"customerId": cid, "threshold": "5", "amount": "50"}

        # when the catalog administrator sets a floor, a top-up rule (twice: the same rule again),
        # turns it off, and the customer administrator sets a runway alert, one after the other
        changes = [
            (SET_MINIMUM_BALANCE, {"input": {"customerId": cid, "minimumBalance": "-20"}}, catalog),
            (SET_AUTO_TOP_UP, {"input": rule}, catalog),
            (SET_AUTO_TOP_UP, {"input": rule}, catalog),
            (DISABLE_AUTO_TOP_UP, {"id": cid}, catalog),
            (SET_RUNWAY_ALERT, {"input": {"customerId": cid, "days": 7}}, admin),
        ]
        seen = []
        for document, variables, who in changes:
            answer = await gql(document, variables, token=who.token)
            assert next(iter(answer.values()))["userErrors"] == []
            if document is SET_AUTO_TOP_UP and seen and seen[-1]["autoTopUp"]:
                # the same rule again: nothing is published
                done, _ = await asyncio.wait({pending}, timeout=0.5)
                assert not done
                continue
            result = await asyncio.wait_for(pending, 5)
            seen.append(result.data["customerChanged"])
            pending = asyncio.ensure_future(stream.__anext__())

        # then each change arrived, with the customer as committed, the repeat adding none
        assert [(c["minimumBalance"], c["autoTopUp"], c["runwayAlertDays"]) for c in seen] == [
            ("-20.00", None, None),
            ("-20.00", {"threshold": "5.00", "amount": "50.00"}, None),
            ("-20.00", None, None),
            ("-20.00", None, 7),
        ]
        pending.cancel()
    finally:
        await stream.aclose()
