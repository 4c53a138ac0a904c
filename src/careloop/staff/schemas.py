"""Staff API shapes."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, StringConstraints

from careloop.staff.models import StaffRole

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class StaffCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    given_name: Name
    family_name: Name
    role: StaffRole
    npi: Annotated[str, StringConstraints(pattern=r"^[0-9]{10}$")] | None = None
    password: Annotated[str, StringConstraints(max_length=1024)] | None = None


class StaffRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    given_name: str
    family_name: str
    role: StaffRole
    npi: str | None
    is_active: bool
    mfa_enabled: bool
