"""Task services: create, read, edit, move through the life cycle, comment and log time."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from careloop import clock
from careloop.audit import service as audit
from careloop.auth import access
from careloop.auth.actor import Actor
from careloop.auth.permissions import Permission
from careloop.errors import Forbidden, InvalidInput, InvalidTransition, NotFound
from careloop.events import service as events
from careloop.organizations.models import Organization
from careloop.patients.models import Patient
from careloop.patients.service import check_version
from careloop.staff.models import Staff, StaffRole
from careloop.tasks import coverage, rules
from careloop.tasks.models import (
    OPEN_STATUSES,
    PRIORITY_RANK,
    Task,
    TaskComment,
    TaskFocus,
    TaskPriority,
    TaskStatus,
    TaskTimeEntry,
)
from careloop.tasks.schemas import TaskCreate, TaskTransition, TaskUpdate, TimeEntryCreate


class TaskNotFound(NotFound):
    code, title = "task_not_found", "Task not found"


def create_task(session: Session, *, organization_id: uuid.UUID, patient_id: uuid.UUID, title: str,
                focus_type: TaskFocus = TaskFocus.OTHER, focus_id: uuid.UUID | None = None,
                owner_id: uuid.UUID | None = None, queue_role: StaffRole | None = None,
                priority: TaskPriority = TaskPriority.ROUTINE, due_at: dt.datetime | None = None,
                description: str | None = None, protocol_run_id: uuid.UUID | None = None,
                step_key: str | None = None, created_by_id: uuid.UUID | None = None) -> Task:
    """A new task for an owner (their backup while they are away) or a role queue; callers check access first."""
    if owner_id is None and queue_role is None:
        raise InvalidInput("A task needs an owner or a queue", field="owner_id")
    if owner_id is not None:
        covered = coverage.covering_owner(session, owner_id)
        if covered != owner_id:
            coverage.ensure_on_care_team(session, organization_id, [patient_id], covered,
                                         note="Covering tasks for a colleague who is away")
            owner_id = covered
    task = Task(organization_id=organization_id, patient_id=patient_id, title=title[:200], description=description,
                focus_type=focus_type, focus_id=focus_id, owner_id=owner_id, queue_role=queue_role,
                priority=priority, priority_rank=PRIORITY_RANK[priority], due_at=due_at,
                protocol_run_id=protocol_run_id, step_key=step_key, created_by_id=created_by_id)
    session.add(task)
    session.flush()
    return task


def apply_transition(session: Session, actor: Actor | None, task: Task, target: TaskStatus,
                     *, outcome: str | None = None, reason: str | None = None) -> Task:
    """Move a task to a new status under the life-cycle rules; publishes task.<status>."""
    if not rules.can_transition(task.status, target):
        raise InvalidTransition(f"A {task.status.value} task cannot become {target.value}")
    if target in rules.NEEDS_REASON and not (reason or "").strip():
        raise InvalidInput(f"A reason is required to mark a task {target.value}", field="reason")
    previous = task.status
    task.status, task.status_reason = target, (reason or None)
    if outcome is not None:
        task.outcome = outcome
    if target in rules.TERMINAL:
        task.completed_at = clock.now()
    session.flush()
    if actor is not None:
        audit.record(session, actor, "update", patient_id=task.patient_id, record_type="Task",
                     record_id=str(task.id), detail={"from": previous.value, "to": target.value})
    events.publish(session, f"task.{target.value}", organization_id=task.organization_id,
                   patient_id=task.patient_id,
                   payload={"task_id": str(task.id), "focus_type": task.focus_type.value,
                            "focus_id": str(task.focus_id) if task.focus_id else None,
                            "protocol_run_id": str(task.protocol_run_id) if task.protocol_run_id else None,
                            "step_key": task.step_key})
    return task


def complete_focus_tasks(session: Session, focus_type: TaskFocus, focus_id: uuid.UUID, outcome: str) -> int:
    """Complete the open tasks about one record (its follow-up is no longer needed); returns how many."""
    open_tasks = session.scalars(select(Task).where(Task.focus_type == focus_type, Task.focus_id == focus_id,
                                                    Task.status.in_(OPEN_STATUSES)))
    count = 0
    for task in open_tasks:
        apply_transition(session, None, task, TaskStatus.COMPLETED, outcome=outcome)
        count += 1
    return count


# --- access ------------------------------------------------------------------------------------

def load_task(session: Session, actor: Actor, task_id: uuid.UUID, permission: Permission,
              *, for_update: bool = False) -> Task:
    """The task if the actor may use its patient with permission; NotFound across organisations."""
    actor.require(permission)
    stmt = select(Task).where(Task.id == task_id, Task.organization_id == actor.organization_id)
    task = session.scalars(stmt.with_for_update() if for_update else stmt).one_or_none()
    if task is None:
        error = TaskNotFound()
        error.audit = audit.Entry(action="access_denied", outcome="denied", record_type="Task",
                                  record_id=str(task_id))
        raise error
    access.load_patient(session, actor, task.patient_id, permission)
    return task


def organization_timezone(session: Session, organization_id: uuid.UUID) -> str:
    """The IANA time zone the organisation's days (due today, service dates) are counted in."""
    return session.get(Organization, organization_id).timezone


