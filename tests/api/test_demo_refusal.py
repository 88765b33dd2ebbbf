"""`python server.py --demo` runs in development only: in production it would print real passwords."""

from __future__ import annotations

from pathlib import Path

import pytest

from server import demo_refusal
from settings import Settings
from tests.processes import embedded_env, run_to_exit


def test_the_demo_is_refused_in_production(settings: Settings) -> None:
    # given production settings
    production = settings.model_copy(update={"env": "production"})

    # when the demo is asked for
    refusal = demo_refusal(production, True)

    # then it is refused, saying why and what allows it
    assert refusal is not None
    assert "prints their passwords" in refusal and "CREDITS_ENV=development" in refusal


def test_the_demo_runs_in_development_and_production_runs_without_it(settings: Settings) -> None:
    # given development and production settings
    production = settings.model_copy(update={"env": "production"})

    # when / then
    assert settings.is_development and demo_refusal(settings, True) is None
    assert demo_refusal(production, False) is None


@pytest.mark.slow
def test_a_production_server_with_demo_exits_before_touching_the_database(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    # given the embedded defaults in production, with a signing secret
    env = {**embedded_env(server_env, tmp_path), "CREDITS_ENV": "production", "CREDITS_JWT_SECRET": "s" * 48}

    # when the server is started with --demo
    done = run_to_exit(env, "--demo")

    # then it exits with the reason, nothing printed of a password, no database made
    assert done.returncode == 1, done.stderr
    assert "--demo makes up logins" in done.stderr
    assert "Demo logins" not in done.stdout
    assert not (tmp_path / "credits.sqlite3").exists()
