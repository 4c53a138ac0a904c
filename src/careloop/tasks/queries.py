"""The worklist (my tasks, my queues; buckets with counts; priority, risk and due ordering) and the team view."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, bindparam, case, func, literal, select
from sqlalchemy.orm import Session

from careloop import clock
from careloop.auth import access
from careloop.auth.actor import Actor
from careloop.auth.permissions import ROLE_PERMISSIONS, Permission
from careloop.db import UTCDateTime
from careloop.errors import BadRequest, InvalidInput
from careloop.pagination import after, decode_typed_cursor, encode_cursor
from careloop.patients.models import Patient
from careloop.staff.models import Staff, StaffRole
from careloop.tasks import rules
from careloop.tasks.models import OPEN_STATUSES, Task, TaskFocus, TaskStatus
from careloop.tasks.service import organization_timezone

MINE, QUEUE = "mine", "queue"
VIEWS = (MINE, QUEUE)
# Rendered into the SQL text (not bound) so the planner can use the partial "open task" indexes.
IS_OPEN = Task.status.in_(bindparam("open_statuses", [s.value for s in OPEN_STATUSES], expanding=True,
                                    literal_execute=True))
NO_DUE_SORTS_LAST = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)
RISK = case(rules.RISK_RANK, value=Patient.risk_tier, else_=0)
# Worklist order, as ascending keys: priority (highest first), patient risk (highest first), due time
# (soonest first, none last), id (stable).
SORT_KEYS = (-Task.priority_rank, -RISK, func.coalesce(Task.due_at, literal(NO_DUE_SORTS_LAST, UTCDateTime())),
             Task.id)
TASK_ROLES = tuple(r for r in StaffRole if Permission.TASK_WRITE in ROLE_PERMISSIONS[r])


@dataclass(frozen=True)
class WorklistQuery:
    """Worklist parameters; `owner_id` (team:view) opens a colleague's worklist."""

    view: str = MINE
    owner_id: uuid.UUID | None = None
    bucket: str | None = None
    patient_id: uuid.UUID | None = None
    focus_type: TaskFocus | None = None
    status: TaskStatus | None = None  # None: every open status
    due_from: dt.date | None = None
    due_to: dt.date | None = None
    cursor: str | None = None
    limit: int = 25


@dataclass(frozen=True)
class Row:
    task: Task
    patient: Patient
    owner: Staff | None
    bucket: str


@dataclass(frozen=True)
class Worklist:
    rows: list[Row]
    counts: dict[str, int]  # per bucket, and "total"
    next_cursor: str | None
    bounds: rules.DayBounds


def worklist(session: Session, actor: Actor, q: WorklistQuery) -> Worklist:
    """One page of the actor's (or a colleague's) worklist in priority order, with counts per bucket."""
    actor.require(Permission.TASK_READ)
    tz = organization_timezone(session, actor.organization_id)
    bounds = rules.day_bounds(clock.now(), tz)
    where = [*_view(actor, q), *_filters(q, tz)]
    counts = bucket_counts(session, where, bounds)
    stmt = select(Task, Patient).join(Patient, Patient.id == Task.patient_id).where(*where)
    if q.bucket:
        stmt = stmt.where(_bucket(q.bucket, bounds))
    if q.cursor:
        stmt = stmt.where(after(list(SORT_KEYS), _cursor_values(q.cursor), descending=False))
    found = session.execute(stmt.order_by(*SORT_KEYS).limit(q.limit + 1)).all()
    page = found[: q.limit]
    rows = [Row(task=t, patient=p, owner=session.get(Staff, t.owner_id) if t.owner_id else None,
                bucket=rules.bucket_of(t.due_at, bounds)) for t, p in page]
    next_cursor = _cursor(page[-1][0], page[-1][1]) if len(found) > q.limit else None
    return Worklist(rows=rows, counts=counts, next_cursor=next_cursor, bounds=bounds)


def view_totals(session: Session, actor: Actor) -> dict[str, int]:
    """How many open tasks are in the actor's own list and in their role's queue (the worklist's tabs)."""
    actor.require(Permission.TASK_READ)
    totals = {}
    for view in VIEWS:
        stmt = (select(func.count()).select_from(Task).join(Patient, Patient.id == Task.patient_id)
                .where(*_view(actor, WorklistQuery(view=view)), IS_OPEN))
        totals[view] = session.scalar(stmt) or 0
    return totals


