"""Send slots of one webhook dispatcher: how many deliveries are out at once, in all and per tenant.

A slot is taken when a delivery is claimed and given back when its attempt ends, so a freed slot
is refilled at once instead of waiting for a whole batch. One endpoint, and one customer's
endpoints together, hold at most their share: a receiver that answers slowly (or never) keeps
its own deliveries waiting, not everyone else's.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Slots:
    """At most `total` deliveries out, `per_endpoint` to one endpoint, `per_customer` to one customer's."""

    total: int
    per_endpoint: int
    per_customer: int
    _endpoints: Counter[uuid.UUID] = field(default_factory=Counter)
    _customers: Counter[uuid.UUID] = field(default_factory=Counter)

    @property
    def taken(self) -> int:
        """Deliveries out now."""
        return self._endpoints.total()

    @property
    def room(self) -> int:
        """How many more may go out now."""
        return max(self.total - self.taken, 0)

    def full_endpoints(self) -> set[uuid.UUID]:
        """Endpoints with every slot of theirs taken: the next claim skips their deliveries."""
        return {e for e, n in self._endpoints.items() if n >= self.per_endpoint}

    def full_customers(self) -> set[uuid.UUID]:
        """Customers with every slot of theirs taken (endpoints without a customer count per endpoint)."""
        return {c for c, n in self._customers.items() if n >= self.per_customer}

    def take(self, endpoint_id: uuid.UUID, customer_id: uuid.UUID | None) -> bool:
        """Take a slot for a delivery to the endpoint if its endpoint, customer and the total allow."""
        if self.room <= 0 or self._endpoints[endpoint_id] >= self.per_endpoint:
            return False
        if customer_id is not None and self._customers[customer_id] >= self.per_customer:
            return False
        self._endpoints[endpoint_id] += 1
        if customer_id is not None:
            self._customers[customer_id] += 1
        return True

    def give_back(self, endpoint_id: uuid.UUID, customer_id: uuid.UUID | None) -> None:
        """The attempt ended: its slot is free."""
        self._endpoints[endpoint_id] -= 1
        if self._endpoints[endpoint_id] <= 0:
            del self._endpoints[endpoint_id]
        if customer_id is not None:
            self._customers[customer_id] -= 1
            if self._customers[customer_id] <= 0:
                del self._customers[customer_id]
