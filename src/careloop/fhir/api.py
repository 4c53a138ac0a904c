"""FHIR R4 REST API under /fhir: capability statement, read and search (JSON only).

Errors are OperationOutcome resources (error_handlers.py renders them for /fhir). Access and audit are the
rest of CareLoop's: a bearer token, the role's permission for the type, the patient's care-team rules; every
read is audited, a search once per patient on the page. Names, identifiers and birth dates are PHI: they
are accepted in a POST `_search` body only, and page links carry the search sealed (AES-GCM), never in clear.
"""

from __future__ import annotations

import datetime as dt
import uuid
from email.utils import format_datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl

import orjson
from fastapi import Depends, Request, Response
from fastapi.responses import FileResponse
from sqlalchemy.orm import Session

from careloop import __version__
from careloop.audit import service as audit
from careloop.auth import secrets_box
from careloop.auth.actor import Actor
from careloop.auth.deps import require
from careloop.auth.permissions import Permission
from careloop.clinical import service as clinical
from careloop.errors import (
    BadRequest,
    Forbidden,
    InvalidInput,
    MethodNotAllowed,
    NotAcceptable,
    NotFound,
    PreconditionFailed,
    UnsupportedMediaType,
)
from careloop.etags import if_match
from careloop.fhir import bulk, export, search, transaction, writes
from careloop.fhir.resources import TYPES, ResourceType
from careloop.routing import db, router

FHIR_JSON = "application/fhir+json"
CURSOR_PURPOSE = "fhir-search-cursor"
api = router(prefix="/fhir", tags=["fhir"])
Db = Annotated[Session, Depends(db)]
# Every FHIR read needs patient:read; each type then checks its own permission (clinical:read for records).
Reader = Annotated[Actor, Depends(require(Permission.PATIENT_READ))]
Writer = Annotated[Actor, Depends(require(Permission.PATIENT_READ, Permission.CLINICAL_WRITE))]
Importer = Annotated[Actor, Depends(require(Permission.PATIENT_WRITE, Permission.CLINICAL_WRITE))]
Exporter = Annotated[Actor, Depends(require(Permission.PATIENT_READ, Permission.BULK_EXPORT))]
EXPORT_PARAMS = frozenset({"_type", "_since", "_outputFormat"})
NDJSON_FORMATS = frozenset({"application/fhir+ndjson", "application/ndjson", "ndjson"})


def fhir_response(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=FHIR_JSON, headers=headers)


def _negotiate(request: Request) -> None:
    """JSON only: an XML-only Accept or _format is 406."""
    wanted = (request.query_params.get("_format") or request.headers.get("accept") or "*/*").lower()
    if "json" not in wanted and "*/*" not in wanted and "application/*" not in wanted:
        raise NotAcceptable("CareLoop's FHIR API speaks application/fhir+json only")


def _type(name: str, actor: Actor, interaction: str) -> ResourceType:
    """The registry entry; the role's permission for it and the token's SMART scopes for the interaction
    (r read, s search, c create, u update)."""
    rtype = TYPES.get(name)
    if rtype is None:
        raise NotFound(f"Resource type {name[:40]} is not supported here", code="unsupported_type")
    actor.require(rtype.permission)
    if actor.fhir_scopes is not None and not actor.fhir_scopes.allows(rtype.name, interaction):
        raise Forbidden(f"The token's scopes do not allow this on {rtype.name}", code="insufficient_scope")
    return rtype


