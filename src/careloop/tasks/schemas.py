"""Pydantic shapes of the task and worklist API (never the ORM classes)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from careloop.staff.models import StaffRole
from careloop.tasks.models import TaskFocus, TaskPriority, TaskStatus

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)]
Outcome = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
MAX_MINUTES = 600
MAX_BULK = 500


class TaskCreate(BaseModel):
    """A task for one patient, owned by a person or waiting in a role's queue."""

    model_config = ConfigDict(extra="forbid")

    patient_id: uuid.UUID
    title: Title
    description: LongText | None = None
    focus_type: TaskFocus = TaskFocus.OTHER
    focus_id: uuid.UUID | None = None
    owner_id: uuid.UUID | None = None
    queue_role: StaffRole | None = None
    priority: TaskPriority = TaskPriority.ROUTINE
    due_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _owner_or_queue(self) -> TaskCreate:
        if self.owner_id is None and self.queue_role is None:
            raise ValueError("give owner_id or queue_role")
        return self


class TaskUpdate(BaseModel):
    """Every field optional; only the fields sent are changed (null clears description and due_at)."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    description: LongText | None = None
    priority: TaskPriority | None = None
    due_at: AwareDatetime | None = None
    owner_id: uuid.UUID | None = None
    queue_role: StaffRole | None = None


class TaskTransition(BaseModel):
    """Move a task to another status; on hold, cancelled and failed need a reason."""

    model_config = ConfigDict(extra="forbid")

    status: TaskStatus
    outcome: Outcome | None = None
    reason: Reason | None = None


class CommentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


class TimeEntryCreate(BaseModel):
    """Minutes worked on a date (the organisation's today when left out; never in the future)."""

    model_config = ConfigDict(extra="forbid")

    minutes: int = Field(ge=1, le=MAX_MINUTES)
    service_date: dt.date | None = None
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None


class Ref(BaseModel):
    id: uuid.UUID
    name: str


class TaskRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    patient_id: uuid.UUID
    title: str
    description: str | None
    focus_type: TaskFocus
    focus_id: uuid.UUID | None
    owner_id: uuid.UUID | None
    queue_role: StaffRole | None
    priority: TaskPriority
    status: TaskStatus
    due_at: dt.datetime | None
    completed_at: dt.datetime | None
    outcome: str | None
    status_reason: str | None
    time_spent_minutes: int
    escalation_level: int
    escalated_at: dt.datetime | None
    protocol_run_id: uuid.UUID | None
    step_key: str | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class CommentRead(BaseModel):
    id: uuid.UUID
    task_id: uuid.UUID
    author: Ref | None
    body: str
    created_at: dt.datetime


class TimeEntryRead(BaseModel):
    id: uuid.UUID
    task_id: uuid.UUID
    staff: Ref
    minutes: int
    service_date: dt.date
    note: str | None
    created_at: dt.datetime


class PatientBrief(BaseModel):
    id: uuid.UUID
    name: str
    mrn: str
    risk_tier: str | None


class WorklistItem(BaseModel):
    task: TaskRead
    patient: PatientBrief
    owner: Ref | None
    bucket: str


class BucketCounts(BaseModel):
    overdue: int = 0
    today: int = 0
    upcoming: int = 0
    no_due: int = 0
    total: int = 0


class WorklistPage(BaseModel):
    items: list[WorklistItem]
    counts: BucketCounts
    next_cursor: str | None


class ReassignRequest(BaseModel):
    """Move tasks to one owner: all of them or, on any problem, none."""

    model_config = ConfigDict(extra="forbid")

    task_ids: list[uuid.UUID] = Field(min_length=1, max_length=MAX_BULK)
    owner_id: uuid.UUID


class ReassignResult(BaseModel):
    reassigned: int
    owner_id: uuid.UUID


class AwayRequest(BaseModel):
    """Mark a staff member away (their open tasks go to the backup) or back."""

    model_config = ConfigDict(extra="forbid")

    away: bool
    backup_id: uuid.UUID | None = None


class AwayResult(BaseModel):
    staff_id: uuid.UUID
    away: bool
    backup_id: uuid.UUID | None
    moved: int


class Workload(BaseModel):
    staff: Ref
    role: StaffRole
    away: bool
    backup_id: uuid.UUID | None
    open: int
    overdue: int
    due_today: int
    completed_this_week: int
