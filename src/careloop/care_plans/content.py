"""What a plan says (problems, goals, activities, education: edited in a draft) and its tracking on the active
plan (goal status and progress notes, activities marked done)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from careloop import clock
from careloop.audit import service as audit
from careloop.auth.actor import Actor
from careloop.auth.permissions import Permission
from careloop.care_plans import queries, rules, service, work
from careloop.care_plans.models import (
    Activity,
    CarePlan,
    CarePlanProblem,
    CarePlanStatus,
    EducationItem,
    Goal,
    GoalNote,
    GoalStatus,
)
from careloop.care_plans.schemas import (
    ActivityCreate,
    ActivityUpdate,
    EducationCreate,
    GoalCreate,
    GoalNoteCreate,
    GoalUpdate,
)
from careloop.clinical.models import Condition
from careloop.errors import Conflict, InvalidInput, InvalidTransition, NotFound
from careloop.staff.models import Staff
from careloop.tasks import service as tasks
from careloop.tasks.models import OPEN_STATUSES, Task, TaskFocus, TaskStatus


def _audit(session: Session, actor: Actor, action: str, plan: CarePlan, kind: str, record_id: uuid.UUID,
           **detail: Any) -> None:
    audit.record(session, actor, action, patient_id=plan.patient_id, record_type=kind, record_id=str(record_id),
                 detail={"care_plan_id": str(plan.id), **detail})


def _child(session: Session, model: type, plan: CarePlan, child_id: uuid.UUID, name: str) -> Any:
    row = session.get(model, child_id, with_for_update=True)
    if row is None or row.care_plan_id != plan.id:
        raise NotFound(f"{name} not found in this care plan")
    return row


def _changed(session: Session, actor: Actor, plan: CarePlan, action: str, kind: str, record_id: uuid.UUID,
             **detail: Any) -> None:
    service.touch(plan)
    session.flush()
    _audit(session, actor, action, plan, kind, record_id, **detail)


# --- problems and education (draft) --------------------------------------------------------------------------

def add_problem(session: Session, actor: Actor, plan_id: uuid.UUID, condition_id: uuid.UUID) -> CarePlanProblem:
    """Link one of the patient's conditions to a draft."""
    plan = service.load_draft(session, actor, plan_id)
    condition = session.get(Condition, condition_id)
    if condition is None or condition.patient_id != plan.patient_id:
        raise InvalidInput("Choose one of this patient's conditions", field="condition_id")
    if session.scalar(select(CarePlanProblem.id).where(CarePlanProblem.care_plan_id == plan.id,
                                                       CarePlanProblem.condition_id == condition_id)):
        raise Conflict("This condition is already addressed by the plan", code="problem_exists")
    problem = CarePlanProblem(id=uuid.uuid4(), care_plan_id=plan.id, condition_id=condition_id)
    session.add(problem)
    _changed(session, actor, plan, "create", "CarePlanProblem", problem.id)
    return problem


def remove_problem(session: Session, actor: Actor, plan_id: uuid.UUID, problem_id: uuid.UUID) -> None:
    """Unlink a condition from a draft."""
    plan = service.load_draft(session, actor, plan_id)
    session.delete(_child(session, CarePlanProblem, plan, problem_id, "Problem"))
    _changed(session, actor, plan, "delete", "CarePlanProblem", problem_id)


def add_education(session: Session, actor: Actor, plan_id: uuid.UUID, data: EducationCreate) -> EducationItem:
    """Add patient-facing instructions or education to a draft."""
    plan = service.load_draft(session, actor, plan_id)
    item = EducationItem(id=uuid.uuid4(), care_plan_id=plan.id, **data.model_dump())
    session.add(item)
    _changed(session, actor, plan, "create", "CarePlanEducation", item.id)
    return item


def remove_education(session: Session, actor: Actor, plan_id: uuid.UUID, item_id: uuid.UUID) -> None:
    """Remove an education item from a draft."""
    plan = service.load_draft(session, actor, plan_id)
    session.delete(_child(session, EducationItem, plan, item_id, "Education item"))
    _changed(session, actor, plan, "delete", "CarePlanEducation", item_id)


