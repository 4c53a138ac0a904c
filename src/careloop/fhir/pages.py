"""Data exchange page: FHIR bulk export (queue, status, downloads) and import of a FHIR file, for supervisors
and administrators (`fhir:export`; importing also needs `patient:write` and `clinical:write`)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import Depends, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.auth.actor import Actor
from careloop.auth.deps import require_page
from careloop.auth.permissions import Permission
from careloop.care_teams import service as care_teams
from careloop.care_teams.models import CareTeamRole
from careloop.config import get_settings
from careloop.errors import InvalidInput
from careloop.fhir import bulk, export
from careloop.fhir.models import ExportJob
from careloop.fhir.resources import TYPES
from careloop.routing import db, router
from careloop.staff import service as staff_service
from careloop.web.csrf import verify_csrf
from careloop.web.render import render_page
from careloop.web.shell import workspace

pages = router(prefix="/admin/data-exchange", include_in_schema=False, dependencies=[Depends(workspace)])
Db = Annotated[Session, Depends(db)]
Exporter = Annotated[Actor, Depends(require_page(Permission.PATIENT_READ, Permission.BULK_EXPORT))]
Importer = Annotated[Actor, Depends(require_page(Permission.BULK_EXPORT, Permission.PATIENT_WRITE,
                                                 Permission.CLINICAL_WRITE))]
Csrf = [Depends(verify_csrf)]
RECENT = 20


def _context(session: Session, actor: Actor) -> dict:
    jobs = session.scalars(select(ExportJob).where(
        ExportJob.organization_id == actor.organization_id, ExportJob.requested_by_id == actor.staff_id,
        ExportJob.status.not_in(("cancelled", "expired"))).order_by(ExportJob.requested_at.desc()).limit(RECENT))
    coordinators = staff_service.list_staff(session, actor,
                                            roles=care_teams.ELIGIBLE[CareTeamRole.PRIMARY_CARE_COORDINATOR])
    return {"jobs": list(jobs), "types": list(TYPES), "coordinators": coordinators, "retention": export.RETENTION,
            "can_import": {Permission.PATIENT_WRITE, Permission.CLINICAL_WRITE} <= actor.permissions,
            "max_mib": get_settings().max_body_bytes // 2**20}


@pages.get("", response_class=HTMLResponse)
def data_exchange(request: Request, session: Db, actor: Exporter) -> HTMLResponse:
    return render_page(request, "fhir/data_exchange.html", _context(session, actor))


@pages.post("/exports", dependencies=Csrf)
async def start_export(request: Request, session: Db, actor: Exporter) -> RedirectResponse:
    form = await request.form()
    level = str(form.get("level", "system"))
    if level not in ("system", "group"):
        raise InvalidInput("Choose what to export", field="level")
    group = None
    if level == "group":
        try:
            group = uuid.UUID(str(form.get("coordinator", "")))
        except ValueError as err:
            raise InvalidInput("Choose the care coordinator whose panel to export", field="coordinator") from err
    types = [str(t) for t in form.getlist("type")]
    if not types:
        raise InvalidInput("Choose at least one kind of resource", field="type")
    since = None
    if form.get("since"):
        try:
            since = dt.date.fromisoformat(str(form["since"])).isoformat() + "T00:00:00+00:00"
        except ValueError as err:
            raise InvalidInput("Give the date as YYYY-MM-DD", field="since") from err
    export.kick_off(session, actor, level, types=",".join(types), since=since, group_id=group,
                    request_url=f"{str(request.base_url).rstrip('/')}/fhir/"
                                + (f"Group/{group}/$export" if group else "$export") + f"?_type={','.join(types)}")
    return RedirectResponse("/admin/data-exchange", status_code=303)


@pages.post("/exports/{job_id}/delete", dependencies=Csrf)
def delete_export(job_id: uuid.UUID, session: Db, actor: Exporter) -> RedirectResponse:
    export.cancel(session, actor, job_id)
    return RedirectResponse("/admin/data-exchange", status_code=303)


@pages.get("/exports/{job_id}/{file_name}")
def download(job_id: uuid.UUID, file_name: str, session: Db, actor: Exporter) -> FileResponse:
    path, type_name = export.file_for(session, actor, job_id, file_name)
    return FileResponse(path, media_type="application/fhir+ndjson", filename=f"{type_name}.ndjson")


@pages.post("/import", dependencies=Csrf, response_class=HTMLResponse)
async def import_file(request: Request, session: Db, actor: Importer, file: Annotated[UploadFile, File()],
                      coordinator: Annotated[str, Form(max_length=40)] = "") -> HTMLResponse:
    try:
        staff_id = uuid.UUID(coordinator)
    except ValueError as err:
        raise InvalidInput("Choose the care coordinator of new patients", field="coordinator") from err
    body = await file.read()
    importer = bulk.Importer(None, actor, bulk.coordinator(session, actor, staff_id))
    name = (file.filename or "").lower()
    if not name.endswith((".json", ".ndjson")):
        raise InvalidInput("Choose a FHIR Bundle (.json) or an NDJSON file (.ndjson)", field="file")
    importer.import_bytes(session, body, ndjson=name.endswith(".ndjson"))
    return render_page(request, "fhir/data_exchange.html",
                       {**_context(session, actor), "summary": importer.summary, "imported_name": file.filename})
