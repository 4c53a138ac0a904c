"""Care plan life cycle: draft, sign (active), revise, complete or revoke; every revision is its own record."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from careloop import clock
from careloop.audit import service as audit
from careloop.auth import access
from careloop.auth.actor import Actor
from careloop.auth.permissions import Permission
from careloop.care_plans import rules, work
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
from careloop.care_plans.schemas import CarePlanCreate, CarePlanUpdate
from careloop.clinical.models import Condition
from careloop.errors import Conflict, Forbidden, InvalidInput, InvalidTransition, NotFound, StaleVersion
from careloop.events import service as events
from careloop.patients import service as patients_service

S = CarePlanStatus


def check_version(current: int, expected: int | None) -> None:
    """StaleVersion unless the client's If-Match version is the current one (None: not sent)."""
    if expected is not None and expected != current:
        raise StaleVersion(extra={"current_version": current})


def load_plan(session: Session, actor: Actor, plan_id: uuid.UUID, permission: Permission,
              *, for_update: bool = False) -> CarePlan:
    """A plan the actor may use with the permission: NotFound across organisations, Forbidden off the care team."""
    actor.require(permission)
    stmt = select(CarePlan).where(CarePlan.id == plan_id, CarePlan.organization_id == actor.organization_id)
    plan = session.scalars(stmt.with_for_update() if for_update else stmt).one_or_none()
    if plan is None:
        raise NotFound("Care plan not found")
    access.load_patient(session, actor, plan.patient_id, permission)
    return plan


def load_draft(session: Session, actor: Actor, plan_id: uuid.UUID, expected_version: int | None = None) -> CarePlan:
    """A draft the actor may edit; a signed plan changes only through a revision."""
    plan = load_plan(session, actor, plan_id, Permission.CARE_PLAN_WRITE, for_update=True)
    if plan.status != S.DRAFT:
        raise InvalidTransition("A signed care plan cannot be edited: revise it to make changes", code="plan_not_draft")
    check_version(plan.version, expected_version)
    return plan


def touch(plan: CarePlan) -> None:
    """Mark the plan changed (its version, the ETag a signer signs against, moves on)."""
    plan.updated_at = clock.now()


def _record(session: Session, actor: Actor, action: str, plan: CarePlan, **detail: object) -> None:
    audit.record(session, actor, action, patient_id=plan.patient_id, record_type="CarePlan",
                 record_id=str(plan.id), detail=detail or None)


def _publish(session: Session, event_type: str, plan: CarePlan, **payload: object) -> None:
    events.publish(session, event_type, organization_id=plan.organization_id, patient_id=plan.patient_id,
                   payload={"care_plan_id": str(plan.id), "revision": plan.revision, **payload})


@patients_service.before_merge
def _settle_plans_before_merge(session: Session, actor: Actor, survivor_id: uuid.UUID,
                               duplicate_id: uuid.UUID) -> None:
    """The survivor's plans stay in force; the duplicate's active or draft plan of the same kind is revoked.

    A duplicate's plan with no counterpart on the survivor moves with the other records and stays in force.
    """
    survivor_statuses = {plan.status for plan in _open_plans(session, survivor_id)}
    for plan in _open_plans(session, duplicate_id):
        if plan.status not in survivor_statuses:
            continue
        was_active = plan.status == S.ACTIVE
        plan.status, plan.ended_at = S.REVOKED, clock.now()
        plan.status_reason = "Patient records merged; the surviving record's plan stays in force"
        session.flush()
        if was_active:
            work.close_plan_work(session, plan, "Care plan revoked by a patient merge", revised=False)
        _record(session, actor, "update", plan, to=S.REVOKED.value, merged_into=str(survivor_id))
        _publish(session, "care_plan.revoked", plan)


def _next_revision(session: Session, patient_id: uuid.UUID) -> int:
    return (session.scalar(select(func.max(CarePlan.revision)).where(CarePlan.patient_id == patient_id)) or 0) + 1


def _open_plans(session: Session, patient_id: uuid.UUID) -> list[CarePlan]:
    stmt = select(CarePlan).where(CarePlan.patient_id == patient_id, CarePlan.status.in_((S.DRAFT, S.ACTIVE)))
    return list(session.scalars(stmt))


