"""Column type for string enums stored as lower_snake values (portable, no native ENUM types)."""

from __future__ import annotations

import enum

from sqlalchemy import Enum


def enum_column(enum_cls: type[enum.Enum], name: str | None = None) -> Enum:
    """A VARCHAR column holding the enum's values, checked by a named CHECK constraint (`name` when a table
    has two columns of the same enum)."""
    return Enum(
        enum_cls,
        native_enum=False,
        create_constraint=True,
        length=max(len(m.value) for m in enum_cls) + 8,
        values_callable=lambda cls: [m.value for m in cls],
        name=name or enum_cls.__name__.lower(),
        validate_strings=True,
    )
