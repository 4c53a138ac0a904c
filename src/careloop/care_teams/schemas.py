"""Care team API shapes."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from careloop.care_teams.models import CareTeamRole


class CareTeamMemberCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    staff_id: uuid.UUID
    role: CareTeamRole
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None


class CareTeamMemberRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    patient_id: uuid.UUID
    staff_id: uuid.UUID
    staff_name: str
    staff_role: str
    role: CareTeamRole
    started_at: dt.datetime
    ended_at: dt.datetime | None
    note: str | None