@api.get("/metadata", summary="CapabilityStatement: what this server supports")
def metadata(request: Request) -> Response:
    _negotiate(request)
    resources = [{
        "type": rtype.name, "interaction": [{"code": "read"}, {"code": "search-type"},
                                            *([{"code": "create"}, {"code": "update"}]
                                              if rtype.name in writes.WRITABLE else [])],
        "conditionalCreate": rtype.name in writes.WRITABLE,
        "versioning": "versioned" if hasattr(rtype.model, "version") else "no-version",
        "readHistory": False, "updateCreate": False,
        "searchParam": [{"name": name, "type": "token" if p.kind in ("identifier",) else
                         {"reference": "reference", "string": "string", "date": "date"}.get(p.kind, "token")}
                        for name, p in rtype.params.items()],
    } for rtype in TYPES.values()]
    return fhir_response({
        "resourceType": "CapabilityStatement", "status": "active", "date": dt.date.today().isoformat(),
        "kind": "instance", "fhirVersion": "4.0.1", "format": ["json"],
        "instantiates": ["http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data"],
        "software": {"name": "CareLoop", "version": __version__},
        "implementation": {"description": "CareLoop FHIR R4 API", "url": _base(request)},
        "rest": [{"mode": "server", "security": {
            "service": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                     "code": "OAuth"}]}],
            "description": "Bearer tokens (careloop tokens create, or the client-credentials grant at /oauth/token)."
                           " Search by name, identifier or birth date with POST [type]/_search."},
            "resource": resources,
            "operation": [{"name": name, "definition": f"http://hl7.org/fhir/uv/bulkdata/OperationDefinition/{d}"}
                          for name, d in (("export", "export"), ("patient-export", "patient-export"),
                                          ("group-export", "group-export"))]}],
    })


@api.post("", summary="A transaction Bundle: every entry or none, urn:uuid references resolved")
async def bundle(request: Request, session: Db, actor: Writer) -> Response:
    _negotiate(request)

    def allow(type_name: str, interaction: str) -> None:
        _type(type_name, actor, interaction)
    return fhir_response(transaction.run(session, actor, await _json_body(request), _base(request), allow))


# --- Bulk Data $export (kick-off, status, manifest, files): declared before the [type]/[id] read route ---

@api.get("/$export", summary="Bulk Data export kick-off, system level (Prefer: respond-async; 202 + status URL)")
def export_system(request: Request, session: Db, actor: Exporter) -> Response:
    return _kick_off(request, session, actor, "system", None)


@api.get("/Patient/$export", summary="Bulk Data export kick-off, Patient level: the patients you may see, their data")
def export_patients(request: Request, session: Db, actor: Exporter) -> Response:
    return _kick_off(request, session, actor, "patient", None)


@api.get("/Group/{group_id}/$export",
         summary="Bulk Data export kick-off, Group level: a care coordinator's panel (Group id = their staff id)")
def export_group(group_id: uuid.UUID, request: Request, session: Db, actor: Exporter) -> Response:
    return _kick_off(request, session, actor, "group", group_id)


@api.get("/$export-status/{job_id}", summary="Export status: 202 while running, then the manifest (application/json)")
def export_status(job_id: uuid.UUID, request: Request, session: Db, actor: Exporter) -> Response:
    job = export.load_job(session, actor, job_id)
    if job.status in ("pending", "running"):
        return Response(status_code=202, headers={"X-Progress": job.status, "Retry-After": "5"})
    if job.status == "failed":
        return fhir_response({"resourceType": "OperationOutcome", "issue": [
            _outcome("error", "exception", job.error or "export failed")]}, status=500)
    expires = job.completed_at + export.RETENTION
    return Response(orjson.dumps(export.manifest(job, _base(request))), media_type="application/json",
                    headers={"Expires": format_datetime(expires, usegmt=True)})


@api.delete("/$export-status/{job_id}", summary="Cancel an export, or delete its files once done (202)")
def export_cancel(job_id: uuid.UUID, session: Db, actor: Exporter) -> Response:
    export.cancel(session, actor, job_id)
    return Response(status_code=202)


@api.get("/$export-file/{job_id}/{file_name}", summary="One NDJSON file of a finished export (audited)")
def export_file(job_id: uuid.UUID, file_name: str, session: Db, actor: Exporter) -> Response:
    path, _ = export.file_for(session, actor, job_id, file_name)
    return FileResponse(path, media_type="application/fhir+ndjson")


