"""Care team membership with role and period; history is kept by closing periods, never deleting."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from careloop.db import Base, IdMixin, TimestampMixin
from careloop.enums import enum_column


class CareTeamRole(enum.StrEnum):
    PRIMARY_CARE_COORDINATOR = "primary_care_coordinator"
    PRIMARY_CARE_PHYSICIAN = "primary_care_physician"
    RN_CARE_MANAGER = "rn_care_manager"
    SPECIALIST = "specialist"
    SOCIAL_WORKER = "social_worker"
    PHARMACIST = "pharmacist"
    COMMUNITY_HEALTH_WORKER = "community_health_worker"
    OTHER = "other"


SINGLE_ACTIVE_ROLES = (CareTeamRole.PRIMARY_CARE_COORDINATOR, CareTeamRole.PRIMARY_CARE_PHYSICIAN)
_ACTIVE = text("ended_at IS NULL")


class CareTeamMember(IdMixin, TimestampMixin, Base):
    """A staff member on a patient's care team for a period; ended_at NULL means active."""

    __tablename__ = "care_team_member"
    __table_args__ = (
        # At most one active coordinator and one active PCP per patient, enforced by the database.
        Index("uq_care_team_member_active_coordinator", "patient_id", unique=True,
              sqlite_where=text("ended_at IS NULL AND role = 'primary_care_coordinator'"),
              postgresql_where=text("ended_at IS NULL AND role = 'primary_care_coordinator'")),
        Index("uq_care_team_member_active_pcp", "patient_id", unique=True,
              sqlite_where=text("ended_at IS NULL AND role = 'primary_care_physician'"),
              postgresql_where=text("ended_at IS NULL AND role = 'primary_care_physician'")),
        Index("ix_care_team_member_staff_active", "staff_id", "patient_id",
              sqlite_where=_ACTIVE, postgresql_where=_ACTIVE),
        Index("ix_care_team_member_patient", "patient_id", "ended_at"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"), index=True)
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patient.id"))
    staff_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff.id"))
    role: Mapped[CareTeamRole] = mapped_column(enum_column(CareTeamRole))
    started_at: Mapped[dt.datetime]
    ended_at: Mapped[dt.datetime | None]
    note: Mapped[str | None] = mapped_column(String(500))
