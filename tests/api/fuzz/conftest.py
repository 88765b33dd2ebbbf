"""The world every fuzzed call acts on."""

from __future__ import annotations

import pytest

from models import accounts, catalog, service_requests
from models.user import Role
from tests.api.fuzz.oracle import World
from tests.factories import (
    make_service,
    make_user,
    make_world,
)


@pytest.fixture
async def world() -> World:
    """Credit management on, customers A (100, threshold 150: a notification) and B (50), requests."""
    base = await make_world(price="10.00", service_name="Priced")
    admin, priced = base.admin, base.service
    a = (await base.add("a", "Acme Ünïcode 50% off_co", balance=100, admins=0, end_users=0)).customer
    b = (await base.add("b", "Beta Ελληνικά", balance=50, admins=0)).customer
    b_user = base.tenants["b"].end_user
    await base.add("gamma", "Gamma 100% Ltd", admins=0, end_users=0)
    await base.add("delta", "delta_ops", admins=0, end_users=0)
    a_admin = await make_user(Role.CUSTOMER_ADMIN, a, email="Ops.Admin@Example.com")
    a_user = await make_user(Role.END_USER, a, email="straße@example.com")
    free = await make_service("0.00", "Free")
    unpriced = await make_service(None, "Unpriced")
    for service in (priced, priced, free, unpriced):
        await service_requests.request_service(a_user.actor, a.id, service.id, 1, None)
    await service_requests.request_service(a_admin.actor, a.id, priced.id, 2, None)
    await service_requests.request_service(b_user.actor, b.id, priced.id, 1, None)
    await accounts.create_api_token(admin.actor, "ci")
    await accounts.create_api_token(a_user.actor, "laptop")
    await catalog.set_alert_threshold(a.id, 150_00)
    await a.refresh_from_db()
    await b.refresh_from_db()
    return World(admin, a_admin, a_user, b_user, a, b, priced)
