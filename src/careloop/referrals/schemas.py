"""Referral and directory payloads."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from careloop.referrals.models import DocumentKind, ProviderKind, ReferralStatus, ReferralUrgency
from careloop.referrals.rules import MAX_TARGET_DAYS

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Optional200 = Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=200)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProviderIn(_In):
    """One directory row (CSV import or API): re-importing the same `external_id` updates it."""

    external_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    kind: ProviderKind = ProviderKind.PRACTITIONER
    name: Name
    specialty_code: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9A-Z]{9}X$")]
    specialty_display: Name
    address_line: Optional200 = None
    city: Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=100)] = None
    state: Annotated[str | None, StringConstraints(strip_whitespace=True, pattern=r"^[A-Z]{2}$")] = None
    postal_code: Annotated[str | None, StringConstraints(strip_whitespace=True, pattern=r"^\d{5}(-\d{4})?$")] = None
    phone: Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=30)] = None
    direct_address: Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=254,
                                                             pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] = None
    accepting_new_patients: bool = True
    in_network: bool = True


class ProviderRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    external_id: str
    kind: ProviderKind
    name: str
    specialty_code: str
    specialty_display: str
    city: str | None
    state: str | None
    phone: str | None
    direct_address: str | None
    accepting_new_patients: bool
    in_network: bool


class ImportResult(BaseModel):
    created: int
    updated: int


class ReferralCreate(_In):
    """A draft referral: to a provider from the directory, or to a specialty (the provider chosen later)."""

    provider_id: uuid.UUID | None = None
    specialty_code: Annotated[str | None, StringConstraints(strip_whitespace=True, pattern=r"^[0-9A-Z]{9}X$")] = None
    specialty_display: Optional200 = None
    urgency: ReferralUrgency = ReferralUrgency.ROUTINE
    reason: Reason
    condition_ids: list[uuid.UUID] = Field(default_factory=list, max_length=20)
    clinical_question: Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=4000)] = None


class ReferralMove(_In):
    """A status change; `appointment_at` for scheduled, `provider_id` to send elsewhere after a decline,
    `note` (the reason) for declined, cancelled and expired."""

    status: ReferralStatus
    note: Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=300)] = None
    appointment_at: dt.datetime | None = None
    provider_id: uuid.UUID | None = None


class ReferralEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    from_status: ReferralStatus | None
    to_status: ReferralStatus
    occurred_at: dt.datetime
    actor_id: uuid.UUID | None
    note: str | None


class Durations(BaseModel):
    """Days from first sending: how many, the median and the 90th percentile (nearest rank)."""

    count: int
    median_days: float | None
    p90_days: float | None


class MeasureGroup(BaseModel):
    specialty_code: str
    specialty_display: str
    urgency: ReferralUrgency
    referrals: int
    to_appointment: Durations
    to_closure: Durations


class MeasuresRead(BaseModel):
    groups: list[MeasureGroup]
    open_by_age: dict[str, int]


class ReferralRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    patient_id: uuid.UUID
    referring_staff_id: uuid.UUID
    provider_id: uuid.UUID | None
    specialty_code: str
    specialty_display: str
    urgency: ReferralUrgency
    reason: str
    condition_ids: list[uuid.UUID]
    clinical_question: str | None
    status: ReferralStatus
    status_reason: str | None
    sent_at: dt.datetime | None
    target_appointment_date: dt.date | None
    appointment_at: dt.datetime | None
    closed_at: dt.datetime | None
    version: int
    history: list[ReferralEventRead] = Field(default_factory=list)


class DocumentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    referral_id: uuid.UUID
    kind: DocumentKind
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_at: dt.datetime


Days = Annotated[int, Field(ge=0, le=MAX_TARGET_DAYS)]


class TargetsIn(_In):
    """Days from sending a referral to the appointment, by urgency."""

    routine_days: Days
    urgent_days: Days
    stat_days: Days


class TargetsRead(TargetsIn):
    is_default: bool  # the organisation has not set its own
