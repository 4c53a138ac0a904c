"""Audit reports: by patient, user, action and period; sortable by every field; CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop import clock
from careloop.audit import service as audit
from careloop.audit.models import AuditEvent
from careloop.auth.actor import Actor
from careloop.auth.permissions import Permission
from careloop.errors import BadRequest

SORTABLE = ("occurred_at", "actor_label", "actor_role", "action", "outcome", "patient_id", "record_type",
            "source_address", "purpose_of_use")
CSV_COLUMNS = ("id", "occurred_at", "actor_id", "actor_label", "actor_role", "client_name", "action", "outcome",
               "patient_id", "record_type", "record_id", "source_address", "purpose_of_use")


@dataclass(frozen=True)
class AuditQuery:
    patient_id: uuid.UUID | None = None
    actor_id: uuid.UUID | None = None
    action: str | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    sort: str = "-occurred_at"
    limit: int = 200
    offset: int = 0


def _statement(actor: Actor, q: AuditQuery):
    key = q.sort.lstrip("-")
    if key not in SORTABLE:
        raise BadRequest(f"sort must be one of {', '.join(SORTABLE)} (prefix - for descending)", code="invalid_sort")
    column = getattr(AuditEvent, key)
    stmt = select(AuditEvent).where(AuditEvent.organization_id == actor.organization_id)
    for value, col in ((q.patient_id, AuditEvent.patient_id), (q.actor_id, AuditEvent.actor_id),
                       (q.action, AuditEvent.action)):
        if value is not None:
            stmt = stmt.where(col == value)
    if q.start:  # a time without an offset is UTC (a naive datetime cannot be bound: it was a 500)
        stmt = stmt.where(AuditEvent.occurred_at >= clock.ensure_utc(q.start))
    if q.end:
        stmt = stmt.where(AuditEvent.occurred_at < clock.ensure_utc(q.end))
    order = column.desc() if q.sort.startswith("-") else column.asc()
    # Empty values last in both directions and on both backends (SQLite and PostgreSQL default differently).
    return stmt.order_by(order.nulls_last(), AuditEvent.id)


def search(session: Session, actor: Actor, q: AuditQuery) -> list[AuditEvent]:
    """A page of the organisation's audit events; looking at the audit trail is itself audited."""
    actor.require(Permission.AUDIT_READ)
    rows = list(session.scalars(_statement(actor, q).limit(q.limit).offset(q.offset)))
    audit.record(session, actor, "read", record_type="AuditEvent", patient_id=q.patient_id,
                 detail={"count": len(rows)})
    return rows


def export_csv(session: Session, actor: Actor, q: AuditQuery) -> Iterator[str]:
    """All matching events as CSV lines (streamed); the export is audited."""
    actor.require(Permission.AUDIT_READ)
    audit.record(session, actor, "export", record_type="AuditEvent", patient_id=q.patient_id)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for event in session.scalars(_statement(actor, q).execution_options(yield_per=1000)):
        writer.writerow([_cell(getattr(event, c)) for c in CSV_COLUMNS])
        if buffer.tell() > 64_000:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _cell(value: object) -> str:
    if value is None:
        return ""
    text = value.isoformat() if isinstance(value, dt.datetime) else str(value)
    return "'" + text if text and text[0] in "=+-@\t\r" else text  # no formula injection in spreadsheets
