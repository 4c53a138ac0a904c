"""The protocol engine: start runs on trigger events, create step tasks as dependencies complete, finish or cancel.

Event handlers call these in the dispatcher's transaction (careloop.protocols.handlers); nothing here commits.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from careloop import clock
from careloop.audit import service as audit
from careloop.auth import access
from careloop.auth.actor import Actor
from careloop.auth.permissions import Permission
from careloop.care_teams.models import CareTeamMember
from careloop.errors import InvalidInput, InvalidTransition, NotFound
from careloop.events.models import DomainEvent
from careloop.organizations.models import Organization
from careloop.patients.models import Patient, PatientStatus
from careloop.protocols import rules
from careloop.protocols.definition import EventRule, Protocol, Step
from careloop.protocols.models import ProtocolRun, ProtocolRunStatus
from careloop.protocols.registry import get_registry
from careloop.staff.models import Staff
from careloop.tasks import coverage
from careloop.tasks import service as tasks
from careloop.tasks.models import OPEN_STATUSES, PRIORITY_RANK, Task, TaskFocus, TaskStatus

log = logging.getLogger("careloop.protocols")


@dataclass(frozen=True)
class Facts:
    """What the engine needs to know about a patient: context values, time zone, care team by role."""

    active: bool
    timezone: str
    context: dict[str, Any]
    team: dict[str, uuid.UUID] = field(default_factory=dict)
    away: frozenset[uuid.UUID] = frozenset()  # team members marked away (their tasks go to a backup)


@dataclass(frozen=True)
class RunRef:
    """What step creation needs of a run (a run just inserted in bulk has no ORM object)."""

    id: uuid.UUID
    organization_id: uuid.UUID
    patient_id: uuid.UUID
    trigger_event_id: uuid.UUID | None
    anchor_at: dt.datetime
    context: dict[str, Any]


_FACTS = (select(Patient.id, Patient.status, Patient.merged_into_id, Patient.risk_tier, Organization.timezone,
                 CareTeamMember.role, CareTeamMember.staff_id, Staff.away)
          .join(Organization, Organization.id == Patient.organization_id)
          .outerjoin(CareTeamMember, and_(CareTeamMember.patient_id == Patient.id, CareTeamMember.ended_at.is_(None)))
          .outerjoin(Staff, Staff.id == CareTeamMember.staff_id)
          .where(Patient.id.in_(bindparam("ids", expanding=True))).order_by(Patient.id, CareTeamMember.started_at))


def patients_facts(session: Session, patient_ids: set[uuid.UUID]) -> dict[uuid.UUID, Facts]:
    """Facts of many patients in one query."""
    rows: dict[uuid.UUID, list] = {}
    for row in session.execute(_FACTS, {"ids": list(patient_ids)}):
        rows.setdefault(row.id, []).append(row)
    return {pid: _facts(found) for pid, found in rows.items()}


def _facts(rows: list) -> Facts:
    first, team, away = rows[0], {}, set()
    for row in rows:
        if row.role is not None:
            team.setdefault(row.role.value, row.staff_id)
            if row.away:
                away.add(row.staff_id)
    return Facts(active=first.status == PatientStatus.ACTIVE and first.merged_into_id is None,
                 timezone=first.timezone, context={"risk": first.risk_tier}, team=team, away=frozenset(away))


def patient_facts(session: Session, patient_id: uuid.UUID) -> Facts | None:
    """One patient's facts (None for an unknown patient)."""
    return patients_facts(session, {patient_id}).get(patient_id)


def handle_events(session: Session, events: list[DomainEvent]) -> None:
    """Everything protocols do with these events, in their order: cancel the runs each ends, complete the steps
    each satisfies, and start the protocols each triggers. Starts are set-based over runs of consecutive events,
    flushed before any event that cancels or completes, so a batch behaves exactly as one event at a time."""
    registry = get_registry()
    pending: list[DomainEvent] = []
    for event in events:
        if event.patient_id is None:
            continue
        cancels = registry.cancelled_by(event.organization_id, event.type)
        completions = registry.completed_by(event.organization_id, event.type)
        if (cancels or completions) and pending:
            start_runs(session, pending)
            pending = []
        if cancels:
            _cancel_matching_runs(session, event, cancels)
        if completions:
            _complete_matching_steps(session, event, completions)
        pending.append(event)
    start_runs(session, pending)


def start_runs(session: Session, events: list[DomainEvent]) -> list[uuid.UUID]:
    """Start every protocol these events trigger, once per event and protocol; returns the new runs' ids.

    Set-based: one query for the patients, one multi-row insert for the runs and one for their first tasks,
    however many events there are.
    """
    registry = get_registry()
    todo = [(e, registry.triggered_by(e.organization_id, e.type)) for e in events if e.patient_id is not None]
    todo = [(e, found) for e, found in todo if found]
    if not todo:
        return []
    facts = patients_facts(session, {e.patient_id for e, _ in todo})
    planned: list[tuple[RunRef, Protocol, Facts]] = []
    for event, protocols in todo:
        patient = facts.get(event.patient_id)
        if patient is None or not patient.active:
            continue
        for protocol in protocols:
            context = rules.build_context(protocol, event.type, event.payload or {}, patient.context)
            if any(t.event == event.type and rules.holds(t.conditions, context) for t in protocol.triggers):
                run = RunRef(uuid.uuid4(), event.organization_id, event.patient_id, event.id, event.occurred_at,
                             context)
                planned.append((run, protocol, patient))
    inserted = _insert_runs(session, planned)
    started = [(run, protocol, {}, patient) for run, protocol, patient in planned if run.id in inserted]
    _create_ready_steps(session, started)
    return [run.id for run, *_ in started]


