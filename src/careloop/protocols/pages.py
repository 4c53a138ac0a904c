"""Protocol pages: runs per protocol with each patient's current step and what is late; a run; a definition."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from careloop.auth.actor import Actor
from careloop.auth.deps import require_page
from careloop.auth.permissions import Permission
from careloop.errors import NotFound
from careloop.patients import service as patients
from careloop.protocols import queries, rules, service
from careloop.protocols.registry import get_registry
from careloop.routing import db, router
from careloop.web.csrf import verify_csrf
from careloop.web.render import render_page
from careloop.web.shell import workspace

pages = router(include_in_schema=False, dependencies=[Depends(workspace)])
Db = Annotated[Session, Depends(db)]
Reader = Annotated[Actor, Depends(require_page(Permission.PROTOCOL_READ))]
Admin = Annotated[Actor, Depends(require_page(Permission.PROTOCOL_ADMIN))]


@pages.get("/protocols", response_class=HTMLResponse)
def overview(request: Request, session: Db, actor: Reader,
             protocol: Annotated[str, Query(max_length=60)] = "", late: bool = False,
             offset: Annotated[int, Query(ge=0, le=100_000)] = 0) -> HTMLResponse:
    counts = queries.counts_by_protocol(session, actor)
    rows, total = queries.list_runs(session, actor, protocol_key=protocol or None, late_only=late, offset=offset)
    return render_page(request, "protocols/overview.html", {
        "counts": counts, "rows": rows, "total": total, "offset": offset, "page_size": queries.PAGE_SIZE,
        "params": {"protocol": protocol, "late": late}, "protocol_options": [(c.key, c.name) for c in counts]})


@pages.get("/protocols/runs/{run_id}", response_class=HTMLResponse)
def run_page(run_id: uuid.UUID, request: Request, session: Db, actor: Reader) -> HTMLResponse:
    return render_page(request, "protocols/run.html", {"d": queries.run_detail(session, actor, run_id)})


@pages.post("/protocols/runs/{run_id}/cancel", dependencies=[Depends(verify_csrf)])
def cancel(run_id: uuid.UUID, session: Db, actor: Admin,
           reason: Annotated[str, Form(max_length=300)] = "") -> RedirectResponse:
    service.cancel_run_by_actor(session, actor, run_id, reason)
    return RedirectResponse(f"/protocols/runs/{run_id}", status_code=303)


@pages.get("/protocols/definition", response_class=HTMLResponse, response_model=None)
def definition(request: Request, actor: Reader, key: Annotated[str, Query(max_length=60)] = "") -> Response:
    if not key:
        return RedirectResponse("/protocols", status_code=303)
    protocol = get_registry().get(actor.organization_id, key)
    if protocol is None:
        raise NotFound("Protocol not found")
    steps = [(s, rules.describe_due(s.due), rules.explain_condition(s.when)) for s in protocol.steps]
    triggers = [(t.event, rules.explain_condition(t.conditions)) for t in protocol.triggers]
    return render_page(request, "protocols/definition.html", {"p": protocol, "steps": steps, "triggers": triggers})


@pages.get("/patients/{patient_id}/protocols", response_class=HTMLResponse)
def patient_runs(patient_id: uuid.UUID, request: Request, session: Db, actor: Reader) -> HTMLResponse:
    return render_page(request, "protocols/patient_runs.html", {
        "patient": patients.get_patient(session, actor, patient_id),
        "rows": queries.patient_runs(session, actor, patient_id)})
