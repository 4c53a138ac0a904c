"""Prebuilt Core statements run on the transaction's DB-API cursor: the feed's hot path without per-call
SQLAlchemy execution overhead (about two thirds of the time of a small statement).

The SQL is compiled once per dialect (and column set, for inserts) by SQLAlchemy, and parameters and results
go through the same type processors SQLAlchemy would use (UUIDs, UTC datetimes, enums), so the rows written
and read are exactly those of a normal `connection.execute`. Statements with expanding IN lists are not
supported (they never reach here).
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterable
from typing import Any

import orjson
from sqlalchemy import Connection, String, any_, bindparam, func, literal_column, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql import ClauseElement, ColumnElement


def one_of(column: ColumnElement, name: str, dialect: str) -> ColumnElement:
    """`column IN (the list bound as `name`)` in a statement that stays the same whatever the list's length
    (so it is compiled and prepared once): `= ANY(array)` on PostgreSQL, `IN (SELECT value FROM json_each(?))`
    on SQLite. Bind the list with `list_param`."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(column.type)))
    return column.in_(select(literal_column("value")).select_from(func.json_each(bindparam(name, type_=String()))))


def list_param(values: Iterable[Any], dialect: str) -> Any:
    """The value to bind for a `one_of` list."""
    return list(values) if dialect == "postgresql" else orjson.dumps(list(values)).decode()


class _Plan:
    __slots__ = ("compiled", "positions", "processors", "results", "row", "sql")

    def __init__(self, stmt: ClauseElement, conn: Connection, keys: tuple[str, ...] | None) -> None:
        dialect = conn.dialect
        self.compiled = stmt.compile(dialect=dialect, column_keys=list(keys) if keys is not None else None)
        self.sql = self.compiled.string
        self.positions = self.compiled.positiontup if self.compiled.positional else None
        self.processors = self.compiled._bind_processors
        columns = self.compiled._result_columns
        self.results = [c[3]._cached_result_processor(dialect, None) for c in columns]
        self.row = namedtuple("Row", [c[0] for c in columns], rename=True) if columns else None

    def params(self, values: dict[str, Any]) -> Any:
        bound = self.compiled.construct_params(values)  # a missing value raises: no silent NULLs
        for name, process in self.processors.items():
            if name in bound:
                bound[name] = process(bound[name])
        return tuple(bound[n] for n in self.positions) if self.positions is not None else bound

    def rows(self, cursor: Any) -> list[Any]:
        procs = self.results
        return [self.row(*[p(v) if p else v for p, v in zip(procs, raw, strict=True)]) for raw in cursor.fetchall()]


class Prepared:
    """A statement executed through the cursor; `keyed=True` for inserts whose column set comes from params."""

    def __init__(self, stmt: ClauseElement, *, keyed: bool = False, plan_each_time: bool = False) -> None:
        """`plan_each_time`: never a server-side prepared statement, so PostgreSQL plans every execution for
        its actual parameters (for list parameters, whose best plan depends on the list's length: a
        prepared statement's generic plan can fall back to a sequential scan)."""
        self.stmt, self.keyed = stmt, keyed
        self.prepare: bool | None = False if plan_each_time else None
        self._plans: dict[tuple, _Plan] = {}

    def _plan(self, conn: Connection, values: dict[str, Any]) -> _Plan:
        keys = tuple(values) if self.keyed else None
        plan = self._plans.get((conn.dialect.name, keys))
        if plan is None:
            plan = self._plans[(conn.dialect.name, keys)] = _Plan(self.stmt, conn, keys)
        return plan

    def execute(self, conn: Connection, values: dict[str, Any]) -> list[Any]:
        """Run once; returns the rows (empty for statements without results)."""
        plan = self._plan(conn, values)
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            if self.prepare is None or conn.dialect.name != "postgresql":
                cursor.execute(plan.sql, plan.params(values))
            else:
                cursor.execute(plan.sql, plan.params(values), prepare=self.prepare)
            return plan.rows(cursor) if plan.row is not None else []
        finally:
            cursor.close()

    def first(self, conn: Connection, values: dict[str, Any]) -> Any:
        rows = self.execute(conn, values)
        return rows[0] if rows else None

    def many(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        """executemany (statements without results)."""
        if not rows:
            return
        plan = self._plan(conn, rows[0])
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            cursor.executemany(plan.sql, [plan.params(r) for r in rows])
        finally:
            cursor.close()

    def many_returning(self, conn: Connection, rows: list[dict[str, Any]]) -> list[list[Any]]:
        """Run once per parameter set; what each returned, in order: one pipelined executemany on PostgreSQL
        (one round trip), a plain loop on SQLite (its driver cannot return rows from executemany)."""
        if not rows:
            return []
        plan = self._plan(conn, rows[0])
        cursor = conn.connection.dbapi_connection.cursor()
        out: list[list[Any]] = []
        try:
            if conn.dialect.name != "postgresql":
                for row in rows:
                    cursor.execute(plan.sql, plan.params(row))
                    out.append(plan.rows(cursor))
                return out
            cursor.executemany(plan.sql, [plan.params(r) for r in rows], returning=True)
            while True:
                out.append(plan.rows(cursor))
                if not cursor.nextset():
                    return out
        finally:
            cursor.close()
