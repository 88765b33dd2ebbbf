"""Plain factory functions for test data, made through the domain (fast, no HTTP)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from models import accounts, catalog
from models.actor import Actor
from models.credits import change_balance
from models.customer import Customer
from models.ledger import Movement, TransactionKind, post_batch
from models.lots import CreditLot
from models.money import parse_price
from models.platform import set_credit_management
from models.service import Service
from models.unit_of_work import unit_of_work
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


async def make_customer(
    name: str | None = None, *, balance: int = 0, by: Login | None = None, note: str | None = None
) -> Customer:
    """A customer, optionally granted `balance` credits (whole credits, with `note`) to start with."""
    customer = await catalog.create_customer(name or f"Customer {uuid.uuid4().hex[:6]}")
    if balance:
        await set_credit_management(True)
        granter = by or await make_catalog_admin()
        await change_balance(granter.actor, TransactionKind.GRANT, customer.id, balance * 100, note, None)
        await customer.refresh_from_db()
    return customer


async def make_service(price: str | None = "10.00", name: str | None = None) -> Service:
    """A service priced in credits (a decimal string), or unpriced with None."""
    cents = parse_price(price, "price")
    return await catalog.create_service(name or f"Service {uuid.uuid4().hex[:6]}", cents)


async def grant_lot(
    customer: Customer, cents: int, expires_at: dt.datetime | None, *, by: Login, priority: int | None = None
) -> CreditLot:
    """Grant `cents` hundredths as one lot expiring at `expires_at` (any time: the ledger does not check)."""
    movement = Movement(cents, TransactionKind.GRANT, by.actor, priority=priority, expires_at=expires_at)
    async with unit_of_work() as uow:
        [[posting]] = await post_batch(uow, [(customer.id, [movement])])
    return await CreditLot.get(transaction_id=posting.transaction.id)


async def enable_credits(enabled: bool = True) -> None:
    """Turn credit management on (off on a fresh install)."""
    await set_credit_management(enabled)


# --- worlds: a catalog administrator, a service and customers with their people -----------------


@dataclass
class Tenant:
    """A customer with its customer administrators and end users."""

    customer: Customer
    admins: list[Login]
    end_users: list[Login]

    @property
    def id(self) -> str:
        """The customer's id as the API spells it."""
        return str(self.customer.id)

    @property
    def admin(self) -> Login:
        """The first customer administrator."""
        return self.admins[0]

    @property
    def end_user(self) -> Login:
        """The first end user."""
        return self.end_users[0]


async def make_tenant(
    name: str | None = None,
    *,
    balance: int = 0,
    admins: int = 1,
    end_users: int = 1,
    by: Login | None = None,
    note: str | None = None,
) -> Tenant:
    """A customer granted `balance` credits, `admins` customer administrators, `end_users` end users."""
    customer = await make_customer(name, balance=balance, by=by, note=note)
    customer_admins = [await make_user(Role.CUSTOMER_ADMIN, customer) for _ in range(admins)]
    users = [await make_user(Role.END_USER, customer) for _ in range(end_users)]
    return Tenant(customer, customer_admins, users)


@dataclass
class World:
    """Credits on, a catalog administrator, a service and named tenants (the first one is "the" customer)."""

    admin: Login
    service: Service
    tenants: dict[str, Tenant] = field(default_factory=dict)

    async def add(self, key: str, name: str | None = None, **options: Any) -> Tenant:
        """Add a tenant under `key` (options as for `make_tenant`; the grant is by the catalog admin)."""
        self.tenants[key] = await make_tenant(name or key, by=self.admin, **options)
        return self.tenants[key]

    @property
    def tenant(self) -> Tenant:
        """The first tenant."""
        return next(iter(self.tenants.values()))

    @property
    def customer(self) -> Customer:
        """The first tenant's customer."""
        return self.tenant.customer

    @property
    def cid(self) -> str:
        """The first tenant's customer id as the API spells it."""
        return self.tenant.id

    @property
    def customer_admin(self) -> Login:
        """The first tenant's first customer administrator."""
        return self.tenant.admin

    @property
    def end_user(self) -> Login:
        """The first tenant's first end user."""
        return self.tenant.end_user

    @property
    def service_id(self) -> str:
        """The service's id as the API spells it."""
        return str(self.service.id)


async def make_world(
    *names: str, price: str | None = "40.00", service_name: str | None = None, **options: Any
) -> World:
    """Credits on, a catalog administrator, a service at `price` and a tenant per name (see `make_tenant`)."""
    await enable_credits()
    world = World(await make_catalog_admin(), await make_service(price, service_name))
    for name in names:
        await world.add(name, **options)
    return world
