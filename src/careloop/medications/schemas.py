"""Medication management payloads: fills, reconciliation, adherence, checks and instructions."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from careloop.medications.models import Decision, MedicationSource, ReconciliationStatus

Code = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9]{1,10}$")]
Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Text300 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
Language = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FillIn(_In):
    """A pharmacy dispense; the same pharmacy and fill number again updates it."""

    code: Code | None = None
    display: Text300
    filled_on: dt.date
    days_supply: int = Field(ge=1, le=365)
    quantity: Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=30)] = None
    pharmacy: Text200
    fill_number: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class FillRow(FillIn):
    """A CSV row: the patient named by MRN."""

    mrn: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class FillRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    code: str | None
    display: str
    filled_on: dt.date
    days_supply: int
    quantity: str | None
    pharmacy: str
    fill_number: str


class FillImportResult(BaseModel):
    created: int
    updated: int
    patients: int


class ReconciliationStart(_In):
    """The lists to compare: the first is the baseline (the practice's active list unless chosen otherwise)."""

    sources: list[MedicationSource] = Field(
        default=[MedicationSource.PRACTICE, MedicationSource.HOSPITAL_DISCHARGE], min_length=2, max_length=4)

    @model_validator(mode="after")
    def _distinct(self) -> ReconciliationStart:
        if len(set(self.sources)) != len(self.sources):
            raise ValueError("each list once")
        return self


class LineDecision(_In):
    """continue (the version from `from_source`, default the first non-baseline list that has it), stop, or
    modify (with the new dose, route or frequency)."""

    decision: Decision
    from_source: MedicationSource | None = None
    dose: Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=100)] = None
    route: Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=50)] = None
    frequency: Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=100)] = None
    reason: Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=300)] = None


class EntryRead(BaseModel):
    medication_id: uuid.UUID
    display: str
    code: str | None
    dose: str | None
    route: str | None
    frequency: str | None


class LineRead(BaseModel):
    id: uuid.UUID
    label: str
    classes: list[str]
    details: list[str]
    high_risk: bool
    allergy_ids: list[uuid.UUID]
    entries: dict[str, list[EntryRead]]
    decision: Decision | None
    decided_from: str | None
    dose: str | None
    route: str | None
    frequency: str | None
    reason: str | None
    decided_by_id: uuid.UUID | None
    decided_at: dt.datetime | None
    result_medication_id: uuid.UUID | None


class ReconciliationRead(BaseModel):
    id: uuid.UUID
    patient_id: uuid.UUID
    sources: list[str]
    status: ReconciliationStatus
    started_by_id: uuid.UUID | None
    started_at: dt.datetime
    signed_by_id: uuid.UUID | None
    signed_at: dt.datetime | None
    version: int
    lines: list[LineRead]


class Gap(BaseModel):
    start: dt.date
    end: dt.date
    days: int


class AdherenceRead(BaseModel):
    group: str
    label: str
    pdc: float
    adherent: bool
    index_date: dt.date
    period_end: dt.date
    fills: int
    gaps: list[Gap]


class AllergyConflict(BaseModel):
    medication_id: uuid.UUID
    medication: str
    source: str
    allergy_id: uuid.UUID
    substance: str


class InteractionsStatus(BaseModel):
    available: bool
    reason: str


class ChecksRead(BaseModel):
    allergy_conflicts: list[AllergyConflict]
    high_risk: list[uuid.UUID]
    interactions: InteractionsStatus


class InstructionIn(_In):
    ingredient_rxcui: Code
    language: Language = "en"
    title: Text200
    purpose: LongText
    how_to_take: LongText
    watch_for: LongText


class InstructionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    ingredient_rxcui: str
    language: str
    title: str
    purpose: str
    how_to_take: str
    watch_for: str
    updated_at: dt.datetime


class EducationFromMedication(_In):
    medication_id: uuid.UUID