def _audit(session: Session, actor: Actor, action: str, task: Task, record_type: str = "Task",
           record_id: uuid.UUID | None = None, **detail: object) -> None:
    audit.record(session, actor, action, patient_id=task.patient_id, record_type=record_type,
                 record_id=str(record_id or task.id), detail=detail or None)


# --- create, read, edit ------------------------------------------------------------------------

def create(session: Session, actor: Actor, data: TaskCreate) -> Task:
    """A task created by a person for a patient they may write tasks for; audited."""
    patient = access.load_patient(session, actor, data.patient_id, Permission.TASK_WRITE)
    if data.owner_id is not None:
        coverage.require_assignee(session, actor.organization_id, data.owner_id)
    task = create_task(session, organization_id=actor.organization_id, patient_id=patient.id, title=data.title,
                       description=data.description, focus_type=data.focus_type, focus_id=data.focus_id,
                       owner_id=data.owner_id, queue_role=data.queue_role, priority=data.priority,
                       due_at=data.due_at, created_by_id=actor.staff_id)
    if task.owner_id is not None:
        coverage.ensure_on_care_team(session, actor.organization_id, [patient.id], task.owner_id,
                                     note="Owner of a task for this patient")
    _audit(session, actor, "create", task)
    return task


def get_task(session: Session, actor: Actor, task_id: uuid.UUID) -> Task:
    """A task the actor may read; the read is audited."""
    task = load_task(session, actor, task_id, Permission.TASK_READ)
    _audit(session, actor, "read", task)
    return task


def update_task(session: Session, actor: Actor, task_id: uuid.UUID, data: TaskUpdate,
                *, expected_version: int | None) -> Task:
    """Apply the sent fields to an open task if the version matches; owner changes need task:assign."""
    task = load_task(session, actor, task_id, Permission.TASK_WRITE, for_update=True)
    check_version(task.version, expected_version)
    if task.status in rules.TERMINAL:
        raise InvalidTransition(f"A {task.status.value} task cannot be edited")
    changes = data.model_dump(exclude_unset=True)
    for required in ("title", "priority"):
        if required in changes and changes[required] is None:
            raise InvalidInput(f"{required} cannot be empty", field=required)
    if {"owner_id", "queue_role"} & changes.keys():
        _change_assignment(session, actor, task, changes)
    for name in ("title", "description"):
        if name in changes:
            setattr(task, name, changes[name])
    if "priority" in changes:
        task.priority, task.priority_rank = changes["priority"], PRIORITY_RANK[changes["priority"]]
    if "due_at" in changes and changes["due_at"] != task.due_at:
        task.due_at, task.escalation_level = changes["due_at"], 0  # a new due time restarts escalation
    session.flush()
    _audit(session, actor, "update", task, fields=sorted(changes))
    return task


def _change_assignment(session: Session, actor: Actor, task: Task, changes: dict) -> None:
    """New owner and/or queue: the current owner may hand a task on; anyone else needs task:assign."""
    if task.owner_id != actor.staff_id and not actor.can(Permission.TASK_ASSIGN):
        raise Forbidden("Only the task's owner or a supervisor can reassign it", code="not_task_owner")
    owner_id = changes.get("owner_id", task.owner_id)
    queue_role = changes.get("queue_role", task.queue_role)
    if owner_id is None and queue_role is None:
        raise InvalidInput("A task needs an owner or a queue", field="owner_id")
    if owner_id is not None and owner_id != task.owner_id:
        coverage.require_assignee(session, actor.organization_id, owner_id)
        owner_id = coverage.covering_owner(session, owner_id)
        coverage.ensure_on_care_team(session, actor.organization_id, [task.patient_id], owner_id,
                                     note="Owner of a task for this patient")
    task.owner_id, task.queue_role = owner_id, queue_role


def transition(session: Session, actor: Actor, task_id: uuid.UUID, data: TaskTransition,
               *, expected_version: int | None = None) -> Task:
    """Move a task the actor may write to another status (audited; publishes task.<status>)."""
    task = load_task(session, actor, task_id, Permission.TASK_WRITE, for_update=True)
    check_version(task.version, expected_version)
    return apply_transition(session, actor, task, data.status, outcome=data.outcome, reason=data.reason)


