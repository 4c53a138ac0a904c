"""Scratch PostgreSQL databases for tests: unique per run and worker, dropped when done.

Names carry the process id so concurrent test runs on one server never drop each other's databases.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from careloop.db import make_engine
from careloop.migrate import upgrade

PG_URL = os.environ.get("CARELOOP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


class Unreachable(Exception):
    """PostgreSQL could not be reached; the message says why (without credentials)."""


def database_name(prefix: str) -> str:
    return f"careloop_{prefix}_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"


def create(prefix: str, *, migrate: bool = True) -> tuple[Engine, str]:
    """Create and (by default) migrate a new database; raises Unreachable when the server is not there."""
    name = database_name(prefix)
    admin = make_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as err:  # any connection failure means "not reachable"
        where = make_url(PG_URL).render_as_string()
        raise Unreachable(f"PostgreSQL unreachable at {where}: {type(err).__name__}") from err
    finally:
        admin.dispose()
    engine = make_engine(make_url(PG_URL).set(database=name).render_as_string(hide_password=False))
    if migrate:
        upgrade(engine)
    return engine, name


def drop(engine: Engine, name: str) -> None:
    engine.dispose()
    admin = make_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@contextmanager
def scratch(prefix: str) -> Iterator[Engine]:
    engine, name = create(prefix)
    try:
        yield engine
    finally:
        drop(engine, name)
