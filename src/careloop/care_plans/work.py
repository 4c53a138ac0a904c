"""The work a care plan creates: a task per activity occurrence, and a review task once a plan is past review."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from careloop import clock
from careloop.care_plans import rules
from careloop.care_plans.models import Activity, ActivityStatus, CarePlan, CarePlanStatus
from careloop.events import service as events
from careloop.organizations.models import Organization
from careloop.protocols import rules as protocol_rules
from careloop.protocols import service as protocols
from careloop.protocols.definition import COORDINATOR
from careloop.staff.models import StaffRole
from careloop.tasks import service as tasks
from careloop.tasks.models import OPEN_STATUSES, Task, TaskFocus, TaskStatus

REVIEW_TASK_DUE = dt.timedelta(days=7)
REVIEW_BATCH = 500


def plan_facts(session: Session, plan: CarePlan) -> protocols.Facts:
    """The patient's time zone and care team (for due dates and assignment)."""
    return protocols.patient_facts(session, plan.patient_id)


def _assignee(activity: Activity, team: dict[str, uuid.UUID]) -> tuple[uuid.UUID | None, StaffRole | None]:
    """The named person; else who holds the role on the care team (else its queue); else the coordinator."""
    if activity.assigned_staff_id is not None:
        return activity.assigned_staff_id, None
    role = activity.assigned_role
    roles = (COORDINATOR,) if role in (None, StaffRole.CARE_COORDINATOR) else (role.value,)
    return protocol_rules.assignee(roles, team)


def create_activity_task(session: Session, plan: CarePlan, activity: Activity, facts: protocols.Facts) -> Task:
    """The task for an activity's next occurrence, due at the end of its due day."""
    owner, queue = _assignee(activity, facts.team)
    due = protocol_rules.end_of_local_day(activity.next_due_date, facts.timezone) if activity.next_due_date else None
    task = tasks.create_task(session, organization_id=plan.organization_id, patient_id=plan.patient_id,
                             title=activity.description, description=f"Care plan activity ({plan.title})",
                             focus_type=TaskFocus.CARE_PLAN_ACTIVITY, focus_id=activity.id, owner_id=owner,
                             queue_role=queue, due_at=due)
    activity.status = ActivityStatus.SCHEDULED
    return task


def schedule_activities(session: Session, plan: CarePlan, facts: protocols.Facts) -> int:
    """A task for each open activity of a plan that was just signed."""
    stmt = select(Activity).where(Activity.care_plan_id == plan.id, Activity.status.in_(rules.OPEN_ACTIVITY))
    activities = list(session.scalars(stmt))
    for activity in activities:
        create_activity_task(session, plan, activity, facts)
    session.flush()
    return len(activities)


def close_plan_work(session: Session, plan: CarePlan, reason: str, *, revised: bool) -> None:
    """A plan leaves force: its open activity tasks are cancelled; its review task is done if it was revised."""
    activity_ids = select(Activity.id).where(Activity.care_plan_id == plan.id)
    stmt = select(Task).where(Task.status.in_(OPEN_STATUSES), (
        (Task.focus_type == TaskFocus.CARE_PLAN_ACTIVITY) & Task.focus_id.in_(activity_ids)) | (
        (Task.focus_type == TaskFocus.CARE_PLAN_REVIEW) & (Task.focus_id == plan.id)))
    for task in session.scalars(stmt).all():
        if revised and task.focus_type == TaskFocus.CARE_PLAN_REVIEW:
            tasks.apply_transition(session, None, task, TaskStatus.COMPLETED, outcome=reason)
        else:
            tasks.apply_transition(session, None, task, TaskStatus.CANCELLED, reason=reason)


def record_activity_done(session: Session, task: Task) -> Activity | None:
    """Count a completed activity task on time or late and schedule the next occurrence; once per task."""
    activity = session.scalars(select(Activity).where(Activity.id == task.focus_id).with_for_update()).one_or_none()
    if activity is None or activity.status in (ActivityStatus.COMPLETED, ActivityStatus.CANCELLED):
        return None
    plan = session.get(CarePlan, activity.care_plan_id)
    if plan.status != CarePlanStatus.ACTIVE or _recorded(session, activity.id, task):
        return None
    facts = plan_facts(session, plan)
    done = protocol_rules.local_date(task.completed_at or clock.now(), facts.timezone)
    if rules.completion_timeliness(activity.next_due_date, done):
        activity.completed_on_time += 1
    else:
        activity.completed_late += 1
    activity.next_due_date = rules.next_due(activity.frequency_days, done)
    if activity.next_due_date is None:
        activity.status = ActivityStatus.COMPLETED
    else:
        create_activity_task(session, plan, activity, facts)
    session.flush()
    return activity


def _recorded(session: Session, activity_id: uuid.UUID, task: Task) -> bool:
    """A task for the activity created at or after this one's completion means it was counted already."""
    return bool(session.scalar(select(exists().where(
        Task.focus_type == TaskFocus.CARE_PLAN_ACTIVITY, Task.focus_id == activity_id, Task.id != task.id,
        Task.created_at >= (task.completed_at or clock.now())))))


def create_review_tasks(session: Session, *, limit: int = REVIEW_BATCH) -> int:
    """For each active plan past its review date: one review task for the coordinator, and `care_plan.review_due`.

    A plan has one review cycle: the review ends with a signed revision, which is a new plan with its own date.
    Plans are found per organisation (its own "today"), on the (organization_id, status, review_date) index.
    """
    reviewed = exists().where(Task.focus_type == TaskFocus.CARE_PLAN_REVIEW, Task.focus_id == CarePlan.id)
    created = 0
    for org_id, tz in session.execute(select(Organization.id, Organization.timezone)).all():
        due = session.scalars(select(CarePlan).where(
            CarePlan.organization_id == org_id, CarePlan.status == CarePlanStatus.ACTIVE,
            CarePlan.review_date < clock.today(tz), ~reviewed).order_by(CarePlan.review_date).limit(limit - created))
        for plan in due.all():
            _open_review(session, plan, tz)
            created += 1
        if created >= limit:
            break
    return created


def _open_review(session: Session, plan: CarePlan, tz: str) -> Task:
    """The coordinator's review task for a plan, and the `care_plan.review_due` event protocols listen to."""
    owner, queue = protocol_rules.assignee((COORDINATOR,), plan_facts(session, plan).team)
    task = tasks.create_task(
        session, organization_id=plan.organization_id, patient_id=plan.patient_id, owner_id=owner, queue_role=queue,
        title=f"Review the care plan (review date {plan.review_date:%d %b %Y})", focus_id=plan.id,
        focus_type=TaskFocus.CARE_PLAN_REVIEW,
        due_at=protocol_rules.end_of_local_day(clock.today(tz) + REVIEW_TASK_DUE, tz),
        description="Review progress on each goal with the patient and care team, then revise and sign the plan.")
    events.publish(session, "care_plan.review_due", organization_id=plan.organization_id, patient_id=plan.patient_id,
                   payload={"care_plan_id": str(plan.id), "review_task_id": str(task.id),
                            "review_date": plan.review_date.isoformat()})
    return task