def create_plan(session: Session, actor: Actor, patient_id: uuid.UUID, data: CarePlanCreate) -> CarePlan:
    """A first draft for a patient without an active plan or a draft (otherwise Conflict: revise instead)."""
    patient = access.load_patient(session, actor, patient_id, Permission.CARE_PLAN_WRITE, for_update=True)
    for existing in _open_plans(session, patient.id):
        if existing.status == S.ACTIVE:
            raise Conflict("This patient has an active care plan: revise it instead", code="active_plan_exists",
                           extra={"care_plan_id": str(existing.id)})
        raise Conflict("This patient already has a draft care plan", code="draft_exists",
                       extra={"care_plan_id": str(existing.id)})
    plan = CarePlan(organization_id=patient.organization_id, patient_id=patient.id,
                    revision=_next_revision(session, patient.id), author_id=actor.staff_id, **data.model_dump())
    session.add(plan)
    session.flush()
    _record(session, actor, "create", plan)
    _publish(session, "care_plan.created", plan)
    return plan


def update_plan(session: Session, actor: Actor, plan_id: uuid.UUID, data: CarePlanUpdate,
                *, expected_version: int | None) -> CarePlan:
    """Change a draft's own fields (title, the patient's goals and preferences, instructions, review date)."""
    plan = load_draft(session, actor, plan_id, expected_version)
    changes = data.model_dump(exclude_unset=True)
    if "title" in changes and not changes["title"]:
        raise InvalidInput("A care plan needs a title", field="title")
    for name, value in changes.items():
        setattr(plan, name, value)
    touch(plan)
    session.flush()
    _record(session, actor, "update", plan, fields=sorted(changes))
    return plan


def sign_plan(session: Session, actor: Actor, plan_id: uuid.UUID, *, expected_version: int | None) -> CarePlan:
    """Sign a draft: it becomes the active plan (the previous one is marked revised in the same transaction)."""
    actor.require(Permission.CARE_PLAN_SIGN)
    if actor.staff_id is None:
        raise Forbidden("A care plan is signed by a person, not a system client", code="signer_required")
    plan = load_plan(session, actor, plan_id, Permission.CARE_PLAN_SIGN, for_update=True)
    check_version(plan.version, expected_version)
    _check_move(plan, S.ACTIVE)
    goals = list(session.scalars(select(Goal).where(Goal.care_plan_id == plan.id,
                                                    Goal.status != GoalStatus.CANCELLED)))
    if not goals:
        raise InvalidTransition("Add at least one goal before signing the care plan", code="plan_without_goals")
    previous = session.scalars(select(CarePlan).where(CarePlan.patient_id == plan.patient_id,
                                                      CarePlan.status == S.ACTIVE).with_for_update()).one_or_none()
    now = clock.now()
    if previous is not None:
        previous.status, previous.ended_at = S.REVISED, now
        session.flush()  # the one-active-plan index must see the old plan leave first
    facts = work.plan_facts(session, plan)
    plan.status, plan.signed_by_id, plan.signed_at = S.ACTIVE, actor.staff_id, now
    plan.review_date = rules.review_date_on_activation(plan.review_date, clock.today(facts.timezone))
    for goal in goals:
        if goal.status == GoalStatus.PROPOSED:
            goal.status = GoalStatus.ACTIVE
    session.flush()
    if previous is not None:
        work.close_plan_work(session, previous, f"Care plan revised (revision {plan.revision})", revised=True)
    work.schedule_activities(session, plan, facts)
    _record(session, actor, "sign", plan, to="active")
    _publish(session, "care_plan.activated", plan, supersedes_id=str(plan.supersedes_id) if plan.supersedes_id
             else None, chronic_problems=_chronic_problems(session, plan.id))
    return plan


def _chronic_problems(session: Session, plan_id: uuid.UUID) -> int:
    stmt = (select(func.count()).select_from(CarePlanProblem)
            .join(Condition, Condition.id == CarePlanProblem.condition_id)
            .where(CarePlanProblem.care_plan_id == plan_id, Condition.chronic.is_(True)))
    return session.scalar(stmt) or 0


def _check_move(plan: CarePlan, target: CarePlanStatus) -> None:
    if not rules.can_move_plan(plan.status, target):
        raise InvalidTransition(f"A {plan.status.value} care plan cannot become {target.value}")