def _kick_off(request: Request, session: Session, actor: Actor, level: str, group_id: uuid.UUID | None) -> Response:
    _negotiate(request)
    if "respond-async" not in request.headers.get("prefer", "").lower():
        raise BadRequest("Bulk export is asynchronous: send the header Prefer: respond-async",
                         code="respond_async_required")
    unsupported = sorted({name[:40] for name in request.query_params} - EXPORT_PARAMS)
    if unsupported:
        raise BadRequest(f"Export parameters not supported: {', '.join(unsupported)}", code="unsupported_parameter")
    output_format = request.query_params.get("_outputFormat")
    if output_format is not None and output_format not in NDJSON_FORMATS:
        raise BadRequest("_outputFormat: only application/fhir+ndjson is produced", code="unsupported_format")
    job = export.kick_off(session, actor, level, types=request.query_params.get("_type"),
                          since=request.query_params.get("_since"), group_id=group_id, request_url=str(request.url))
    return Response(status_code=202, headers={"Content-Location": f"{_base(request)}/$export-status/{job.id}"})


@api.get("/{resource_type}/{resource_id}", summary="Read a resource (ETag and Last-Modified)")
def read(resource_type: str, resource_id: str, request: Request, session: Db, actor: Reader) -> Response:
    _negotiate(request)
    rtype = _type(resource_type, actor, "r")
    try:
        record_id = rtype.parse_id(resource_id)
    except ValueError as err:
        raise NotFound(f"{rtype.name} not found") from err
    row = search.load(session, actor, rtype, record_id)
    patient_id = getattr(row, rtype.patient_column) if rtype.patient_column else None
    audit.record(session, actor, "read", patient_id=patient_id, record_type=rtype.name, record_id=str(row.id),
                 detail={"via": "fhir"})
    return _resource(request, rtype, row, 200)


@api.get("/{resource_type}", summary="Search (GET: no names, identifiers or birth dates in the URL)")
def search_get(resource_type: str, request: Request, session: Db, actor: Reader) -> Response:
    _negotiate(request)
    rtype = _type(resource_type, actor, "s")
    params = list(request.query_params.multi_items())
    cursor = dict(params).get("_cursor")
    after = None
    if cursor:
        params, after = _unseal(cursor, rtype)
    return _search(request, session, actor, rtype, params, after, from_url=not cursor)


@api.post("/{resource_type}/_search", summary="Search with the parameters in a form body (any parameter)")
async def search_post(resource_type: str, request: Request, session: Db, actor: Reader) -> Response:
    _negotiate(request)
    rtype = _type(resource_type, actor, "s")
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        raise BadRequest("Send the search parameters as application/x-www-form-urlencoded", code="invalid_body")
    body = (await request.body()).decode("utf-8", errors="replace")
    params = [*request.query_params.multi_items(), *parse_qsl(body, keep_blank_values=False)]
    return _search(request, session, actor, rtype, params, None, from_url=False)


@api.post("/$import", summary="Import a Bundle (application/fhir+json) or NDJSON (application/fhir+ndjson)")
async def bulk_import(request: Request, session: Db, actor: Importer, coordinator: uuid.UUID) -> Response:
    """Synchronous, idempotent: the body's resources are mapped into CareLoop (patients created with
    `coordinator` as their care coordinator); the answer says what was imported, already there, not modeled
    and rejected (by reason). The Bulk Data IG's asynchronous $import fetches URLs: CareLoop never fetches."""
    _negotiate(request)
    importer = bulk.Importer(None, actor, bulk.coordinator(session, actor, coordinator))
    media = request.headers.get("content-type", "").split(";")[0].strip()
    body = await request.body()
    if media not in ("application/fhir+ndjson", FHIR_JSON, "application/json"):
        raise UnsupportedMediaType("Send a Bundle as application/fhir+json or NDJSON as application/fhir+ndjson")
    importer.import_bytes(session, body, ndjson=media == "application/fhir+ndjson")
    summary = importer.summary
    issues = [{"severity": "information", "code": "informational", "diagnostics": f"{label} {name}: {n}"}
              for label, counter in (("imported", summary.imported), ("already present", summary.already),
                                     ("not modeled", summary.not_modeled), ("read through", summary.read_through))
              for name, n in sorted(counter.items())]
    issues += [{"severity": "warning", "code": "processing", "diagnostics": f"rejected {reason}: {n}"}
               for reason, n in sorted(summary.rejected.items())]
    return fhir_response({"resourceType": "OperationOutcome", "issue": issues or [
        {"severity": "information", "code": "informational", "diagnostics": "nothing to import"}]})