def _insert_runs(session: Session, planned: list[tuple[RunRef, Protocol, Facts]]) -> set[uuid.UUID]:
    """Insert runs; a (protocol, trigger event) that already has one is skipped by the database (replays)."""
    if not planned:
        return set()
    now = clock.now()
    rows = [{"id": run.id, "organization_id": run.organization_id, "patient_id": run.patient_id,
             "protocol_key": protocol.key, "protocol_version": protocol.version,
             "trigger_event_id": run.trigger_event_id, "status": ProtocolRunStatus.ACTIVE, "started_at": now,
             "anchor_at": run.anchor_at, "context": run.context, "version": 1, "created_at": now, "updated_at": now}
            for run, protocol, _ in planned]
    stmt = _INSERT_RUN[session.get_bind().dialect.name]
    return set(session.execute(stmt, rows).scalars())


# Core (not ORM) multi-row inserts: the bulk paths pay no per-row ORM cost.
_INSERT_RUN = {name: dialect.insert(ProtocolRun.__table__).on_conflict_do_nothing(
    index_elements=["protocol_key", "trigger_event_id"]).returning(ProtocolRun.__table__.c.id)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))}
_INSERT_TASK = Task.__table__.insert()


Item = tuple[RunRef, Protocol, dict[str, rules.StepState], Facts]


def _create_ready_steps(session: Session, items: list[Item]) -> int:
    """Create the tasks of the steps now ready in each run; finish runs with nothing left to do."""
    rows, checks = [], []
    for run, protocol, states, facts in items:
        ready = rules.ready_steps(protocol, run.context, states, run.anchor_at)
        if not ready and rules.is_finished(protocol, run.context, states):
            _finish(session, run.id)
        for item in ready:
            rows.append(_task_row(session, run, item, facts))
            if item.step.complete_on:
                checks.append((run, item.step, rows[-1]["id"]))
    if rows:
        session.execute(_INSERT_TASK, rows)
    for task_id in _already_done(session, checks):
        tasks.apply_transition(session, None, session.get(Task, task_id), TaskStatus.COMPLETED,
                               outcome="Already done when the step became due")
    return len(rows)


def _task_row(session: Session, run: RunRef, item: rules.Ready, facts: Facts) -> dict[str, Any]:
    """One step task as a row; an owner who is away is covered as tasks.create_task would cover them."""
    owner, queue = rules.assignee(item.step.role, facts.team)
    if owner is not None and owner in facts.away:
        covered = coverage.covering_owner(session, owner)
        if covered != owner:
            coverage.ensure_on_care_team(session, run.organization_id, [run.patient_id], covered,
                                         note="Covering tasks for a colleague who is away")
            owner = covered
    now = clock.now()
    return {"id": uuid.uuid4(), "organization_id": run.organization_id, "patient_id": run.patient_id,
            "title": item.step.title, "description": item.step.description, "focus_type": TaskFocus.PROTOCOL_STEP,
            "focus_id": run.id, "owner_id": owner, "queue_role": queue, "priority": item.step.priority,
            "priority_rank": PRIORITY_RANK[item.step.priority], "status": TaskStatus.REQUESTED,
            "due_at": rules.due_at(item.anchor, item.step.due, facts.timezone), "protocol_run_id": run.id,
            "step_key": item.step.key, "version": 1, "created_at": now, "updated_at": now}


def _already_done(session: Session, checks: list[tuple[RunRef, Step, uuid.UUID]]) -> list[uuid.UUID]:
    """Tasks whose step's completion event came before the task existed (e.g. a plan signed early)."""
    if not checks:
        return []
    stmt = select(DomainEvent.id, DomainEvent.patient_id, DomainEvent.type, DomainEvent.payload,
                  DomainEvent.occurred_at).where(
        DomainEvent.patient_id.in_({run.patient_id for run, _, _ in checks}),
        DomainEvent.type.in_({step.complete_on.event for _, step, _ in checks}),
        DomainEvent.occurred_at >= min(run.anchor_at for run, _, _ in checks))
    seen = session.execute(stmt).all()
    return [task_id for run, step, task_id in checks if any(
        e.patient_id == run.patient_id and e.type == step.complete_on.event and e.occurred_at >= run.anchor_at
        and e.id != run.trigger_event_id and rules.event_matches(step.complete_on, run.context, e.payload or {})
        for e in seen)]


