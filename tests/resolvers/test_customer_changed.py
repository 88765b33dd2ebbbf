"""customerChanged: a customer's settings (its alert threshold) reach open screens live, with the
same tenant rules as balanceChanged; setting the same value again publishes nothing."""

from __future__ import annotations

import asyncio
from typing import Any

from api.context import Context
from api.schema import schema
from models.user import Role
from tests.documents import CUSTOMER_CHANGED, SET_CREDIT_ALERT
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
