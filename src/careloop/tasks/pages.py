"""Task pages: the worklist (buckets, filters, bulk reassign), the team view, task detail and a patient's tasks."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import asdict, dataclass
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from careloop import clock
from careloop.auth.actor import Actor
from careloop.auth.deps import require_page
from careloop.auth.permissions import Permission
from careloop.care_teams import service as care_teams
from careloop.errors import InvalidInput
from careloop.patients import service as patients
from careloop.routing import db, router
from careloop.staff import service as staff_service
from careloop.staff.models import StaffRole
from careloop.tasks import assignment, queries, rules, service
from careloop.tasks.models import TaskFocus, TaskPriority, TaskStatus
from careloop.tasks.schemas import TaskCreate, TaskTransition, TimeEntryCreate
from careloop.web.csrf import verify_csrf
from careloop.web.formatting import label
from careloop.web.render import render_page, safe_next
from careloop.web.shell import workspace

pages = router(include_in_schema=False, dependencies=[Depends(workspace)])
Db = Annotated[Session, Depends(db)]
Reader = Annotated[Actor, Depends(require_page(Permission.TASK_READ))]
Writer = Annotated[Actor, Depends(require_page(Permission.TASK_WRITE))]
Assigner = Annotated[Actor, Depends(require_page(Permission.TASK_ASSIGN))]
Text = Annotated[str, Query(max_length=60)]
FormText = Annotated[str, Form(max_length=200)]
LongForm = Annotated[str, Form(max_length=4000)]
Csrf = [Depends(verify_csrf)]
BUCKET_LABELS = (("", "All open"), (rules.OVERDUE, "Overdue"), (rules.TODAY, "Due today"),
                 (rules.UPCOMING, "Upcoming"), (rules.NO_DUE, "No due date"))
PAGE_SIZE = 25


@dataclass(frozen=True)
class WorklistParams:
    """The worklist's query string as typed, shown back in the form."""

    view: str = queries.MINE
    owner: str = ""
    bucket: str = ""
    patient: str = ""
    focus: str = ""
    status: str = ""
    due_from: str = ""
    due_to: str = ""
    cursor: str = ""


def _params(view: Text = queries.MINE, owner: Text = "", bucket: Text = "", patient: Text = "", focus: Text = "",
            status: Text = "", due_from: Text = "", due_to: Text = "",
            cursor: Annotated[str, Query(max_length=500)] = "") -> WorklistParams:
    return WorklistParams(view, owner, bucket, patient, focus, status, due_from, due_to, cursor)


Params = Annotated[WorklistParams, Depends(_params)]


def _parse(value: str, kind: Any, field: str, message: str) -> Any:
    try:
        return kind(value) if value else None
    except ValueError as err:
        raise InvalidInput(message, field=field) from err


def to_query(p: WorklistParams) -> queries.WorklistQuery:
    """The worklist query for the page's parameters; InvalidInput names the field that is wrong."""
    if p.view not in queries.VIEWS or p.bucket not in ("", *rules.BUCKETS):
        raise InvalidInput("Choose a list and a due group from the tabs", field="view")
    return queries.WorklistQuery(
        view=p.view, owner_id=_parse(p.owner, uuid.UUID, "owner", "Choose a person from the team view"),
        bucket=p.bucket or None, patient_id=_parse(p.patient, uuid.UUID, "patient", "Open the patient again"),
        focus_type=_parse(p.focus, TaskFocus, "focus", "Choose a type from the list"),
        status=_parse(p.status, TaskStatus, "status", "Choose a status from the list"),
        due_from=_parse(p.due_from, dt.date.fromisoformat, "due_from", "Enter dates as YYYY-MM-DD"),
        due_to=_parse(p.due_to, dt.date.fromisoformat, "due_to", "Enter dates as YYYY-MM-DD"),
        cursor=p.cursor or None, limit=PAGE_SIZE)


def _assignees(session: Session, actor: Actor) -> list[tuple[str, str]]:
    return [(str(s.id), f"{s.display_name} ({label(s.role)})") for s in staff_service.list_staff(session, actor)
            if s.role in queries.TASK_ROLES]


# --- worklist ----------------------------------------------------------------------------------

@pages.get("/worklist", response_class=HTMLResponse)
def worklist(request: Request, session: Db, actor: Reader, p: Params, reassigned: int | None = None) -> HTMLResponse:
    context: dict[str, Any] = {
        "params": asdict(p), "wl": None, "error": None, "reassigned": reassigned, "owner": None,
        "totals": queries.view_totals(session, actor), "buckets": BUCKET_LABELS,
        "focus_options": [(f.value, label(f)) for f in TaskFocus],
        "status_options": [(s.value, label(s)) for s in TaskStatus],
        "assignees": _assignees(session, actor) if actor.can(Permission.TASK_ASSIGN) else []}
    try:
        q = to_query(p)
        context["wl"] = queries.worklist(session, actor, q)
        if q.owner_id and q.owner_id != actor.staff_id:
            context["owner"] = staff_service.get_staff(session, actor, q.owner_id)
    except InvalidInput as err:  # raised before anything is read
        context["error"] = err.message
    return render_page(request, "tasks/worklist.html", context)


