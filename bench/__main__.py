"""`python -m bench [--smoke] [--only NAME,…] [--seconds N] [--out PATH] [--baseline REV [--rounds N]]`."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import shutil
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.config import SCENARIOS, Config

if TYPE_CHECKING:
    from bench.baseline import Checkout


def _parse(argv: list[str]) -> Config:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="about a second per scenario, small sizes (CI)")
    parser.add_argument("--only", help=f"comma-separated scenarios out of: {', '.join(SCENARIOS)}")
    parser.add_argument("--seconds", type=float, help="seconds per scenario (default 10, smoke 1)")
    parser.add_argument("--out", type=Path, help="JSON results (default bench/results/latest.json)")
    parser.add_argument("--customers", type=int, help="distinct customers (default 1000, smoke 20)")
    parser.add_argument("--clients", type=int, help="concurrent clients (default 32)")
    parser.add_argument("--pool", type=int, help="CREDITS_DB_POOL_MAX of each server (default 20)")
    parser.add_argument("--load-processes", type=int, help="load generator processes (default 1)")
    parser.add_argument(
        "--baseline",
        metavar="REV",
        help="also run every scenario against git revision REV (a hash, main~3, a tag), side by side",
    )
    parser.add_argument(
        "--rounds", type=int, help="with --baseline: rounds a side, in alternating order (default 3, smoke 1)"
    )
    args = parser.parse_args(argv)
    if args.rounds is not None and not args.baseline:
        parser.error("--rounds needs --baseline")
    if args.rounds is not None and args.rounds < 1:
        parser.error("--rounds must be at least 1")
    overrides: dict[str, object] = {}
    if args.only:
        chosen = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = sorted(set(chosen) - set(SCENARIOS))
        if unknown:
            parser.error(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
        overrides["scenarios"] = tuple(n for n in SCENARIOS if n in chosen)
    for name, key in (
        ("seconds", "seconds"),
        ("out", "out"),
        ("customers", "customers"),
        ("clients", "clients"),
        ("pool", "db_pool_max"),
        ("load_processes", "load_processes"),
        ("baseline", "baseline"),
        ("rounds", "rounds"),
    ):
        if getattr(args, name) is not None:
            overrides[key] = getattr(args, name)
    if args.seconds is not None:
        overrides["warmup"] = min(1.0, args.seconds / 5)
    return Config.smoke_sized(**overrides) if args.smoke else Config(**overrides)  # type: ignore[arg-type]


async def _run(config: Config, checkout: Checkout | None = None) -> int:
    from bench import report, side_by_side
    from bench.load import LoadGenerator
    from bench.processes import raise_fd_limit
    from bench.scenarios import Side, Suite
    from bench.world import ServiceDown, postgres_info, redis_version

    raise_fd_limit()
    try:
        postgres = await postgres_info(config.database_url)
        redis = await redis_version(config.redis_url)
    except ServiceDown as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    if shutil.which("pgbench") is None and "ceilings" in config.scenarios:
        print("bench: pgbench is not on PATH (it comes with the PostgreSQL client)", file=sys.stderr)
        return 2
    shutil.rmtree(config.logs, ignore_errors=True)
    config.logs.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    loadgen = LoadGenerator(config.load_processes)
    uvloop = await loadgen.start()
    logging.getLogger("bench").info(
        "load generator: %d process(es), uvloop %s", config.load_processes, uvloop
    )
    comparisons: list[side_by_side.Comparison] = []
    extra: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="credits-bench-") as tmp:
        suite = Suite(config, loadgen, Path(tmp))
        other: Suite | None = None
        try:
            if checkout is None:
                rows = await suite.run()
            else:
                side = Side("baseline", checkout.tree, checkout.python)
                other = Suite(_baseline_config(config), loadgen, Path(tmp) / "baseline", side)
                comparisons = await side_by_side.run(suite, other, config.scenarios, config.rounds)
                rows = suite.rows
                extra = _baseline_sections(checkout, other, comparisons)
        finally:
            await suite.close()
            if other is not None:
                await other.close()
            loadgen.close()
    described = config.describe() | {
        "load_generator_uvloop": uvloop,
        "total_seconds": time.perf_counter() - started,
    }
    report.write_json(config.out, rows, report.machine(postgres, redis), described, extra)
    print()
    if checkout is None:
        print(report.table(rows))
    else:
        print(f"baseline {checkout.revision} = {checkout.commit[:10]}, {checkout.subject}")
        print(f"{config.rounds} round(s) a side, alternating; ratio = current / baseline, median (spread)\n")
        print(side_by_side.table(comparisons))
    print(
        f"\n{len(rows)} rows in {time.perf_counter() - started:.0f}s; server DB pool {config.db_pool_max}; "
        f"JSON: {config.out}; server logs: {config.logs}"
    )
    failed = [r for r in rows if not r.ok]
    if failed:
        print(
            f"bench: {len(failed)} failed: {', '.join(f'{r.scenario} {r.shape}' for r in failed)}",
            file=sys.stderr,
        )
        return 1
    return 0


def _baseline_config(config: Config) -> Config:
    """The baseline's own database (`<name>_baseline` on the same server) and server logs."""
    parts = urllib.parse.urlsplit(config.database_url)
    url = urllib.parse.urlunsplit(parts._replace(path=f"{parts.path}_baseline"))
    return dataclasses.replace(config, database_url=url, logs=config.logs / "baseline")


def _baseline_sections(checkout: Checkout, other: Any, comparisons: list[Any]) -> dict[str, Any]:
    """The JSON's `baseline` (revision, interpreter, libraries, its rows) and `comparison` sections."""
    from bench.baseline import library_versions
    from bench.processes import PROJECT_DIR

    return {
        "baseline": checkout.describe()
        | {
            "current_libraries": library_versions(sys.executable, PROJECT_DIR),
            "results": [dataclasses.asdict(r) for r in other.rows],
        },
        "comparison": [dataclasses.asdict(c) for c in comparisons],
    }


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run the chosen scenarios, print the table, write the JSON."""
    config = _parse(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", datefmt="%H:%M:%S")
    for noisy in ("tortoise", "asyncio", "credits", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if config.baseline is None:
        return asyncio.run(_run(config))
    from bench.baseline import BaselineError, checkout

    try:
        with checkout(config.baseline) as tree:
            return asyncio.run(_run(config, tree))
    except BaselineError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
