"""Medications on a patient's lists, each with the source it came from."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from careloop import clock
from careloop.clinical.models import RXNORM, PatientRecordMixin, source_index
from careloop.db import Base, IdMixin, TimestampMixin, VersionedMixin
from careloop.enums import enum_column


class MedicationStatus(enum.StrEnum):
    ACTIVE = "active"
    ON_HOLD = "on_hold"
    COMPLETED = "completed"
    STOPPED = "stopped"
    ENTERED_IN_ERROR = "entered_in_error"


class MedicationSource(enum.StrEnum):
    PRACTICE = "practice"
    HOSPITAL_DISCHARGE = "hospital_discharge"
    PHARMACY = "pharmacy"
    PATIENT_REPORTED = "patient_reported"


class Medication(PatientRecordMixin, Base):
    """A medication statement/order: RxNorm code, dose, route, frequency, status and source."""

    __tablename__ = "medication"
    __table_args__ = (Index("ix_medication_patient_status", "patient_id", "status"), source_index("medication"))

    code_system: Mapped[str] = mapped_column(String(100), default=RXNORM)
    code: Mapped[str | None] = mapped_column(String(20))
    display: Mapped[str] = mapped_column(String(300))
    dose: Mapped[str | None] = mapped_column(String(100))
    route: Mapped[str | None] = mapped_column(String(50))
    frequency: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[MedicationStatus] = mapped_column(enum_column(MedicationStatus),
                                                     default=MedicationStatus.ACTIVE)
    source: Mapped[MedicationSource] = mapped_column(enum_column(MedicationSource),
                                                     default=MedicationSource.PRACTICE)
    start_date: Mapped[dt.date | None]
    end_date: Mapped[dt.date | None]
    prescriber: Mapped[str | None] = mapped_column(String(200))


class MedicationFill(IdMixin, Base):
    """A pharmacy dispense: what, when, for how many days (the input of adherence, PDC)."""

    __tablename__ = "medication_fill"
    __table_args__ = (Index("ix_medication_fill_patient", "patient_id", "filled_on"),
                      UniqueConstraint("organization_id", "pharmacy", "fill_number",
                                       name="uq_medication_fill_pharmacy_number"))

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patient.id"))
    code: Mapped[str | None] = mapped_column(String(20))  # RxNorm
    display: Mapped[str] = mapped_column(String(300))
    filled_on: Mapped[dt.date]
    days_supply: Mapped[int]
    quantity: Mapped[str | None] = mapped_column(String(30))
    pharmacy: Mapped[str] = mapped_column(String(200))
    fill_number: Mapped[str] = mapped_column(String(64))  # the pharmacy's prescription/fill number: re-sends update
    recorded_at: Mapped[dt.datetime] = mapped_column(default=clock.now)


class ReconciliationStatus(enum.StrEnum):
    IN_PROGRESS = "in_progress"
    SIGNED = "signed"
    CANCELLED = "cancelled"


class Decision(enum.StrEnum):
    CONTINUE = "continue"
    STOP = "stop"
    MODIFY = "modify"


class Reconciliation(IdMixin, VersionedMixin, Base):
    """A session comparing two or more of a patient's medication lists; signed, it sets the active list."""

    __tablename__ = "medication_reconciliation"
    __table_args__ = (Index("ix_med_reconciliation_patient", "patient_id", "started_at"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patient.id"))
    sources: Mapped[list] = mapped_column(JSON)  # the lists compared; the first is the baseline (usually practice)
    status: Mapped[ReconciliationStatus] = mapped_column(enum_column(ReconciliationStatus),
                                                         default=ReconciliationStatus.IN_PROGRESS)
    started_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff.id"))
    started_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    signed_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff.id"))
    signed_at: Mapped[dt.datetime | None]
    note: Mapped[str | None] = mapped_column(String(500))


class ReconciliationLine(IdMixin, Base):
    """One medicine across the lists: the entries per source, what differs, and the clinician's decision."""

    __tablename__ = "medication_reconciliation_line"
    __table_args__ = (Index("ix_med_reconciliation_line", "reconciliation_id", "position"),)

    reconciliation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("medication_reconciliation.id"))
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"))
    position: Mapped[int]
    label: Mapped[str] = mapped_column(String(300))
    entries: Mapped[dict] = mapped_column(JSON)  # source -> [medication id, ...] as compared
    classes: Mapped[list] = mapped_column(JSON)  # discrepancy classes (rules.Discrepancy values)
    details: Mapped[list] = mapped_column(JSON)  # what differs, in words (no PHI beyond the medicine)
    high_risk: Mapped[bool] = mapped_column(default=False)
    allergy_ids: Mapped[list] = mapped_column(JSON, default=list)  # the patient's allergies it conflicts with
    decision: Mapped[Decision | None] = mapped_column(enum_column(Decision))
    decided_from: Mapped[str | None] = mapped_column(String(30))  # the source whose version is continued
    dose: Mapped[str | None] = mapped_column(String(100))  # for modify: the new dose/route/frequency
    route: Mapped[str | None] = mapped_column(String(50))
    frequency: Mapped[str | None] = mapped_column(String(100))
    decided_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff.id"))
    decided_at: Mapped[dt.datetime | None]
    reason: Mapped[str | None] = mapped_column(String(300))
    result_medication_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("medication.id"))


class Adherence(IdMixin, Base):
    """The latest PDC of a patient for one medicine (ingredient) or therapeutic class over a period."""

    __tablename__ = "medication_adherence"
    __table_args__ = (UniqueConstraint("patient_id", "group_key", name="uq_medication_adherence_group"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patient.id"))
    group_key: Mapped[str] = mapped_column(String(80))  # "ingredient:29046" or "class:statin"
    label: Mapped[str] = mapped_column(String(200))
    period_start: Mapped[dt.date]
    period_end: Mapped[dt.date]
    pdc: Mapped[float]
    fills: Mapped[int]
    computed_at: Mapped[dt.datetime]


class MedicationInstruction(IdMixin, TimestampMixin, Base):
    """Plain-language instructions an organisation writes for one medicine (ingredient), per language."""

    __tablename__ = "medication_instruction"
    __table_args__ = (UniqueConstraint("organization_id", "ingredient_rxcui", "language",
                                       name="uq_medication_instruction"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"))
    ingredient_rxcui: Mapped[str] = mapped_column(String(20))
    language: Mapped[str] = mapped_column(String(35))  # BCP 47, e.g. en, es
    title: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(Text)  # what it is for
    how_to_take: Mapped[str] = mapped_column(Text)
    watch_for: Mapped[str] = mapped_column(Text)  # what to watch for, when to call
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff.id"))
