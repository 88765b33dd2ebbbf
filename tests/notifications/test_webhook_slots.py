"""Send slots: the total, an endpoint's share and a customer's share, taken and given back."""

from __future__ import annotations

import uuid

from notifications.webhook_slots import Slots


def test_one_customers_endpoints_together_hold_at_most_its_share() -> None:
    # given: 10 slots, 2 per endpoint, 3 per customer
    slots = Slots(total=10, per_endpoint=2, per_customer=3)
    customer, other = uuid.uuid4(), uuid.uuid4()
    first, second, third = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()

    # when: the customer's three endpoints ask for two slots each
    taken = [slots.take(e, customer) for e in (first, first, second, second, third, third)]

    # then: three are out, the endpoint and the customer are full, another customer is not
    assert taken == [True, True, True, False, False, False]
    assert slots.full_endpoints() == {first} and slots.full_customers() == {customer}
    assert slots.take(uuid.uuid4(), other) and slots.room == 6


def test_a_given_back_slot_is_free_again_and_endpoints_without_a_customer_count_per_endpoint() -> None:
    # given: two slots, both taken by one endpoint that has no customer
    slots = Slots(total=2, per_endpoint=2, per_customer=1)
    endpoint = uuid.uuid4()
    assert slots.take(endpoint, None) and slots.take(endpoint, None)
    assert not slots.take(uuid.uuid4(), None)

    # when: one attempt ends
    slots.give_back(endpoint, None)

    # then: its slot can be taken again, by anyone
    assert slots.room == 1 and slots.full_endpoints() == set()
    assert slots.take(uuid.uuid4(), None) and slots.room == 0
