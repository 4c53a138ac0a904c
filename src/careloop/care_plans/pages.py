"""Care plan pages: the patient's plan (view; a draft is edited in place), sign, revise, end, history."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from careloop import clock
from careloop.auth.actor import Actor
from careloop.auth.deps import require_page
from careloop.auth.permissions import Permission
from careloop.care_plans import content, queries, rules, service
from careloop.care_plans.models import CarePlanStatus, GoalComparator, GoalStatus
from careloop.care_plans.schemas import (
    ActivityCreate,
    CarePlanCreate,
    CarePlanUpdate,
    EducationCreate,
    GoalCreate,
    GoalNoteCreate,
)
from careloop.clinical.models import LOINC
from careloop.errors import InvalidInput
from careloop.patients import service as patients
from careloop.routing import db, router
from careloop.staff.models import StaffRole
from careloop.web.csrf import verify_csrf
from careloop.web.formatting import label
from careloop.web.forms import validated
from careloop.web.render import render_page
from careloop.web.shell import workspace

pages = router(include_in_schema=False, dependencies=[Depends(workspace)])
Db = Annotated[Session, Depends(db)]
Reader = Annotated[Actor, Depends(require_page(Permission.CARE_PLAN_READ))]
Writer = Annotated[Actor, Depends(require_page(Permission.CARE_PLAN_WRITE))]
Signer = Annotated[Actor, Depends(require_page(Permission.CARE_PLAN_SIGN))]
Csrf = [Depends(verify_csrf)]
Short = Annotated[str, Form(max_length=300)]
Long = Annotated[str, Form(max_length=8000)]
Version = Annotated[int | None, Form()]
PLAN = "/care-plans/{care_plan_id}"
MEASURES = ((LOINC, "4548-4", "Hemoglobin A1c (%)"), (LOINC, "8480-6", "Systolic blood pressure (mm[Hg])"),
            (LOINC, "8462-4", "Diastolic blood pressure (mm[Hg])"), (LOINC, "39156-5", "Body mass index"),
            (rules.MEASURE_SYSTEM, "ed-visits-90d", "Emergency visits in the last 90 days"),
            (rules.MEASURE_SYSTEM, "admissions-90d", "Hospital admissions in the last 90 days"))


def _plan_page(request: Request, session: Session, actor: Actor, plan_id: uuid.UUID, *, error: str | None = None,
               section: str | None = None, status: int = 200) -> HTMLResponse:
    view = queries.plan_view(session, actor, plan_id)
    plan = view.plan
    editing = plan.status == CarePlanStatus.DRAFT and actor.can(Permission.CARE_PLAN_WRITE)
    return render_page(request, "care_plans/plan.html", {
        "v": view, "plan": plan, "patient": patients.get_patient(session, actor, plan.patient_id),
        "editing": editing, "tracking": plan.status == CarePlanStatus.ACTIVE and actor.can(Permission.CARE_PLAN_WRITE),
        "options": _options(session, actor, view) if editing else None,
        "draft": queries.draft_of(session, plan.patient_id) if plan.status == CarePlanStatus.ACTIVE else None,
        "review_overdue": bool(plan.review_date and plan.status == CarePlanStatus.ACTIVE
                               and plan.review_date < clock.today(request.state.shell.timezone)),
        "error": error, "error_section": section,
        "comparators": [(c.value, rules.COMPARATOR_SIGN[c]) for c in GoalComparator],
        "goal_moves": {g.goal.id: [(s.value, label(s)) for s in GoalStatus if rules.can_move_goal(g.goal.status, s)]
                       for g in view.goals}}, status=status)


def _options(session: Session, actor: Actor, view: queries.PlanView) -> dict[str, list[tuple[str, str]]]:
    """The choices of a draft's forms."""
    choices = queries.editor_choices(session, actor, view)
    roles = [r for r in StaffRole if r not in (StaffRole.BILLING, StaffRole.SCHEDULER, StaffRole.ADMINISTRATOR)]
    return {"measures": [(f"{system}|{code}", name) for system, code, name in MEASURES],
            "conditions": [(str(c.id), f"{c.display} ({c.code})") for c in choices.conditions],
            "goals": [(str(g.goal.id), g.goal.description) for g in view.goals],
            "who": [("", "The care coordinator"),
                    *((f"staff:{s.id}", f"{s.display_name} ({label(m.role)})") for m, s in choices.team),
                    *((f"role:{r.value}", f"{label(r)} (care team member, else queue)") for r in roles)]}