# --- comments and time -------------------------------------------------------------------------

def add_comment(session: Session, actor: Actor, task_id: uuid.UUID, body: str) -> TaskComment:
    """A note on a task by the actor; audited."""
    task = load_task(session, actor, task_id, Permission.TASK_WRITE)
    if not body.strip():
        raise InvalidInput("Write a comment first", field="body")
    comment = TaskComment(task_id=task.id, author_id=actor.staff_id, body=body.strip()[:4000])
    session.add(comment)
    session.flush()
    _audit(session, actor, "create", task, record_type="TaskComment", record_id=comment.id)
    return comment


def log_time(session: Session, actor: Actor, task_id: uuid.UUID, data: TimeEntryCreate) -> TaskTimeEntry:
    """Record minutes the actor worked on a task on a day (not in the future); the task keeps the total."""
    if actor.staff_id is None:
        raise InvalidInput("Time is logged by a staff member", field="staff_id")
    task = load_task(session, actor, task_id, Permission.TASK_WRITE, for_update=True)
    today = clock.today(organization_timezone(session, task.organization_id))
    day = data.service_date or today
    if day > today:
        raise InvalidInput("The service date cannot be in the future", field="service_date")
    if not 1 <= data.minutes <= 600:
        raise InvalidInput("Log between 1 and 600 minutes", field="minutes")
    entry = TaskTimeEntry(task_id=task.id, patient_id=task.patient_id, staff_id=actor.staff_id,
                          minutes=data.minutes, service_date=day, note=data.note or None)
    session.add(entry)
    session.flush()
    task.time_spent_minutes = session.scalar(
        select(func.coalesce(func.sum(TaskTimeEntry.minutes), 0)).where(TaskTimeEntry.task_id == task.id))
    session.flush()
    _audit(session, actor, "create", task, record_type="TaskTimeEntry", record_id=entry.id, minutes=data.minutes)
    return entry


def comments(session: Session, task: Task) -> list[tuple[TaskComment, Staff | None]]:
    """A task's comments, oldest first, with their authors (the caller has loaded the task)."""
    stmt = (select(TaskComment, Staff).outerjoin(Staff, Staff.id == TaskComment.author_id)
            .where(TaskComment.task_id == task.id).order_by(TaskComment.created_at, TaskComment.id))
    return [(c, s) for c, s in session.execute(stmt).all()]


def time_entries(session: Session, task: Task) -> list[tuple[TaskTimeEntry, Staff]]:
    """A task's time entries, newest service date first, with who worked (the caller has loaded the task)."""
    stmt = (select(TaskTimeEntry, Staff).join(Staff, Staff.id == TaskTimeEntry.staff_id)
            .where(TaskTimeEntry.task_id == task.id)
            .order_by(TaskTimeEntry.service_date.desc(), TaskTimeEntry.created_at.desc()))
    return [(e, s) for e, s in session.execute(stmt).all()]


@dataclass(frozen=True)
class TaskDetail:
    """Everything the task page shows."""

    task: Task
    patient: Patient
    owner: Staff | None
    comments: list[tuple[TaskComment, Staff | None]]
    time_entries: list[tuple[TaskTimeEntry, Staff]]
    next_statuses: list[TaskStatus]


def task_detail(session: Session, actor: Actor, task_id: uuid.UUID) -> TaskDetail:
    """A task with its patient, owner, comments and time entries; one audited read."""
    task = get_task(session, actor, task_id)
    return TaskDetail(task=task, patient=session.get(Patient, task.patient_id),
                      owner=session.get(Staff, task.owner_id) if task.owner_id else None,
                      comments=comments(session, task), time_entries=time_entries(session, task),
                      next_statuses=[s for s in TaskStatus if rules.can_transition(task.status, s)])


def list_patient_tasks(session: Session, actor: Actor, patient_id: uuid.UUID,
                       *, include_closed: bool = False) -> list[Task]:
    """A patient's tasks: open ones by priority then due time, then (when asked) closed ones; audited."""
    patient = access.load_patient(session, actor, patient_id, Permission.TASK_READ)
    stmt = select(Task).where(Task.patient_id == patient.id)
    if not include_closed:
        stmt = stmt.where(Task.status.in_(OPEN_STATUSES))
    is_open = case((Task.status.in_(OPEN_STATUSES), 0), else_=1)
    stmt = stmt.order_by(is_open, Task.priority_rank.desc(), Task.due_at.asc().nulls_last(),
                         Task.completed_at.desc(), Task.id)
    tasks = list(session.scalars(stmt.limit(500)))
    audit.record(session, actor, "read", patient_id=patient.id, record_type="TaskList", record_id=str(patient.id))
    return tasks
