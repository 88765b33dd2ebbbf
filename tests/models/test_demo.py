"""`--demo`: the data the README's walk-through and the console's demo logins rely on."""

from __future__ import annotations

import re

import pytest

from models import accounts
from models.customer import Customer
from models.demo import DEMO_CUSTOMER, DEMO_USERS, load_demo
from models.errors import DomainError
from models.service import Service
from models.service_requests import request_service
from tests.factories import make_catalog_admin


async def test_the_demo_replays_100_60_0_minus_15_with_the_logins_it_prints(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # given: a fresh install with its first catalog administrator
    await make_catalog_admin()

    # when
    await load_demo()

    # then: credits are on, the customer has 100, and its end user's requests go 60 → 0 → -15
    printed = capsys.readouterr().out
    customer = await Customer.get(name=DEMO_CUSTOMER)
    assert customer.balance == 100_00
    email, _, _ = DEMO_USERS[1]
    password = re.search(rf"{re.escape(email)} / (\S+)", printed).group(1)
    user = await accounts.authenticate((await accounts.login(email, password)).token)
    balances = []
    for name in ("Translation", "Video rendering", "Data export"):
        service = await Service.get(name=name)
        await request_service(user, customer.id, service.id, 1, None)
        balances.append((await Customer.get(id=customer.id)).balance)
    assert balances == [60_00, 0, -15_00]


async def test_a_second_start_keeps_the_data_and_prints_fresh_passwords(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # given: the demo loaded once
    await make_catalog_admin()
    await load_demo()
    first = capsys.readouterr().out

    # when: the server starts again with --demo
    await load_demo()
    second = capsys.readouterr().out

    # then: one customer, one grant, three services; the old password no longer logs in
    assert await Customer.filter(name=DEMO_CUSTOMER).count() == 1
    assert (await Customer.get(name=DEMO_CUSTOMER)).balance == 100_00
    assert await Service.all().count() == 3
    email, _, _ = DEMO_USERS[0]
    old = re.search(rf"{re.escape(email)} / (\S+)", first).group(1)
    new = re.search(rf"{re.escape(email)} / (\S+)", second).group(1)
    assert old != new
    assert (await accounts.login(email, new)).token
    with pytest.raises(DomainError):
        await accounts.login(email, old)
