"""Plain factory functions for test data, made through the domain (fast, no HTTP)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from models import accounts, catalog
from models.actor import Actor
from models.credits import change_balance
from models.customer import Customer
from models.ledger import TransactionKind
from models.money import parse_price
from models.platform import set_credit_management
from models.service import Service
from models.user import Role, User

PASSWORD = "correct horse battery"


@dataclass
class Login:
    """A user and a bearer token for it."""

    user: User
    token: str

    @property
    def actor(self) -> Actor:
        """The user as a domain actor."""
        return Actor(self.user)


async def make_user(
    role: Role, customer: Customer | None = None, *, email: str | None = None, password: str = PASSWORD
) -> Login:
    """A user of `role` with a fresh JWT."""
    user = await accounts.create_user(
        email=email or f"{role.value.lower()}-{uuid.uuid4().hex[:8]}@example.com",
        name=f"{role.value.title()} Tester",
        role=role,
        customer_id=customer.id if customer else None,
        password=password,
    )
    return Login(user, accounts.issue_jwt(user).token)


async def make_catalog_admin() -> Login:
    """A catalog administrator."""
    return await make_user(Role.CATALOG_ADMIN)


async def make_customer(name: str | None = None, *, balance: int = 0, by: Login | None = None) -> Customer:
    """A customer, optionally granted `balance` credits (whole credits) to start with."""
    customer = await catalog.create_customer(name or f"Customer {uuid.uuid4().hex[:6]}")
    if balance:
        await set_credit_management(True)
        granter = by or await make_catalog_admin()
        await change_balance(granter.actor, TransactionKind.GRANT, customer.id, balance * 100, None, None)
        await customer.refresh_from_db()
    return customer


async def make_service(price: str | None = "10.00", name: str | None = None) -> Service:
    """A service priced in credits (a decimal string), or unpriced with None."""
    cents = parse_price(price, ["price"])
    return await catalog.create_service(name or f"Service {uuid.uuid4().hex[:6]}", cents)


async def enable_credits(enabled: bool = True) -> None:
    """Turn credit management on (off on a fresh install)."""
    await set_credit_management(enabled)
