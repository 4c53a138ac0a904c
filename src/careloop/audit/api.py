"""Audit reports and chain verification API."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session

from careloop.audit import queries
from careloop.audit import service as audit
from careloop.auth.actor import Actor
from careloop.auth.deps import require
from careloop.auth.permissions import Permission
from careloop.routing import db, router

api = router(prefix="/api/v1/audit", tags=["audit"])
Db = Annotated[Session, Depends(db)]
Auditor = Annotated[Actor, Depends(require(Permission.AUDIT_READ))]


class AuditEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    occurred_at: dt.datetime
    actor_id: uuid.UUID | None
    actor_label: str | None
    actor_role: str | None
    client_name: str | None
    action: str
    outcome: str
    patient_id: uuid.UUID | None
    record_type: str | None
    record_id: str | None
    source_address: str | None
    purpose_of_use: str | None
    detail: dict[str, Any]


def _query(patient_id: uuid.UUID | None = None, actor_id: uuid.UUID | None = None,
           action: Annotated[str | None, Query(max_length=40)] = None,
           start: Annotated[dt.datetime | None, Query(alias="from")] = None,
           end: Annotated[dt.datetime | None, Query(alias="to")] = None,
           sort: Annotated[str, Query(max_length=30)] = "-occurred_at",
           limit: Annotated[int, Query(ge=1, le=1000)] = 200,
           offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> queries.AuditQuery:
    return queries.AuditQuery(patient_id=patient_id, actor_id=actor_id, action=action, start=start, end=end,
                              sort=sort, limit=limit, offset=offset)


@api.get("", response_model=list[AuditEventRead], summary="Audit report (by patient, user, action, period)")
def report(session: Db, actor: Auditor, q: Annotated[queries.AuditQuery, Depends(_query)]) -> list[AuditEventRead]:
    return [AuditEventRead.model_validate(e) for e in queries.search(session, actor, q)]


@api.get("/export.csv", summary="Audit report as CSV", response_class=Response)
def export(session: Db, actor: Auditor, q: Annotated[queries.AuditQuery, Depends(_query)]) -> Response:
    body = "".join(queries.export_csv(session, actor, q))
    return Response(body, media_type="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="careloop-audit.csv"'})


class VerifyResult(BaseModel):
    checked: int
    intact: bool
    breaks: list[dict[str, Any]]


@api.get("/verify", response_model=VerifyResult, summary="Verify the hash chains of the audit trail")
def verify(session: Db, actor: Auditor) -> VerifyResult:
    # Only this organisation's chain and the shared system chain: other tenants' volumes are not ours to see.
    checked, breaks = audit.verify(session, chains=(str(actor.organization_id), "system"))
    return VerifyResult(checked=checked, intact=not breaks,
                        breaks=[{"chain": b.chain, "seq": b.seq, "event_id": b.event_id, "reason": b.reason}
                                for b in breaks])
