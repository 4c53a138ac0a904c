"""Shared fixtures: every storage test runs on SQLite and, when reachable, on PostgreSQL.

Each test runs inside a transaction that is rolled back; services and the app commit to a savepoint.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

import pg
from careloop import clock
from careloop.db import make_engine, make_session_factory
from careloop.migrate import upgrade

_pg_reason: str | None = None
# FHIR $export files of the tests go to a throw-away directory (per test process), never into the checkout.
os.environ.setdefault("CARELOOP_EXPORT_DIR", tempfile.mkdtemp(prefix="careloop-exports-"))


def _postgres_engine() -> tuple[Engine, str] | None:
    """A fresh, migrated database per test worker, or None (with the reason kept) when unreachable."""
    global _pg_reason
    try:
        return pg.create("test")
    except pg.Unreachable as err:
        _pg_reason = str(err)
        return None


@pytest.fixture(scope="session")
def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def postgres_engine() -> Iterator[Engine | None]:
    created = _postgres_engine()
    if created is None:
        yield None
        return
    engine, name = created
    yield engine
    pg.drop(engine, name)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> Engine:
    """The database under test: each storage test runs once per backend."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_engine")
    pg = request.getfixturevalue("postgres_engine")
    if pg is None:
        pytest.skip(_pg_reason or "PostgreSQL unreachable")
    return pg


@pytest.fixture
def connection(engine: Engine) -> Iterator:
    conn = engine.connect()
    trans = conn.begin()
    yield conn
    trans.rollback()
    conn.close()


@pytest.fixture
def session_factory(connection):
    """Sessions that commit to a savepoint inside the test's transaction."""
    return make_session_factory(connection, join_transaction_mode="create_savepoint")


@pytest.fixture
def session(session_factory) -> Iterator[Session]:
    s = session_factory()
    yield s
    s.close()


@pytest.fixture(autouse=True)
def _real_time() -> Iterator[None]:
    clock.reset()
    yield
    clock.reset()


@pytest.fixture
def app(session_factory):
    from careloop.main import create_app

    return create_app(session_factory=session_factory)


@pytest.fixture
def client(app):
    from fastapi.testclient import TestClient

    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
