"""Protocol API models: definitions as clients see them, runs with their current steps."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from careloop.protocols.models import ProtocolRunStatus
from careloop.staff.models import StaffRole
from careloop.tasks.models import TaskPriority, TaskStatus


class StepDefinition(BaseModel):
    key: str
    title: str
    description: str | None
    role: list[str]
    priority: TaskPriority
    due: str = Field(description="The due rule written out, e.g. '2 business days after trigger'")
    depends_on: list[str]
    complete_on: str | None
    when: dict[str, Any]


class ProtocolRead(BaseModel):
    key: str
    name: str
    version: str
    description: str | None
    triggers: list[str]
    cancel_on: list[str]
    steps: list[StepDefinition]


class StepTask(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    step_key: str | None
    title: str
    status: TaskStatus
    due_at: dt.datetime | None
    owner_id: uuid.UUID | None
    queue_role: StaffRole | None
    completed_at: dt.datetime | None


class PatientRef(BaseModel):
    id: uuid.UUID
    mrn: str
    name: str


class RunSummary(BaseModel):
    id: uuid.UUID
    protocol_key: str
    protocol_name: str
    protocol_version: str
    status: ProtocolRunStatus
    patient: PatientRef
    started_at: dt.datetime
    anchor_at: dt.datetime
    completed_at: dt.datetime | None
    current_steps: list[StepTask] = Field(description="Open step tasks, soonest due first")
    late_steps: int = Field(description="Open step tasks past their due time")


class RunPage(BaseModel):
    items: list[RunSummary]
    total: int


class StepState(BaseModel):
    key: str
    title: str
    state: str = Field(description="A task status, or 'waiting' (dependencies) or 'skipped' (condition false)")
    late: bool
    task: StepTask | None


class RunRead(BaseModel):
    id: uuid.UUID
    version: int
    protocol_key: str
    protocol_version: str
    status: ProtocolRunStatus
    patient: PatientRef
    started_at: dt.datetime
    anchor_at: dt.datetime
    completed_at: dt.datetime | None
    context: dict[str, Any]
    steps: list[StepState]


class ProtocolCountRead(BaseModel):
    key: str
    name: str
    active: int
    late: int


class CancelRun(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
