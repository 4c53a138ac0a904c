"""Engine, declarative Base with a constraint naming convention, shared column types and session_scope()."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event, exc
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, declared_attr, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator, Uuid

from careloop import clock
from careloop.config import get_settings
from careloop.errors import Conflict, StaleVersion

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self) -> type:
        return dt.datetime

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use clock.now() or an aware datetime")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        return None if value is None else clock.ensure_utc(value)


class Base(DeclarativeBase):
    """Declarative base; every table gets the naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime, uuid.UUID: Uuid}


class IdMixin:
    """UUID primary key."""

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)


class TimestampMixin:
    """created_at / updated_at in UTC."""

    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[dt.datetime] = mapped_column(default=clock.now, onupdate=clock.now)


class VersionedMixin(TimestampMixin):
    """Optimistic locking: `version` is bumped on every UPDATE and checked by the ORM (ETag source)."""

    version: Mapped[int] = mapped_column(default=1)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        return {"version_id_col": cls.__table__.c.version}


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we issue BEGIN IMMEDIATE ourselves
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB page cache: indexes of a large registry stay hot
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    # Every transaction may write (audit), so take the write lock up front: no upgrade deadlocks.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine with CareLoop's durability settings for SQLite or PostgreSQL."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if url.startswith("postgresql://"):
        url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    return create_engine(url, pool_pre_ping=True, **kwargs)


@lru_cache
def get_engine() -> Engine:
    """The process-wide engine for CARELOOP_DATABASE_URL."""
    return make_engine(get_settings().database_url)


@lru_cache
def get_session_factory() -> sessionmaker[Session]:
    """Session factory bound to the process-wide engine."""
    return make_session_factory(get_engine())


def make_session_factory(bind: Engine | Any, **kwargs: Any) -> sessionmaker[Session]:
    """A session factory for an engine or connection (tests bind a connection with savepoints)."""
    return sessionmaker(bind=bind, expire_on_commit=False, **kwargs)


@contextmanager
def session_scope(factory: sessionmaker[Session] | None = None) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error; the edge calls this, never a service."""
    session = (factory or get_session_factory())()
    try:
        with translate_db_errors():
            yield session
            session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def translate_db_errors() -> Iterator[None]:
    """Turn database integrity and locking errors into CareLoop errors (no SQL text leaks)."""
    from sqlalchemy.orm.exc import StaleDataError

    try:
        yield
    except StaleDataError as err:
        raise StaleVersion() from err
    except exc.IntegrityError as err:
        raise Conflict("The change conflicts with existing data", code="integrity_conflict") from err


def check_durability(engine: Engine) -> list[str]:
    """Settings that could lose acknowledged commits on a crash (empty when all is well)."""
    problems = []
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            expected = {"journal_mode": "wal", "synchronous": 2, "foreign_keys": 1}
            for pragma, value in expected.items():
                actual = conn.exec_driver_sql(f"PRAGMA {pragma}").scalar()
                if actual != value:
                    problems.append(f"SQLite {pragma}={actual}, expected {value}")
        elif engine.dialect.name == "postgresql":
            for setting in ("fsync", "synchronous_commit", "full_page_writes"):
                actual = conn.exec_driver_sql(f"SHOW {setting}").scalar()
                if actual != "on":
                    problems.append(f"PostgreSQL {setting}={actual}, expected on")
    return problems
