"""`--demo`: credits on, a customer with 100 credits, services to replay 100 → 60 → 0 → -15."""

from __future__ import annotations

import secrets

from models import accounts, catalog
from models.actor import Actor
from models.credits import change_balance
from models.customer import Customer
from models.ledger import TransactionKind
from models.passwords import hash_password
from models.platform import set_credit_management
from models.service import Service
from models.user import Role, User

DEMO_CUSTOMER = "Demo Customer"
DEMO_SERVICES = (("Translation", 4000), ("Video rendering", 6000), ("Data export", 1500))
DEMO_USERS = (
    ("demo-admin@example.com", "Demo Administrator", Role.CUSTOMER_ADMIN),
    ("demo-user@example.com", "Demo User", Role.END_USER),
)


async def load_demo() -> None:
    """Create the demo data once; each run prints fresh passwords for the demo logins."""
    await set_credit_management(True)
    customer = await Customer.get_or_none(name=DEMO_CUSTOMER)
    if customer is None:
        customer = await catalog.create_customer(DEMO_CUSTOMER)
        admin = await User.filter(role=Role.CATALOG_ADMIN).order_by("created_at").first()
        await change_balance(
            Actor(admin), TransactionKind.GRANT, customer.id, 100 * 100, "demo opening grant", None
        )
    for name, price in DEMO_SERVICES:
        if not await Service.exists(name=name):
            await catalog.create_service(name, price)
    lines = []
    for email, name, role in DEMO_USERS:
        password = secrets.token_urlsafe(9)
        user = await User.get_or_none(email_key=email)
        if user is None:
            await accounts.create_user(
                email=email, name=name, role=role, customer_id=customer.id, password=password
            )
        else:
            user.password_hash = await hash_password(password)
            await user.save(update_fields=["password_hash"])
        lines.append(f"  {role.value:<15} {email} / {password}")
    prices = ", ".join(f"{n} {p // 100}" for n, p in DEMO_SERVICES)
    # Development-only console output: the demo's own logins (API.md's one exception).
    print("\n  Demo logins:\n" + "\n".join(lines) + f"\n  Services: {prices}\n", flush=True)
