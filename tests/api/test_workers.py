"""`python server.py --workers N`: several processes on one port, refused where they cannot work together.

Serving with workers on PostgreSQL and Redis is tested in test_scale_out.py.
"""

from __future__ import annotations

import pytest

from server import workers_refusal
from settings import Settings
from tests.processes import embedded_env, run_to_exit

POSTGRES = "postgres://credits@db.example:5432/credits"
REDIS = "redis://redis.example:6379/0"


@pytest.mark.parametrize(
    ("database_url", "broadcast_url", "named"),
    [
        (None, "memory://", ["SQLite", "CREDITS_DATABASE_URL", "CREDITS_BROADCAST_URL"]),
        (None, REDIS, ["SQLite", "CREDITS_DATABASE_URL"]),
        (POSTGRES, "memory://", ["CREDITS_BROADCAST_URL"]),
    ],
)
def test_workers_are_refused_without_postgres_and_redis(
    settings: Settings, database_url: str | None, broadcast_url: str, named: list[str]
) -> None:
    """SQLite would serialise the workers' writes, the in-memory bus keep events in one process."""
    # given
    chosen = settings.model_copy(update={"database_url": database_url, "broadcast_url": broadcast_url})

    # when
    refusal = workers_refusal(chosen, 2)

    # then: refused, naming what is missing and the variable that fixes it
    assert refusal is not None and refusal.startswith("refusing to serve with 2 workers: ")
    for word in named:
        assert word in refusal
    if database_url:
        assert "SQLite" not in refusal
    if broadcast_url == REDIS:
        assert "BROADCAST" not in refusal


def test_workers_serve_on_postgres_and_redis_and_one_process_anywhere(settings: Settings) -> None:
    """PostgreSQL and Redis allow any number of workers; one worker needs neither."""
    # given
    shared = settings.model_copy(update={"database_url": POSTGRES, "broadcast_url": REDIS})
    embedded = settings.model_copy(update={"database_url": None, "broadcast_url": "memory://"})

    # when / then
    assert workers_refusal(shared, 4) is None
    assert workers_refusal(embedded, 1) is None
    assert workers_refusal(embedded, 0) == "--workers must be at least 1, not 0"


@pytest.mark.slow
@pytest.mark.parametrize("how", ["--workers", "CREDITS_WORKERS"])
def test_a_server_asked_for_workers_on_sqlite_exits_with_the_reason(
    server_env: dict[str, str], tmp_path, how: str
) -> None:
    """`server.py --workers 2` (or CREDITS_WORKERS=2) on SQLite and memory:// exits non-zero at once."""
    # given: the embedded defaults
    env = embedded_env(server_env, tmp_path)
    args = ["--workers", "2"] if how == "--workers" else []
    if how == "CREDITS_WORKERS":
        env["CREDITS_WORKERS"] = "2"

    # when
    done = run_to_exit(env, *args)

    # then: a non-zero exit, the reason on stderr, nothing served or migrated
    assert done.returncode == 1, done.stderr
    assert "refusing to serve with 2 workers: SQLite would serialise their writes" in done.stderr
    assert "CREDITS_BROADCAST_URL" in done.stderr
    assert "Uvicorn running" not in done.stderr + done.stdout
    assert not (tmp_path / "credits.sqlite3").exists()
