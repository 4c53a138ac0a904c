"""Bulk Data Access $export: kick-off, status, manifest, NDJSON files (FHIR Bulk Data IG v2, async pattern).

The kick-off stores a job with the requester's access; the worker's `fhir_export` sweep writes one NDJSON file
per type under `<var_dir>/exports/<job id>/` (directory 0700), streaming rows in keyset pages so memory stays
flat; the status endpoint answers 202 with progress until the manifest is ready. Levels: system (everything the
requester may see in the organisation), Patient (every patient the requester may see, and their data), Group
(a care coordinator's panel: `Group/{staff id}` = the patients whose primary care coordinator they are).
Files are served only to the requester's organisation with a bearer token, audited, and deleted after
`RETENTION` by the same sweep.
"""

from __future__ import annotations

import datetime as dt
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from careloop import clock
from careloop.audit import service as audit
from careloop.auth.actor import Actor
from careloop.auth.permissions import Permission
from careloop.care_teams.models import CareTeamMember, CareTeamRole
from careloop.config import get_settings
from careloop.db import session_scope
from careloop.errors import BadRequest, NotFound
from careloop.fhir import search
from careloop.fhir.models import ExportJob
from careloop.fhir.resources import TYPES, ResourceType
from careloop.staff.models import Staff

PAGE = 1000
RETENTION = dt.timedelta(hours=24)
PATIENT_TYPES = tuple(name for name, t in TYPES.items() if t.patient_column)  # Patient compartment


def export_dir() -> Path:
    settings = get_settings()
    return settings.export_dir or settings.var_dir / "exports"


def kick_off(session: Session, actor: Actor, level: str, *, types: str | None, since: str | None,
             group_id: uuid.UUID | None, request_url: str) -> ExportJob:
    """Validate the request and queue the job (202 with its status URL at the edge)."""
    actor.require(Permission.PATIENT_READ)
    actor.require(Permission.BULK_EXPORT)
    allowed = PATIENT_TYPES if level in ("patient", "group") else tuple(TYPES)
    wanted = [t.strip() for t in types.split(",") if t.strip()] if types else list(allowed)
    unknown = [t for t in wanted if t not in allowed]
    if unknown:
        raise BadRequest(f"_type names types not exported at this level: {', '.join(u[:40] for u in unknown)}",
                         code="invalid_type")
    readable = [t for t in wanted if actor.can(TYPES[t].permission)
                and (actor.fhir_scopes is None or actor.fhir_scopes.allows(t, "r"))]
    if not readable:
        raise BadRequest("None of these types may be read with this token", code="no_readable_type")
    moment = None
    if since:
        try:
            moment = dt.datetime.fromisoformat(since.replace("Z", "+00:00"))
        except ValueError as err:
            raise BadRequest("_since must be a FHIR instant", code="invalid_since") from err
        if moment.tzinfo is None:
            raise BadRequest("_since needs a time zone", code="invalid_since")
    if level == "group":
        staff = session.get(Staff, group_id)
        if staff is None or staff.organization_id != actor.organization_id:
            raise NotFound("No such group (a care coordinator's panel)")
    job = ExportJob(organization_id=actor.organization_id, level=level, group_id=group_id, types=readable,
                    since=moment, requested_by_id=actor.staff_id, client_name=actor.client_name,
                    permissions=sorted(p.value for p in actor.permissions), org_wide=actor.org_wide,
                    patient_scope=None if actor.patient_scope is None else sorted(map(str, actor.patient_scope)),
                    request_url=request_url[:500])
    session.add(job)
    session.flush()
    audit.record(session, actor, "export_requested", record_type="FhirExport", record_id=str(job.id),
                 detail={"level": level, "types": readable})
    return job


def load_job(session: Session, actor: Actor, job_id: uuid.UUID) -> ExportJob:
    """The requester's own job (the same user or the same client); cancelled and expired jobs are gone."""
    job = session.get(ExportJob, job_id)
    if job is None or job.organization_id != actor.organization_id or job.status in ("cancelled", "expired"):
        raise NotFound("No such export")
    if job.requested_by_id != actor.staff_id or (job.requested_by_id is None and job.client_name != actor.client_name):
        raise NotFound("No such export")
    return job


def cancel(session: Session, actor: Actor, job_id: uuid.UUID) -> None:
    job = load_job(session, actor, job_id)
    job.status = "cancelled"
    shutil.rmtree(export_dir() / str(job.id), ignore_errors=True)
    audit.record(session, actor, "export_cancelled", record_type="FhirExport", record_id=str(job.id))


def manifest(job: ExportJob, base: str) -> dict[str, Any]:
    return {"transactionTime": job.transaction_time.isoformat() if job.transaction_time else None,
            "request": job.request_url, "requiresAccessToken": True,
            "output": [{"type": o["type"], "url": f"{base}/$export-file/{job.id}/{o['type']}.ndjson",
                        "count": o["count"]} for o in job.output if o["count"]],
            "error": []}


