"""Protocol JSON API: the definitions in force, and runs with their current and late steps."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Query
from sqlalchemy.orm import Session

from careloop.auth.actor import Actor
from careloop.auth.deps import require
from careloop.auth.permissions import Permission
from careloop.errors import NotFound
from careloop.patients.models import Patient
from careloop.protocols import queries, rules, service
from careloop.protocols.definition import Protocol
from careloop.protocols.models import ProtocolRun, ProtocolRunStatus
from careloop.protocols.registry import get_registry
from careloop.protocols.schemas import (
    CancelRun,
    PatientRef,
    ProtocolCountRead,
    ProtocolRead,
    RunPage,
    RunRead,
    RunSummary,
    StepDefinition,
    StepState,
    StepTask,
)
from careloop.routing import db, router

api = router(prefix="/api/v1", tags=["protocols"])
Db = Annotated[Session, Depends(db)]
Reader = Annotated[Actor, Depends(require(Permission.PROTOCOL_READ))]


def to_read(protocol: Protocol) -> ProtocolRead:
    """A definition as the API shows it."""
    return ProtocolRead(
        key=protocol.key, name=protocol.name, version=protocol.version, description=protocol.description,
        triggers=[t.event for t in protocol.triggers], cancel_on=[c.event for c in protocol.cancel_on],
        steps=[StepDefinition(key=s.key, title=s.title, description=s.description, role=[str(r) for r in s.role],
                              priority=s.priority, due=rules.describe_due(s.due), depends_on=s.depends_on,
                              complete_on=s.complete_on.event if s.complete_on else None,
                              when=rules.describe_condition(s.when)) for s in protocol.steps])


def _patient(patient: Patient) -> PatientRef:
    return PatientRef(id=patient.id, mrn=patient.mrn, name=f"{patient.family_name}, {patient.given_name}")


def to_summary(row: queries.RunRow) -> RunSummary:
    run = row.run
    return RunSummary(id=run.id, protocol_key=run.protocol_key, protocol_name=row.protocol_name,
                      protocol_version=run.protocol_version, status=run.status, patient=_patient(row.patient),
                      started_at=run.started_at, anchor_at=run.anchor_at, completed_at=run.completed_at,
                      current_steps=[StepTask.model_validate(t) for t in row.current], late_steps=row.late)


def to_run(detail: queries.RunDetail) -> RunRead:
    run = detail.run
    return RunRead(id=run.id, version=run.version, protocol_key=run.protocol_key,
                   protocol_version=run.protocol_version, status=run.status, patient=_patient(detail.patient),
                   started_at=run.started_at, anchor_at=run.anchor_at, completed_at=run.completed_at,
                   context=run.context, steps=[StepState(key=s.key, title=s.title, state=s.state, late=s.late,
                                                         task=StepTask.model_validate(s.task) if s.task else None)
                                               for s in detail.steps])


@api.get("/protocols", response_model=list[ProtocolRead], summary="Protocols in force for my organisation")
def list_protocols(actor: Reader, key: Annotated[str | None, Query(max_length=60)] = None) -> list[ProtocolRead]:
    found = get_registry().protocols(actor.organization_id)
    if key is not None and key not in found:
        raise NotFound("Protocol not found")
    return [to_read(p) for k, p in found.items() if key in (None, k)]


@api.get("/protocol-runs/summary", response_model=list[ProtocolCountRead],
         summary="Active and late runs per protocol")
def run_counts(session: Db, actor: Reader) -> list[ProtocolCountRead]:
    return [ProtocolCountRead(**vars(c)) for c in queries.counts_by_protocol(session, actor)]


@api.get("/protocol-runs", response_model=RunPage, summary="Protocol runs, most urgent first")
def list_runs(session: Db, actor: Reader,
              protocol: Annotated[str | None, Query(max_length=60)] = None,
              status: Annotated[str, Query(pattern="^(active|completed|cancelled|any)$")] = "active",
              late: Annotated[bool, Query(description="Only runs with an overdue step")] = False,
              limit: Annotated[int, Query(ge=1, le=200)] = queries.PAGE_SIZE,
              offset: Annotated[int, Query(ge=0, le=100_000)] = 0) -> RunPage:
    rows, total = queries.list_runs(session, actor, protocol_key=protocol, late_only=late,
                                    status=None if status == "any" else ProtocolRunStatus(status),
                                    limit=limit, offset=offset)
    return RunPage(items=[to_summary(r) for r in rows], total=total)


@api.get("/protocol-runs/{run_id}", response_model=RunRead, summary="One run with every step")
def get_run(run_id: uuid.UUID, session: Db, actor: Reader) -> RunRead:
    return to_run(queries.run_detail(session, actor, run_id))


@api.post("/protocol-runs/{run_id}/cancel", response_model=RunRead, summary="Cancel a run and its open steps")
def cancel_run(run_id: uuid.UUID, data: CancelRun, session: Db,
               actor: Annotated[Actor, Depends(require(Permission.PROTOCOL_ADMIN))]) -> RunRead:
    run: ProtocolRun = service.cancel_run_by_actor(session, actor, run_id, data.reason)
    return to_run(queries.run_detail(session, actor, run.id))


@api.get("/patients/{patient_id}/protocol-runs", response_model=list[RunSummary],
         summary="A patient's protocol runs")
def patient_runs(patient_id: uuid.UUID, session: Db, actor: Reader) -> list[RunSummary]:
    return [to_summary(r) for r in queries.patient_runs(session, actor, patient_id)]
