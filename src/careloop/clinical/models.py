"""Clinical record for coordination: conditions, encounters, observations, allergies, procedures, immunizations,
and the care plans and care teams of other providers."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import JSON, Float, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from careloop.db import Base, IdMixin, VersionedMixin
from careloop.enums import enum_column

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CVX = "http://hl7.org/fhir/sid/cvx"


class ConditionClinicalStatus(enum.StrEnum):
    ACTIVE = "active"
    RECURRENCE = "recurrence"
    RELAPSE = "relapse"
    INACTIVE = "inactive"
    REMISSION = "remission"
    RESOLVED = "resolved"


class EncounterClass(enum.StrEnum):
    AMBULATORY = "ambulatory"
    EMERGENCY = "emergency"
    INPATIENT = "inpatient"
    OBSERVATION = "observation"
    HOME = "home"
    VIRTUAL = "virtual"


class EncounterStatus(enum.StrEnum):
    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    FINISHED = "finished"
    CANCELLED = "cancelled"


class ObservationCategory(enum.StrEnum):
    VITAL_SIGNS = "vital_signs"
    LABORATORY = "laboratory"
    SURVEY = "survey"


class AllergyCategory(enum.StrEnum):
    MEDICATION = "medication"
    FOOD = "food"
    ENVIRONMENT = "environment"
    BIOLOGIC = "biologic"


class AllergyCriticality(enum.StrEnum):
    LOW = "low"
    HIGH = "high"
    UNABLE_TO_ASSESS = "unable_to_assess"


class AllergyStatus(enum.StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    RESOLVED = "resolved"


class ProcedureStatus(enum.StrEnum):
    """FHIR Procedure.status (hyphens as underscores)."""

    PREPARATION = "preparation"
    IN_PROGRESS = "in_progress"
    NOT_DONE = "not_done"
    ON_HOLD = "on_hold"
    STOPPED = "stopped"
    COMPLETED = "completed"
    ENTERED_IN_ERROR = "entered_in_error"
    UNKNOWN = "unknown"


class ImmunizationStatus(enum.StrEnum):
    COMPLETED = "completed"
    NOT_DONE = "not_done"
    ENTERED_IN_ERROR = "entered_in_error"


class OutsideStatus(enum.StrEnum):
    """FHIR CarePlan.status / CareTeam.status (hyphens as underscores)."""

    PROPOSED = "proposed"
    DRAFT = "draft"
    ACTIVE = "active"
    ON_HOLD = "on_hold"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    COMPLETED = "completed"
    INACTIVE = "inactive"
    ENTERED_IN_ERROR = "entered_in_error"
    UNKNOWN = "unknown"


class PatientRecordMixin(IdMixin, VersionedMixin):
    """Columns every patient-owned clinical record has; (organization_id, patient_id) is indexed."""

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patient.id"))
    # The id of the FHIR resource it was imported from (unique per organisation: importing again changes nothing).
    source_ref: Mapped[str | None] = mapped_column(String(100))


_IMPORTED = text("source_ref IS NOT NULL")


def source_index(table: str) -> Index:
    """Unique per organisation, and partial: records that came from no file (nearly all) stay out of it, so
    it costs nothing when they are written; `source_ref = x` / `IN (...)` lookups can still use it."""
    return Index(f"uq_{table}_source_ref", "organization_id", "source_ref", unique=True,
                 sqlite_where=_IMPORTED, postgresql_where=_IMPORTED)


class Condition(PatientRecordMixin, Base):
    """A problem or diagnosis, coded (ICD-10-CM by default; the system is kept beside the code)."""

    __tablename__ = "condition"
    __table_args__ = (Index("ix_condition_patient", "patient_id", "clinical_status"), source_index("condition"))

    code_system: Mapped[str] = mapped_column(String(100), default=ICD10CM)
    code: Mapped[str] = mapped_column(String(20))
    display: Mapped[str] = mapped_column(String(300))
    onset_date: Mapped[dt.date | None]
    abatement_date: Mapped[dt.date | None]
    clinical_status: Mapped[ConditionClinicalStatus] = mapped_column(
        enum_column(ConditionClinicalStatus), default=ConditionClinicalStatus.ACTIVE)
    chronic: Mapped[bool] = mapped_column(default=False)


class Encounter(PatientRecordMixin, Base):
    """A contact with a care setting: visit, ED stay, admission, home visit or virtual visit."""

    __tablename__ = "encounter"
    __table_args__ = (
        Index("ix_encounter_patient_start", "patient_id", "start_at"),
        Index("ix_encounter_org_class_start", "organization_id", "encounter_class", "start_at"),
        source_index("encounter"),
    )

    encounter_class: Mapped[EncounterClass] = mapped_column(enum_column(EncounterClass))
    status: Mapped[EncounterStatus] = mapped_column(enum_column(EncounterStatus),
                                                    default=EncounterStatus.FINISHED)
    start_at: Mapped[dt.datetime]
    end_at: Mapped[dt.datetime | None]
    facility_name: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(String(300))
    attending: Mapped[str | None] = mapped_column(String(200))
    discharge_disposition: Mapped[str | None] = mapped_column(String(40))
    visit_number: Mapped[str | None] = mapped_column(String(64))
    readmission_of_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("encounter.id"))


class Observation(PatientRecordMixin, Base):
    """A vital sign or lab result, LOINC-coded, numeric or text."""

    __tablename__ = "observation"
    __table_args__ = (Index("ix_observation_patient_code_time", "patient_id", "code", "effective_at"),
                      source_index("observation"))

    category: Mapped[ObservationCategory] = mapped_column(enum_column(ObservationCategory))
    code_system: Mapped[str] = mapped_column(String(100), default=LOINC)
    code: Mapped[str] = mapped_column(String(20))
    display: Mapped[str] = mapped_column(String(200))
    value_quantity: Mapped[float | None] = mapped_column(Float)
    value_text: Mapped[str | None] = mapped_column(String(500))
    unit: Mapped[str | None] = mapped_column(String(30))
    effective_at: Mapped[dt.datetime]
    encounter_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("encounter.id"))


class Allergy(PatientRecordMixin, Base):
    """An allergy or intolerance to a substance."""

    __tablename__ = "allergy"
    __table_args__ = (Index("ix_allergy_patient", "patient_id"), source_index("allergy"))

    code_system: Mapped[str | None] = mapped_column(String(100))
    code: Mapped[str | None] = mapped_column(String(20))
    substance: Mapped[str] = mapped_column(String(200))
    category: Mapped[AllergyCategory] = mapped_column(enum_column(AllergyCategory))
    criticality: Mapped[AllergyCriticality] = mapped_column(
        enum_column(AllergyCriticality), default=AllergyCriticality.LOW)
    reaction: Mapped[str | None] = mapped_column(String(300))
    clinical_status: Mapped[AllergyStatus] = mapped_column(enum_column(AllergyStatus),
                                                           default=AllergyStatus.ACTIVE)
    recorded_date: Mapped[dt.date | None]


class Procedure(PatientRecordMixin, Base):
    """A procedure done to or for the patient (SNOMED CT by default), with when and in which encounter."""

    __tablename__ = "procedure"
    __table_args__ = (Index("ix_procedure_patient_time", "patient_id", "performed_at"), source_index("procedure"))

    code_system: Mapped[str] = mapped_column(String(100), default=SNOMED)
    code: Mapped[str] = mapped_column(String(20))
    display: Mapped[str] = mapped_column(String(300))
    status: Mapped[ProcedureStatus] = mapped_column(enum_column(ProcedureStatus), default=ProcedureStatus.COMPLETED)
    performed_at: Mapped[dt.datetime | None]
    performed_end_at: Mapped[dt.datetime | None]
    reason: Mapped[str | None] = mapped_column(String(300))
    encounter_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("encounter.id"))


class Immunization(PatientRecordMixin, Base):
    """A vaccine given (or recorded as not given), CVX-coded by default."""

    __tablename__ = "immunization"
    __table_args__ = (Index("ix_immunization_patient_time", "patient_id", "occurred_at"),
                      source_index("immunization"))

    code_system: Mapped[str] = mapped_column(String(100), default=CVX)
    code: Mapped[str] = mapped_column(String(20))
    display: Mapped[str] = mapped_column(String(300))
    status: Mapped[ImmunizationStatus] = mapped_column(enum_column(ImmunizationStatus),
                                                       default=ImmunizationStatus.COMPLETED)
    occurred_at: Mapped[dt.datetime]
    lot_number: Mapped[str | None] = mapped_column(String(40))
    encounter_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("encounter.id"))


class OutsideCarePlan(PatientRecordMixin, Base):
    """A care plan another provider keeps for the patient (e.g. a diabetes self-management plan in the
    clinic's EHR), as received: what it is, its status and period, its activities and the problems it
    addresses. CareLoop's own coordination plan (care_plans) is separate and signed by the team."""

    __tablename__ = "outside_care_plan"
    __table_args__ = (Index("ix_outside_care_plan_patient", "patient_id", "status"), source_index("outside_care_plan"))

    title: Mapped[str] = mapped_column(String(300))
    code_system: Mapped[str | None] = mapped_column(String(100))
    code: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[OutsideStatus] = mapped_column(enum_column(OutsideStatus), default=OutsideStatus.ACTIVE)
    period_start: Mapped[dt.datetime | None]
    period_end: Mapped[dt.datetime | None]
    provider: Mapped[str | None] = mapped_column(String(200))  # who keeps it (organisation or clinician)
    addresses: Mapped[list] = mapped_column(JSON, default=list)  # the problems it addresses, by name
    activities: Mapped[list] = mapped_column(JSON, default=list)  # [{code, code_system, display, status}]


class OutsideCareTeam(PatientRecordMixin, Base):
    """A care team at another provider (the clinicians and organisations looking after the patient there)."""

    __tablename__ = "outside_care_team"
    __table_args__ = (Index("ix_outside_care_team_patient", "patient_id", "status"), source_index("outside_care_team"))

    name: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[OutsideStatus] = mapped_column(enum_column(OutsideStatus), default=OutsideStatus.ACTIVE)
    period_start: Mapped[dt.datetime | None]
    period_end: Mapped[dt.datetime | None]
    organization: Mapped[str | None] = mapped_column(String(200))
    members: Mapped[list] = mapped_column(JSON, default=list)  # [{name, role, kind, identifier}]
