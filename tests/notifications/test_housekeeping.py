"""Housekeeping: the runway sweep runs in every process, on its own period."""

from __future__ import annotations

import datetime as dt

from infra import clock
from models.credit_alert import CreditAlert
from models.ledger import TransactionKind, post
from models.notification import AlertKind
from models.unit_of_work import unit_of_work
from notifications.housekeeping import Housekeeping
from settings import Settings
from tests.factories import grant_lot, make_world


async def test_the_runtime_keeps_a_runway_sweep_running(runtime: object) -> None:
    # given: the test run's runtime, started once for the session
    housekeeping = runtime.housekeeping  # type: ignore[attr-defined]

    # when / then: its runway sweep task is alive beside the lot sweep
    assert housekeeping.runway_task is not None and not housekeeping.runway_task.done()
    assert housekeeping.sweep_task is not None and not housekeeping.sweep_task.done()


async def test_sweep_runways_fires_runway_low_at_the_clocks_now(settings: Settings) -> None:
    # given: 100.00, 63.00 charged a day ago (9.00 a day: about 4 days left), an alert at 10 days
    world = await make_world("Acme")
    await grant_lot(world.customer, 10_000, None, by=world.admin)
    now = dt.datetime.now(dt.UTC)
    with clock.set_to(now - dt.timedelta(days=1)):
        async with unit_of_work() as uow:
            await post(uow, world.customer.id, 6_300, TransactionKind.SERVICE_CHARGE, actor=None)
    # (set on the row: setRunwayAlert would fire at once, and the sweep is what is tested)
    await world.customer.refresh_from_db()
    world.customer.runway_alert_days = 10
    await world.customer.save(update_fields=["runway_alert_days"])

    # when: a process's housekeeping sweeps runways
    fired = await Housekeeping(settings).sweep_runways()

    # then
    assert fired == 1
    assert await CreditAlert.filter(customer_id=world.customer.id, kind=AlertKind.RUNWAY_LOW).count() == 1