# --- goals -----------------------------------------------------------------------------------------------------

def _check_target(goal: Goal) -> None:
    parts = (goal.measure_code, goal.comparator, goal.target_value)
    if any(p is not None for p in parts) and not all(p is not None for p in parts):
        raise InvalidInput("A measurable target needs a measure, a comparator and a target value together",
                           field="target_value")


def add_goal(session: Session, actor: Actor, plan_id: uuid.UUID, data: GoalCreate) -> Goal:
    """Add a goal (free text, or with a measurable target) to a draft."""
    plan = service.load_draft(session, actor, plan_id)
    values = data.model_dump()
    if values["measure_code"] is None:
        values["measure_system"] = None
    goal = Goal(id=uuid.uuid4(), care_plan_id=plan.id, patient_id=plan.patient_id, **values)
    session.add(goal)
    _changed(session, actor, plan, "create", "Goal", goal.id)
    return goal


def update_goal(session: Session, actor: Actor, plan_id: uuid.UUID, goal_id: uuid.UUID, data: GoalUpdate,
                *, expected_version: int | None) -> Goal:
    """Change a draft's goal (If-Match on the goal's version)."""
    plan = service.load_draft(session, actor, plan_id)
    goal = _child(session, Goal, plan, goal_id, "Goal")
    service.check_version(goal.version, expected_version)
    changes = data.model_dump(exclude_unset=True)
    for name, value in changes.items():
        setattr(goal, name, value)
    _check_target(goal)
    _changed(session, actor, plan, "update", "Goal", goal.id, fields=sorted(changes))
    return goal


def remove_goal(session: Session, actor: Actor, plan_id: uuid.UUID, goal_id: uuid.UUID) -> None:
    """Remove a goal from a draft (its activities stay, no longer linked to it)."""
    plan = service.load_draft(session, actor, plan_id)
    goal = _child(session, Goal, plan, goal_id, "Goal")
    session.execute(update(Activity).where(Activity.goal_id == goal.id).values(goal_id=None,
                                                                              version=Activity.version + 1))
    session.execute(GoalNote.__table__.delete().where(GoalNote.goal_id == goal.id))
    session.delete(goal)
    _changed(session, actor, plan, "delete", "Goal", goal_id)


def _tracked_goal(session: Session, actor: Actor, plan_id: uuid.UUID, goal_id: uuid.UUID) -> tuple[CarePlan, Goal]:
    plan = service.load_plan(session, actor, plan_id, Permission.CARE_PLAN_WRITE)
    if plan.status not in (CarePlanStatus.DRAFT, CarePlanStatus.ACTIVE):
        raise InvalidTransition(f"A {plan.status.value} care plan is history and cannot change")
    return plan, _child(session, Goal, plan, goal_id, "Goal")


def change_goal_status(session: Session, actor: Actor, plan_id: uuid.UUID, goal_id: uuid.UUID, status: GoalStatus,
                       note: str | None, *, expected_version: int | None) -> Goal:
    """Move a goal on (achieved needs the latest measured value to meet a measurable target)."""
    plan, goal = _tracked_goal(session, actor, plan_id, goal_id)
    service.check_version(goal.version, expected_version)
    if not rules.can_move_goal(goal.status, status):
        raise InvalidTransition(f"A {goal.status.value} goal cannot become {status.value}")
    if status == GoalStatus.ACHIEVED:
        progress = queries.goal_progress(session, plan.patient_id, [goal])[goal.id]
        if goal.comparator is not None and not progress.met:
            raise InvalidTransition("The latest measured value does not meet this goal's target yet",
                                    code="target_not_met", extra={"latest_value": progress.value})
    goal.status = status
    goal.achieved_at = clock.now() if status == GoalStatus.ACHIEVED else None
    if note:
        session.add(GoalNote(goal_id=goal.id, author_id=actor.staff_id, body=note))
    session.flush()
    _audit(session, actor, "update", plan, "Goal", goal.id, to=status.value)
    return goal