def _act(request: Request, session: Session, actor: Actor, plan_id: uuid.UUID, section: str,
         change: Callable[[], object]) -> Response:
    """Make one change; back to the plan at its section, or the plan again with the problem (nothing written)."""
    try:
        change()
    except InvalidInput as err:
        session.rollback()
        return _plan_page(request, session, actor, plan_id, error=err.message, section=section, status=422)
    return RedirectResponse(f"/care-plans/{plan_id}#{section}", status_code=303)


# --- the patient's plan ----------------------------------------------------------------------------------------

@pages.get("/patients/{patient_id}/care-plan", response_class=HTMLResponse, response_model=None)
def patient_plan(patient_id: uuid.UUID, request: Request, session: Db, actor: Reader) -> Response:
    plan = queries.current_plan(session, actor, patient_id)
    if plan is not None:
        return RedirectResponse(f"/care-plans/{plan.id}", status_code=303)
    return render_page(request, "care_plans/none.html", {
        "patient": patients.get_patient(session, actor, patient_id),
        "history": queries.list_plans(session, actor, patient_id)})


@pages.post("/patients/{patient_id}/care-plan", dependencies=Csrf)
def start_plan(patient_id: uuid.UUID, session: Db, actor: Writer, title: Short = "Care plan") -> RedirectResponse:
    plan = service.create_plan(session, actor, patient_id, validated(CarePlanCreate, {"title": title}))
    return RedirectResponse(f"/care-plans/{plan.id}", status_code=303)


@pages.get("/patients/{patient_id}/care-plan/history", response_class=HTMLResponse)
def history(patient_id: uuid.UUID, request: Request, session: Db, actor: Reader) -> HTMLResponse:
    return render_page(request, "care_plans/history.html", {
        "patient": patients.get_patient(session, actor, patient_id),
        "plans": queries.list_plans(session, actor, patient_id)})


@pages.get(PLAN, response_class=HTMLResponse)
def plan_page(care_plan_id: uuid.UUID, request: Request, session: Db, actor: Reader) -> HTMLResponse:
    return _plan_page(request, session, actor, care_plan_id)


# --- life cycle ------------------------------------------------------------------------------------------------

@pages.post(PLAN + "/sign", dependencies=Csrf)
def sign(care_plan_id: uuid.UUID, request: Request, session: Db, actor: Signer, version: Version = None) -> Response:
    return _act(request, session, actor, care_plan_id, "plan",
                lambda: service.sign_plan(session, actor, care_plan_id, expected_version=version))


@pages.post(PLAN + "/revise", dependencies=Csrf)
def revise(care_plan_id: uuid.UUID, session: Db, actor: Writer) -> RedirectResponse:
    revision = service.revise_plan(session, actor, care_plan_id)
    return RedirectResponse(f"/care-plans/{revision.id}", status_code=303)


@pages.post(PLAN + "/end", dependencies=Csrf)
def end(care_plan_id: uuid.UUID, request: Request, session: Db, actor: Writer,
        status: Annotated[CarePlanStatus, Form()], reason: Short = "", version: Version = None) -> Response:
    return _act(request, session, actor, care_plan_id, "plan", lambda: service.end_plan(
        session, actor, care_plan_id, status, reason, expected_version=version))


@pages.post(PLAN + "/details", dependencies=Csrf)
def details(care_plan_id: uuid.UUID, request: Request, session: Db, actor: Writer, title: Short = "",
            patient_goals: Long = "", patient_preferences: Long = "", instructions: Long = "",
            review_date: Short = "", version: Version = None) -> Response:
    values = {"title": title, "patient_goals": patient_goals.strip(), "instructions": instructions.strip(),
              "patient_preferences": patient_preferences.strip(), "review_date": review_date}
    return _act(request, session, actor, care_plan_id, "plan", lambda: service.update_plan(
        session, actor, care_plan_id, validated(CarePlanUpdate, values, clear_empty=True), expected_version=version))


# --- content of a draft ----------------------------------------------------------------------------------------

@pages.post(PLAN + "/problems", dependencies=Csrf)
def add_problem(care_plan_id: uuid.UUID, request: Request, session: Db, actor: Writer,
                condition_id: Short = "") -> Response:
    def change() -> None:
        try:
            condition = uuid.UUID(condition_id)
        except ValueError as err:
            raise InvalidInput("Choose a condition from the list", field="condition_id") from err
        content.add_problem(session, actor, care_plan_id, condition)
    return _act(request, session, actor, care_plan_id, "problems", change)


@pages.post(PLAN + "/problems/{problem_id}/remove", dependencies=Csrf)
def remove_problem(care_plan_id: uuid.UUID, problem_id: uuid.UUID, request: Request, session: Db,
                   actor: Writer) -> Response:
    return _act(request, session, actor, care_plan_id, "problems",
                lambda: content.remove_problem(session, actor, care_plan_id, problem_id))


