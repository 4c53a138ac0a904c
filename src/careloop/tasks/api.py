"""Task and worklist JSON API."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import Depends, Query, Request, Response
from sqlalchemy.orm import Session

from careloop.auth.actor import Actor
from careloop.auth.deps import require
from careloop.auth.permissions import Permission
from careloop.etags import if_match, require_if_match, set_etag
from careloop.patients.models import Patient
from careloop.routing import db, router
from careloop.staff.models import Staff
from careloop.tasks import assignment, queries, service
from careloop.tasks.models import Task, TaskFocus, TaskStatus
from careloop.tasks.schemas import (
    AwayRequest,
    AwayResult,
    BucketCounts,
    CommentCreate,
    CommentRead,
    PatientBrief,
    ReassignRequest,
    ReassignResult,
    Ref,
    TaskCreate,
    TaskRead,
    TaskTransition,
    TaskUpdate,
    TimeEntryCreate,
    TimeEntryRead,
    WorklistItem,
    WorklistPage,
    Workload,
)

api = router(tags=["tasks"])
Db = Annotated[Session, Depends(db)]
Reader = Annotated[Actor, Depends(require(Permission.TASK_READ))]
Writer = Annotated[Actor, Depends(require(Permission.TASK_WRITE))]
Assigner = Annotated[Actor, Depends(require(Permission.TASK_ASSIGN))]


def ref(staff: Staff | None) -> Ref | None:
    """A staff member as {id, name}."""
    return Ref(id=staff.id, name=staff.display_name) if staff else None


def _task(response: Response, task: Task) -> TaskRead:
    set_etag(response, task.version)
    return TaskRead.model_validate(task)


def brief(patient: Patient) -> PatientBrief:
    """The patient fields a worklist row shows."""
    return PatientBrief(id=patient.id, name=f"{patient.family_name}, {patient.given_name}", mrn=patient.mrn,
                        risk_tier=patient.risk_tier)


# --- worklist ----------------------------------------------------------------------------------

@api.get("/api/v1/worklist", response_model=WorklistPage, summary="My tasks or my queue, in priority order")
def get_worklist(
    session: Db, actor: Reader,
    view: Annotated[str, Query(pattern="^(mine|queue)$")] = "mine",
    owner_id: Annotated[uuid.UUID | None, Query(description="A colleague's worklist (team:view)")] = None,
    bucket: Annotated[str | None, Query(pattern="^(overdue|today|upcoming|no_due)$")] = None,
    patient_id: uuid.UUID | None = None, focus_type: TaskFocus | None = None,
    status: Annotated[TaskStatus | None, Query(description="Default: every open status")] = None,
    due_from: dt.date | None = None, due_to: dt.date | None = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 25,
) -> WorklistPage:
    q = queries.WorklistQuery(view=view, owner_id=owner_id, bucket=bucket, patient_id=patient_id,
                              focus_type=focus_type, status=status, due_from=due_from, due_to=due_to, cursor=cursor,
                              limit=limit)
    found = queries.worklist(session, actor, q)
    items = [WorklistItem(task=TaskRead.model_validate(r.task), patient=brief(r.patient), owner=ref(r.owner),
                          bucket=r.bucket) for r in found.rows]
    return WorklistPage(items=items, counts=BucketCounts(**found.counts), next_cursor=found.next_cursor)


@api.get("/api/v1/worklist/team", response_model=list[Workload], summary="Workload per staff member")
def get_team(session: Db, actor: Annotated[Actor, Depends(require(Permission.TEAM_VIEW))],
             reports_only: Annotated[bool, Query(description="Only people I supervise")] = False) -> list[Workload]:
    return [Workload(staff=ref(w.staff), role=w.staff.role, away=w.staff.away, backup_id=w.staff.backup_id,
                     open=w.open, overdue=w.overdue, due_today=w.due_today,
                     completed_this_week=w.completed_this_week)
            for w in queries.team_workload(session, actor, reports_only=reports_only)]


@api.put("/api/v1/worklist/team/{staff_id}/away", response_model=AwayResult,
         summary="Mark someone away (open tasks move to the backup) or back")
def put_away(staff_id: uuid.UUID, data: AwayRequest, session: Db, actor: Assigner) -> AwayResult:
    staff, moved = assignment.set_away(session, actor, staff_id, data.away, data.backup_id)
    return AwayResult(staff_id=staff.id, away=staff.away, backup_id=staff.backup_id, moved=moved)


# --- tasks -------------------------------------------------------------------------------------

@api.post("/api/v1/tasks", response_model=TaskRead, status_code=201, summary="Create a task")
def create_task(data: TaskCreate, response: Response, session: Db, actor: Writer) -> TaskRead:
    task = service.create(session, actor, data)
    response.headers["Location"] = f"/api/v1/tasks/{task.id}"
    return _task(response, task)


@api.post("/api/v1/tasks/reassign", response_model=ReassignResult,
          summary="Give tasks to one owner (all or nothing)")
def reassign(data: ReassignRequest, session: Db, actor: Assigner) -> ReassignResult:
    count = assignment.reassign(session, actor, data.task_ids, data.owner_id)
    return ReassignResult(reassigned=count, owner_id=data.owner_id)


@api.get("/api/v1/tasks/{task_id}", response_model=TaskRead, summary="Read a task")
def get_task(task_id: uuid.UUID, response: Response, session: Db, actor: Reader) -> TaskRead:
    return _task(response, service.get_task(session, actor, task_id))


@api.patch("/api/v1/tasks/{task_id}", response_model=TaskRead, summary="Edit a task (If-Match required)")
def update_task(task_id: uuid.UUID, data: TaskUpdate, request: Request, response: Response, session: Db,
                actor: Writer) -> TaskRead:
    task = service.update_task(session, actor, task_id, data, expected_version=require_if_match(request))
    return _task(response, task)


@api.post("/api/v1/tasks/{task_id}/transition", response_model=TaskRead,
          summary="Change a task's status (If-Match optional)")
def transition(task_id: uuid.UUID, data: TaskTransition, request: Request, response: Response, session: Db,
               actor: Writer) -> TaskRead:
    task = service.transition(session, actor, task_id, data, expected_version=if_match(request))
    return _task(response, task)


@api.post("/api/v1/tasks/{task_id}/claim", response_model=TaskRead, summary="Take a task from my role's queue")
def claim(task_id: uuid.UUID, response: Response, session: Db, actor: Writer) -> TaskRead:
    return _task(response, assignment.claim(session, actor, task_id))


@api.get("/api/v1/tasks/{task_id}/comments", response_model=list[CommentRead], summary="A task's comments")
def list_comments(task_id: uuid.UUID, session: Db, actor: Reader) -> list[CommentRead]:
    task = service.get_task(session, actor, task_id)
    return [CommentRead(id=c.id, task_id=c.task_id, author=ref(s), body=c.body, created_at=c.created_at)
            for c, s in service.comments(session, task)]


@api.post("/api/v1/tasks/{task_id}/comments", response_model=CommentRead, status_code=201,
          summary="Comment on a task")
def add_comment(task_id: uuid.UUID, data: CommentCreate, session: Db, actor: Writer) -> CommentRead:
    c = service.add_comment(session, actor, task_id, data.body)
    return CommentRead(id=c.id, task_id=c.task_id, author=ref(session.get(Staff, c.author_id)) if c.author_id
                       else None, body=c.body, created_at=c.created_at)


@api.get("/api/v1/tasks/{task_id}/time", response_model=list[TimeEntryRead], summary="Time logged on a task")
def list_time(task_id: uuid.UUID, session: Db, actor: Reader) -> list[TimeEntryRead]:
    task = service.get_task(session, actor, task_id)
    return [_time_read(e, s) for e, s in service.time_entries(session, task)]


@api.post("/api/v1/tasks/{task_id}/time", response_model=TimeEntryRead, status_code=201,
          summary="Log minutes worked on a task")
def log_time(task_id: uuid.UUID, data: TimeEntryCreate, session: Db, actor: Writer) -> TimeEntryRead:
    entry = service.log_time(session, actor, task_id, data)
    return _time_read(entry, session.get(Staff, entry.staff_id))


def _time_read(entry, staff: Staff) -> TimeEntryRead:
    return TimeEntryRead(id=entry.id, task_id=entry.task_id, staff=ref(staff), minutes=entry.minutes,
                         service_date=entry.service_date, note=entry.note, created_at=entry.created_at)


@api.get("/api/v1/patients/{patient_id}/tasks", response_model=list[TaskRead], summary="A patient's tasks")
def patient_tasks(patient_id: uuid.UUID, session: Db, actor: Reader,
                  include_closed: bool = False) -> list[TaskRead]:
    return [TaskRead.model_validate(t)
            for t in service.list_patient_tasks(session, actor, patient_id, include_closed=include_closed)]
