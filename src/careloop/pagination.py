"""Opaque keyset cursors: the last row's sort values, sealed (AES-GCM); stable order ends with the id."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import ColumnElement, and_, or_

from careloop.auth import secrets_box
from careloop.errors import BadRequest

CURSOR_PURPOSE = "page-cursor"


def encode_cursor(values: list[Any]) -> str:
    """Seal the sort values of the last row of a page: cursors travel in URLs and the values can be
    identifiers (a name key, a birth date), so they are encrypted, not merely encoded."""
    def plain(v: Any) -> Any:
        return str(v) if isinstance(v, uuid.UUID | dt.date | dt.datetime) else v
    return secrets_box.seal(orjson.dumps([plain(v) for v in values]), CURSOR_PURPOSE)


def decode_cursor(cursor: str, size: int) -> list[Any]:
    """Open a cursor made by encode_cursor; BadRequest when it is not one (garbled, forged or altered)."""
    try:
        values = orjson.loads(secrets_box.unseal(cursor, CURSOR_PURPOSE))
    except (orjson.JSONDecodeError, ValueError) as err:
        raise BadRequest("Invalid cursor", code="invalid_cursor") from err
    if not isinstance(values, list) or len(values) != size:
        raise BadRequest("Invalid cursor", code="invalid_cursor")
    return values


def decode_typed_cursor(cursor: str, kinds: Sequence[type]) -> list[Any]:
    """Decode a cursor whose values must be of the given types (str, int, UUID, date, aware datetime).

    A well-formed cursor with a value of another type (a number for a name, a naive time) is as invalid as a
    garbled one: 400, never a database error.
    """
    values = decode_cursor(cursor, len(kinds))
    return [_coerce(value, kind) for value, kind in zip(values, kinds, strict=True)]


def _coerce(value: Any, kind: type) -> Any:
    try:
        if kind is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            if kind is str:
                return value
            if kind is uuid.UUID:
                return uuid.UUID(value)
            if kind is dt.datetime:
                parsed = dt.datetime.fromisoformat(value)
                if parsed.tzinfo is not None:
                    return parsed
            elif kind is dt.date:
                return dt.date.fromisoformat(value)
    except ValueError:
        pass
    raise BadRequest("Invalid cursor", code="invalid_cursor")


def after(columns: list[ColumnElement], values: list[Any], descending: bool) -> ColumnElement[bool]:
    """Row-value comparison "(c1, c2, ...) > (v1, v2, ...)" written portably (< when descending)."""
    clauses = []
    for i, column in enumerate(columns):
        equal_prefix = [columns[j] == values[j] for j in range(i)]
        step = column < values[i] if descending else column > values[i]
        clauses.append(and_(*equal_prefix, step))
    return or_(*clauses)