@pages.post(PLAN + "/goals", dependencies=Csrf)
def add_goal(care_plan_id: uuid.UUID, request: Request, session: Db, actor: Writer, description: Short = "",
             measure: Short = "", comparator: Short = "", target_value: Short = "", target_unit: Short = "",
             due_date: Short = "", patient_owned: Annotated[bool, Form()] = False) -> Response:
    system, _, code = measure.partition("|")
    values = {"description": description, "measure_system": system or LOINC, "measure_code": code,
              "comparator": comparator if code else "", "target_value": target_value if code else "",
              "target_unit": target_unit, "due_date": due_date, "patient_owned": patient_owned}
    return _act(request, session, actor, care_plan_id, "goals",
                lambda: content.add_goal(session, actor, care_plan_id, validated(GoalCreate, values)))


@pages.post(PLAN + "/goals/{goal_id}/remove", dependencies=Csrf)
def remove_goal(care_plan_id: uuid.UUID, goal_id: uuid.UUID, request: Request, session: Db,
                actor: Writer) -> Response:
    return _act(request, session, actor, care_plan_id, "goals",
                lambda: content.remove_goal(session, actor, care_plan_id, goal_id))


@pages.post(PLAN + "/goals/{goal_id}/status", dependencies=Csrf)
def goal_status(care_plan_id: uuid.UUID, goal_id: uuid.UUID, request: Request, session: Db, actor: Writer,
                status: Annotated[GoalStatus, Form()], note: Long = "", version: Version = None) -> Response:
    return _act(request, session, actor, care_plan_id, "goals", lambda: content.change_goal_status(
        session, actor, care_plan_id, goal_id, status, note.strip() or None, expected_version=version))


@pages.post(PLAN + "/goals/{goal_id}/notes", dependencies=Csrf)
def goal_note(care_plan_id: uuid.UUID, goal_id: uuid.UUID, request: Request, session: Db, actor: Writer,
              body: Long = "", measured_value: Short = "") -> Response:
    return _act(request, session, actor, care_plan_id, "goals", lambda: content.add_goal_note(
        session, actor, care_plan_id, goal_id,
        validated(GoalNoteCreate, {"body": body, "measured_value": measured_value})))


@pages.post(PLAN + "/activities", dependencies=Csrf)
def add_activity(care_plan_id: uuid.UUID, request: Request, session: Db, actor: Writer, description: Short = "",
                 goal_id: Short = "", who: Short = "", frequency_days: Short = "",
                 next_due_date: Short = "") -> Response:
    kind, _, value = who.partition(":")
    values = {"description": description, "goal_id": goal_id, "frequency_days": frequency_days,
              "next_due_date": next_due_date, "assigned_role": value if kind == "role" else "",
              "assigned_staff_id": value if kind == "staff" else ""}
    return _act(request, session, actor, care_plan_id, "activities",
                lambda: content.add_activity(session, actor, care_plan_id, validated(ActivityCreate, values)))


@pages.post(PLAN + "/activities/{activity_id}/remove", dependencies=Csrf)
def remove_activity(care_plan_id: uuid.UUID, activity_id: uuid.UUID, request: Request, session: Db,
                    actor: Writer) -> Response:
    return _act(request, session, actor, care_plan_id, "activities",
                lambda: content.remove_activity(session, actor, care_plan_id, activity_id))


@pages.post(PLAN + "/activities/{activity_id}/done", dependencies=Csrf)
def activity_done(care_plan_id: uuid.UUID, activity_id: uuid.UUID, request: Request, session: Db,
                  actor: Writer) -> Response:
    return _act(request, session, actor, care_plan_id, "activities",
                lambda: content.mark_activity_done(session, actor, care_plan_id, activity_id))


@pages.post(PLAN + "/education", dependencies=Csrf)
def add_education(care_plan_id: uuid.UUID, request: Request, session: Db, actor: Writer, title: Short = "",
                  body: Long = "") -> Response:
    return _act(request, session, actor, care_plan_id, "education", lambda: content.add_education(
        session, actor, care_plan_id, validated(EducationCreate, {"title": title, "body": body})))


@pages.post(PLAN + "/education/{item_id}/remove", dependencies=Csrf)
def remove_education(care_plan_id: uuid.UUID, item_id: uuid.UUID, request: Request, session: Db,
                     actor: Writer) -> Response:
    return _act(request, session, actor, care_plan_id, "education",
                lambda: content.remove_education(session, actor, care_plan_id, item_id))
