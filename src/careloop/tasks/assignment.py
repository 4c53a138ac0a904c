"""Moving tasks between people: bulk reassignment, claiming from a queue, coverage and coordinator changes."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.audit import service as audit
from careloop.auth import access
from careloop.auth.actor import Actor, system_actor
from careloop.auth.permissions import Permission
from careloop.errors import Conflict, Forbidden, InvalidInput, InvalidTransition
from careloop.events.models import DomainEvent
from careloop.patients.models import Patient
from careloop.staff import service as staff_service
from careloop.staff.models import Staff
from careloop.tasks import coverage, rules
from careloop.tasks.models import OPEN_STATUSES, Task
from careloop.tasks.service import TaskNotFound, load_task


def give_tasks(session: Session, actor: Actor, tasks: Sequence[Task], owner_id: uuid.UUID, *, why: str) -> int:
    """Make owner_id (or whoever covers for them) the owner of tasks, with access to their patients; audited."""
    if not tasks:
        return 0
    owner_id = coverage.covering_owner(session, owner_id)
    coverage.ensure_on_care_team(session, actor.organization_id, {t.patient_id for t in tasks}, owner_id,
                                 note="Owner of tasks for this patient")
    entries = []
    for task in tasks:
        previous, task.owner_id = task.owner_id, owner_id
        entries.append(audit.Entry(action="update", patient_id=task.patient_id, record_type="Task",
                                   record_id=str(task.id),
                                   detail={"owner_from": str(previous) if previous else None,
                                           "owner_to": str(owner_id), "why": why}))
    session.flush()
    audit.record_many(session, actor, entries)
    return len(tasks)


def reassign(session: Session, actor: Actor, task_ids: Sequence[uuid.UUID], owner_id: uuid.UUID) -> int:
    """Give open tasks to one owner: all of them, or none when any is missing, hidden or closed."""
    actor.require(Permission.TASK_ASSIGN)
    wanted = list(dict.fromkeys(task_ids))
    coverage.require_assignee(session, actor.organization_id, owner_id)
    stmt = (select(Task).join(Patient, Patient.id == Task.patient_id)
            .where(Task.id.in_(wanted), Task.organization_id == actor.organization_id,
                   access.visible_patients(actor))
            .with_for_update(of=Task))
    tasks = list(session.scalars(stmt))
    if len(tasks) != len(wanted):
        missing = sorted(set(map(str, wanted)) - {str(t.id) for t in tasks})
        raise TaskNotFound("Some tasks were not found; nothing was reassigned", extra={"missing": missing})
    closed = sorted(str(t.id) for t in tasks if t.status in rules.TERMINAL)
    if closed:
        raise InvalidTransition("Some tasks are already closed; nothing was reassigned", extra={"closed": closed})
    return give_tasks(session, actor, tasks, owner_id, why="reassigned")


def claim(session: Session, actor: Actor, task_id: uuid.UUID) -> Task:
    """Take an unowned task from the actor's role queue."""
    task = load_task(session, actor, task_id, Permission.TASK_WRITE, for_update=True)
    if task.status in rules.TERMINAL:
        raise InvalidTransition(f"A {task.status.value} task cannot be claimed")
    if task.owner_id is not None:
        raise Conflict("Someone already owns this task", code="task_already_owned")
    if task.queue_role is None or task.queue_role.value != actor.role or actor.staff_id is None:
        raise Forbidden("This task waits in another role's queue", code="not_your_queue")
    task.owner_id = actor.staff_id
    session.flush()
    audit.record(session, actor, "update", patient_id=task.patient_id, record_type="Task", record_id=str(task.id),
                 detail={"claimed": True})
    return task


def set_away(session: Session, actor: Actor, staff_id: uuid.UUID, away: bool,
             backup_id: uuid.UUID | None = None) -> tuple[Staff, int]:
    """Mark a staff member away (their open tasks move to the backup) or back; returns (staff, tasks moved)."""
    actor.require(Permission.TASK_ASSIGN)
    staff = staff_service.get_staff(session, actor, staff_id)
    if backup_id is not None:
        if backup_id == staff.id:
            raise InvalidInput("Nobody can be their own backup", field="backup_id")
        staff.backup_id = coverage.require_assignee(session, actor.organization_id, backup_id,
                                                    field="backup_id").id
    if away and staff.backup_id is None:
        raise InvalidInput("Choose a backup before marking someone away", field="backup_id")
    staff.away = away
    session.flush()
    audit.record(session, actor, "update", record_type="Staff", record_id=str(staff.id),
                 detail={"away": away, "backup_id": str(staff.backup_id) if staff.backup_id else None})
    if not away:
        return staff, 0
    open_tasks = session.scalars(select(Task).where(Task.owner_id == staff.id, Task.status.in_(OPEN_STATUSES))
                                 .order_by(Task.id).with_for_update()).all()
    return staff, give_tasks(session, actor, open_tasks, staff.backup_id, why="owner_away")


def on_coordinator_changed(session: Session, event: DomainEvent) -> int:
    """The previous coordinator's open tasks for the patient go to the new coordinator (or their cover)."""
    previous = uuid.UUID(event.payload["previous_staff_id"])
    new = uuid.UUID(event.payload["new_staff_id"])
    open_tasks = session.scalars(select(Task).where(
        Task.patient_id == event.patient_id, Task.owner_id == previous, Task.status.in_(OPEN_STATUSES))
        .order_by(Task.id).with_for_update()).all()
    worker = system_actor(event.organization_id, "careloop-worker")
    return give_tasks(session, worker, open_tasks, new, why="coordinator_changed")
