"""HL7 admin pages: the review queue (link or create the patient) and the dead-letter list."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session

from careloop.auth.actor import Actor
from careloop.auth.deps import require_page
from careloop.auth.permissions import Permission
from careloop.care_teams import service as care_teams
from careloop.care_teams.models import CareTeamRole
from careloop.errors import InvalidInput
from careloop.integrations.hl7v2 import review
from careloop.routing import db, router
from careloop.staff import service as staff_service
from careloop.web.csrf import verify_csrf
from careloop.web.render import render_page
from careloop.web.shell import workspace

pages = router(prefix="/admin/hl7", include_in_schema=False, dependencies=[Depends(workspace)])
Db = Annotated[Session, Depends(db)]
Admin = Annotated[Actor, Depends(require_page(Permission.HL7_ADMIN))]
Reason = Annotated[str, Form(min_length=3, max_length=300)]


@pages.get("/review", response_class=HTMLResponse)
def review_queue(request: Request, session: Db, actor: Admin) -> HTMLResponse:
    items = []
    for message in review.review_queue(session, actor):
        try:
            items.append((message, review.pending_event(session, message).patient))
        except InvalidInput:
            items.append((message, None))
    coordinators = staff_service.list_staff(session, actor,
                                            roles=care_teams.ELIGIBLE[CareTeamRole.PRIMARY_CARE_COORDINATOR])
    return render_page(request, "hl7/review.html", {"items": items, "coordinators": coordinators})


@pages.post("/messages/{message_id}/link", dependencies=[Depends(verify_csrf)])
def link(message_id: int, session: Db, actor: Admin,
         mrn: Annotated[str, Form(min_length=1, max_length=64)]) -> RedirectResponse:
    review.get_message(session, actor, message_id)  # another organisation's message is 404 before the MRN is read
    review.link_patient(session, actor, message_id, review.find_patient_by_mrn(session, actor, mrn))
    return RedirectResponse("/admin/hl7/review", status_code=303)


@pages.post("/messages/{message_id}/create-patient", dependencies=[Depends(verify_csrf)])
def create_patient(message_id: int, session: Db, actor: Admin,
                   coordinator_id: Annotated[uuid.UUID, Form()]) -> RedirectResponse:
    review.create_patient(session, actor, message_id, coordinator_id)
    return RedirectResponse("/admin/hl7/review", status_code=303)


@pages.post("/messages/{message_id}/dismiss", dependencies=[Depends(verify_csrf)])
def dismiss(request: Request, message_id: int, session: Db, actor: Admin, reason: Reason) -> RedirectResponse:
    message = review.dismiss(session, actor, message_id, reason)
    back = "review" if message.status.value == "dismissed" else "dead-letters"
    return RedirectResponse(f"/admin/hl7/{back}", status_code=303)


@pages.get("/dead-letters", response_class=HTMLResponse)
def dead_letters(request: Request, session: Db, actor: Admin) -> HTMLResponse:
    return render_page(request, "hl7/dead_letters.html", {"messages": review.dead_letters(session, actor)})


@pages.post("/messages/{message_id}/replay", dependencies=[Depends(verify_csrf)])
def replay(request: Request, message_id: int, session: Db, actor: Admin) -> RedirectResponse:
    session.commit()  # the replay runs in its own transactions
    review.replay(request.app.state.session_factory, message_id, actor)
    return RedirectResponse("/admin/hl7/dead-letters", status_code=303)
