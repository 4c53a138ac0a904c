"""Referral JSON API: the provider directory (search, CSV import) and referrals through their life cycle."""

from __future__ import annotations

import datetime as dt
import uuid
from email.message import Message
from typing import Annotated

from fastapi import Depends, Query, Request, Response
from sqlalchemy.orm import Session

from careloop.auth.actor import Actor
from careloop.auth.deps import require
from careloop.auth.permissions import Permission
from careloop.etags import if_match, set_etag
from careloop.referrals import documents, queries, service
from careloop.referrals.models import DocumentKind, Referral, ReferralDocument, ReferralUrgency
from careloop.referrals.schemas import (
    DocumentRead,
    Durations,
    ImportResult,
    MeasureGroup,
    MeasuresRead,
    ProviderRead,
    ReferralCreate,
    ReferralEventRead,
    ReferralMove,
    ReferralRead,
    TargetsIn,
    TargetsRead,
)
from careloop.routing import csv_body, db, router

api = router(prefix="/api/v1", tags=["referrals"])
Db = Annotated[Session, Depends(db)]
Reader = Annotated[Actor, Depends(require(Permission.REFERRAL_READ))]
Writer = Annotated[Actor, Depends(require(Permission.REFERRAL_WRITE))]
DirectoryAdmin = Annotated[Actor, Depends(require(Permission.DIRECTORY_ADMIN))]


def to_read(session: Session, referral: Referral, response: Response | None = None) -> ReferralRead:
    if response is not None:
        set_etag(response, referral.version)
    read = ReferralRead.model_validate(referral)
    read.history = [ReferralEventRead.model_validate(e) for e in service.history(session, referral)]
    return read


@api.get("/directory", response_model=list[ProviderRead], summary="Search the provider directory")
def directory(session: Db, actor: Reader,
              specialty_code: Annotated[str | None, Query(max_length=20)] = None,
              name: Annotated[str | None, Query(max_length=100)] = None,
              accepting: bool = False) -> list[ProviderRead]:
    return [ProviderRead.model_validate(p) for p in service.search_providers(
        session, actor, specialty_code=specialty_code, name=name, accepting_only=accepting)]


@api.post("/directory/import", response_model=ImportResult, summary="Create or update providers from CSV")
async def import_directory(request: Request, session: Db, actor: DirectoryAdmin) -> ImportResult:
    """Columns as ProviderIn (`external_id`, `name`, `specialty_code`, ...); all rows or none."""
    return service.import_providers(session, actor, await csv_body(request))


@api.get("/patients/{patient_id}/referrals", response_model=list[ReferralRead], summary="A patient's referrals")
def patient_referrals(patient_id: uuid.UUID, session: Db, actor: Reader) -> list[ReferralRead]:
    return [to_read(session, r) for r in service.patient_referrals(session, actor, patient_id)]


@api.post("/patients/{patient_id}/referrals", response_model=ReferralRead, status_code=201,
          summary="Draft a referral")
def create_referral(patient_id: uuid.UUID, data: ReferralCreate, response: Response, session: Db,
                    actor: Writer) -> ReferralRead:
    referral = service.create_referral(session, actor, patient_id, data)
    response.headers["Location"] = f"/api/v1/referrals/{referral.id}"
    return to_read(session, referral, response)


@api.get("/referrals/measures", response_model=MeasuresRead,
         summary="Time to appointment and to loop closure by specialty and urgency; open referrals by age")
def referral_measures(session: Db, actor: Reader, since: dt.date | None = None) -> MeasuresRead:
    m = queries.measures(session, actor, since=since)

    def durations(value: tuple[int, float | None, float | None]) -> Durations:
        return Durations(count=value[0], median_days=value[1], p90_days=value[2])
    return MeasuresRead(open_by_age=m.open_by_age, groups=[MeasureGroup(
        specialty_code=g.specialty_code, specialty_display=g.specialty_display, urgency=g.urgency,
        referrals=g.referrals, to_appointment=durations(g.to_appointment), to_closure=durations(g.to_closure))
        for g in m.groups])