def end_plan(session: Session, actor: Actor, plan_id: uuid.UUID, target: CarePlanStatus, reason: str,
             *, expected_version: int | None) -> CarePlan:
    """Complete or revoke a plan (revoking a draft discards it); ending an active plan needs CARE_PLAN_SIGN."""
    if target not in (S.COMPLETED, S.REVOKED):
        raise InvalidInput("A plan can only be completed or revoked here", field="status")
    plan = load_plan(session, actor, plan_id, Permission.CARE_PLAN_WRITE, for_update=True)
    if plan.status == S.ACTIVE:
        actor.require(Permission.CARE_PLAN_SIGN)
    check_version(plan.version, expected_version)
    _check_move(plan, target)
    if target in rules.PLAN_NEEDS_REASON and not reason.strip():
        raise InvalidInput("Say why the care plan is revoked", field="reason")
    was_active = plan.status == S.ACTIVE
    plan.status, plan.ended_at, plan.status_reason = target, clock.now(), reason.strip() or None
    session.flush()
    if was_active:
        work.close_plan_work(session, plan, f"Care plan {target.value}", revised=False)
    _record(session, actor, "update", plan, to=target.value)
    _publish(session, f"care_plan.{target.value}", plan)
    return plan


def revise_plan(session: Session, actor: Actor, plan_id: uuid.UUID) -> CarePlan:
    """A new draft revision of the active plan with copies of its problems, goals, activities and education."""
    plan = load_plan(session, actor, plan_id, Permission.CARE_PLAN_WRITE, for_update=True)
    if plan.status != S.ACTIVE:
        raise InvalidTransition("Only the active care plan can be revised")
    draft = next((p for p in _open_plans(session, plan.patient_id) if p.status == S.DRAFT), None)
    if draft is not None:
        raise Conflict("A revision of this care plan is already being drafted", code="draft_exists",
                       extra={"care_plan_id": str(draft.id)})
    new = CarePlan(organization_id=plan.organization_id, patient_id=plan.patient_id,
                   revision=_next_revision(session, plan.patient_id), supersedes_id=plan.id, title=plan.title,
                   patient_goals=plan.patient_goals, patient_preferences=plan.patient_preferences,
                   instructions=plan.instructions, author_id=actor.staff_id)
    session.add(new)
    session.flush()
    _copy_content(session, plan.id, new.id)
    _record(session, actor, "create", new, revision_of=str(plan.id))
    _publish(session, "care_plan.created", new, supersedes_id=str(plan.id))
    return new


def _copy_content(session: Session, source_id: uuid.UUID, target_id: uuid.UUID) -> None:
    """Copy problems, goals (with their notes), activities (with their history counts) and education."""
    for problem in session.scalars(select(CarePlanProblem).where(CarePlanProblem.care_plan_id == source_id)):
        session.add(CarePlanProblem(care_plan_id=target_id, condition_id=problem.condition_id))
    goal_ids: dict[uuid.UUID, uuid.UUID] = {}
    for goal in session.scalars(select(Goal).where(Goal.care_plan_id == source_id).order_by(Goal.id)).all():
        goal_ids[goal.id] = uuid.uuid4()
        session.add(Goal(id=goal_ids[goal.id], care_plan_id=target_id, **_columns(goal, Goal, skip={"care_plan_id"})))
    if goal_ids:
        for note in session.scalars(select(GoalNote).where(GoalNote.goal_id.in_(goal_ids))):
            session.add(GoalNote(**{**_columns(note, GoalNote), "goal_id": goal_ids[note.goal_id]}))
    for activity in session.scalars(select(Activity).where(Activity.care_plan_id == source_id)):
        values = _columns(activity, Activity, skip={"care_plan_id"})
        values["goal_id"] = goal_ids.get(activity.goal_id) if activity.goal_id else None
        session.add(Activity(care_plan_id=target_id, **values))
    for item in session.scalars(select(EducationItem).where(EducationItem.care_plan_id == source_id)):
        session.add(EducationItem(care_plan_id=target_id, **_columns(item, EducationItem, skip={"care_plan_id"})))
    session.flush()


_NOT_COPIED = {"id", "version", "updated_at"}


def _columns(row: object, model: type, *, skip: set[str] = frozenset()) -> dict[str, object]:
    """A row's column values for a copy (a new id and version; history timestamps kept)."""
    return {c.key: getattr(row, c.key) for c in model.__mapper__.column_attrs
            if c.key not in _NOT_COPIED and c.key not in skip}
