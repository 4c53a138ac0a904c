"""Care plan JSON API: a patient's plan and its revisions; ETag / If-Match on every change to what is signed."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Request, Response
from sqlalchemy.orm import Session

from careloop.auth.actor import Actor
from careloop.auth.deps import require
from careloop.auth.permissions import Permission
from careloop.care_plans import content, queries, service
from careloop.care_plans.models import CarePlanStatus
from careloop.care_plans.rules import Adherence
from careloop.care_plans.schemas import (
    ActivityCreate,
    ActivityRead,
    ActivityUpdate,
    AdherenceRead,
    CarePlanCreate,
    CarePlanRead,
    CarePlanSummary,
    CarePlanUpdate,
    EducationCreate,
    EducationRead,
    GoalCreate,
    GoalNoteCreate,
    GoalNoteRead,
    GoalRead,
    GoalStatusChange,
    GoalUpdate,
    ProblemCreate,
    ProblemRead,
    Reason,
)
from careloop.errors import NotFound
from careloop.etags import if_match, require_if_match, set_etag
from careloop.routing import db, router

api = router(prefix="/api/v1", tags=["care plans"])
Db = Annotated[Session, Depends(db)]
Reader = Annotated[Actor, Depends(require(Permission.CARE_PLAN_READ))]
Writer = Annotated[Actor, Depends(require(Permission.CARE_PLAN_WRITE))]
Signer = Annotated[Actor, Depends(require(Permission.CARE_PLAN_SIGN))]
PLAN = "/care-plans/{care_plan_id}"


def adherence_read(a: Adherence) -> AdherenceRead:
    return AdherenceRead(on_time=a.on_time, late=a.late, overdue=a.overdue, on_time_rate=a.on_time_rate,
                         goals_met=a.goals_met, goals_total=a.goals_total, goals_met_rate=a.goals_met_rate,
                         patients=a.patients)


def to_read(view: queries.PlanView) -> CarePlanRead:
    """The API view of one revision."""
    plan = view.plan
    return CarePlanRead(
        **CarePlanSummary.model_validate(plan).model_dump(), patient_id=plan.patient_id,
        patient_goals=plan.patient_goals, patient_preferences=plan.patient_preferences,
        instructions=plan.instructions, author_id=plan.author_id,
        problems=[ProblemRead(id=p.id, condition_id=c.id, code=c.code, display=c.display, chronic=c.chronic)
                  for p, c in view.problems],
        goals=[GoalRead(**{k: getattr(g.goal, k) for k in GoalRead.model_fields
                           if k not in ("target", "latest_value", "latest_at", "target_met", "notes")},
                        target=g.target, latest_value=g.progress.value, latest_at=g.progress.at,
                        target_met=g.progress.met, notes=[GoalNoteRead.model_validate(n) for n in g.notes])
               for g in view.goals],
        activities=[ActivityRead(**{k: getattr(a, k) for k in ActivityRead.model_fields if k != "open_task_id"},
                                 open_task_id=task.id if task else None) for a, task in view.activities],
        education=[EducationRead.model_validate(e) for e in view.education],
        adherence=adherence_read(view.adherence))


def _plan(session: Session, plan_id: uuid.UUID, response: Response) -> CarePlanRead:
    """The plan as it is now (after a change the caller made and checked access for), with its ETag."""
    view = queries.build_view(session, session.get(service.CarePlan, plan_id))
    set_etag(response, view.plan.version)
    return to_read(view)


# --- a patient's plans ---------------------------------------------------------------------------------------

@api.get("/patients/{patient_id}/care-plans", response_model=list[CarePlanSummary],
         summary="Every revision of a patient's care plan, newest first")
def list_plans(patient_id: uuid.UUID, session: Db, actor: Reader) -> list[CarePlanSummary]:
    return [CarePlanSummary.model_validate(p) for p in queries.list_plans(session, actor, patient_id)]


@api.post("/patients/{patient_id}/care-plans", response_model=CarePlanRead, status_code=201,
          summary="Start a draft care plan")
def create_plan(patient_id: uuid.UUID, data: CarePlanCreate, response: Response, session: Db,
                actor: Writer) -> CarePlanRead:
    plan = service.create_plan(session, actor, patient_id, data)
    response.headers["Location"] = f"/api/v1/care-plans/{plan.id}"
    return _plan(session, plan.id, response)


@api.get("/patients/{patient_id}/care-plans/current", response_model=CarePlanRead,
         summary="The active plan, else the draft being written")
def current_plan(patient_id: uuid.UUID, response: Response, session: Db, actor: Reader) -> CarePlanRead:
    plan = queries.current_plan(session, actor, patient_id)
    if plan is None:
        raise NotFound("This patient has no care plan yet", code="no_care_plan")
    view = queries.plan_view(session, actor, plan.id)
    set_etag(response, plan.version)
    return to_read(view)


@api.get("/patients/{patient_id}/care-plan-adherence", response_model=AdherenceRead,
         summary="Adherence to the patient's active plan")
def patient_adherence(patient_id: uuid.UUID, session: Db, actor: Reader) -> AdherenceRead:
    return adherence_read(queries.patient_adherence(session, actor, patient_id))


@api.get("/care-plans/panel-adherence", response_model=AdherenceRead,
         summary="Adherence over a coordinator's panel (default: mine)")
def panel_adherence(session: Db, actor: Reader, coordinator_id: uuid.UUID | None = None) -> AdherenceRead:
    return adherence_read(queries.panel_adherence(session, actor, coordinator_id or actor.staff_id))


# --- one plan ------------------------------------------------------------------------------------------------

@api.get(PLAN, response_model=CarePlanRead, summary="One revision with goals' measured progress")
def get_plan(care_plan_id: uuid.UUID, response: Response, session: Db, actor: Reader) -> CarePlanRead:
    view = queries.plan_view(session, actor, care_plan_id)
    set_etag(response, view.plan.version)
    return to_read(view)


@api.patch(PLAN, response_model=CarePlanRead, summary="Edit a draft (If-Match required)")
def update_plan(care_plan_id: uuid.UUID, data: CarePlanUpdate, request: Request, response: Response,
                session: Db, actor: Writer) -> CarePlanRead:
    service.update_plan(session, actor, care_plan_id, data, expected_version=require_if_match(request))
    return _plan(session, care_plan_id, response)


@api.post(PLAN + "/sign", response_model=CarePlanRead,
          summary="Sign a draft: it becomes the active plan (send If-Match to sign exactly what you read)")
def sign_plan(care_plan_id: uuid.UUID, request: Request, response: Response, session: Db,
              actor: Signer) -> CarePlanRead:
    service.sign_plan(session, actor, care_plan_id, expected_version=if_match(request))
    return _plan(session, care_plan_id, response)


@api.post(PLAN + "/revise", response_model=CarePlanRead, status_code=201,
          summary="Start a new draft revision of the active plan")
def revise_plan(care_plan_id: uuid.UUID, response: Response, session: Db, actor: Writer) -> CarePlanRead:
    revision = service.revise_plan(session, actor, care_plan_id)
    response.headers["Location"] = f"/api/v1/care-plans/{revision.id}"
    return _plan(session, revision.id, response)


@api.post(PLAN + "/complete", response_model=CarePlanRead, summary="Complete the plan (If-Match checked if sent)")
def complete_plan(care_plan_id: uuid.UUID, data: Reason, request: Request, response: Response, session: Db,
                  actor: Signer) -> CarePlanRead:
    service.end_plan(session, actor, care_plan_id, CarePlanStatus.COMPLETED, data.reason,
                     expected_version=if_match(request))
    return _plan(session, care_plan_id, response)


@api.post(PLAN + "/revoke", response_model=CarePlanRead,
          summary="Revoke the plan, with a reason (If-Match checked if sent)")
def revoke_plan(care_plan_id: uuid.UUID, data: Reason, request: Request, response: Response, session: Db,
                actor: Writer) -> CarePlanRead:
    service.end_plan(session, actor, care_plan_id, CarePlanStatus.REVOKED, data.reason,
                     expected_version=if_match(request))
    return _plan(session, care_plan_id, response)


# --- content of a draft --------------------------------------------------------------------------------------

@api.post(PLAN + "/problems", response_model=CarePlanRead, status_code=201, summary="Address a condition")
def add_problem(care_plan_id: uuid.UUID, data: ProblemCreate, response: Response, session: Db,
                actor: Writer) -> CarePlanRead:
    content.add_problem(session, actor, care_plan_id, data.condition_id)
    return _plan(session, care_plan_id, response)


@api.delete(PLAN + "/problems/{problem_id}", response_model=CarePlanRead, summary="Stop addressing a condition")
def remove_problem(care_plan_id: uuid.UUID, problem_id: uuid.UUID, response: Response, session: Db,
                   actor: Writer) -> CarePlanRead:
    content.remove_problem(session, actor, care_plan_id, problem_id)
    return _plan(session, care_plan_id, response)


@api.post(PLAN + "/goals", response_model=CarePlanRead, status_code=201, summary="Add a goal")
def add_goal(care_plan_id: uuid.UUID, data: GoalCreate, response: Response, session: Db,
             actor: Writer) -> CarePlanRead:
    content.add_goal(session, actor, care_plan_id, data)
    return _plan(session, care_plan_id, response)


@api.patch(PLAN + "/goals/{goal_id}", response_model=CarePlanRead,
           summary="Edit a draft's goal (If-Match: the goal's version)")
def update_goal(care_plan_id: uuid.UUID, goal_id: uuid.UUID, data: GoalUpdate, request: Request,
                response: Response, session: Db, actor: Writer) -> CarePlanRead:
    content.update_goal(session, actor, care_plan_id, goal_id, data, expected_version=require_if_match(request))
    return _plan(session, care_plan_id, response)


@api.delete(PLAN + "/goals/{goal_id}", response_model=CarePlanRead, summary="Remove a draft's goal")
def remove_goal(care_plan_id: uuid.UUID, goal_id: uuid.UUID, response: Response, session: Db,
                actor: Writer) -> CarePlanRead:
    content.remove_goal(session, actor, care_plan_id, goal_id)
    return _plan(session, care_plan_id, response)


@api.post(PLAN + "/goals/{goal_id}/status", response_model=CarePlanRead,
          summary="Move a goal on; achieved needs its target met (If-Match, if sent: the goal's version)")
def change_goal_status(care_plan_id: uuid.UUID, goal_id: uuid.UUID, data: GoalStatusChange, request: Request,
                       response: Response, session: Db, actor: Writer) -> CarePlanRead:
    content.change_goal_status(session, actor, care_plan_id, goal_id, data.status, data.note,
                               expected_version=if_match(request))
    return _plan(session, care_plan_id, response)


@api.post(PLAN + "/goals/{goal_id}/notes", response_model=CarePlanRead, status_code=201,
          summary="Add a progress note to a goal")
def add_goal_note(care_plan_id: uuid.UUID, goal_id: uuid.UUID, data: GoalNoteCreate, response: Response,
                  session: Db, actor: Writer) -> CarePlanRead:
    content.add_goal_note(session, actor, care_plan_id, goal_id, data)
    return _plan(session, care_plan_id, response)


@api.post(PLAN + "/activities", response_model=CarePlanRead, status_code=201, summary="Add an activity")
def add_activity(care_plan_id: uuid.UUID, data: ActivityCreate, response: Response, session: Db,
                 actor: Writer) -> CarePlanRead:
    content.add_activity(session, actor, care_plan_id, data)
    return _plan(session, care_plan_id, response)


@api.patch(PLAN + "/activities/{activity_id}", response_model=CarePlanRead,
           summary="Edit a draft's activity (If-Match: the activity's version)")
def update_activity(care_plan_id: uuid.UUID, activity_id: uuid.UUID, data: ActivityUpdate, request: Request,
                    response: Response, session: Db, actor: Writer) -> CarePlanRead:
    content.update_activity(session, actor, care_plan_id, activity_id, data,
                            expected_version=require_if_match(request))
    return _plan(session, care_plan_id, response)


@api.delete(PLAN + "/activities/{activity_id}", response_model=CarePlanRead, summary="Remove a draft's activity")
def remove_activity(care_plan_id: uuid.UUID, activity_id: uuid.UUID, response: Response, session: Db,
                    actor: Writer) -> CarePlanRead:
    content.remove_activity(session, actor, care_plan_id, activity_id)
    return _plan(session, care_plan_id, response)


@api.post(PLAN + "/activities/{activity_id}/done", response_model=CarePlanRead,
          summary="Mark an active plan's activity done (completes its task)")
def mark_activity_done(care_plan_id: uuid.UUID, activity_id: uuid.UUID, response: Response, session: Db,
                       actor: Writer) -> CarePlanRead:
    content.mark_activity_done(session, actor, care_plan_id, activity_id)
    return _plan(session, care_plan_id, response)


@api.post(PLAN + "/education", response_model=CarePlanRead, status_code=201, summary="Add education")
def add_education(care_plan_id: uuid.UUID, data: EducationCreate, response: Response, session: Db,
                  actor: Writer) -> CarePlanRead:
    content.add_education(session, actor, care_plan_id, data)
    return _plan(session, care_plan_id, response)


@api.delete(PLAN + "/education/{item_id}", response_model=CarePlanRead, summary="Remove education")
def remove_education(care_plan_id: uuid.UUID, item_id: uuid.UUID, response: Response, session: Db,
                     actor: Writer) -> CarePlanRead:
    content.remove_education(session, actor, care_plan_id, item_id)
    return _plan(session, care_plan_id, response)
