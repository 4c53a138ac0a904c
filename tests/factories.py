"""Plain factory functions for tests: make_x(session, **overrides) -> X (flushed, not committed)."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from typing import Any

from sqlalchemy.orm import Session

from careloop.auth import service as auth_service
from careloop.auth.actor import Actor, system_actor
from careloop.care_teams.models import CareTeamRole
from careloop.organizations import service as org_service
from careloop.organizations.models import Organization
from careloop.patients import service as patients_service
from careloop.patients.models import Patient
from careloop.patients.schemas import PatientCreate
from careloop.staff.models import Staff, StaffRole

_seq = itertools.count(1)
PASSWORD = "correct horse battery staple"
_PASSWORD_HASH: str | None = None


def _password_hash() -> str:
    global _PASSWORD_HASH
    if _PASSWORD_HASH is None:
        from careloop.auth.passwords import hash_password

        _PASSWORD_HASH = hash_password(PASSWORD)
    return _PASSWORD_HASH


def make_org(session: Session, **overrides: Any) -> Organization:
    n = next(_seq)
    return org_service.create_organization(session, overrides.pop("name", f"Test Org {n} {uuid.uuid4().hex[:6]}"),
                                           **overrides)


def make_staff(session: Session, org: Organization, role: StaffRole = StaffRole.CARE_COORDINATOR,
               **overrides: Any) -> Staff:
    n = next(_seq)
    values = {"email": f"user{n}-{uuid.uuid4().hex[:6]}@example.test", "given_name": "Casey",
              "family_name": f"Staff{n}", "role": role, "password_hash": _password_hash(),
              "organization_id": org.id}
    values.update(overrides)
    staff = Staff(**values)
    session.add(staff)
    session.flush()
    return staff


def make_patient(session: Session, org: Organization, coordinator: Staff, **overrides: Any) -> Patient:
    n = next(_seq)
    pcp = overrides.pop("pcp", None)
    values: dict[str, Any] = {"mrn": f"MRN{n:06d}{uuid.uuid4().hex[:4]}", "given_name": "Alex",
                              "family_name": f"Patient{n}", "birth_date": dt.date(1950, 1, 1) + dt.timedelta(days=n),
                              "sex": "female", "primary_care_coordinator_id": coordinator.id}
    if pcp is not None:
        values["primary_care_physician_id"] = pcp.id
    values.update(overrides)
    return patients_service.create_patient(session, PatientCreate(**values), actor=system_actor(org.id),
                                           confirm_distinct=True)


def actor_of(staff: Staff) -> Actor:
    return auth_service.actor_for_staff(staff)


def make_token(session: Session, staff: Staff, scopes: str = "*", ttl: dt.timedelta = dt.timedelta(hours=1)) -> str:
    raw, _ = auth_service.create_token(session, organization_id=staff.organization_id, scopes=scopes, ttl=ttl,
                                       staff=staff)
    return raw


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


__all__ = ["CareTeamRole", "StaffRole"]
