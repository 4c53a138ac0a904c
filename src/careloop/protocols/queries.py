"""Seeing protocol runs: active runs with each patient's current step and what is late, per protocol."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import Select, case, exists, func, select
from sqlalchemy.orm import Session

from careloop import clock
from careloop.audit import service as audit
from careloop.auth import access
from careloop.auth.actor import Actor
from careloop.auth.permissions import Permission
from careloop.errors import NotFound
from careloop.patients.models import Patient
from careloop.protocols import rules
from careloop.protocols.definition import Protocol
from careloop.protocols.models import ProtocolRun, ProtocolRunStatus
from careloop.protocols.registry import get_registry
from careloop.tasks.models import OPEN_STATUSES, Task

PAGE_SIZE = 50


@dataclass(frozen=True)
class RunRow:
    """A run with its patient, its open step tasks (soonest due first) and how many of them are overdue."""

    run: ProtocolRun
    patient: Patient
    protocol_name: str
    current: list[Task]
    late: int


@dataclass(frozen=True)
class StepView:
    """A step of a run: its task if it has one; otherwise waiting (dependencies) or skipped (`when` false)."""

    key: str
    title: str
    state: str
    task: Task | None
    late: bool


@dataclass(frozen=True)
class RunDetail:
    run: ProtocolRun
    patient: Patient
    protocol: Protocol | None
    steps: list[StepView]


@dataclass(frozen=True)
class ProtocolCount:
    key: str
    name: str
    active: int
    late: int


def _overdue(now: dt.datetime):
    return exists().where(Task.protocol_run_id == ProtocolRun.id, Task.status.in_(OPEN_STATUSES), Task.due_at < now)


def _scoped(actor: Actor) -> Select:
    actor.require(Permission.PROTOCOL_READ)
    return (select(ProtocolRun, Patient).join(Patient, Patient.id == ProtocolRun.patient_id)
            .where(ProtocolRun.organization_id == actor.organization_id, access.visible_patients(actor)))


def list_runs(session: Session, actor: Actor, *, protocol_key: str | None = None,
              status: ProtocolRunStatus | None = ProtocolRunStatus.ACTIVE, late_only: bool = False,
              patient_id: uuid.UUID | None = None, limit: int = PAGE_SIZE, offset: int = 0) -> tuple[list[RunRow], int]:
    """Runs the actor may see, most urgent first (soonest open step due), with the total count; audited."""
    now = clock.now()
    stmt = _scoped(actor)
    if protocol_key:
        stmt = stmt.where(ProtocolRun.protocol_key == protocol_key)
    if status is not None:
        stmt = stmt.where(ProtocolRun.status == status)
    if late_only:
        stmt = stmt.where(_overdue(now))
    if patient_id is not None:
        stmt = stmt.where(ProtocolRun.patient_id == patient_id)
    total = session.scalar(select(func.count()).select_from(stmt.with_only_columns(ProtocolRun.id).subquery()))
    next_due = (select(func.min(Task.due_at)).where(Task.protocol_run_id == ProtocolRun.id,
                                                    Task.status.in_(OPEN_STATUSES)).scalar_subquery())
    page = session.execute(stmt.order_by(next_due.is_(None), next_due, ProtocolRun.started_at.desc(), ProtocolRun.id)
                           .limit(limit).offset(offset)).all()
    rows = _with_steps(session, [(run, patient) for run, patient in page], now)
    audit.record_many(session, actor, [audit.Entry(action="read", patient_id=r.patient.id, record_type="ProtocolRun",
                                                   record_id=str(r.run.id)) for r in rows])
    return rows, total or 0


def _with_steps(session: Session, page: list[tuple[ProtocolRun, Patient]], now: dt.datetime) -> list[RunRow]:
    open_tasks: dict[uuid.UUID, list[Task]] = {run.id: [] for run, _ in page}
    if open_tasks:
        stmt = (select(Task).where(Task.protocol_run_id.in_(open_tasks), Task.status.in_(OPEN_STATUSES))
                .order_by(Task.due_at.is_(None), Task.due_at))
        for task in session.scalars(stmt):
            open_tasks[task.protocol_run_id].append(task)
    registry = get_registry()
    return [RunRow(run, patient, _name(registry.get(run.organization_id, run.protocol_key), run.protocol_key),
                   open_tasks[run.id], sum(1 for t in open_tasks[run.id] if t.due_at and t.due_at < now))
            for run, patient in page]


def _name(protocol: Protocol | None, key: str) -> str:
    return protocol.name if protocol else key


def counts_by_protocol(session: Session, actor: Actor) -> list[ProtocolCount]:
    """Active and late runs of each protocol in force (zeros included), in one grouped query."""
    now = clock.now()
    stmt = (_scoped(actor).with_only_columns(ProtocolRun.protocol_key, func.count(),
                                             func.sum(case((_overdue(now), 1), else_=0)))
            .where(ProtocolRun.status == ProtocolRunStatus.ACTIVE).group_by(ProtocolRun.protocol_key))
    found = {key: (active, late or 0) for key, active, late in session.execute(stmt)}
    protocols = get_registry().protocols(actor.organization_id)
    keys = sorted(set(protocols) | set(found), key=lambda k: _name(protocols.get(k), k))
    return [ProtocolCount(k, _name(protocols.get(k), k), *found.get(k, (0, 0))) for k in keys]


def run_detail(session: Session, actor: Actor, run_id: uuid.UUID) -> RunDetail:
    """One run with every step of its protocol and what became of it; audited."""
    found = session.execute(_scoped(actor).where(ProtocolRun.id == run_id)).one_or_none()
    if found is None:
        _explain_missing(session, actor, run_id)
    run, patient = found
    audit.record(session, actor, "read", patient_id=patient.id, record_type="ProtocolRun", record_id=str(run.id))
    protocol = get_registry().get(run.organization_id, run.protocol_key)
    tasks = {t.step_key: t for t in session.scalars(select(Task).where(Task.protocol_run_id == run.id)
                                                     .order_by(Task.created_at))}
    return RunDetail(run, patient, protocol, step_views(protocol, run.context, tasks, clock.now()))


def _explain_missing(session: Session, actor: Actor, run_id: uuid.UUID) -> None:
    """NotFound, or the care-team Forbidden when the run exists but its patient is not the actor's."""
    patient_id = session.scalar(select(ProtocolRun.patient_id).where(
        ProtocolRun.id == run_id, ProtocolRun.organization_id == actor.organization_id))
    if patient_id is not None:
        access.load_patient(session, actor, patient_id, Permission.PROTOCOL_READ)
    raise NotFound("Protocol run not found")


def step_views(protocol: Protocol | None, context: dict, tasks: dict[str, Task], now: dt.datetime) -> list[StepView]:
    """Each step's state for display (tasks of steps no longer defined are shown as they are)."""
    views: list[StepView] = []
    applicable = {s.key for s in rules.applicable(protocol, context)} if protocol else set()
    for step in protocol.steps if protocol else []:
        task = tasks.pop(step.key, None)
        state = task.status.value if task else ("waiting" if step.key in applicable else "skipped")
        views.append(StepView(step.key, step.title, state, task, _late(task, now)))
    views += [StepView(key, t.title, t.status.value, t, _late(t, now)) for key, t in tasks.items()]
    return views


def _late(task: Task | None, now: dt.datetime) -> bool:
    return bool(task and task.status in OPEN_STATUSES and task.due_at and task.due_at < now)


def patient_runs(session: Session, actor: Actor, patient_id: uuid.UUID) -> list[RunRow]:
    """Every run of one patient, most urgent first."""
    access.load_patient(session, actor, patient_id, Permission.PROTOCOL_READ)
    rows, _ = list_runs(session, actor, status=None, patient_id=patient_id, limit=200)
    return rows

