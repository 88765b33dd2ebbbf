"""A real server exports 100,000 ledger entries as CSV with its memory nearly flat (RSS from /proc)."""

from __future__ import annotations

import datetime as dt
import uuid

import httpx
import pytest

from models.ledger import TransactionKind
from models.transaction import CreditTransaction
from tests.conftest import empty_database
from tests.factories import make_catalog_admin, make_customer
from tests.processes import ServerProcess
from tests.resolvers.test_subscriptions import rss_kib

pytestmark = pytest.mark.slow

ENTRIES = 100_000
BATCH = 5_000
MIB = 1024  # KiB
# Measured: chunks of 1,000 rows grew the server by 0.5 MiB (SQLite) and 0.8 MiB (PostgreSQL);
# the whole ledger read in one query (a chunk of 100,000) grew it by 121 MiB (SQLite).
TOLERANCE = 50 * MIB
NOTE = "monthly top-up, invoice 2026-11 (x" + "x" * 40 + ")"


async def seed_ledger(customer_id: uuid.UUID, count: int) -> None:
    """`count` entries straight into the table, balance running (the ledger's checks are not the subject)."""
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    balance = 0
    for first in range(1, count + 1, BATCH):
        rows = []
        for sequence in range(first, min(first + BATCH, count + 1)):
            amount = 12_345 if sequence % 3 else -4_321
            balance += amount
            kind = TransactionKind.GRANT if amount > 0 else TransactionKind.WITHDRAWAL
            rows.append(
                CreditTransaction(
                    customer_id=customer_id,
                    sequence=sequence,
                    kind=kind,
                    amount=amount,
                    balance_after=balance,
                    note=NOTE,
                    created_at=start + dt.timedelta(seconds=sequence),
                )
            )
        await CreditTransaction.bulk_create(rows)


async def test_a_hundred_thousand_entries_export_with_the_servers_memory_nearly_flat(server_env):
    # given: a customer with 100,000 entries and a real server, warmed up by a small export
    admin = await make_catalog_admin()
    customer = await make_customer()
    await seed_ledger(customer.id, ENTRIES)
    url = f"/exports/ledger/{customer.id}.csv"
    headers = {"Authorization": f"Bearer {admin.token}"}
    try:
        with ServerProcess(server_env) as server:
            async with httpx.AsyncClient(base_url=server.base_url, timeout=120) as client:
                warm = await client.get(url, params={"until": "2026-01-01T01:00:00Z"}, headers=headers)
                assert warm.status_code == 200
                before = peak = rss_kib(server.proc.pid)
                # when: the whole ledger is downloaded, the server's memory sampled as it streams
                lines = 0
                async with client.stream("GET", url, headers=headers) as response:
                    assert response.status_code == 200
                    async for chunk in response.aiter_bytes():
                        lines += chunk.count(b"\n")
                        peak = max(peak, rss_kib(server.proc.pid))
        # then: every entry arrived, and the server grew by less than 50 MiB at its peak
        assert lines == ENTRIES + 1
        assert peak - before < TOLERANCE, f"grew {(peak - before) / MIB:.1f} MiB"
    finally:
        # The seeded rows bypassed the ledger (no lots or allocations): they leave with the test.
        await empty_database()
