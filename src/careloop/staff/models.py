"""Staff: practitioners and user accounts of an organisation, each with one role."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from careloop.db import Base, IdMixin, VersionedMixin
from careloop.enums import enum_column


class StaffRole(enum.StrEnum):
    CARE_COORDINATOR = "care_coordinator"
    RN_CARE_MANAGER = "rn_care_manager"
    PRIMARY_CARE_PHYSICIAN = "primary_care_physician"
    SPECIALIST = "specialist"
    SOCIAL_WORKER = "social_worker"
    PHARMACIST = "pharmacist"
    COMMUNITY_HEALTH_WORKER = "community_health_worker"
    SCHEDULER = "scheduler"
    BILLING = "billing"
    SUPERVISOR = "supervisor"
    ADMINISTRATOR = "administrator"


class Staff(IdMixin, VersionedMixin, Base):
    """A person who works for the organisation; may sign in when a password is set."""

    __tablename__ = "staff"
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"), index=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # stored lower-case
    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[StaffRole] = mapped_column(enum_column(StaffRole))
    npi: Mapped[str | None] = mapped_column(String(10))
    is_active: Mapped[bool] = mapped_column(default=True)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    password_changed_at: Mapped[dt.datetime | None]
    mfa_secret_encrypted: Mapped[str | None] = mapped_column(String(400))
    mfa_enabled: Mapped[bool] = mapped_column(default=False)
    mfa_last_step: Mapped[int | None]
    break_glass_allowed: Mapped[bool] = mapped_column(default=True)
    supervisor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff.id"))
    backup_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff.id"))
    away: Mapped[bool] = mapped_column(default=False)

    @property
    def display_name(self) -> str:
        return f"{self.given_name} {self.family_name}"
