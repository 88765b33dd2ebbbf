"""End to end: a lot granted to expire in two seconds shows up as an EXPIRATION entry, live."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from tests.client import GraphQLClient
from tests.documents import BALANCE_CHANGED, GRANT_CREDITS
from tests.factories import enable_credits, make_catalog_admin, make_customer
from tests.processes import ServerProcess
from tests.ws_client import TRANSPORT_WS, GraphQLSocket, until_subscribed

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(server_env: dict[str, str]) -> Iterator[ServerProcess]:
    """A real server whose housekeeping sweeps lots twice a second (the tests' default is daily)."""
    with ServerProcess({**server_env, "CREDITS_LOT_SWEEP_SECONDS": "0.5"}) as process:
        yield process


async def test_a_lot_granted_to_expire_in_two_seconds_arrives_as_an_expiration_entry(
    api: GraphQLClient, url: str
) -> None:
    # given: a customer's balance subscribed to over a real websocket
    await enable_credits()
    admin = await make_catalog_admin()
    customer = await make_customer()
    async with GraphQLSocket(url, TRANSPORT_WS, admin.token) as ws:
        sub = await ws.subscribe(BALANCE_CHANGED, {"customerId": str(customer.id)})
        await until_subscribed(url, "balanceChanged", 1)

        # when: 7.25 are granted, expiring in two seconds
        expires_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
        variables = {
            "input": {"customerId": str(customer.id), "amount": "7.25", "expiresAt": expires_at.isoformat()}
        }
        payload = (await api(GRANT_CREDITS, variables, token=admin.token))["grantCredits"]
        assert payload["userErrors"] == []

        # then: the grant, then (within the contract's 10 seconds) its expiry arrive live
        granted, expired = [event["balanceChanged"] for event in await sub.take(2, timeout=12.0)]
        assert [
            (e["transaction"]["kind"], e["transaction"]["amount"], e["balance"]) for e in (granted, expired)
        ] == [
            ("GRANT", "7.25", "7.25"),
            ("EXPIRATION", "-7.25", "0.00"),
        ]
        assert dt.datetime.now(dt.UTC) >= expires_at
