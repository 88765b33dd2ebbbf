"""`--demo`: the data the README's walk-through and the console's demo logins rely on."""

from __future__ import annotations

import re

import pytest

from models import accounts
from models.customer import Customer
from models.demo import DEMO_CUSTOMER, DEMO_USERS, load_demo
from models.errors import DomainError
from models.passwords import hash_password
from models.service import Service
from models.service_requests import request_service
from models.user import User
from settings import Settings
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


async def test_a_second_start_keeps_the_data_and_prints_the_same_logins(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # given: the demo loaded once
    await make_catalog_admin()
    await load_demo()
    first = capsys.readouterr().out

    # when: the server starts again with --demo
    await load_demo()
    second = capsys.readouterr().out

    # then: one customer, one grant, three services; each demo login printed again, unchanged
    assert await Customer.filter(name=DEMO_CUSTOMER).count() == 1
    assert (await Customer.get(name=DEMO_CUSTOMER)).balance == 100_00
    assert await Service.all().count() == 3
    for email, _, _ in DEMO_USERS:
        old = re.search(rf"{re.escape(email)} / (\S+)", first).group(1)
        new = re.search(rf"{re.escape(email)} / (\S+)", second).group(1)
        assert old == new
        assert (await accounts.login(email, new)).token


async def test_a_demo_user_with_another_password_gets_the_printed_one_back(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # given: the demo loaded, then its end user's password changed behind its back (an older install)
    await make_catalog_admin()
    await load_demo()
    email, _, _ = DEMO_USERS[1]
    user = await User.get(email_key=email)
    user.password_hash = await hash_password("an older random password")
    await user.save(update_fields=["password_hash"])
    capsys.readouterr()

    # when: the server starts again with --demo
    await load_demo()

    # then: the printed password logs in, the older one no longer does
    printed = re.search(rf"{re.escape(email)} / (\S+)", capsys.readouterr().out).group(1)
    assert (await accounts.login(email, printed)).token
    with pytest.raises(DomainError):
        await accounts.login(email, "an older random password")


async def test_the_demo_prints_the_generated_catalog_administrator_on_every_start(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # given: development without CREDITS_ADMIN_EMAIL: admin@localhost made up on the first start
    monkeypatch.setattr(settings, "admin_email", None)
    monkeypatch.setattr(settings, "admin_password", None)
    await accounts.ensure_first_admin(None, None, development=True)
    first_start = re.search(r"admin@localhost / (\S+)", capsys.readouterr().out).group(1)

    # when: the demo starts twice
    printed = []
    for _ in range(2):
        await load_demo()
        printed.append(
            re.search(r"CATALOG_ADMIN\s+admin@localhost / (\S+)", capsys.readouterr().out).group(1)
        )

    # then: each start prints the password of the first start, and it logs in
    assert printed == [first_start, first_start]
    assert (await accounts.login("admin@localhost", first_start)).token


async def test_the_demo_names_a_configured_catalog_administrator_without_its_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # given: the catalog administrator comes from CREDITS_ADMIN_EMAIL / _PASSWORD (as in the tests)
    await make_catalog_admin()

    # when
    await load_demo()

    # then: the demo points at the variable instead of printing it
    assert "root@example.com / (CREDITS_ADMIN_PASSWORD)" in capsys.readouterr().out
