"""`--demo`: credits on, a customer with 100 credits, services to replay 100 → 60 → 0 → -15."""

from __future__ import annotations

from models import accounts, catalog
from models.accounts import GENERATED_ADMIN_EMAIL
from models.actor import Actor
from models.credits import change_balance
from models.customer import Customer
from models.development_logins import development_password
from models.ledger import TransactionKind
from models.passwords import hash_password, verify_password
from models.platform import set_credit_management
from models.service import Service
from models.user import Role, User
from settings import get_settings

DEMO_CUSTOMER = "Demo Customer"
DEMO_SERVICES = (("Translation", 4000), ("Video rendering", 6000), ("Data export", 1500))
DEMO_USERS = (
    ("demo-admin@example.com", "Demo Administrator", Role.CUSTOMER_ADMIN),
    ("demo-user@example.com", "Demo User", Role.END_USER),
)


async def load_demo() -> None:
    """Create the demo data once; each run prints the logins, whose passwords stay the same."""
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
    lines = [await _catalog_login()]
    for email, name, role in DEMO_USERS:
        password = development_password(email)
        user = await User.get_or_none(email_key=email)
        if user is None:
            await accounts.create_user(
                email=email, name=name, role=role, customer_id=customer.id, password=password
            )
        elif not await verify_password(user.password_hash, password):
            # Made before passwords were derived (or with another data dir): the derived one from now on.
            user.password_hash = await hash_password(password)
            await user.save(update_fields=["password_hash"])
        lines.append(f"  {role.value:<15} {email} / {password}")
    prices = ", ".join(f"{n} {p // 100}" for n, p in DEMO_SERVICES)
    # Development-only console output: the demo's own logins (API.md's one exception).
    print(
        "\n  Demo logins (the same on every start):\n" + "\n".join(lines) + f"\n  Services: {prices}\n",
        flush=True,
    )


async def _catalog_login() -> str:
    """The catalog administrator's line: the made-up password while it still logs in, else where it is."""
    configured = get_settings().admin_email
    if configured:
        return f"  {Role.CATALOG_ADMIN.value:<15} {configured} / (CREDITS_ADMIN_PASSWORD)"
    admin = await User.get_or_none(email_key=GENERATED_ADMIN_EMAIL, role=Role.CATALOG_ADMIN)
    password = development_password(GENERATED_ADMIN_EMAIL)
    if admin is not None and await verify_password(admin.password_hash, password):
        return f"  {Role.CATALOG_ADMIN.value:<15} {GENERATED_ADMIN_EMAIL} / {password}"
    label = f"  {Role.CATALOG_ADMIN.value:<15} {GENERATED_ADMIN_EMAIL}"
    return f"{label} / (the password printed on its first start)"
