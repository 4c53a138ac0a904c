"""Result tracking payloads."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from careloop.results.models import OrderKind, ResultFlag, ResultStatus

Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OrderCreate(_In):
    kind: OrderKind = OrderKind.LAB
    code: Code
    code_system: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] = "http://loinc.org"
    display: Name
    placer_number: Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=64)] = None


class ValueIn(_In):
    code: Code
    display: Name
    value: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    unit: Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=30)] = None
    reference_range: Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=60)] = None
    interpretation: Annotated[str | None, StringConstraints(strip_whitespace=True,
                                                           pattern=r"^(?i:N|A|AA|H|HH|L|LL)$")] = None
    observed_at: dt.datetime | None = None


class ResultIn(_In):
    values: list[ValueIn] = Field(min_length=1, max_length=200)


class OrderMove(_In):
    status: ResultStatus
    note: Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=300)] = None
    communication_method: Annotated[str | None, StringConstraints(
        strip_whitespace=True, pattern=r"^(phone|portal|letter|in_person)$")] = None


class ValueRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    display: str
    value: str
    unit: str | None
    reference_range: str | None
    interpretation: str | None
    observed_at: dt.datetime


class OrderRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    patient_id: uuid.UUID
    ordered_by_id: uuid.UUID
    placer_number: str
    kind: OrderKind
    code: str
    display: str
    status: ResultStatus
    ordered_at: dt.datetime
    expected_by: dt.datetime
    flag: ResultFlag | None
    resulted_at: dt.datetime | None
    reviewed_at: dt.datetime | None
    communicated_at: dt.datetime | None
    communication_method: str | None
    version: int
    values: list[ValueRead] = Field(default_factory=list)