@pages.post("/worklist/reassign", dependencies=Csrf)
def bulk_reassign(session: Db, actor: Assigner, owner_id: Annotated[uuid.UUID, Form()],
                  task_ids: Annotated[list[uuid.UUID] | None, Form()] = None,
                  back: Annotated[str, Form(max_length=500)] = "/worklist") -> RedirectResponse:
    if not task_ids:
        raise InvalidInput("Select the tasks to reassign", field="task_ids")
    count = assignment.reassign(session, actor, task_ids, owner_id)
    target = safe_next(back)
    return RedirectResponse(f"{target}{'&' if '?' in target else '?'}reassigned={count}", status_code=303)


@pages.get("/worklist/team", response_class=HTMLResponse)
def team(request: Request, session: Db, actor: Annotated[Actor, Depends(require_page(Permission.TEAM_VIEW))],
         reports_only: bool = False) -> HTMLResponse:
    rows = queries.team_workload(session, actor, reports_only=reports_only)
    names = {s.id: s.display_name for s in staff_service.list_staff(session, actor)}
    return render_page(request, "tasks/team.html", {"rows": rows, "names": names, "reports_only": reports_only,
                                                    "assignees": _assignees(session, actor)})


@pages.post("/worklist/team/{staff_id}/away", dependencies=Csrf)
def set_away(staff_id: uuid.UUID, session: Db, actor: Assigner, away: Annotated[bool, Form()],
             backup_id: Annotated[str, Form()] = "") -> RedirectResponse:
    backup = _parse(backup_id, uuid.UUID, "backup_id", "Choose a backup from the list")
    assignment.set_away(session, actor, staff_id, away, backup)
    return RedirectResponse("/worklist/team", status_code=303)


# --- one task ----------------------------------------------------------------------------------

def _task_page(request: Request, session: Session, actor: Actor, task_id: uuid.UUID, *, error: str | None = None,
               status: int = 200) -> HTMLResponse:
    detail = service.task_detail(session, actor, task_id)
    tz = request.state.shell.timezone
    return render_page(request, "tasks/task.html", {
        "d": detail, "t": detail.task, "error": error, "today": clock.today(tz).isoformat(),
        "can_claim": detail.task.owner_id is None and detail.task.queue_role is not None
        and detail.task.queue_role.value == actor.role and detail.task.status not in rules.TERMINAL,
        "other_statuses": [(s.value, label(s)) for s in detail.next_statuses if s != TaskStatus.COMPLETED]},
        status=status)


@pages.get("/tasks/{task_id}", response_class=HTMLResponse)
def task_page(task_id: uuid.UUID, request: Request, session: Db, actor: Reader) -> HTMLResponse:
    return _task_page(request, session, actor, task_id)


@pages.post("/tasks/{task_id}/status", dependencies=Csrf, response_model=None)
def change_status(task_id: uuid.UUID, request: Request, session: Db, actor: Writer,
                  status: Annotated[TaskStatus, Form()], outcome: LongForm = "", reason: LongForm = "") -> Response:
    try:
        change = TaskTransition(status=status, outcome=outcome.strip() or None, reason=reason.strip() or None)
        service.transition(session, actor, task_id, change)
    except InvalidInput as err:  # checked before anything is written
        return _task_page(request, session, actor, task_id, error=err.message, status=422)
    except ValueError:
        return _task_page(request, session, actor, task_id, status=422,
                          error="Keep the outcome under 500 characters and the reason under 300")
    return RedirectResponse(f"/tasks/{task_id}", status_code=303)


@pages.post("/tasks/{task_id}/time", dependencies=Csrf, response_model=None)
def log_time(task_id: uuid.UUID, request: Request, session: Db, actor: Writer,
             minutes: FormText, service_date: FormText = "", note: LongForm = "") -> Response:
    try:
        entry = TimeEntryCreate(minutes=_parse(minutes, int, "minutes", "Enter the minutes as a number"),
                                service_date=_parse(service_date, dt.date.fromisoformat, "service_date",
                                                    "Enter the date as YYYY-MM-DD"), note=note.strip() or None)
        service.log_time(session, actor, task_id, entry)
    except InvalidInput as err:
        return _task_page(request, session, actor, task_id, error=err.message, status=422)
    except ValueError:
        return _task_page(request, session, actor, task_id, error="Log between 1 and 600 minutes", status=422)
    return RedirectResponse(f"/tasks/{task_id}#time", status_code=303)


