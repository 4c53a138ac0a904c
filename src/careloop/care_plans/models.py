"""Care plans: problems addressed, measurable goals, activities, education; each revision is a record."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import Float, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from careloop.db import Base, IdMixin, TimestampMixin, VersionedMixin
from careloop.enums import enum_column
from careloop.staff.models import StaffRole


class CarePlanStatus(enum.StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    REVISED = "revised"      # superseded by a newer revision
    COMPLETED = "completed"
    REVOKED = "revoked"


class GoalStatus(enum.StrEnum):
    PROPOSED = "proposed"
    ACTIVE = "active"
    ACHIEVED = "achieved"
    NOT_ACHIEVED = "not_achieved"
    CANCELLED = "cancelled"


class GoalComparator(enum.StrEnum):
    LT = "lt"
    LE = "le"
    GT = "gt"
    GE = "ge"
    EQ = "eq"


class ActivityStatus(enum.StrEnum):
    NOT_STARTED = "not_started"
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    ON_HOLD = "on_hold"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


_ACTIVE_PLAN = text("status = 'active'")


class CarePlan(IdMixin, VersionedMixin, Base):
    """One revision of a patient's care plan; at most one active revision per patient."""

    __tablename__ = "care_plan"
    __table_args__ = (
        Index("uq_care_plan_one_active", "patient_id", unique=True,
              sqlite_where=_ACTIVE_PLAN, postgresql_where=_ACTIVE_PLAN),
        Index("ix_care_plan_patient", "patient_id", "revision"),
        Index("ix_care_plan_review", "organization_id", "status", "review_date"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patient.id"))
    revision: Mapped[int] = mapped_column(default=1)
    supersedes_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("care_plan.id"))
    status: Mapped[CarePlanStatus] = mapped_column(enum_column(CarePlanStatus), default=CarePlanStatus.DRAFT)
    title: Mapped[str] = mapped_column(String(200))
    patient_goals: Mapped[str | None] = mapped_column(Text)
    patient_preferences: Mapped[str | None] = mapped_column(Text)
    instructions: Mapped[str | None] = mapped_column(Text)
    review_date: Mapped[dt.date | None]
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff.id"))
    signed_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff.id"))
    signed_at: Mapped[dt.datetime | None]
    ended_at: Mapped[dt.datetime | None]
    status_reason: Mapped[str | None] = mapped_column(String(300))


class CarePlanProblem(IdMixin, Base):
    """A condition the plan addresses."""

    __tablename__ = "care_plan_problem"

    care_plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("care_plan.id"), index=True)
    condition_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("condition.id"))


class Goal(IdMixin, VersionedMixin, Base):
    """A measurable goal: e.g. A1c (LOINC 4548-4) lt 8 % by a date, or a free-text goal."""

    __tablename__ = "goal"

    care_plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("care_plan.id"), index=True)
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patient.id"), index=True)
    description: Mapped[str] = mapped_column(String(300))
    measure_code: Mapped[str | None] = mapped_column(String(20))       # LOINC code of the measured value
    measure_system: Mapped[str | None] = mapped_column(String(100))
    comparator: Mapped[GoalComparator | None] = mapped_column(enum_column(GoalComparator))
    target_value: Mapped[float | None] = mapped_column(Float)
    target_unit: Mapped[str | None] = mapped_column(String(30))
    due_date: Mapped[dt.date | None]
    status: Mapped[GoalStatus] = mapped_column(enum_column(GoalStatus), default=GoalStatus.PROPOSED)
    achieved_at: Mapped[dt.datetime | None]
    patient_owned: Mapped[bool] = mapped_column(default=False)


class GoalNote(IdMixin, TimestampMixin, Base):
    """A progress note on a goal, with the measured value when there is one."""

    __tablename__ = "goal_note"

    goal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("goal.id"), index=True)
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff.id"))
    body: Mapped[str] = mapped_column(Text)
    measured_value: Mapped[float | None] = mapped_column(Float)
    observation_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("observation.id"))


class Activity(IdMixin, VersionedMixin, Base):
    """An intervention: what, who (role or person), how often, status."""

    __tablename__ = "care_plan_activity"

    care_plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("care_plan.id"), index=True)
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patient.id"), index=True)
    goal_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("goal.id"))
    description: Mapped[str] = mapped_column(String(300))
    assigned_role: Mapped[StaffRole | None] = mapped_column(enum_column(StaffRole))
    assigned_staff_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff.id"))
    frequency_days: Mapped[int | None]                                  # every N days; None = once
    next_due_date: Mapped[dt.date | None]
    status: Mapped[ActivityStatus] = mapped_column(enum_column(ActivityStatus), default=ActivityStatus.NOT_STARTED)
    completed_on_time: Mapped[int] = mapped_column(default=0)
    completed_late: Mapped[int] = mapped_column(default=0)


class EducationItem(IdMixin, TimestampMixin, Base):
    """Patient-facing instructions or education attached to a plan."""

    __tablename__ = "care_plan_education"

    care_plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("care_plan.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(35), default="en")
