"""Patient registry JSON API."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Query, Request, Response
from sqlalchemy.orm import Session

from careloop.auth.actor import Actor
from careloop.auth.deps import require
from careloop.auth.permissions import Permission
from careloop.care_teams import service as care_teams
from careloop.care_teams.models import CareTeamRole
from careloop.errors import BadRequest
from careloop.etags import require_if_match, set_etag
from careloop.patients import queries, service
from careloop.patients.models import Patient, PatientStatus
from careloop.patients.schemas import (
    MergeRequest,
    MergeResult,
    PatientCreate,
    PatientPage,
    PatientRead,
    PatientSearch,
    PatientSummary,
    PatientUpdate,
    StaffRef,
)
from careloop.routing import db, router

api = router(prefix="/api/v1/patients", tags=["patients"])


def to_read(session: Session, patient: Patient) -> PatientRead:
    """The API view of a patient, with the active coordinator and PCP."""
    primary = care_teams.primary_staff(session, [patient.id])
    read = PatientRead.model_validate(patient)
    for role, name in ((CareTeamRole.PRIMARY_CARE_COORDINATOR, "primary_care_coordinator"),
                       (CareTeamRole.PRIMARY_CARE_PHYSICIAN, "primary_care_physician")):
        staff = primary.get((patient.id, role))
        if staff:
            setattr(read, name, StaffRef(id=staff.id, name=staff.display_name))
    return read


def to_summaries(session: Session, hits: list[queries.Hit]) -> list[PatientSummary]:
    """Search hits as summaries; restricted ones carry identification only."""
    primary = care_teams.primary_staff(session, [h.patient.id for h in hits if not h.restricted])
    out = []
    for hit in hits:
        p = hit.patient
        base = {"id": p.id, "mrn": p.mrn, "given_name": p.given_name, "family_name": p.family_name,
                "birth_date": p.birth_date}
        if hit.restricted:
            out.append(PatientSummary(**base, access="restricted"))
            continue
        coordinator = primary.get((p.id, CareTeamRole.PRIMARY_CARE_COORDINATOR))
        out.append(PatientSummary(**base, sex=p.sex, status=p.status, risk_tier=p.risk_tier,
                                  primary_care_coordinator=StaffRef(id=coordinator.id, name=coordinator.display_name)
                                  if coordinator else None))
    return out


# Query parameters a search by identity would need; refused in URLs (use POST /_search).
SEARCH_TERMS_IN_URL = frozenset({"name", "mrn", "birth_date", "q", "family", "given", "birthdate", "identifier"})


def _page(session: Session, actor: Actor, data: PatientSearch) -> PatientPage:
    q = queries.PatientQuery(**data.model_dump())
    hits, next_cursor = queries.search_patients(session, actor, q)
    return PatientPage(items=to_summaries(session, hits), next_cursor=next_cursor)


@api.get("", response_model=PatientPage, summary="List patients (filters without identifiers)")
def list_patients(
    request: Request,
    session: Annotated[Session, Depends(db)],
    actor: Annotated[Actor, Depends(require(Permission.PATIENT_READ))],
    coordinator_id: uuid.UUID | None = None,
    status: PatientStatus | None = None,
    risk_tier: Annotated[str | None, Query(max_length=20)] = None,
    sort: Annotated[str, Query(pattern=r"^-?[a-z_]{1,20}$")] = "name",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 25,
    scope: Annotated[str, Query(pattern="^(care_team|organization)$")] = "care_team",
) -> PatientPage:
    """The caller's patients page by page. Searching by name, MRN or birth date is POST /_search."""
    if SEARCH_TERMS_IN_URL & request.query_params.keys():
        raise BadRequest("Search by name, MRN or birth date with POST /api/v1/patients/_search: identifiers do "
                         "not belong in URLs", code="search_terms_in_url")
    return _page(session, actor, PatientSearch(coordinator_id=coordinator_id, status=status, risk_tier=risk_tier,
                                               sort=sort, cursor=cursor, limit=limit, scope=scope))


@api.post("/_search", response_model=PatientPage, summary="Search patients by name, MRN, birth date and filters")
def search_patients(data: PatientSearch, session: Annotated[Session, Depends(db)],
                    actor: Annotated[Actor, Depends(require(Permission.PATIENT_READ))]) -> PatientPage:
    """The criteria travel in the body (never the URL). The next page: the same body with `cursor`."""
    return _page(session, actor, data)


@api.post("", response_model=PatientRead, status_code=201, summary="Register a patient")
def create_patient(
    data: PatientCreate, response: Response,
    session: Annotated[Session, Depends(db)],
    actor: Annotated[Actor, Depends(require(Permission.PATIENT_WRITE))],
    confirm_distinct: Annotated[bool, Query(description="Create even if name and birth date match")] = False,
) -> PatientRead:
    patient = service.create_patient(session, data, actor=actor, confirm_distinct=confirm_distinct)
    set_etag(response, patient.version)
    response.headers["Location"] = f"/api/v1/patients/{patient.id}"
    return to_read(session, patient)


@api.get("/{patient_id}", response_model=PatientRead, summary="Read a patient")
def get_patient(patient_id: uuid.UUID, response: Response, session: Annotated[Session, Depends(db)],
                actor: Annotated[Actor, Depends(require(Permission.PATIENT_READ))]) -> PatientRead:
    patient = service.get_patient(session, actor, patient_id)
    set_etag(response, patient.version)
    return to_read(session, patient)


@api.patch("/{patient_id}", response_model=PatientRead, summary="Update a patient (If-Match required)")
def update_patient(patient_id: uuid.UUID, data: PatientUpdate, request: Request, response: Response,
                   session: Annotated[Session, Depends(db)],
                   actor: Annotated[Actor, Depends(require(Permission.PATIENT_WRITE))]) -> PatientRead:
    patient = service.update_patient(session, actor, patient_id, data, expected_version=require_if_match(request))
    set_etag(response, patient.version)
    return to_read(session, patient)


@api.post("/{patient_id}/merge", response_model=MergeResult, summary="Merge a duplicate into this patient")
def merge_patient(patient_id: uuid.UUID, data: MergeRequest, session: Annotated[Session, Depends(db)],
                  actor: Annotated[Actor, Depends(require(Permission.PATIENT_MERGE))]) -> MergeResult:
    merge = service.merge_patients(session, actor, patient_id, data.duplicate_id, data.reason)
    return MergeResult(survivor_id=merge.survivor_id, duplicate_id=merge.duplicate_id,
                       moved_counts=merge.moved_counts)