@pages.post("/tasks/{task_id}/comments", dependencies=Csrf, response_model=None)
def add_comment(task_id: uuid.UUID, request: Request, session: Db, actor: Writer,
                body: LongForm = "") -> Response:
    try:
        service.add_comment(session, actor, task_id, body)
    except InvalidInput as err:
        return _task_page(request, session, actor, task_id, error=err.message, status=422)
    return RedirectResponse(f"/tasks/{task_id}#comments", status_code=303)


@pages.post("/tasks/{task_id}/claim", dependencies=Csrf)
def claim(task_id: uuid.UUID, session: Db, actor: Writer) -> RedirectResponse:
    assignment.claim(session, actor, task_id)
    return RedirectResponse(f"/tasks/{task_id}", status_code=303)


# --- a patient's tasks -------------------------------------------------------------------------

def _assign_options(session: Session, actor: Actor, patient_id: uuid.UUID) -> list[tuple[str, str]]:
    """"Assign to" choices: me, the patient's care team, then each role's queue."""
    team = care_teams.list_members(session, actor, patient_id) if actor.can(Permission.PATIENT_READ) else []
    people = [(f"staff:{s.id}", f"{s.display_name} ({label(m.role)})") for m, s in team if s.id != actor.staff_id]
    queues = [(f"queue:{r.value}", f"{label(r)} queue") for r in queries.TASK_ROLES]
    return [(f"staff:{actor.staff_id}", "Me"), *people, *queues]


def _patient_tasks_page(request: Request, session: Session, actor: Actor, patient_id: uuid.UUID, *,
                        include_closed: bool = False, error: str | None = None, form: dict | None = None,
                        status: int = 200) -> HTMLResponse:
    found = service.list_patient_tasks(session, actor, patient_id, include_closed=include_closed)
    patient = patients.get_patient(session, actor, patient_id)
    return render_page(request, "tasks/patient_tasks.html", {
        "patient": patient, "tasks": found, "include_closed": include_closed, "error": error,
        "form": form or {"title": "", "description": "", "priority": "routine", "due_date": "", "due_time": "",
                         "assign": f"staff:{actor.staff_id}"},
        "assign_options": _assign_options(session, actor, patient_id) if actor.can(Permission.TASK_WRITE) else [],
        "priority_options": [(p.value, label(p)) for p in TaskPriority],
        "focus_options": [(f.value, label(f)) for f in TaskFocus]}, status=status)


@pages.get("/patients/{patient_id}/tasks", response_class=HTMLResponse)
def patient_tasks(patient_id: uuid.UUID, request: Request, session: Db, actor: Reader,
                  include_closed: bool = False) -> HTMLResponse:
    return _patient_tasks_page(request, session, actor, patient_id, include_closed=include_closed)


@pages.post("/patients/{patient_id}/tasks", dependencies=Csrf, response_model=None)
def create_task(patient_id: uuid.UUID, request: Request, session: Db, actor: Writer, title: FormText = "",
                description: LongForm = "", priority: FormText = "routine", due_date: FormText = "",
                due_time: FormText = "", assign: FormText = "") -> Response:
    form = {"title": title, "description": description, "priority": priority, "due_date": due_date,
            "due_time": due_time, "assign": assign}
    try:
        data = _task_create(patient_id, form, request.state.shell.timezone)
    except InvalidInput as err:
        return _patient_tasks_page(request, session, actor, patient_id, error=err.message, form=form, status=422)
    task = service.create(session, actor, data)
    return RedirectResponse(f"/tasks/{task.id}", status_code=303)


def _task_create(patient_id: uuid.UUID, form: dict[str, str], tz: str) -> TaskCreate:
    """The new-task form as a TaskCreate; the due time is read in the organisation's time zone."""
    if not form["title"].strip():
        raise InvalidInput("Enter what needs to be done", field="title")
    kind, _, value = form["assign"].partition(":")
    owner = _parse(value, uuid.UUID, "assign", "Choose who does it") if kind == "staff" else None
    queue = _parse(value, StaffRole, "assign", "Choose who does it") if kind == "queue" else None
    if owner is None and queue is None:
        raise InvalidInput("Choose who does it", field="assign")
    due = None
    if form["due_date"]:
        day = _parse(form["due_date"], dt.date.fromisoformat, "due_date", "Enter the due date as YYYY-MM-DD")
        at = _parse(form["due_time"] or "17:00", dt.time.fromisoformat, "due_time", "Enter the time as HH:MM")
        due = dt.datetime.combine(day, at, ZoneInfo(tz))
    return TaskCreate(patient_id=patient_id, title=form["title"], description=form["description"].strip() or None,
                      priority=_parse(form["priority"], TaskPriority, "priority", "Choose a priority"),
                      owner_id=owner, queue_role=queue, due_at=due)
