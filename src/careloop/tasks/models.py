"""Tasks: the unit of coordination work, following the FHIR Task life cycle."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from careloop.db import Base, IdMixin, TimestampMixin, VersionedMixin
from careloop.enums import enum_column
from careloop.staff.models import StaffRole


class TaskStatus(enum.StrEnum):
    REQUESTED = "requested"
    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"
    ON_HOLD = "on_hold"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"


OPEN_STATUSES = (TaskStatus.REQUESTED, TaskStatus.ACCEPTED, TaskStatus.IN_PROGRESS, TaskStatus.ON_HOLD)


class TaskPriority(enum.StrEnum):
    ROUTINE = "routine"
    URGENT = "urgent"
    ASAP = "asap"
    STAT = "stat"


PRIORITY_RANK = {TaskPriority.ROUTINE: 1, TaskPriority.URGENT: 2, TaskPriority.ASAP: 3, TaskPriority.STAT: 4}


class TaskFocus(enum.StrEnum):
    CARE_PLAN_ACTIVITY = "care_plan_activity"
    CARE_PLAN_REVIEW = "care_plan_review"
    PROTOCOL_STEP = "protocol_step"
    REFERRAL = "referral"
    TRANSITION = "transition"
    RESULT = "result"
    GAP = "gap"
    MESSAGE = "message"
    OTHER = "other"


_OPEN = text("status IN ('requested', 'accepted', 'in_progress', 'on_hold')")


class Task(IdMixin, VersionedMixin, Base):
    """Work for a person (owner) or a role queue, about one patient, due at a time."""

    __tablename__ = "task"
    __table_args__ = (
        Index("ix_task_owner_open", "owner_id", "due_at", sqlite_where=_OPEN, postgresql_where=_OPEN),
        Index("ix_task_queue_open", "organization_id", "queue_role", "due_at",
              sqlite_where=_OPEN, postgresql_where=_OPEN),
        Index("ix_task_patient_status", "patient_id", "status"),
        Index("ix_task_protocol_run", "protocol_run_id", "step_key"),
        Index("ix_task_focus", "focus_type", "focus_id"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patient.id"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    focus_type: Mapped[TaskFocus] = mapped_column(enum_column(TaskFocus), default=TaskFocus.OTHER)
    focus_id: Mapped[uuid.UUID | None]
    owner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff.id"))
    queue_role: Mapped[StaffRole | None] = mapped_column(enum_column(StaffRole))
    priority: Mapped[TaskPriority] = mapped_column(enum_column(TaskPriority), default=TaskPriority.ROUTINE)
    priority_rank: Mapped[int] = mapped_column(default=1)
    status: Mapped[TaskStatus] = mapped_column(enum_column(TaskStatus), default=TaskStatus.REQUESTED)
    due_at: Mapped[dt.datetime | None]
    completed_at: Mapped[dt.datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(500))
    status_reason: Mapped[str | None] = mapped_column(String(300))
    time_spent_minutes: Mapped[int] = mapped_column(default=0)
    escalation_level: Mapped[int] = mapped_column(default=0)
    escalated_at: Mapped[dt.datetime | None]
    protocol_run_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("protocol_run.id"))
    step_key: Mapped[str | None] = mapped_column(String(60))
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff.id"))


class TaskComment(IdMixin, TimestampMixin, Base):
    """A note on a task."""

    __tablename__ = "task_comment"

    task_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("task.id"), index=True)
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff.id"))
    body: Mapped[str] = mapped_column(Text)


class TaskTimeEntry(IdMixin, TimestampMixin, Base):
    """Minutes of work on a task by a staff member on a date (care-management billing counts these)."""

    __tablename__ = "task_time_entry"
    __table_args__ = (Index("ix_task_time_entry_staff_date", "staff_id", "service_date"),)

    task_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("task.id"), index=True)
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patient.id"), index=True)
    staff_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff.id"))
    minutes: Mapped[int]
    service_date: Mapped[dt.date]
    note: Mapped[str | None] = mapped_column(String(500))


class Notification(IdMixin, TimestampMixin, Base):
    """An in-app notification for one staff member (escalations, admissions, ...)."""

    __tablename__ = "notification"
    __table_args__ = (Index("ix_notification_recipient_unread", "recipient_id", "read_at", "created_at"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"))
    recipient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff.id"))
    patient_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("patient.id"))
    kind: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(String(300))
    link: Mapped[str | None] = mapped_column(String(300))
    read_at: Mapped[dt.datetime | None]
    dedupe_key: Mapped[str | None] = mapped_column(String(120), unique=True)
