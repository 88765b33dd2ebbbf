"""Migrations: the committed ones match the models, and they build a working database."""

from __future__ import annotations

from tortoise import Tortoise
from tortoise.migrations.autodetector import MigrationAutodetector

from infra.db import APP, migrate, tortoise_config
from models.ledger import CreditTransaction
from settings import Settings


async def test_committed_migrations_match_the_models(settings: Settings) -> None:
    # given: the models as the code defines them and the migrations under models/migrations
    apps_config = {APP: tortoise_config(settings)["apps"][APP]}

    # when: the autodetector compares them (what `tortoise makemigrations` would write)
    changes = await MigrationAutodetector(Tortoise.apps, apps_config).changes()

    # then: nothing is pending
    assert [str(w.name) for w in changes] == []


async def test_migrating_again_is_a_no_op(settings: Settings) -> None:
    # given: a database the session fixture migrated
    # when: the migrations run once more (a second server process starting)
    await migrate(settings)

    # then: the schema still serves queries
    assert await CreditTransaction.all().count() == 0


def test_no_model_comment_contains_a_semicolon() -> None:
    # given: Tortoise's SQLite schema editor splits statements on ";" even inside comments
    # when: every table and column description is collected
    descriptions = [
        (model.__name__, text)
        for model in Tortoise.apps[APP].values()
        for text in [model._meta.table_description or ""]
        + [f.description or "" for f in model._meta.fields_map.values()]
    ]

    # then: none would cut a CREATE TABLE in two on a fresh SQLite database
    assert [(name, text) for name, text in descriptions if ";" in text] == []
