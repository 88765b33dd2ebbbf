"""Customers and services: what the catalog administrator sets up."""

from __future__ import annotations

import uuid

from models import alerts
from models.customer import Customer, lock_customer
from models.errors import not_found
from models.events import CustomerChanged
from models.input_text import bounded
from models.notification import AlertKind
from models.service import Service
from models.unit_of_work import UnitOfWork, run_in_transaction


def _clean_name(name: str, argument: str) -> str:
    return bounded(name.strip(), "name", argument, min_length=1, max_length=200)


async def create_customer(name: str) -> Customer:
    """Open a customer account with a zero balance."""
    return await Customer.create(name=_clean_name(name, "name"))


async def create_service(name: str, credit_price: int | None) -> Service:
    """Add a service to the catalog; a null price means it is not chargeable."""
    return await Service.create(name=_clean_name(name, "name"), credit_price=credit_price)


async def set_service_price(service_id: uuid.UUID, credit_price: int | None) -> Service:
    """Change a price; requests already made keep the amount they were charged."""
    service = await Service.get_or_none(id=service_id)
    if service is None:
        raise not_found("service", "serviceId")
    service.credit_price = credit_price
    await service.save(update_fields=["credit_price"])
    return service


async def set_alert_threshold(customer_id: uuid.UUID, threshold: int | None) -> Customer:
    """Set a customer's alert threshold (null turns threshold alerts off)."""

    async def work(uow: UnitOfWork) -> Customer:
        customer = await lock_customer(uow.conn, customer_id)
        if customer.alert_threshold != threshold:
            # A new value starts the limit afresh: already below it, it fires at once.
            customer.alert_threshold = threshold
            customer.below_threshold_fired = False
            await alerts.evaluate(uow, customer, only=AlertKind.BELOW_THRESHOLD)
            await customer.save(using_db=uow.conn, update_fields=["alert_threshold", "below_threshold_fired"])
            uow.events.append(CustomerChanged(customer.id))
        return customer

    return await run_in_transaction(work)
