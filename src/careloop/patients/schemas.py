"""Pydantic shapes of the patient registry API (never the ORM classes)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints, model_validator

from careloop.patients.models import AdministrativeSex, PatientStatus

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Short = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9+() .\-x]{7,40}$")]
Language = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")]


class CommunicationPreferences(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channels: list[Annotated[str, StringConstraints(pattern=r"^(phone|sms|email|portal|mail)$")]] = []
    best_time: Short | None = None
    do_not_contact: bool = False


class PatientBase(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    given_name: Name
    middle_name: Name | None = None
    family_name: Name
    birth_date: dt.date
    sex: AdministrativeSex
    address_line: Short | None = None
    city: Annotated[str, StringConstraints(max_length=100)] | None = None
    state: Annotated[str, StringConstraints(max_length=50)] | None = None
    postal_code: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z \-]{3,20}$")] | None = None
    phone: Phone | None = None
    email: EmailStr | None = None
    preferred_language: Language = "en"
    interpreter_needed: bool = False
    communication_preferences: CommunicationPreferences = Field(default_factory=CommunicationPreferences)
    caregiver_name: Short | None = None
    caregiver_relationship: Annotated[str, StringConstraints(max_length=50)] | None = None
    caregiver_phone: Phone | None = None

    @model_validator(mode="after")
    def _birth_date_in_past(self) -> PatientBase:
        if self.birth_date > dt.date.today() or self.birth_date.year < 1890:
            raise ValueError("birth_date must be between 1890 and today")
        return self


class PatientCreate(PatientBase):
    mrn: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9\-_.]{1,64}$")]
    mrn_authority: Short | None = Field(default=None, description="Defaults to the organisation's")
    primary_care_coordinator_id: uuid.UUID
    primary_care_physician_id: uuid.UUID | None = None


class PatientUpdate(BaseModel):
    """Every field optional; only the fields sent are changed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    given_name: Name | None = None
    middle_name: Name | None = None
    family_name: Name | None = None
    birth_date: dt.date | None = None
    sex: AdministrativeSex | None = None
    address_line: Short | None = None
    city: Annotated[str, StringConstraints(max_length=100)] | None = None
    state: Annotated[str, StringConstraints(max_length=50)] | None = None
    postal_code: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z \-]{3,20}$")] | None = None
    phone: Phone | None = None
    email: EmailStr | None = None
    preferred_language: Language | None = None
    interpreter_needed: bool | None = None
    communication_preferences: CommunicationPreferences | None = None
    caregiver_name: Short | None = None
    caregiver_relationship: Annotated[str, StringConstraints(max_length=50)] | None = None
    caregiver_phone: Phone | None = None
    status: PatientStatus | None = None
    deceased_date: dt.date | None = None


class StaffRef(BaseModel):
    id: uuid.UUID
    name: str


class PatientRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    mrn: str
    mrn_authority: str
    given_name: str
    middle_name: str | None
    family_name: str
    birth_date: dt.date
    sex: AdministrativeSex
    address_line: str | None
    city: str | None
    state: str | None
    postal_code: str | None
    phone: str | None
    email: str | None
    preferred_language: str
    interpreter_needed: bool
    communication_preferences: dict[str, Any]
    caregiver_name: str | None
    caregiver_relationship: str | None
    caregiver_phone: str | None
    status: PatientStatus
    deceased_date: dt.date | None
    risk_tier: str | None
    merged_into_id: uuid.UUID | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    primary_care_coordinator: StaffRef | None = None
    primary_care_physician: StaffRef | None = None


class PatientSummary(BaseModel):
    """A search hit. Restricted hits (outside the actor's care teams) carry identification only."""

    id: uuid.UUID
    mrn: str
    given_name: str
    family_name: str
    birth_date: dt.date
    sex: AdministrativeSex | None = None
    status: PatientStatus | None = None
    risk_tier: str | None = None
    primary_care_coordinator: StaffRef | None = None
    access: str = "full"


class PatientSearch(BaseModel):
    """Search criteria, sent in a POST body: names, MRNs and birth dates are identifiers and stay out of URLs
    (proxies, browser history and server logs keep URLs)."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str | None, StringConstraints(max_length=100)] = Field(
        default=None, description="Prefix of family or given name")
    birth_date: dt.date | None = None
    mrn: Annotated[str | None, StringConstraints(max_length=64)] = None
    coordinator_id: uuid.UUID | None = None
    status: PatientStatus | None = None
    risk_tier: Annotated[str | None, StringConstraints(max_length=20)] = None
    sort: Annotated[str, StringConstraints(pattern=r"^-?[a-z_]{1,20}$")] = "name"
    cursor: Annotated[str | None, StringConstraints(max_length=500)] = None
    limit: Annotated[int, Field(ge=1, le=200)] = 25
    scope: Annotated[str, StringConstraints(pattern="^(care_team|organization)$")] = "care_team"


class PatientPage(BaseModel):
    items: list[PatientSummary]
    next_cursor: str | None


class DuplicateCandidate(BaseModel):
    id: uuid.UUID
    mrn: str
    given_name: str
    family_name: str
    birth_date: dt.date
    match: str


class MergeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    duplicate_id: uuid.UUID
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=500)]


class MergeResult(BaseModel):
    survivor_id: uuid.UUID
    duplicate_id: uuid.UUID
    moved_counts: dict[str, int]
