"""The transitions board: currently admitted, discharged in the last 30 days (with follow-up deadlines),
readmitted; indexed queries scoped to the patients the actor may see, bounded in size."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop import clock
from careloop.audit import service as audit
from careloop.auth import access
from careloop.auth.actor import Actor
from careloop.auth.permissions import Permission
from careloop.clinical.models import Encounter, EncounterClass, EncounterStatus
from careloop.patients.models import Patient
from careloop.protocols.models import ProtocolRun
from careloop.tasks.models import Task
from careloop.transitions import rules

ACUTE = (EncounterClass.INPATIENT, EncounterClass.OBSERVATION, EncounterClass.EMERGENCY)
WINDOW = dt.timedelta(days=30)
LIMIT = 200
DISCHARGE_PROTOCOL = "hospital_discharge"


@dataclass
class Deadline:
    step_key: str | None
    title: str
    due_at: dt.datetime | None
    status: str  # due, done, late, withdrawn
    task_id: uuid.UUID


@dataclass
class Stay:
    encounter: Encounter
    patient: Patient
    deadlines: list[Deadline] = field(default_factory=list)

    @property
    def late(self) -> int:
        return sum(1 for d in self.deadlines if d.status == "late")


@dataclass
class Board:
    admitted: list[Stay]
    discharged: list[Stay]
    readmitted: list[Stay]


def board(session: Session, actor: Actor) -> Board:
    """The three lists of the transitions board; each patient shown is audited as a search hit."""
    actor.require(Permission.TRANSITIONS_READ)
    now = clock.now()
    base = (select(Encounter, Patient).join(Patient, Patient.id == Encounter.patient_id)
            .where(access.visible_patients(actor), Encounter.organization_id == actor.organization_id,
                   Encounter.encounter_class.in_(ACUTE)))
    admitted = _stays(session, base.where(Encounter.status == EncounterStatus.IN_PROGRESS)
                      .order_by(Encounter.start_at.desc()))
    discharged = _stays(session, base.where(Encounter.status == EncounterStatus.FINISHED,
                                            Encounter.end_at >= now - WINDOW).order_by(Encounter.end_at.desc()))
    readmitted = _stays(session, base.where(Encounter.readmission_of_id.is_not(None),
                                            Encounter.start_at >= now - WINDOW).order_by(Encounter.start_at.desc()))
    _attach_deadlines(session, discharged, now)
    shown = {s.patient.id for s in admitted + discharged + readmitted}
    audit.record_many(session, actor, [audit.Entry(action="search", patient_id=pid, record_type="TransitionsBoard")
                                       for pid in sorted(shown)])
    return Board(admitted, discharged, readmitted)


def _stays(session: Session, stmt) -> list[Stay]:
    return [Stay(encounter, patient) for encounter, patient in session.execute(stmt.limit(LIMIT)).all()]


def _attach_deadlines(session: Session, stays: list[Stay], now: dt.datetime) -> None:
    """The discharge protocol's step tasks for each stay (its run's context names the encounter)."""
    if not stays:
        return
    runs = session.execute(select(ProtocolRun.id, ProtocolRun.context).where(
        ProtocolRun.patient_id.in_({s.patient.id for s in stays}),
        ProtocolRun.protocol_key == DISCHARGE_PROTOCOL)).all()
    run_encounter = {run_id: str((context or {}).get("encounter_id")) for run_id, context in runs}
    if not run_encounter:
        return
    by_encounter: dict[str, list[Deadline]] = {}
    tasks = session.scalars(select(Task).where(Task.protocol_run_id.in_(run_encounter))
                            .order_by(Task.due_at)).all()
    for task in tasks:
        status = rules.deadline_status(task.status.value, task.due_at, task.completed_at, now)
        by_encounter.setdefault(run_encounter[task.protocol_run_id], []).append(
            Deadline(task.step_key, task.title, task.due_at, status, task.id))
    for stay in stays:
        stay.deadlines = by_encounter.get(str(stay.encounter.id), [])
