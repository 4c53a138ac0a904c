"""Patient registry: organisation-scoped patients and the trace of merges."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from careloop.clinical.models import source_index
from careloop.db import Base, IdMixin, TimestampMixin, VersionedMixin
from careloop.enums import enum_column

_KEY = String(210).with_variant(String(210, collation="C"), "postgresql")


class AdministrativeSex(enum.StrEnum):
    FEMALE = "female"
    MALE = "male"
    OTHER = "other"
    UNKNOWN = "unknown"


class PatientStatus(enum.StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    DECEASED = "deceased"


class Patient(IdMixin, VersionedMixin, Base):
    """A person whose care the organisation coordinates."""

    __tablename__ = "patient"
    __table_args__ = (
        UniqueConstraint("organization_id", "mrn_authority", "mrn"),
        Index("ix_patient_org_name", "organization_id", "name_key", "birth_date", "id"),
        Index("ix_patient_org_alt_name", "organization_id", "alt_name_key"),
        Index("ix_patient_org_birth_date", "organization_id", "birth_date"),
        Index("ix_patient_org_dedupe", "organization_id", "dedupe_key"),
        source_index("patient"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"))
    mrn: Mapped[str] = mapped_column(String(64))
    mrn_authority: Mapped[str] = mapped_column(String(200))
    given_name: Mapped[str] = mapped_column(String(100))
    middle_name: Mapped[str | None] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    # Normalised "family given" and "given family" (accents stripped, case folded): prefix search
    # by index range scans and sorting; byte-order collation on PostgreSQL so ranges match prefixes.
    name_key: Mapped[str] = mapped_column(_KEY)
    alt_name_key: Mapped[str] = mapped_column(_KEY)
    # Normalised name plus birth date: duplicate detection.
    dedupe_key: Mapped[str] = mapped_column(String(230))
    birth_date: Mapped[dt.date]
    sex: Mapped[AdministrativeSex] = mapped_column(enum_column(AdministrativeSex))
    address_line: Mapped[str | None] = mapped_column(String(200))
    city: Mapped[str | None] = mapped_column(String(100))
    state: Mapped[str | None] = mapped_column(String(50))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    phone: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(254))
    preferred_language: Mapped[str] = mapped_column(String(35), default="en")
    interpreter_needed: Mapped[bool] = mapped_column(default=False)
    communication_preferences: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    caregiver_name: Mapped[str | None] = mapped_column(String(200))
    caregiver_relationship: Mapped[str | None] = mapped_column(String(50))
    caregiver_phone: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[PatientStatus] = mapped_column(enum_column(PatientStatus), default=PatientStatus.ACTIVE)
    deceased_date: Mapped[dt.date | None]
    risk_tier: Mapped[str | None] = mapped_column(String(20))
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("patient.id"))
    source_ref: Mapped[str | None] = mapped_column(String(100))  # the FHIR Patient id it was imported from


class PatientMerge(IdMixin, TimestampMixin, Base):
    """Trace of a merge: which duplicate went into which survivor, by whom, and what moved."""

    __tablename__ = "patient_merge"

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"), index=True)
    survivor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patient.id"), index=True)
    duplicate_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patient.id"), unique=True)
    merged_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff.id"))
    moved_counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    reason: Mapped[str | None] = mapped_column(String(500))
