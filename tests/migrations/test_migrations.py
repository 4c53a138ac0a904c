"""Migrations: one head; upgrade from empty works on SQLite and PostgreSQL; the models match the schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

import pg
from careloop import models  # noqa: F401  (every mapper registered on Base.metadata)
from careloop.db import Base, make_engine
from careloop.migrate import alembic_config, current_revision, upgrade


def test_there_is_exactly_one_head():
    assert len(ScriptDirectory.from_config(alembic_config()).get_heads()) == 1


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_engine(request, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'migrate.db'}")
        yield engine
        engine.dispose()
        return
    try:
        engine, name = pg.create("migrations", migrate=False)
    except pg.Unreachable as err:
        pytest.skip(str(err))
    yield engine
    pg.drop(engine, name)


def test_upgrade_from_empty_reaches_head_and_is_idempotent(empty_engine):
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    upgrade(empty_engine)
    assert current_revision(empty_engine) == head
    upgrade(empty_engine)  # nothing to do the second time
    assert current_revision(empty_engine) == head
    assert set(Base.metadata.tables) <= set(inspect(empty_engine).get_table_names())


def test_models_and_migrations_agree(empty_engine):
    """What autogenerate would write after the last migration: nothing (no drift between code and schema)."""
    upgrade(empty_engine)
    with empty_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": False})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []
