"""Medications on a patient's lists, each with the source it came from."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from careloop.clinical.models import RXNORM, PatientRecordMixin
from careloop.db import Base
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
    __table_args__ = (Index("ix_medication_patient_status", "patient_id", "status"),)

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
