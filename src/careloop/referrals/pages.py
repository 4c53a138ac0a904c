"""Referral pages: the tracker, a patient's referrals with the form to start one, and one referral."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Depends, File, Form, Query, Request, Response, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session

from careloop.auth import access
from careloop.auth.actor import Actor
from careloop.auth.deps import require_page
from careloop.auth.permissions import Permission
from careloop.errors import InvalidInput
from careloop.referrals import documents, queries, service
from careloop.referrals.api import document_response
from careloop.referrals.models import DocumentKind, ReferralStatus, ReferralUrgency
from careloop.referrals.schemas import ReferralCreate, ReferralMove, TargetsIn
from careloop.routing import db, router
from careloop.web.csrf import verify_csrf
from careloop.web.forms import validated
from careloop.web.render import render_page
from careloop.web.shell import workspace

pages = router(include_in_schema=False, dependencies=[Depends(workspace)])
Db = Annotated[Session, Depends(db)]
Reader = Annotated[Actor, Depends(require_page(Permission.REFERRAL_READ))]
Writer = Annotated[Actor, Depends(require_page(Permission.REFERRAL_WRITE))]
DirectoryAdmin = Annotated[Actor, Depends(require_page(Permission.DIRECTORY_ADMIN))]
Csrf = [Depends(verify_csrf)]
Short = Annotated[str, Form(max_length=300)]
Long = Annotated[str, Form(max_length=4000)]


@pages.get("/referrals", response_class=HTMLResponse)
def tracker(request: Request, session: Db, actor: Reader,
            status: Annotated[str, Query(max_length=30)] = "") -> HTMLResponse:
    chosen = ReferralStatus(status) if status in ReferralStatus.__members__.values() else None
    rows, counts = queries.tracker(session, actor, status=chosen)
    targets, is_default = service.targets_of(session, actor.organization_id)
    return render_page(request, "referrals/tracker.html", {
        "rows": rows, "counts": counts, "status": status, "measures": queries.measures(session, actor),
        "targets": {f"{u.value}_days": d for u, d in targets.items()}, "targets_default": is_default,
        "can_set_targets": Permission.DIRECTORY_ADMIN in actor.permissions})


@pages.post("/referrals/targets", dependencies=Csrf)
def set_targets(session: Db, actor: DirectoryAdmin, routine_days: Short = "", urgent_days: Short = "",
                stat_days: Short = "") -> RedirectResponse:
    service.set_targets(session, actor, validated(TargetsIn, {
        "routine_days": routine_days, "urgent_days": urgent_days, "stat_days": stat_days}))
    return RedirectResponse("/referrals", status_code=303)


@pages.get("/patients/{patient_id}/referrals", response_class=HTMLResponse)
def patient_referrals(patient_id: uuid.UUID, request: Request, session: Db, actor: Reader) -> HTMLResponse:
    patient = access.load_patient(session, actor, patient_id, Permission.REFERRAL_READ)
    return render_page(request, "referrals/patient.html", {
        "patient": patient, "referrals": service.patient_referrals(session, actor, patient_id),
        "providers": service.search_providers(session, actor, limit=200),
        "urgencies": list(ReferralUrgency), "can_write": Permission.REFERRAL_WRITE in actor.permissions})


@pages.post("/patients/{patient_id}/referrals", dependencies=Csrf)
def start_referral(patient_id: uuid.UUID, session: Db, actor: Writer, provider_id: Short = "",
                   urgency: Short = "routine", reason: Long = "", clinical_question: Long = "") -> RedirectResponse:
    try:
        provider = uuid.UUID(provider_id)
    except ValueError as err:
        raise InvalidInput("Choose a provider from the directory", field="provider_id") from err
    data = validated(ReferralCreate, {"provider_id": provider, "urgency": urgency, "reason": reason,
                                      "clinical_question": clinical_question.strip() or None})
    referral = service.create_referral(session, actor, patient_id, data)
    return RedirectResponse(f"/referrals/{referral.id}", status_code=303)


@pages.get("/referrals/{referral_id}", response_class=HTMLResponse)
def referral_page(referral_id: uuid.UUID, request: Request, session: Db, actor: Reader) -> HTMLResponse:
    referral = service.get_referral(session, actor, referral_id, Permission.REFERRAL_READ)
    patient = access.load_patient(session, actor, referral.patient_id, Permission.REFERRAL_READ)
    return render_page(request, "referrals/detail.html", {
        "r": referral, "patient": patient, "history": service.history(session, referral),
        "provider": service.provider_of(session, referral), "next": queries.next_statuses(referral),
        "providers": service.search_providers(session, actor, specialty_code=referral.specialty_code, limit=200),
        "documents": documents.list_for(session, actor, referral_id), "document_kinds": list(DocumentKind),
        "accepted_types": documents.ACCEPTED, "can_write": Permission.REFERRAL_WRITE in actor.permissions})


@pages.post("/referrals/{referral_id}/documents", dependencies=Csrf)
async def attach_document(referral_id: uuid.UUID, session: Db, actor: Writer, file: Annotated[UploadFile, File()],
                          kind: Short = "other") -> RedirectResponse:
    try:
        document_kind = DocumentKind(kind)
    except ValueError as err:
        raise InvalidInput("Choose what kind of document it is", field="kind") from err
    documents.add(session, actor, referral_id, await file.read(documents.MAX_BYTES + 1),
                  declared_type=file.content_type, filename=file.filename, kind=document_kind)
    return RedirectResponse(f"/referrals/{referral_id}", status_code=303)


@pages.get("/referrals/{referral_id}/documents/{document_id}")
def download_document(referral_id: uuid.UUID, document_id: uuid.UUID, session: Db, actor: Reader) -> Response:
    return document_response(documents.read(session, actor, referral_id, document_id))


@pages.post("/referrals/{referral_id}/status", dependencies=Csrf)
def move_referral(referral_id: uuid.UUID, request: Request, session: Db, actor: Writer, status: Short = "",
                  note: Short = "", appointment_at: Short = "", provider_id: Short = "") -> RedirectResponse:
    when = None
    if appointment_at:
        try:  # typed in the organisation's time zone
            when = dt.datetime.fromisoformat(appointment_at).replace(tzinfo=ZoneInfo(request.state.shell.timezone))
        except ValueError as err:
            raise InvalidInput("Give the appointment as a date and time", field="appointment_at") from err
    data = validated(ReferralMove, {"status": status, "note": note.strip() or None, "appointment_at": when,
                                    "provider_id": provider_id or None})
    service.move(session, actor, referral_id, data)
    return RedirectResponse(f"/referrals/{referral_id}", status_code=303)

