"""`python -m bench --baseline REV` for real: both sides measured in one run, a ratio, no worktree left."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from tests.conftest import IS_POSTGRES, IS_REDIS, PROJECT_DIR

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (IS_POSTGRES and IS_REDIS), reason="needs CREDITS_TEST_DATABASE_URL and CREDITS_TEST_REDIS_URL"
    ),
]


def git(*args: str) -> str:
    """git in this checkout (skips the test outside one)."""
    done = subprocess.run(["git", *args], cwd=PROJECT_DIR, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"not a git checkout: {done.stderr.strip()}")
    return done.stdout


def bench_database_url() -> str:
    """A bench database of this test's own on the test PostgreSQL (the bench drops and creates it)."""
    parts = urlsplit(os.environ["CREDITS_TEST_DATABASE_URL"])
    return urlunsplit(parts._replace(path=f"/credits_bench_test_{uuid.uuid4().hex[:10]}"))


async def drop_databases(url: str, *names: str) -> None:
    """Drop what the run created (it leaves its databases behind for inspection)."""
    conn = await asyncpg.connect(urlunsplit(urlsplit(url)._replace(path="/postgres")))
    try:
        for name in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def gone(tree: str) -> bool:
    """The worktree's folder is gone and git does not list it."""
    return not os.path.exists(tree) and f"worktree {tree}\n" not in git("worktree", "list", "--porcelain")


async def test_a_baseline_run_reports_both_sides_and_their_ratio(tmp_path):
    # given: HEAD as the baseline, this machine's PostgreSQL and Redis, the cheapest scenario
    head = git("rev-parse", "HEAD").strip()
    url = bench_database_url()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDITS_")}
    env.update(CREDITS_BENCH_DATABASE_URL=url, CREDITS_BENCH_REDIS_URL=os.environ["CREDITS_TEST_REDIS_URL"])
    out = tmp_path / "bench.json"
    command = [sys.executable, "-m", "bench", "--baseline", "HEAD", "--smoke", "--only", "topmenu"]
    command += ["--seconds", "2", "--out", str(out)]  # a busy box may answer nothing in a 1 s window
    # when
    try:
        done = await asyncio.to_thread(
            subprocess.run,
            command,
            cwd=PROJECT_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        name = urlsplit(url).path.lstrip("/")
        await drop_databases(url, name, f"{name}_baseline")
    # then: it succeeded, against HEAD's commit
    text = done.stdout + done.stderr
    assert done.returncode == 0, text[-3000:]
    document = json.loads(out.read_text())
    assert document["baseline"]["commit"] == head
    assert document["baseline"]["environment"] == "this venv"  # HEAD's dependencies are this tree's
    # and each side ran on its own servers, in its own rows
    assert {r["figures"]["side"] for r in document["results"]} == {"current"}
    assert {r["figures"]["side"] for r in document["baseline"]["results"]} == {"baseline"}
    # and the comparison has both figures and their ratio, for throughput and CPU per operation
    top_menu = document["comparison"][0]
    assert (top_menu["scenario"], top_menu["shape"]) == ("topMenu", "distinct")
    current, baseline = top_menu["current"]["ops_per_s"], top_menu["baseline"]["ops_per_s"]
    assert current > 0 and baseline > 0
    assert top_menu["ratio"]["ops_per_s"] == pytest.approx(current / baseline, rel=0.01)
    assert top_menu["ratio"]["cpu_ms_per_op"] > 0
    assert "ratio" in text and "baseline" in text  # the printed table
    # and the temporary worktree is gone, from the disk and from git's list
    assert gone(document["baseline"]["tree"])