@api.post("/{resource_type}", summary="Create (conditional with If-None-Exist); the resource is validated in full")
async def create(resource_type: str, request: Request, session: Db, actor: Writer) -> Response:
    _negotiate(request)
    rtype = _writable(resource_type, actor, "c")
    kind, patient_id, data = writes.to_record(rtype.name, await _json_body(request))
    condition = request.headers.get("if-none-exist")
    if condition:
        query = search.parse(rtype, parse_qsl(condition.lstrip("?")), strict=True)
        query.count = 2
        found = list(session.scalars(search.statement(rtype, actor, query, None)))
        if len(found) > 1:
            raise PreconditionFailed("If-None-Exist matches more than one resource", code="multiple_matches")
        if found:
            return _resource(request, rtype, found[0], 200)
    row = clinical.create_record(session, actor, kind, patient_id, data)
    return _resource(request, rtype, row, 201)


@api.put("/{resource_type}/{resource_id}", summary="Update (If-Match checked when sent); the resource is validated")
async def update(resource_type: str, resource_id: str, request: Request, session: Db, actor: Writer) -> Response:
    _negotiate(request)
    rtype = _writable(resource_type, actor, "u")
    body = await _json_body(request)
    if isinstance(body, dict) and body.get("id") not in (None, resource_id):
        raise BadRequest("The resource id must match the URL", code="id_mismatch")
    try:
        row = search.load(session, actor, rtype, uuid.UUID(resource_id))
    except ValueError as err:
        raise NotFound(f"{rtype.name} not found") from err
    kind, patient_id, data = writes.to_record(rtype.name, body)
    if patient_id != row.patient_id:
        raise InvalidInput("A record cannot move to another patient", field="subject")
    row = clinical.update_record(session, actor, kind, row.patient_id, row.id, kind.update(**data.model_dump()),
                                 expected_version=if_match(request))
    return _resource(request, rtype, row, 200)


def _writable(name: str, actor: Actor, interaction: str) -> ResourceType:
    rtype = _type(name, actor, interaction)
    if rtype.name not in writes.WRITABLE:
        raise MethodNotAllowed(f"{rtype.name} is read-only here", code="read_only_type")
    return rtype


async def _json_body(request: Request) -> Any:
    media = request.headers.get("content-type", "").split(";")[0].strip()
    if media not in (FHIR_JSON, "application/json"):
        raise UnsupportedMediaType("Send the resource as application/fhir+json")
    try:
        return orjson.loads(await request.body())
    except orjson.JSONDecodeError as err:
        raise BadRequest("The body is not JSON", code="invalid_json") from err


def _resource(request: Request, rtype: ResourceType, row: Any, status: int) -> Response:
    resource = rtype.build(row)
    meta = resource["meta"]
    headers = {"Last-Modified": format_datetime(dt.datetime.fromisoformat(meta["lastUpdated"]), usegmt=True)}
    if "versionId" in meta:  # read-only types without versions have no ETag
        headers["ETag"] = f'W/"{meta["versionId"]}"'
    if status == 201:
        headers["Location"] = f"{_base(request)}/{rtype.name}/{row.id}/_history/{row.version}"
    return fhir_response(resource, status, headers)


