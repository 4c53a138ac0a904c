"""Care plan API models: XCreate / XUpdate (all optional) / XRead, never the ORM classes."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from careloop.care_plans.models import ActivityStatus, CarePlanStatus, GoalComparator, GoalStatus
from careloop.clinical.models import LOINC
from careloop.staff.models import StaffRole

Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000)]
Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CarePlanCreate(_In):
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] = "Care plan"
    patient_goals: Text | None = None
    patient_preferences: Text | None = None
    instructions: Text | None = None
    review_date: dt.date | None = None


class CarePlanUpdate(_In):
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] | None = None
    patient_goals: Text | None = None
    patient_preferences: Text | None = None
    instructions: Text | None = None
    review_date: dt.date | None = None


class Reason(_In):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)] = ""


class ProblemCreate(_In):
    condition_id: uuid.UUID


class GoalCreate(_In):
    description: Short
    measure_code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)] | None = None
    measure_system: Annotated[str, StringConstraints(max_length=100)] = LOINC
    comparator: GoalComparator | None = None
    target_value: float | None = None
    target_unit: Annotated[str, StringConstraints(max_length=30)] | None = None
    due_date: dt.date | None = None
    patient_owned: bool = False

    @model_validator(mode="after")
    def _whole_target(self) -> GoalCreate:
        parts = (self.measure_code, self.comparator, self.target_value)
        if any(p is not None for p in parts) and not all(p is not None for p in parts):
            raise ValueError("a measurable target needs measure_code, comparator and target_value together")
        return self


class GoalUpdate(_In):
    description: Short | None = None
    measure_code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)] | None = None
    measure_system: Annotated[str, StringConstraints(max_length=100)] | None = None
    comparator: GoalComparator | None = None
    target_value: float | None = None
    target_unit: Annotated[str, StringConstraints(max_length=30)] | None = None
    due_date: dt.date | None = None
    patient_owned: bool | None = None


class GoalStatusChange(_In):
    status: GoalStatus
    note: Text | None = None


class GoalNoteCreate(_In):
    body: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
    measured_value: float | None = None


class ActivityCreate(_In):
    description: Short
    goal_id: uuid.UUID | None = None
    assigned_role: StaffRole | None = None
    assigned_staff_id: uuid.UUID | None = None
    frequency_days: int | None = Field(default=None, ge=1, le=366)
    next_due_date: dt.date | None = None


class ActivityUpdate(_In):
    description: Short | None = None
    goal_id: uuid.UUID | None = None
    assigned_role: StaffRole | None = None
    assigned_staff_id: uuid.UUID | None = None
    frequency_days: int | None = Field(default=None, ge=1, le=366)
    next_due_date: dt.date | None = None
    status: ActivityStatus | None = None


class EducationCreate(_In):
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    body: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=8000)]
    language: Annotated[str, StringConstraints(max_length=35)] = "en"


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ProblemRead(_Out):
    id: uuid.UUID
    condition_id: uuid.UUID
    code: str
    display: str
    chronic: bool


class GoalNoteRead(_Out):
    id: uuid.UUID
    body: str
    measured_value: float | None
    author_id: uuid.UUID | None
    created_at: dt.datetime


class GoalRead(_Out):
    id: uuid.UUID
    version: int
    description: str
    measure_code: str | None
    measure_system: str | None
    comparator: GoalComparator | None
    target_value: float | None
    target_unit: str | None
    target: str = Field(description="The target written for people, e.g. '< 8 %'")
    due_date: dt.date | None
    status: GoalStatus
    achieved_at: dt.datetime | None
    patient_owned: bool
    latest_value: float | None = Field(description="Latest measured value (observation, or the encounter rule)")
    latest_at: dt.datetime | None
    target_met: bool | None = Field(description="Whether the latest value meets the target (None: no target/value)")
    notes: list[GoalNoteRead]


class ActivityRead(_Out):
    id: uuid.UUID
    version: int
    description: str
    goal_id: uuid.UUID | None
    assigned_role: StaffRole | None
    assigned_staff_id: uuid.UUID | None
    frequency_days: int | None
    next_due_date: dt.date | None
    status: ActivityStatus
    completed_on_time: int
    completed_late: int
    open_task_id: uuid.UUID | None


class EducationRead(_Out):
    id: uuid.UUID
    title: str
    body: str
    language: str


class AdherenceRead(BaseModel):
    on_time: int
    late: int
    overdue: int
    on_time_rate: float | None = Field(description="on_time / (on_time + late + overdue)")
    goals_met: int
    goals_total: int
    goals_met_rate: float | None
    patients: int


class CarePlanSummary(_Out):
    id: uuid.UUID
    version: int
    revision: int
    supersedes_id: uuid.UUID | None
    status: CarePlanStatus
    title: str
    review_date: dt.date | None
    signed_by_id: uuid.UUID | None
    signed_at: dt.datetime | None
    ended_at: dt.datetime | None
    status_reason: str | None
    created_at: dt.datetime


class CarePlanRead(CarePlanSummary):
    patient_id: uuid.UUID
    patient_goals: str | None
    patient_preferences: str | None
    instructions: str | None
    author_id: uuid.UUID | None
    problems: list[ProblemRead]
    goals: list[GoalRead]
    activities: list[ActivityRead]
    education: list[EducationRead]
    adherence: AdherenceRead
