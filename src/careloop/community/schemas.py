"""Community directory and referral payloads."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from careloop.community.models import CommunityReferralStatus, ConsentMethod, Need

Text200 = Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=200)]


class ServiceIn(BaseModel):
    """One directory row (CSV: `needs` as food;housing); re-importing the same `external_id` updates it."""

    model_config = ConfigDict(extra="forbid")

    external_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    needs: list[Need] = Field(min_length=1)
    area: Text200 = None
    eligibility: Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=2000)] = None
    phone: Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=30)] = None
    email: Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=254,
                                                    pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] = None
    website: Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=300,
                                                      pattern=r"^https?://\S+$")] = None
    address_line: Text200 = None


class ServiceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    external_id: str
    name: str
    needs: list[Need]
    area: str | None
    eligibility: str | None
    phone: str | None
    email: str | None
    website: str | None


class CommunityReferralCreate(BaseModel):
    """A referral is only sent with the patient's consent (`consent: true` and how it was given)."""

    model_config = ConfigDict(extra="forbid")

    service_id: uuid.UUID
    need: Need
    consent: bool
    consent_method: ConsentMethod
    note: Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=4000)] = None


class CommunityReferralMove(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: CommunityReferralStatus
    note: Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=300)] = None


class CommunityReferralRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    patient_id: uuid.UUID
    service_id: uuid.UUID
    need: Need
    note: str | None
    consent_method: ConsentMethod
    consent_at: dt.datetime
    referred_by_id: uuid.UUID
    status: CommunityReferralStatus
    status_at: dt.datetime
    outcome_note: str | None
    closed_at: dt.datetime | None
    version: int