def _view(actor: Actor, q: WorklistQuery) -> list[ColumnElement[bool]]:
    """Whose tasks, limited to patients the actor may open (auth.access decides)."""
    if q.view not in VIEWS:
        raise BadRequest("view must be mine or queue", code="invalid_view")
    scope = [Task.organization_id == actor.organization_id, access.visible_patients(actor)]
    if q.view == QUEUE:
        role = StaffRole(actor.role) if actor.role else None
        return [*scope, Task.owner_id.is_(None), Task.queue_role == role]
    owner = q.owner_id or actor.staff_id
    if owner is None:
        raise InvalidInput("Choose whose worklist to show", field="owner_id")
    if owner != actor.staff_id:
        actor.require(Permission.TEAM_VIEW)
    return [*scope, Task.owner_id == owner]


def _filters(q: WorklistQuery, tz: str) -> list[ColumnElement[bool]]:
    filters = [Task.status == q.status if q.status else IS_OPEN]
    if q.patient_id:
        filters.append(Task.patient_id == q.patient_id)
    if q.focus_type:
        filters.append(Task.focus_type == q.focus_type)
    if q.due_from and q.due_to and q.due_from > q.due_to:
        raise InvalidInput("The due window ends before it starts", field="due_to")
    if q.due_from:
        filters.append(Task.due_at >= rules.local_day_start(q.due_from, tz))
    if q.due_to:
        filters.append(Task.due_at < rules.local_day_start(q.due_to + dt.timedelta(days=1), tz))
    return filters


def _bucket(bucket: str, b: rules.DayBounds) -> ColumnElement[bool]:
    """SQL for rules.bucket_of."""
    conditions = {rules.OVERDUE: Task.due_at < b.now,
                  rules.TODAY: and_(Task.due_at >= b.now, Task.due_at < b.tomorrow_start),
                  rules.UPCOMING: Task.due_at >= b.tomorrow_start,
                  rules.NO_DUE: Task.due_at.is_(None)}
    if bucket not in conditions:
        raise BadRequest(f"bucket must be one of {', '.join(rules.BUCKETS)}", code="invalid_bucket")
    return conditions[bucket]


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def bucket_counts(session: Session, where: list[ColumnElement[bool]], bounds: rules.DayBounds) -> dict[str, int]:
    """Tasks per bucket (and in all) for the worklist's conditions, in one query."""
    columns = [_count_if(_bucket(name, bounds)).label(name) for name in rules.BUCKETS]
    stmt = select(*columns, func.count().label("total")).select_from(Task).join(
        Patient, Patient.id == Task.patient_id).where(*where)
    return {name: int(value) for name, value in session.execute(stmt).one()._mapping.items()}


def _cursor(task: Task, patient: Patient) -> str:
    return encode_cursor([-task.priority_rank, -rules.risk_rank(patient.risk_tier),
                          task.due_at or NO_DUE_SORTS_LAST, task.id])


def _cursor_values(cursor: str) -> list:
    return decode_typed_cursor(cursor, [int, int, dt.datetime, uuid.UUID])


# --- team view ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Workload:
    staff: Staff
    open: int
    overdue: int
    due_today: int
    completed_this_week: int


def team_workload(session: Session, actor: Actor, *, reports_only: bool = False) -> list[Workload]:
    """Open, overdue, due-today and completed-this-week tasks per staff member, in one grouped query."""
    actor.require(Permission.TEAM_VIEW)
    b = rules.day_bounds(clock.now(), organization_timezone(session, actor.organization_id))
    done_this_week = and_(Task.status == TaskStatus.COMPLETED, Task.completed_at >= b.week_start)
    open_count = _count_if(IS_OPEN)
    overdue = _count_if(and_(IS_OPEN, Task.due_at < b.now))
    stmt = (select(Staff, open_count, overdue,
                   _count_if(and_(IS_OPEN, Task.due_at >= b.now, Task.due_at < b.tomorrow_start)),
                   _count_if(done_this_week))
            .outerjoin(Task, and_(Task.owner_id == Staff.id, IS_OPEN | done_this_week))
            .where(Staff.organization_id == actor.organization_id, Staff.is_active.is_(True),
                   Staff.role.in_(TASK_ROLES))
            .group_by(Staff.id)
            .order_by(overdue.desc(), open_count.desc(), Staff.family_name, Staff.given_name))
    if reports_only:
        stmt = stmt.where(Staff.supervisor_id == actor.staff_id)
    return [Workload(staff=s, open=o, overdue=od, due_today=dt_, completed_this_week=c)
            for s, o, od, dt_, c in session.execute(stmt).all()]