@api.get("/referrals/targets", response_model=TargetsRead, summary="Target days from sending to the appointment")
def read_targets(session: Db, actor: Reader) -> TargetsRead:
    return _targets_read(*service.targets_of(session, actor.organization_id))


@api.put("/referrals/targets", response_model=TargetsRead,
         summary="Set the organisation's target days by urgency (for referrals sent from now on)")
def set_targets(data: TargetsIn, session: Db, actor: DirectoryAdmin) -> TargetsRead:
    return _targets_read(service.set_targets(session, actor, data), False)


def _targets_read(targets: dict[ReferralUrgency, int], is_default: bool) -> TargetsRead:
    return TargetsRead(routine_days=targets[ReferralUrgency.ROUTINE], urgent_days=targets[ReferralUrgency.URGENT],
                       stat_days=targets[ReferralUrgency.STAT], is_default=is_default)


@api.get("/referrals/{referral_id}", response_model=ReferralRead, summary="A referral with its history")
def read_referral(referral_id: uuid.UUID, response: Response, session: Db, actor: Reader) -> ReferralRead:
    return to_read(session, service.get_referral(session, actor, referral_id, Permission.REFERRAL_READ), response)


@api.post("/referrals/{referral_id}/status", response_model=ReferralRead,
          summary="Move a referral on: sent, accepted, declined, scheduled, seen, report_received, reviewed, "
                  "closed, cancelled, expired (If-Match checked if sent)")
def move_referral(referral_id: uuid.UUID, data: ReferralMove, request: Request, response: Response, session: Db,
                  actor: Writer) -> ReferralRead:
    referral = service.move(session, actor, referral_id, data, expected_version=if_match(request))
    return to_read(session, referral, response)


@api.get("/referrals/{referral_id}/documents", response_model=list[DocumentRead],
         summary="Documents sent with or received for a referral")
def list_documents(referral_id: uuid.UUID, session: Db, actor: Reader) -> list[DocumentRead]:
    return [DocumentRead.model_validate(d) for d in documents.list_for(session, actor, referral_id)]


@api.post("/referrals/{referral_id}/documents", response_model=DocumentRead, status_code=201,
          summary="Attach a document: the file as the body, its type as Content-Type, its name in "
                  "Content-Disposition (a consult report for a seen referral marks the report received)")
async def add_document(referral_id: uuid.UUID, request: Request, response: Response, session: Db, actor: Writer,
                       kind: DocumentKind = DocumentKind.OTHER) -> DocumentRead:
    document = documents.add(session, actor, referral_id, await request.body(),
                             declared_type=request.headers.get("content-type"),
                             filename=_disposition_filename(request.headers.get("content-disposition", "")),
                             kind=kind)
    response.headers["Location"] = f"/api/v1/referrals/{referral_id}/documents/{document.id}"
    return DocumentRead.model_validate(document)


@api.get("/referrals/{referral_id}/documents/{document_id}", summary="Download a document (always an attachment)",
         response_class=Response, responses={200: {"content": {"application/pdf": {}}}})
def download_document(referral_id: uuid.UUID, document_id: uuid.UUID, session: Db, actor: Reader) -> Response:
    return document_response(documents.read(session, actor, referral_id, document_id))


def document_response(document: ReferralDocument) -> Response:
    """The bytes as the type they were detected to be, never rendered inline, never cached."""
    return Response(document.content, media_type=document.content_type, headers={
        "Content-Disposition": documents.content_disposition(document.filename), "Cache-Control": "no-store",
        "Content-Security-Policy": "default-src 'none'; sandbox", "X-Content-Type-Options": "nosniff"})


def _disposition_filename(header: str) -> str | None:
    """The file name of a Content-Disposition header (filename* in UTF-8 preferred), if any."""
    message = Message()
    message["content-disposition"] = header
    return message.get_filename()
