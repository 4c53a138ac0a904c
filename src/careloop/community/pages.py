"""Community pages: the directory of community services, and a patient's community referrals with the form."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session

from careloop.auth import access
from careloop.auth.actor import Actor
from careloop.auth.deps import require_page
from careloop.auth.permissions import Permission
from careloop.community import rules, service
from careloop.community.models import ConsentMethod, Need
from careloop.community.schemas import CommunityReferralCreate, CommunityReferralMove
from careloop.routing import db, router
from careloop.web.csrf import verify_csrf
from careloop.web.forms import validated
from careloop.web.render import render_page
from careloop.web.shell import workspace

pages = router(include_in_schema=False, dependencies=[Depends(workspace)])
Db = Annotated[Session, Depends(db)]
Reader = Annotated[Actor, Depends(require_page(Permission.REFERRAL_READ))]
Writer = Annotated[Actor, Depends(require_page(Permission.REFERRAL_WRITE))]
Short = Annotated[str, Form(max_length=300)]


@pages.get("/community", response_class=HTMLResponse)
def directory(request: Request, session: Db, actor: Reader,
              need: Annotated[str, Query(max_length=30)] = "") -> HTMLResponse:
    chosen = Need(need) if need in Need.__members__.values() else None
    return render_page(request, "community/directory.html", {
        "services": service.search_services(session, actor, need=chosen), "needs": list(Need), "need": need})


@pages.get("/patients/{patient_id}/community-referrals", response_class=HTMLResponse)
def patient_referrals(patient_id: uuid.UUID, request: Request, session: Db, actor: Reader) -> HTMLResponse:
    patient = access.load_patient(session, actor, patient_id, Permission.REFERRAL_READ)
    services = service.search_services(session, actor)
    return render_page(request, "community/patient.html", {
        "patient": patient, "referrals": service.patient_referrals(session, actor, patient_id),
        "services": services, "names": {s.id: s.name for s in services}, "needs": list(Need),
        "methods": list(ConsentMethod), "moves": rules.TRANSITIONS,
        "can_write": Permission.REFERRAL_WRITE in actor.permissions})


@pages.post("/patients/{patient_id}/community-referrals", dependencies=[Depends(verify_csrf)])
def refer(patient_id: uuid.UUID, session: Db, actor: Writer, service_id: Short = "", need: Short = "",
          consent: Short = "", consent_method: Short = "verbal",
          note: Annotated[str, Form(max_length=4000)] = "") -> RedirectResponse:
    data = validated(CommunityReferralCreate, {"service_id": service_id, "need": need, "consent": consent == "yes",
                                               "consent_method": consent_method, "note": note.strip()})
    service.create_referral(session, actor, patient_id, data)
    return RedirectResponse(f"/patients/{patient_id}/community-referrals", status_code=303)


@pages.post("/community-referrals/{referral_id}/status", dependencies=[Depends(verify_csrf)])
def record_outcome(referral_id: uuid.UUID, session: Db, actor: Writer, status: Short = "",
                   note: Short = "") -> RedirectResponse:
    referral = service.move(session, actor, referral_id,
                            validated(CommunityReferralMove, {"status": status, "note": note.strip()}))
    return RedirectResponse(f"/patients/{referral.patient_id}/community-referrals", status_code=303)