def _search(request: Request, session: Session, actor: Actor, rtype: ResourceType, params: list[tuple[str, str]],
            after: tuple[Any, str] | None, *, from_url: bool) -> Response:
    strict = "handling=strict" in request.headers.get("prefer", "").replace(" ", "")
    query = search.parse(rtype, [(k, v) for k, v in params if k != "_cursor"], strict=strict)
    if from_url and query.identifying:
        raise BadRequest("Names, identifiers and birth dates are not sent in a URL: POST them to "
                         f"/fhir/{rtype.name}/_search", code="search_terms_in_url")
    base = _base(request)
    if query.summary_count:
        total = session.scalar(search.count_statement(rtype, actor, query))
        audit.record(session, actor, "search", record_type=rtype.name, detail={"via": "fhir", "count": total})
        return fhir_response({"resourceType": "Bundle", "type": "searchset", "total": total})
    rows = list(session.scalars(search.statement(rtype, actor, query, after))) if query.count else []
    more, rows = len(rows) > query.count, rows[:query.count]
    entries = [{"fullUrl": f"{base}/{rtype.name}/{row.id}", "resource": rtype.build(row), "search": {"mode": "match"}}
               for row in rows]
    extra = search.included(session, actor, rtype, query, rows)
    for include_type, row in extra:
        entries.append({"fullUrl": f"{base}/{include_type.name}/{row.id}", "resource": include_type.build(row),
                        "search": {"mode": "include"}})
    if query.ignored:
        entries.append({"resource": _outcome("warning", "not-supported",
                                             f"Ignored unknown parameters: {', '.join(query.ignored)}"),
                        "search": {"mode": "outcome"}})
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if query.total:
        bundle["total"] = session.scalar(search.count_statement(rtype, actor, query))
    links = [{"relation": "self", "url": f"{base}/{rtype.name}" if query.identifying or not from_url
              else str(request.url)}]
    if more and rows:
        last = rows[-1]
        links.append({"relation": "next", "url": f"{base}/{rtype.name}?_cursor="
                      + _seal(rtype, params, search.sort_value(rtype, query, last), last.id)})
    patients = {getattr(row, rtype.patient_column) for row in rows} if rtype.patient_column else {None}
    patients |= {getattr(row, t.patient_column) for t, row in extra if t.patient_column}
    audit.record_many(session, actor, [audit.Entry(action="read", patient_id=pid, record_type=rtype.name,
                                                   detail={"via": "fhir-search", "count": len(rows)})
                                       for pid in sorted(patients, key=str)])
    return fhir_response({**bundle, "link": links, "entry": entries})


def _seal(rtype: ResourceType, params: list[tuple[str, str]], value: Any, last_id: uuid.UUID) -> str:
    kept = [(k, v) for k, v in params if k != "_cursor"]
    stamp = value.isoformat() if isinstance(value, dt.date | dt.datetime) else value
    kind = "datetime" if isinstance(value, dt.datetime) else "date" if isinstance(value, dt.date) else "none"
    return secrets_box.seal(orjson.dumps({"t": rtype.name, "p": kept, "v": stamp, "k": kind, "i": str(last_id)}),
                            CURSOR_PURPOSE)


def _unseal(cursor: str, rtype: ResourceType) -> tuple[list[tuple[str, str]], tuple[Any, str]]:
    try:
        data = orjson.loads(secrets_box.unseal(cursor, CURSOR_PURPOSE))
    except Exception as err:  # tampered, expired key or garbage: never a 500
        raise BadRequest("This page link is not valid; run the search again", code="invalid_cursor") from err
    if data.get("t") != rtype.name:
        raise BadRequest("This page link belongs to another resource type", code="invalid_cursor")
    raw, kind = data["v"], data["k"]
    value = (dt.datetime.fromisoformat(raw) if kind == "datetime" else dt.date.fromisoformat(raw) if kind == "date"
             else None)
    return [tuple(p) for p in data["p"]], (value, data["i"])


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/fhir"


def _outcome(severity: str, code: str, text: str) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [{"severity": severity, "code": code,
                                                           "diagnostics": text}]}
