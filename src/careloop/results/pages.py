"""Results page: a patient's tracked orders with their values, flags, and review and communication forms."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session

from careloop.auth import access
from careloop.auth.actor import Actor
from careloop.auth.deps import require_page
from careloop.auth.permissions import Permission
from careloop.results import service
from careloop.results.models import OrderKind
from careloop.results.schemas import OrderCreate, OrderMove
from careloop.routing import db, router
from careloop.web.csrf import verify_csrf
from careloop.web.forms import validated
from careloop.web.render import render_page
from careloop.web.shell import workspace

pages = router(include_in_schema=False, dependencies=[Depends(workspace)])
Db = Annotated[Session, Depends(db)]
Reader = Annotated[Actor, Depends(require_page(Permission.CLINICAL_READ))]
Writer = Annotated[Actor, Depends(require_page(Permission.CLINICAL_WRITE))]
Short = Annotated[str, Form(max_length=200)]


@pages.get("/patients/{patient_id}/results", response_class=HTMLResponse)
def results_page(patient_id: uuid.UUID, request: Request, session: Db, actor: Reader) -> HTMLResponse:
    patient = access.load_patient(session, actor, patient_id, Permission.CLINICAL_READ)
    orders = service.patient_orders(session, actor, patient_id)
    return render_page(request, "results/patient.html", {
        "patient": patient, "orders": [(o, service.values_of(session, o)) for o in orders], "kinds": list(OrderKind),
        "can_write": Permission.CLINICAL_WRITE in actor.permissions, "me": actor.staff_id})


@pages.post("/patients/{patient_id}/results", dependencies=[Depends(verify_csrf)])
def place_order(patient_id: uuid.UUID, session: Db, actor: Writer, kind: Short = "lab", code: Short = "",
                display: Short = "") -> RedirectResponse:
    service.create_order(session, actor, patient_id,
                         validated(OrderCreate, {"kind": kind, "code": code, "display": display}))
    return RedirectResponse(f"/patients/{patient_id}/results", status_code=303)


@pages.post("/result-orders/{order_id}/status", dependencies=[Depends(verify_csrf)])
def move_order(order_id: uuid.UUID, session: Db, actor: Writer, status: Short = "", note: Short = "",
               communication_method: Short = "") -> RedirectResponse:
    order = service.move(session, actor, order_id, validated(OrderMove, {
        "status": status, "note": note.strip(), "communication_method": communication_method}))
    return RedirectResponse(f"/patients/{order.patient_id}/results", status_code=303)
