"""Clinical record API shapes: Create (strict), Update (all optional), Read."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, create_model, model_validator

from careloop.clinical.models import (
    CVX,
    ICD10CM,
    LOINC,
    SNOMED,
    AllergyCategory,
    AllergyCriticality,
    AllergyStatus,
    ConditionClinicalStatus,
    EncounterClass,
    EncounterStatus,
    ImmunizationStatus,
    ObservationCategory,
    OutsideStatus,
    ProcedureStatus,
)
from careloop.medications.models import MedicationSource, MedicationStatus

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Code = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9.\-]{1,20}$")]
System = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^(https?://|urn:)\S{1,90}$")]
ICD10_PATTERN = re.compile(r"^[A-TV-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$")
LOINC_PATTERN = re.compile(r"^[0-9]{1,7}-[0-9]$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ConditionCreate(_Strict):
    code_system: System = ICD10CM
    code: Code
    display: Text
    onset_date: dt.date | None = None
    abatement_date: dt.date | None = None
    clinical_status: ConditionClinicalStatus = ConditionClinicalStatus.ACTIVE
    chronic: bool = False

    @model_validator(mode="after")
    def _icd10(self) -> ConditionCreate:
        if self.code_system == ICD10CM and not ICD10_PATTERN.match(self.code):
            raise ValueError("code is not a well-formed ICD-10-CM code")
        return self


class EncounterCreate(_Strict):
    encounter_class: EncounterClass
    status: EncounterStatus = EncounterStatus.FINISHED
    start_at: AwareDatetime
    end_at: AwareDatetime | None = None
    facility_name: Text | None = None
    reason: Text | None = None
    attending: Text | None = None
    discharge_disposition: Annotated[str, StringConstraints(max_length=40)] | None = None

    @model_validator(mode="after")
    def _period(self) -> EncounterCreate:
        if self.end_at and self.end_at < self.start_at:
            raise ValueError("end_at must not be before start_at")
        return self


class ObservationCreate(_Strict):
    category: ObservationCategory
    code_system: System = LOINC
    code: Code
    display: Text
    value_quantity: float | None = None
    value_text: Annotated[str, StringConstraints(max_length=500)] | None = None
    unit: Annotated[str, StringConstraints(max_length=30)] | None = None
    effective_at: AwareDatetime
    encounter_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _value(self) -> ObservationCreate:
        if self.value_quantity is None and not self.value_text:
            raise ValueError("value_quantity or value_text is required")
        if self.code_system == LOINC and not LOINC_PATTERN.match(self.code):
            raise ValueError("code is not a well-formed LOINC code")
        return self


class MedicationCreate(_Strict):
    code_system: System = "http://www.nlm.nih.gov/research/umls/rxnorm"
    code: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,10}$")] | None = None
    display: Text
    dose: Annotated[str, StringConstraints(max_length=100)] | None = None
    route: Annotated[str, StringConstraints(max_length=50)] | None = None
    frequency: Annotated[str, StringConstraints(max_length=100)] | None = None
    status: MedicationStatus = MedicationStatus.ACTIVE
    source: MedicationSource = MedicationSource.PRACTICE
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    prescriber: Text | None = None


class AllergyCreate(_Strict):
    code_system: System | None = None
    code: Code | None = None
    substance: Text
    category: AllergyCategory
    criticality: AllergyCriticality = AllergyCriticality.LOW
    reaction: Text | None = None
    clinical_status: AllergyStatus = AllergyStatus.ACTIVE
    recorded_date: dt.date | None = None


class ProcedureCreate(_Strict):
    code_system: System = SNOMED
    code: Code
    display: Text
    status: ProcedureStatus = ProcedureStatus.COMPLETED
    performed_at: AwareDatetime | None = None
    performed_end_at: AwareDatetime | None = None
    reason: Text | None = None
    encounter_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _period(self) -> ProcedureCreate:
        if self.performed_end_at and self.performed_at and self.performed_end_at < self.performed_at:
            raise ValueError("performed_end_at must not be before performed_at")
        return self


class ImmunizationCreate(_Strict):
    code_system: System = CVX
    code: Code
    display: Text
    status: ImmunizationStatus = ImmunizationStatus.COMPLETED
    occurred_at: AwareDatetime
    lot_number: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)] | None = None
    encounter_id: uuid.UUID | None = None


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class OutsideActivity(_Strict):
    code_system: System | None = None
    code: Code | None = None
    display: Text
    status: Annotated[str, StringConstraints(pattern=r"^[a-z_\-]{1,30}$")] | None = None


class OutsideCarePlanCreate(_Strict):
    title: Text
    code_system: System | None = None
    code: Code | None = None
    status: OutsideStatus = OutsideStatus.ACTIVE
    period_start: AwareDatetime | None = None
    period_end: AwareDatetime | None = None
    provider: Name | None = None
    addresses: Annotated[list[Text], Field(max_length=50)] = []
    activities: Annotated[list[OutsideActivity], Field(max_length=100)] = []


class OutsideMember(_Strict):
    name: Name
    role: Name | None = None
    kind: Literal["practitioner", "organization", "related_person", "other"] = "practitioner"
    identifier: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None


class OutsideCareTeamCreate(_Strict):
    name: Name | None = None
    status: OutsideStatus = OutsideStatus.ACTIVE
    period_start: AwareDatetime | None = None
    period_end: AwareDatetime | None = None
    organization: Name | None = None
    members: Annotated[list[OutsideMember], Field(max_length=100)] = []


def _optional(model: type[BaseModel], name: str) -> type[BaseModel]:
    """The Update schema: every field of the Create schema, optional, validators not re-run."""
    fields = {k: (f.annotation | None, None) for k, f in model.model_fields.items()}
    return create_model(name, __base__=_Strict, **fields)


def _read(model: type[BaseModel], name: str) -> type[BaseModel]:
    fields = {k: (f.annotation, ...) for k, f in model.model_fields.items()}
    common = {"id": (uuid.UUID, ...), "patient_id": (uuid.UUID, ...), "version": (int, ...),
              "created_at": (dt.datetime, ...), "updated_at": (dt.datetime, ...)}
    return create_model(name, __config__=ConfigDict(from_attributes=True), **common, **fields)


ConditionUpdate = _optional(ConditionCreate, "ConditionUpdate")
EncounterUpdate = _optional(EncounterCreate, "EncounterUpdate")
ObservationUpdate = _optional(ObservationCreate, "ObservationUpdate")
MedicationUpdate = _optional(MedicationCreate, "MedicationUpdate")
AllergyUpdate = _optional(AllergyCreate, "AllergyUpdate")
ConditionRead = _read(ConditionCreate, "ConditionRead")
EncounterRead = _read(EncounterCreate, "EncounterRead")
ObservationRead = _read(ObservationCreate, "ObservationRead")
MedicationRead = _read(MedicationCreate, "MedicationRead")
AllergyRead = _read(AllergyCreate, "AllergyRead")
ProcedureUpdate = _optional(ProcedureCreate, "ProcedureUpdate")
ImmunizationUpdate = _optional(ImmunizationCreate, "ImmunizationUpdate")
ProcedureRead = _read(ProcedureCreate, "ProcedureRead")
ImmunizationRead = _read(ImmunizationCreate, "ImmunizationRead")
OutsideCarePlanUpdate = _optional(OutsideCarePlanCreate, "OutsideCarePlanUpdate")
OutsideCareTeamUpdate = _optional(OutsideCareTeamCreate, "OutsideCareTeamUpdate")
OutsideCarePlanRead = _read(OutsideCarePlanCreate, "OutsideCarePlanRead")
OutsideCareTeamRead = _read(OutsideCareTeamCreate, "OutsideCareTeamRead")