def _finish(session: Session, run_id: uuid.UUID) -> None:
    run = session.get(ProtocolRun, run_id)
    run.status, run.completed_at = ProtocolRunStatus.COMPLETED, clock.now()
    session.flush()


def step_states(session: Session, run_id: uuid.UUID) -> dict[str, rules.StepState]:
    """Each step's task state in a run (an open task wins over a resolved one of the same step)."""
    states: dict[str, rules.StepState] = {}
    stmt = select(Task.step_key, Task.status, Task.completed_at).where(Task.protocol_run_id == run_id)
    for key, status, completed_at in session.execute(stmt):
        if key is None or (key in states and states[key].open):
            continue
        states[key] = rules.StepState(open=status in OPEN_STATUSES, completed_at=completed_at)
    return states


def advance(session: Session, run_id: uuid.UUID) -> int:
    """After a step's task is resolved: create the steps it unblocks, or finish the run; returns tasks created."""
    run = session.scalars(select(ProtocolRun).where(ProtocolRun.id == run_id).with_for_update()).one_or_none()
    if run is None or run.status != ProtocolRunStatus.ACTIVE:
        return 0
    protocol = get_registry().get(run.organization_id, run.protocol_key)
    if protocol is None:
        log.warning("run %s: protocol %s is no longer defined; left as it is", run.id, run.protocol_key)
        return 0
    ref = RunRef(run.id, run.organization_id, run.patient_id, run.trigger_event_id, run.anchor_at, run.context)
    facts = patient_facts(session, run.patient_id)
    return _create_ready_steps(session, [(ref, protocol, step_states(session, run.id), facts)])


def _cancel_matching_runs(session: Session, event: DomainEvent, cancels: list[tuple[Protocol, EventRule]]) -> None:
    by_key: dict[str, list[EventRule]] = {}
    for protocol, rule in cancels:
        by_key.setdefault(protocol.key, []).append(rule)
    stmt = (select(ProtocolRun).where(
        ProtocolRun.patient_id == event.patient_id, ProtocolRun.status == ProtocolRunStatus.ACTIVE,
        ProtocolRun.protocol_key.in_(by_key),
        or_(ProtocolRun.trigger_event_id.is_(None), ProtocolRun.trigger_event_id != event.id)).with_for_update())
    for run in session.scalars(stmt).all():
        if any(rules.event_matches(rule, run.context, event.payload or {}) for rule in by_key[run.protocol_key]):
            cancel_run(session, run, f"Cancelled by {event.type}")


def cancel_run(session: Session, run: ProtocolRun, reason: str, *, actor: Actor | None = None) -> ProtocolRun:
    """Cancel an active run and its open step tasks."""
    if run.status != ProtocolRunStatus.ACTIVE:
        raise InvalidTransition(f"A {run.status.value} protocol run cannot be cancelled")
    run.status, run.completed_at = ProtocolRunStatus.CANCELLED, clock.now()
    open_tasks = session.scalars(select(Task).where(Task.protocol_run_id == run.id,
                                                    Task.status.in_(OPEN_STATUSES))).all()
    for task in open_tasks:
        tasks.apply_transition(session, actor, task, TaskStatus.CANCELLED, reason=reason[:300])
    session.flush()
    return run


def _complete_matching_steps(session: Session, event: DomainEvent, completions: list[tuple[Protocol, Step]]) -> None:
    steps = {(protocol.key, step.key): step for protocol, step in completions}
    stmt = (select(Task, ProtocolRun.protocol_key, ProtocolRun.context)
            .join(ProtocolRun, ProtocolRun.id == Task.protocol_run_id)
            .where(ProtocolRun.patient_id == event.patient_id, ProtocolRun.status == ProtocolRunStatus.ACTIVE,
                   ProtocolRun.protocol_key.in_({k for k, _ in steps}), Task.step_key.in_({s for _, s in steps}),
                   Task.status.in_(OPEN_STATUSES)))
    for task, key, context in session.execute(stmt).all():
        step = steps.get((key, task.step_key))
        if step is not None and rules.event_matches(step.complete_on, context, event.payload or {}):
            tasks.apply_transition(session, None, task, TaskStatus.COMPLETED, outcome=f"Completed by {event.type}")


def cancel_run_by_actor(session: Session, actor: Actor, run_id: uuid.UUID, reason: str) -> ProtocolRun:
    """A protocol administrator stops a run (e.g. started in error); audited."""
    actor.require(Permission.PROTOCOL_ADMIN)
    if not reason.strip():
        raise InvalidInput("Say why the protocol run is cancelled", field="reason")
    run = session.scalars(select(ProtocolRun).where(
        ProtocolRun.id == run_id, ProtocolRun.organization_id == actor.organization_id).with_for_update()).one_or_none()
    if run is None:
        raise NotFound("Protocol run not found")
    access.load_patient(session, actor, run.patient_id, Permission.PROTOCOL_ADMIN)
    cancel_run(session, run, reason.strip(), actor=actor)
    audit.record(session, actor, "update", patient_id=run.patient_id, record_type="ProtocolRun",
                 record_id=str(run.id), detail={"to": "cancelled"})
    return run
