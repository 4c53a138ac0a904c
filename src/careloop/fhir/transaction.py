"""FHIR `transaction` Bundles: every entry or none, local `urn:uuid:` references resolved.

Entries are POST (create, `ifNoneExist` honoured) or PUT (update, `ifMatch` honoured) of the writable types.
Ids are given to the created resources before any entry is read, so references between entries (an
Observation's `encounter` pointing at an Encounter created in the same Bundle) resolve whatever their
order; FHIR's order of processing is kept (creates, then updates). The request is one database
transaction: a failing entry rolls back all of them, and the OperationOutcome names the entry.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy.orm import Session

from careloop.auth.actor import Actor
from careloop.clinical import service as clinical
from careloop.errors import BadRequest, CareLoopError, InvalidInput, PreconditionFailed
from careloop.fhir import search, writes
from careloop.fhir.resources import TYPES

MAX_ENTRIES = 1000


class EntryError(CareLoopError):
    """An entry of the transaction failed: the status and message of its own error, the entry named."""

    def __init__(self, index: int, error: CareLoopError) -> None:
        super().__init__(f"Bundle.entry[{index}]: {error.message}", code=error.code, status=error.status,
                         extra={**error.extra, "errors": [{"field": f"Bundle.entry[{index}]{_where(e)}",
                                                           "message": e["message"]}
                                                          for e in error.extra.get("errors", [])] or
                                [{"field": f"Bundle.entry[{index}]", "message": error.code}]})


def _where(issue: dict[str, Any]) -> str:
    return f".resource.{issue['field']}" if issue.get("field") else ""


def run(session: Session, actor: Actor, bundle: Any, base: str,
        allow: Callable[[str, str], Any]) -> dict[str, Any]:
    """Apply a transaction Bundle; returns the transaction-response Bundle. `allow(type, interaction)` checks
    the caller may do it (permission, SMART scopes)."""
    writes.validate("Bundle", bundle)
    if bundle.get("type") != "transaction":
        raise BadRequest("Only transaction Bundles are accepted here", code="not_a_transaction")
    entries = bundle.get("entry", [])
    if len(entries) > MAX_ENTRIES:
        raise BadRequest(f"A transaction has at most {MAX_ENTRIES} entries", code="too_many_entries")
    planned = [_plan(i, e) for i, e in enumerate(entries)]
    local = {p["full_url"]: f"{p['type']}/{p['new_id']}" for p in planned if p["full_url"] and p["new_id"]}
    results: list[dict[str, Any] | None] = [None] * len(planned)
    for phase in ("POST", "PUT"):
        # Encounters first: other records may point at one created in the same Bundle.
        for p in sorted((p for p in planned if p["method"] == phase), key=lambda p: p["type"] != "Encounter"):
            try:
                allow(p["type"], "c" if phase == "POST" else "u")
                resource = _resolve(p["resource"], local)
                results[p["index"]] = (_create(session, actor, p, resource, local) if phase == "POST"
                                       else _update(session, actor, p, resource))
            except CareLoopError as err:
                raise EntryError(p["index"], err) from None
    return {"resourceType": "Bundle", "type": "transaction-response", "entry": [
        {"response": {"status": status, "location": f"{base}/{row_type}/{row.id}/_history/{row.version}",
                      "etag": f'W/"{row.version}"'}, "resource": TYPES[row_type].build(row)}
        for status, row_type, row in results]}


def _plan(index: int, entry: dict[str, Any]) -> dict[str, Any]:
    request, resource = entry.get("request") or {}, entry.get("resource")
    method, url = request.get("method"), request.get("url", "")
    if method not in ("POST", "PUT") or not isinstance(resource, dict):
        raise EntryError(index, BadRequest("Only POST and PUT entries with a resource are supported",
                                           code="unsupported_entry"))
    rtype = resource.get("resourceType", "")
    if rtype not in writes.WRITABLE:
        raise EntryError(index, BadRequest(f"{rtype[:40] or 'This type'} cannot be written here",
                                           code="read_only_type"))
    target = url.split("?")[0].strip("/")
    if (method == "POST" and target != rtype) or (method == "PUT" and target.rsplit("/", 1)[0] != rtype):
        raise EntryError(index, BadRequest("request.url does not match the resource", code="url_mismatch"))
    record_id = None
    if method == "PUT":
        try:
            record_id = uuid.UUID(target.rsplit("/", 1)[-1])
        except ValueError:
            raise EntryError(index, BadRequest("PUT needs Type/{id}", code="url_mismatch")) from None
    return {"index": index, "method": method, "type": rtype, "resource": resource, "record_id": record_id,
            "full_url": entry.get("fullUrl") if str(entry.get("fullUrl", "")).startswith("urn:uuid:") else None,
            "new_id": uuid.uuid4() if method == "POST" else None, "if_none_exist": request.get("ifNoneExist"),
            "if_match": request.get("ifMatch")}


def _resolve(value: Any, local: dict[str, str]) -> Any:
    """The resource with every `urn:uuid:` reference to an entry of this Bundle replaced by Type/id."""
    if isinstance(value, dict):
        out = {k: _resolve(v, local) for k, v in value.items()}
        ref = out.get("reference")
        if isinstance(ref, str) and ref.startswith("urn:uuid:"):
            if ref not in local:
                raise BadRequest("A urn:uuid reference names no entry of this Bundle", code="unresolved_reference")
            out["reference"] = local[ref]
        return out
    if isinstance(value, list):
        return [_resolve(v, local) for v in value]
    return value


def _create(session: Session, actor: Actor, plan: dict[str, Any], resource: dict[str, Any],
            local: dict[str, str]) -> tuple:
    rtype = TYPES[plan["type"]]
    kind, patient_id, data = writes.to_record(rtype.name, resource)
    if plan["if_none_exist"]:
        query = search.parse(rtype, parse_qsl(plan["if_none_exist"].lstrip("?")), strict=True)
        query.count = 2
        found = list(session.scalars(search.statement(rtype, actor, query, None)))
        if len(found) > 1:
            raise PreconditionFailed("ifNoneExist matches more than one resource", code="multiple_matches")
        if found:  # later entries that point at this one point at the existing resource
            if plan["full_url"]:
                local[plan["full_url"]] = f"{rtype.name}/{found[0].id}"
            return "200 OK", rtype.name, found[0]
    row = clinical.create_record(session, actor, kind, patient_id, data, record_id=plan["new_id"])
    return "201 Created", rtype.name, row


def _update(session: Session, actor: Actor, plan: dict[str, Any], resource: dict[str, Any]) -> tuple:
    rtype = TYPES[plan["type"]]
    row = search.load(session, actor, rtype, plan["record_id"])
    kind, patient_id, data = writes.to_record(rtype.name, resource)
    if patient_id != row.patient_id:
        raise InvalidInput("A record cannot move to another patient", field="subject")
    expected = None
    if plan["if_match"]:
        digits = "".join(ch for ch in plan["if_match"] if ch.isdigit())
        expected = int(digits) if digits else None
    row = clinical.update_record(session, actor, kind, row.patient_id, row.id, kind.update(**data.model_dump()),
                                 expected_version=expected)
    return "200 OK", rtype.name, row