def add_goal_note(session: Session, actor: Actor, plan_id: uuid.UUID, goal_id: uuid.UUID,
                  data: GoalNoteCreate) -> GoalNote:
    """A progress note on a goal, optionally with a measured value."""
    plan, goal = _tracked_goal(session, actor, plan_id, goal_id)
    note = GoalNote(id=uuid.uuid4(), goal_id=goal.id, author_id=actor.staff_id, body=data.body,
                    measured_value=data.measured_value)
    session.add(note)
    session.flush()
    _audit(session, actor, "create", plan, "GoalNote", note.id)
    return note


# --- activities ------------------------------------------------------------------------------------------------

def _check_activity(session: Session, actor: Actor, plan: CarePlan, activity: Activity) -> None:
    if activity.goal_id is not None:
        goal = session.get(Goal, activity.goal_id)
        if goal is None or goal.care_plan_id != plan.id:
            raise InvalidInput("Choose one of this plan's goals", field="goal_id")
    if activity.assigned_staff_id is not None:
        staff = session.get(Staff, activity.assigned_staff_id)
        if staff is None or staff.organization_id != actor.organization_id or not staff.is_active:
            raise InvalidInput("No active staff member with that id in this organisation", field="assigned_staff_id")


def add_activity(session: Session, actor: Actor, plan_id: uuid.UUID, data: ActivityCreate) -> Activity:
    """Add an activity (what, who, how often, first due date) to a draft."""
    plan = service.load_draft(session, actor, plan_id)
    activity = Activity(id=uuid.uuid4(), care_plan_id=plan.id, patient_id=plan.patient_id, **data.model_dump())
    _check_activity(session, actor, plan, activity)
    session.add(activity)
    _changed(session, actor, plan, "create", "CarePlanActivity", activity.id)
    return activity


def update_activity(session: Session, actor: Actor, plan_id: uuid.UUID, activity_id: uuid.UUID,
                    data: ActivityUpdate, *, expected_version: int | None) -> Activity:
    """Change a draft's activity (If-Match on the activity's version)."""
    plan = service.load_draft(session, actor, plan_id)
    activity = _child(session, Activity, plan, activity_id, "Activity")
    service.check_version(activity.version, expected_version)
    changes = data.model_dump(exclude_unset=True)
    for name, value in changes.items():
        setattr(activity, name, value)
    _check_activity(session, actor, plan, activity)
    _changed(session, actor, plan, "update", "CarePlanActivity", activity.id, fields=sorted(changes))
    return activity


def remove_activity(session: Session, actor: Actor, plan_id: uuid.UUID, activity_id: uuid.UUID) -> None:
    """Remove an activity from a draft."""
    plan = service.load_draft(session, actor, plan_id)
    session.delete(_child(session, Activity, plan, activity_id, "Activity"))
    _changed(session, actor, plan, "delete", "CarePlanActivity", activity_id)


def mark_activity_done(session: Session, actor: Actor, plan_id: uuid.UUID, activity_id: uuid.UUID) -> Activity:
    """Complete the open task of an active plan's activity and record it at once (on time or late, next due)."""
    plan = service.load_plan(session, actor, plan_id, Permission.CARE_PLAN_WRITE)
    if plan.status != CarePlanStatus.ACTIVE:
        raise InvalidTransition("Only activities of the active care plan can be marked done")
    activity = _child(session, Activity, plan, activity_id, "Activity")
    if activity.status not in rules.OPEN_ACTIVITY:
        raise InvalidTransition(f"A {activity.status.value} activity cannot be marked done")
    task = session.scalars(select(Task).where(
        Task.focus_type == TaskFocus.CARE_PLAN_ACTIVITY, Task.focus_id == activity.id,
        Task.status.in_(OPEN_STATUSES)).order_by(Task.due_at).limit(1)).first()
    if task is None:  # its task was cancelled: record this occurrence all the same
        task = work.create_activity_task(session, plan, activity, work.plan_facts(session, plan))
    tasks.apply_transition(session, actor, task, TaskStatus.COMPLETED, outcome="Marked done on the care plan")
    work.record_activity_done(session, task)
    _audit(session, actor, "update", plan, "CarePlanActivity", activity.id, done=True)
    return activity
