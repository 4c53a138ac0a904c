"""Typed keyset cursors: what the server wrote comes back typed; anything else is invalid_cursor."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from careloop.errors import BadRequest
from careloop.pagination import decode_typed_cursor, encode_cursor

KINDS = [str, int, dt.date, dt.datetime, uuid.UUID]


@given(name=st.text(max_size=40), rank=st.integers(min_value=-10**9, max_value=10**9), day=st.dates(),
       moment=st.datetimes(timezones=st.just(dt.UTC)), ident=st.uuids())
def test_round_trip(name, rank, day, moment, ident):
    values = [name, rank, day, moment, ident]
    assert decode_typed_cursor(encode_cursor(values), KINDS) == values


@pytest.mark.parametrize("values", [
    [1, 1, "2026-11-25", "2026-11-25T10:00:00+00:00", str(uuid.UUID(int=1))],  # a number for text
    ["a", True, "2026-11-25", "2026-11-25T10:00:00+00:00", str(uuid.UUID(int=1))],  # a boolean for a number
    ["a", "1", "2026-11-25", "2026-11-25T10:00:00+00:00", str(uuid.UUID(int=1))],  # a string for a number
    ["a", 1, "25/11/2026", "2026-11-25T10:00:00+00:00", str(uuid.UUID(int=1))],  # not an ISO date
    ["a", 1, "2026-11-25", "2026-11-25T10:00:00", str(uuid.UUID(int=1))],  # a naive time
    ["a", 1, "2026-11-25", "2026-11-25T10:00:00+00:00", "not-a-uuid"],
    ["a", 1, "2026-11-25", "2026-11-25T10:00:00+00:00", None],  # null where the order needs a value
    ["a", 1, "2026-11-25", {"x": 1}, str(uuid.UUID(int=1))],  # an object
])
def test_wrong_types_are_invalid_cursors(values):
    with pytest.raises(BadRequest) as caught:
        decode_typed_cursor(encode_cursor(values), KINDS)
    assert caught.value.code == "invalid_cursor"


@pytest.mark.parametrize("cursor", ["", "%%%", "bm90IGpzb24", "WyJhIl0", None],
                         ids=["empty", "garbled", "json", "unsealed", "short"])
def test_garbled_or_short_cursors_are_invalid(cursor):
    with pytest.raises(BadRequest):
        decode_typed_cursor(cursor if cursor is not None else encode_cursor(["only one"]), KINDS)
