"""What a bench run does: scenarios, sizes, durations, where PostgreSQL and Redis are."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
SCENARIOS = (
    "ceilings",
    "request",
    "lean",
    "lots",
    "expiry",
    "controls",
    "runway",
    "grant",
    "cancel",
    "topmenu",
    "nested",
    "fanout",
    "scaleout",
    "webhooks",
    "sqlite",
)
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/credits_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True)
class Config:
    """One run's choices; `--smoke` shrinks every size so CI finishes in well under a minute."""

    scenarios: tuple[str, ...] = SCENARIOS
    seconds: float = 10.0
    warmup: float = 1.0  # seconds at the start of each run left out of the figures
    smoke: bool = False
    customers: int = 1000
    clients: int = 32
    db_pool_max: int = 20  # CREDITS_DB_POOL_MAX of every server process (the server's default)
    load_processes: int = 1
    baseline: str | None = None  # a git revision to run side by side with this tree (bench/baseline.py)
    rounds: int = 3  # with a baseline: rounds of current and baseline, in alternating order
    fanout_customers: int = 1000
    fanout_per_customer: int = 10
    fanout_rate: float = 100.0  # changes per second across the fan-out's customers
    hot_subscribers: int = 1000
    cross_changes: int = 200
    expiring_lots: int = 10_000  # lots due in the same second in the expiry scenario
    database_url: str = field(
        default_factory=lambda: os.environ.get("CREDITS_BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    )
    redis_url: str = field(
        default_factory=lambda: os.environ.get("CREDITS_BENCH_REDIS_URL", DEFAULT_REDIS_URL)
    )
    out: Path = BENCH_DIR / "results" / "latest.json"
    logs: Path = BENCH_DIR / "results" / "logs"

    @classmethod
    def smoke_sized(cls, **overrides: Any) -> Config:
        """About one second per scenario with small sizes."""
        sizes: dict[str, Any] = {
            "seconds": 1.0,
            "warmup": 0.2,
            "smoke": True,
            "customers": 20,
            "fanout_customers": 20,
            "fanout_per_customer": 2,
            "fanout_rate": 20.0,
            "hot_subscribers": 20,
            "cross_changes": 20,
            "expiring_lots": 200,
            "rounds": 1,
        }
        return cls(**{**sizes, **overrides})

    def describe(self) -> dict[str, Any]:
        """The configuration for the JSON report (without credentials)."""
        values = asdict(self)
        values["database_url"] = _without_password(self.database_url)
        values["redis_url"] = _without_password(self.redis_url)
        return values


def _without_password(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if not parts.password:
        return url
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{parts.hostname}:{parts.port}"))