def file_for(session: Session, actor: Actor, job_id: uuid.UUID, file_name: str) -> tuple[Path, str]:
    """(path, type) of one NDJSON file of the requester's finished export; the download is audited."""
    job = load_job(session, actor, job_id)
    type_name = file_name.removesuffix(".ndjson")
    path = export_dir() / str(job.id) / f"{type_name}.ndjson"
    if type_name not in job.types or job.status != "done" or not path.exists():
        raise NotFound("No such file")
    audit.record(session, actor, "export_download", record_type="FhirExport", record_id=str(job.id),
                 detail={"type": type_name})
    return path, type_name


def run_pending(factory: sessionmaker[Session] | None = None, limit: int = 1) -> int:
    """Write the files of the oldest pending jobs; delete expired ones. Returns how many jobs finished."""
    with session_scope(factory) as session:
        _expire(session)
        ids = list(session.scalars(select(ExportJob.id).where(ExportJob.status == "pending")
                                   .order_by(ExportJob.requested_at).limit(limit)))
    done = 0
    for job_id in ids:
        try:
            run_job(factory, job_id)
            done += 1
        except Exception as err:  # the job fails visibly; no PHI in the message
            with session_scope(factory) as session:
                job = session.get(ExportJob, job_id)
                job.status, job.error = "failed", f"export failed ({type(err).__name__})"
            shutil.rmtree(export_dir() / str(job_id), ignore_errors=True)
    return done


def _actor(job: ExportJob) -> Actor:
    return Actor(organization_id=job.organization_id, staff_id=job.requested_by_id, client_name=job.client_name,
                 permissions=frozenset(Permission(p) for p in job.permissions), org_wide=job.org_wide,
                 patient_scope=None if job.patient_scope is None else frozenset(map(uuid.UUID, job.patient_scope)),
                 label=job.client_name or "export", purpose_of_use="TREAT")


def run_job(factory: sessionmaker[Session] | None, job_id: uuid.UUID, *, folder: Path | None = None,
            progress: Callable[[str, int], None] | None = None) -> None:
    """Write one job's files, a type at a time (into `folder` for the CLI, else the export directory);
    the manifest appears when all are written. `progress(type, resources written)` is told as it goes."""
    with session_scope(factory) as session:
        job = session.get(ExportJob, job_id)
        requester = session.get(Staff, job.requested_by_id) if job.requested_by_id else None
        if requester is not None and not requester.is_active:  # access ends with the account
            job.status, job.error = "failed", "The requester's account is no longer active"
            return
        job.status, job.transaction_time = "running", clock.now()
        actor, types, since, level, group_id = _actor(job), list(job.types), job.since, job.level, job.group_id
    folder = folder or export_dir() / str(job_id)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    output, patients = [], set()
    for name in types:
        rtype = TYPES[name]
        count = 0
        with (folder / f"{name}.ndjson").open("wb") as out:
            for resource, patient_id in _resources(factory, actor, rtype, since, level, group_id):
                out.write(orjson.dumps(resource) + b"\n")
                count += 1
                if progress and count % PAGE == 0:
                    progress(name, PAGE)
                if patient_id is not None:
                    patients.add(patient_id)
        output.append({"type": name, "count": count})
        if progress:
            progress(name, count % PAGE)
    with session_scope(factory) as session:
        job = session.get(ExportJob, job_id)
        if job.status == "cancelled":
            shutil.rmtree(folder, ignore_errors=True)
            return
        job.status, job.completed_at, job.output = "done", clock.now(), output
        audit.record_many(session, actor, [audit.Entry(action="export", patient_id=pid, record_type="FhirExport",
                                                       record_id=str(job.id)) for pid in sorted(patients)])


def _resources(factory: sessionmaker[Session] | None, actor: Actor, rtype: ResourceType, since: dt.datetime | None,
               level: str, group_id: uuid.UUID | None) -> Iterator[tuple[dict[str, Any], Any]]:
    """(resource, patient id) for every row of the type the job may export, in keyset pages of PAGE rows,
    each page read in its own short transaction: memory stays flat, and on SQLite (where every transaction
    takes the write lock) the application's writers wait milliseconds, not the length of the export."""
    query = search.Query(count=PAGE)
    if since is not None:
        query.where.append(getattr(rtype.model, rtype.updated_column) > since)
    if level == "group" and rtype.patient_column:
        panel = select(CareTeamMember.patient_id).where(
            CareTeamMember.staff_id == group_id, CareTeamMember.role == CareTeamRole.PRIMARY_CARE_COORDINATOR,
            CareTeamMember.ended_at.is_(None))
        query.where.append(getattr(rtype.model, rtype.patient_column).in_(panel))
    after = None
    while True:
        with session_scope(factory) as session:
            rows = list(session.scalars(search.statement(rtype, actor, query, after)))
            page, more = rows[:PAGE], len(rows) > PAGE
            built = [(rtype.build(row), getattr(row, rtype.patient_column) if rtype.patient_column else None)
                     for row in page]
            if page:
                after = (search.sort_value(rtype, query, page[-1]), str(page[-1].id))
        yield from built
        if not more:
            return


def _expire(session: Session) -> None:
    for job in session.scalars(select(ExportJob).where(ExportJob.status == "done",
                                                       ExportJob.completed_at < clock.now() - RETENTION)):
        shutil.rmtree(export_dir() / str(job.id), ignore_errors=True)
        job.status = "expired"

