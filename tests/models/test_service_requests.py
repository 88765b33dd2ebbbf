"""models/service_requests.py: a charge batch stores its requests as it answers them."""

from __future__ import annotations

import asyncio
from typing import Any

from models.service import RequestStatus, ServiceRequest
from models.service_requests import make_request
from models.user import Role
from tests.factories import make_customer, make_service, make_user


async def test_a_batch_of_requests_is_stored_as_answered_in_every_column(runtime: Any) -> None:
    # given: two customers with credits, their end users, a priced service
    service = await make_service("2.50")
    customers = [await make_customer(balance=100) for _ in range(2)]
    users = [await make_user(Role.END_USER, customer) for customer in customers]

    # when: several requests of both customers arrive together (one charge batch, or a few)
    made = await asyncio.gather(
        *(
            make_request(u.actor, c.id, service.id, q, None)
            for c, u in zip(customers, users, strict=True)
            for q in (1, 3)
        )
    )

    # then: each stored row is what the charge answered, column for column
    for answer in made:
        request = answer.request
        stored = await ServiceRequest.get(id=request.id)
        assert (stored.service_id, stored.customer_id, stored.requested_by_id) == (
            request.service_id,
            request.customer_id,
            request.requested_by_id,
        )
        assert (stored.quantity, stored.amount, stored.status, stored.reason) == (
            request.quantity,
            250 * request.quantity,
            RequestStatus.REQUESTED,
            None,
        )
        assert request.amount == stored.amount and request.status == RequestStatus.REQUESTED
        assert (stored.created_at, stored.updated_at) == (request.created_at, request.updated_at)
