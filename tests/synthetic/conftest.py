"""Fresh databases for loader tests (the loader commits, so it cannot use the rolled-back fixtures)."""

from __future__ import annotations

import datetime as dt
import os

import pytest

import pg
from careloop.db import make_engine
from careloop.migrate import upgrade

ANCHOR = dt.date(2026, 11, 25)
PG_URL = os.environ.get("CARELOOP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture
def fresh_engine(request, tmp_path):
    """A migrated, empty database: SQLite file, or a new PostgreSQL database (skipped when unreachable)."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'load.db'}")
        upgrade(engine)
        yield engine
        engine.dispose()
        return
    try:
        engine, name = pg.create("synthetic")
    except pg.Unreachable as err:
        pytest.skip(str(err))
    yield engine
    pg.drop(engine, name)


def pytest_generate_tests(metafunc):
    if "fresh_engine" in metafunc.fixturenames:
        metafunc.parametrize("fresh_engine", ["sqlite", "postgresql"], indirect=True)
