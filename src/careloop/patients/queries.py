"""Patient search: indexed prefix name search, filters, keyset pagination, audited hits."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session

from careloop.audit import service as audit
from careloop.auth import access
from careloop.auth.actor import Actor
from careloop.auth.permissions import Permission
from careloop.care_teams.models import CareTeamMember, CareTeamRole
from careloop.errors import BadRequest
from careloop.pagination import after, decode_typed_cursor, encode_cursor
from careloop.patients import rules
from careloop.patients.models import Patient, PatientStatus

SORTS = {
    "name": (Patient.name_key,),
    "birth_date": (Patient.birth_date, Patient.name_key),
    "mrn": (Patient.mrn,),
    "updated_at": (Patient.updated_at,),
}


@dataclass(frozen=True)
class PatientQuery:
    """Search parameters; `scope="organization"` finds patients outside the actor's teams (restricted)."""

    name: str | None = None
    birth_date: dt.date | None = None
    mrn: str | None = None
    coordinator_id: uuid.UUID | None = None
    status: PatientStatus | None = None
    risk_tier: str | None = None
    sort: str = "name"
    cursor: str | None = None
    limit: int = 25
    scope: str = "care_team"


@dataclass(frozen=True)
class Hit:
    patient: Patient
    restricted: bool


def search_patients(session: Session, actor: Actor, q: PatientQuery) -> tuple[list[Hit], str | None]:
    """One page of matching patients in a stable order and the cursor of the next page."""
    actor.require(Permission.PATIENT_READ)
    descending, key = q.sort.startswith("-"), q.sort.lstrip("-")
    if key not in SORTS:
        raise BadRequest(f"Unknown sort; use one of {', '.join(sorted(SORTS))}", code="invalid_sort")
    columns = [*SORTS[key], Patient.id]
    stmt = select(Patient).where(*_filters(actor, q))
    if q.cursor:
        values = decode_typed_cursor(q.cursor, [c.type.python_type for c in columns])
        stmt = stmt.where(after(columns, values, descending))
    order = [c.desc() if descending else c.asc() for c in columns]
    rows = session.scalars(stmt.order_by(*order).limit(q.limit + 1)).all()
    page, more = rows[: q.limit], len(rows) > q.limit
    hits = _mark_restricted(session, actor, page) if q.scope == "organization" else [Hit(p, False) for p in page]
    audit.record_many(session, actor, [
        audit.Entry(action="search", patient_id=h.patient.id, record_type="Patient", record_id=str(h.patient.id),
                    detail={"restricted": h.restricted}) for h in hits])
    next_cursor = encode_cursor([getattr(page[-1], c.key) for c in columns]) if more and page else None
    return hits, next_cursor


def _filters(actor: Actor, q: PatientQuery) -> list:
    if q.scope == "organization":
        if not (q.mrn or (q.name and q.birth_date)):
            raise BadRequest("An organisation-wide search needs an MRN, or a name and a birth date",
                             code="search_too_broad")
        filters = [Patient.organization_id == actor.organization_id]
        if actor.patient_scope is not None:  # a portal user never widens beyond their own (and proxied) records
            filters.append(access.visible_patients(actor))
    elif q.scope == "care_team":
        filters = [access.visible_patients(actor)]
    else:
        raise BadRequest("scope must be care_team or organization", code="invalid_scope")
    if q.name:
        prefix = rules.search_prefix(q.name)
        if prefix:
            upper = rules.prefix_upper_bound(prefix)
            filters.append(or_(and_(Patient.name_key >= prefix, Patient.name_key < upper),
                               and_(Patient.alt_name_key >= prefix, Patient.alt_name_key < upper)))
    if q.birth_date:
        filters.append(Patient.birth_date == q.birth_date)
    if q.mrn:
        filters.append(Patient.mrn == q.mrn.strip())
    if q.status:
        filters.append(Patient.status == q.status)
    if q.risk_tier:
        filters.append(Patient.risk_tier == q.risk_tier)
    if q.coordinator_id:
        filters.append(exists().where(
            CareTeamMember.patient_id == Patient.id, CareTeamMember.staff_id == q.coordinator_id,
            CareTeamMember.role == CareTeamRole.PRIMARY_CARE_COORDINATOR, CareTeamMember.ended_at.is_(None)))
    return filters


def _mark_restricted(session: Session, actor: Actor, page: list[Patient]) -> list[Hit]:
    if actor.org_wide:
        return [Hit(p, False) for p in page]
    ids = [p.id for p in page]
    visible = set(session.scalars(select(Patient.id).where(Patient.id.in_(ids), access.visible_patients(actor))))
    return [Hit(p, p.id not in visible) for p in page]
