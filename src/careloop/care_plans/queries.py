"""Reading care plans: the plan with its goals' measured progress, revision history, adherence."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, case, distinct, func, select
from sqlalchemy.orm import Session

from careloop import clock
from careloop.audit import service as audit
from careloop.auth import access
from careloop.auth.actor import Actor
from careloop.auth.permissions import Permission
from careloop.care_plans import rules
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
from careloop.care_plans.service import load_plan
from careloop.care_teams import service as care_teams
from careloop.care_teams.models import CareTeamMember, CareTeamRole
from careloop.clinical.models import Condition, ConditionClinicalStatus, Encounter, Observation
from careloop.errors import Forbidden, InvalidInput
from careloop.organizations.models import Organization
from careloop.staff.models import Staff
from careloop.tasks.models import OPEN_STATUSES, Task, TaskFocus


@dataclass(frozen=True)
class Progress:
    """A goal's latest measured value and whether it meets the target (None: no target or no value)."""

    value: float | None = None
    at: dt.datetime | None = None
    met: bool | None = None


@dataclass(frozen=True)
class GoalView:
    goal: Goal
    progress: Progress
    notes: list[GoalNote]

    @property
    def target(self) -> str:
        return rules.describe_target(self.goal.comparator, self.goal.target_value, self.goal.target_unit)


@dataclass(frozen=True)
class PlanView:
    """Everything the plan page and the API show about one revision."""

    plan: CarePlan
    problems: list[tuple[CarePlanProblem, Condition]]
    goals: list[GoalView]
    activities: list[tuple[Activity, Task | None]]
    education: list[EducationItem]
    adherence: rules.Adherence
    names: dict[uuid.UUID, str]


def goal_progress(session: Session, patient_id: uuid.UUID, goals: list[Goal]) -> dict[uuid.UUID, Progress]:
    """Latest value of each goal's measure: the newest observation with its LOINC code, or an encounter count."""
    codes = {g.measure_code for g in goals if g.measure_code and g.measure_system != rules.MEASURE_SYSTEM}
    latest = _latest_observations(session, patient_id, codes)
    counted = {g.measure_code for g in goals if g.measure_system == rules.MEASURE_SYSTEM
               and g.measure_code in rules.ENCOUNTER_MEASURES}
    now = clock.now()
    latest |= {code: (float(_encounter_count(session, patient_id, code, now)), now) for code in counted}
    out = {}
    for goal in goals:
        value, at = latest.get(goal.measure_code or "", (None, None))
        out[goal.id] = Progress(value, at, rules.target_met(goal.comparator, goal.target_value, value))
    return out


def _latest_observations(session: Session, patient_id: uuid.UUID,
                         codes: set[str]) -> dict[str, tuple[float, dt.datetime]]:
    if not codes:
        return {}
    newest = func.row_number().over(partition_by=Observation.code, order_by=Observation.effective_at.desc())
    ranked = (select(Observation.code, Observation.value_quantity, Observation.effective_at, newest.label("n"))
              .where(Observation.patient_id == patient_id, Observation.code.in_(codes),
                     Observation.value_quantity.is_not(None)).subquery())
    rows = session.execute(select(ranked.c.code, ranked.c.value_quantity, ranked.c.effective_at).where(ranked.c.n == 1))
    return {code: (value, at) for code, value, at in rows}


def _encounter_count(session: Session, patient_id: uuid.UUID, code: str, now: dt.datetime) -> int:
    encounter_class, days = rules.ENCOUNTER_MEASURES[code]
    return session.scalar(select(func.count()).select_from(Encounter).where(
        Encounter.patient_id == patient_id, Encounter.encounter_class == encounter_class,
        Encounter.start_at >= now - dt.timedelta(days=days))) or 0


def plan_view(session: Session, actor: Actor, plan_id: uuid.UUID) -> PlanView:
    """One revision with its content, measured progress and adherence; the read is audited."""
    plan = load_plan(session, actor, plan_id, Permission.CARE_PLAN_READ)
    audit.record(session, actor, "read", patient_id=plan.patient_id, record_type="CarePlan", record_id=str(plan.id))
    return build_view(session, plan)


def build_view(session: Session, plan: CarePlan) -> PlanView:
    """The view of a plan already loaded with access checked."""
    problems = session.execute(select(CarePlanProblem, Condition).join(
        Condition, Condition.id == CarePlanProblem.condition_id).where(
        CarePlanProblem.care_plan_id == plan.id).order_by(Condition.display)).all()
    goals = list(session.scalars(select(Goal).where(Goal.care_plan_id == plan.id).order_by(Goal.created_at, Goal.id)))
    notes: dict[uuid.UUID, list[GoalNote]] = {g.id: [] for g in goals}
    if goals:
        for note in session.scalars(select(GoalNote).where(GoalNote.goal_id.in_(notes)).order_by(
                GoalNote.created_at.desc())):
            notes[note.goal_id].append(note)
    progress = goal_progress(session, plan.patient_id, goals)
    activities = list(session.scalars(select(Activity).where(Activity.care_plan_id == plan.id).order_by(
        Activity.next_due_date.is_(None), Activity.next_due_date, Activity.description)))
    open_tasks = _open_activity_tasks(session, [a.id for a in activities])
    education = list(session.scalars(select(EducationItem).where(EducationItem.care_plan_id == plan.id).order_by(
        EducationItem.created_at)))
    people = {plan.author_id, plan.signed_by_id, *(a.assigned_staff_id for a in activities)} - {None}
    names = {s.id: s.display_name for s in session.scalars(select(Staff).where(Staff.id.in_(people)))} if people else {}
    return PlanView(plan=plan, problems=[(p, c) for p, c in problems],
                    goals=[GoalView(g, progress[g.id], notes[g.id]) for g in goals],
                    activities=[(a, open_tasks.get(a.id)) for a in activities], education=education,
                    adherence=_adherence(session, CarePlan.id == plan.id, _today(session, plan.organization_id)),
                    names=names)


def _open_activity_tasks(session: Session, activity_ids: list[uuid.UUID]) -> dict[uuid.UUID, Task]:
    if not activity_ids:
        return {}
    stmt = select(Task).where(Task.focus_type == TaskFocus.CARE_PLAN_ACTIVITY, Task.focus_id.in_(activity_ids),
                              Task.status.in_(OPEN_STATUSES)).order_by(Task.due_at.desc())
    return {t.focus_id: t for t in session.scalars(stmt)}


def _today(session: Session, organization_id: uuid.UUID) -> dt.date:
    return clock.today(session.scalar(select(Organization.timezone).where(Organization.id == organization_id)))


def current_plan(session: Session, actor: Actor, patient_id: uuid.UUID) -> CarePlan | None:
    """The patient's active plan, else the draft being written (the plan page opens this one)."""
    access.load_patient(session, actor, patient_id, Permission.CARE_PLAN_READ)
    stmt = (select(CarePlan).where(CarePlan.patient_id == patient_id,
                                   CarePlan.status.in_((CarePlanStatus.ACTIVE, CarePlanStatus.DRAFT)))
            .order_by(CarePlan.status == CarePlanStatus.DRAFT, CarePlan.revision.desc()))
    return session.scalars(stmt).first()


def draft_of(session: Session, patient_id: uuid.UUID) -> CarePlan | None:
    """The draft revision being written for a patient, if any."""
    return session.scalars(select(CarePlan).where(CarePlan.patient_id == patient_id,
                                                  CarePlan.status == CarePlanStatus.DRAFT)).first()


def list_plans(session: Session, actor: Actor, patient_id: uuid.UUID) -> list[CarePlan]:
    """Every revision of the patient's care plan, newest first; the read is audited."""
    patient = access.load_patient(session, actor, patient_id, Permission.CARE_PLAN_READ)
    audit.record(session, actor, "read", patient_id=patient.id, record_type="CarePlanHistory",
                 record_id=str(patient.id))
    return list(session.scalars(select(CarePlan).where(CarePlan.patient_id == patient.id)
                                .order_by(CarePlan.revision.desc())))


def _adherence(session: Session, plans: ColumnElement[bool], today: dt.date) -> rules.Adherence:
    """Adherence over the plans a condition selects, in two aggregate queries whatever their number."""
    overdue = case((and_(Activity.status.in_(rules.OPEN_ACTIVITY), Activity.next_due_date < today), 1), else_=0)
    sums = (func.coalesce(func.sum(c), 0) for c in (Activity.completed_on_time, Activity.completed_late, overdue))
    on_time, late, missed = session.execute(
        select(*sums).join(CarePlan, CarePlan.id == Activity.care_plan_id).where(plans)).one()
    counted = [s for s in GoalStatus if rules.goal_counts_for_adherence(s)]
    met = func.coalesce(func.sum(case((Goal.status == GoalStatus.ACHIEVED, 1), else_=0)), 0)
    goals_met, goals_total, patients = session.execute(
        select(met, func.count(Goal.id), func.count(distinct(CarePlan.patient_id)))
        .select_from(CarePlan).outerjoin(Goal, and_(Goal.care_plan_id == CarePlan.id, Goal.status.in_(counted)))
        .where(plans)).one()
    return rules.Adherence(on_time=int(on_time), late=int(late), overdue=int(missed), goals_met=int(goals_met),
                           goals_total=int(goals_total), patients=int(patients))


def patient_adherence(session: Session, actor: Actor, patient_id: uuid.UUID) -> rules.Adherence:
    """Adherence to the patient's active care plan."""
    patient = access.load_patient(session, actor, patient_id, Permission.CARE_PLAN_READ)
    active = (CarePlan.patient_id == patient.id) & (CarePlan.status == CarePlanStatus.ACTIVE)
    return _adherence(session, active, _today(session, patient.organization_id))


def panel_adherence(session: Session, actor: Actor, coordinator_id: uuid.UUID | None) -> rules.Adherence:
    """Adherence over the active plans of every patient a coordinator is primary coordinator for."""
    actor.require(Permission.CARE_PLAN_READ)
    if coordinator_id is None:
        raise InvalidInput("Say whose panel: coordinator_id", field="coordinator_id")
    if coordinator_id != actor.staff_id and not actor.org_wide:
        raise Forbidden("Only supervisors see another coordinator's panel", code="not_your_panel")
    panel = select(CareTeamMember.patient_id).where(
        CareTeamMember.staff_id == coordinator_id, CareTeamMember.organization_id == actor.organization_id,
        CareTeamMember.role == CareTeamRole.PRIMARY_CARE_COORDINATOR, CareTeamMember.ended_at.is_(None))
    active = (CarePlan.status == CarePlanStatus.ACTIVE) & CarePlan.patient_id.in_(panel)
    return _adherence(session, active, _today(session, actor.organization_id))


@dataclass(frozen=True)
class EditorChoices:
    """What a draft's forms offer: the patient's current conditions not yet addressed, and the care team."""

    conditions: list[Condition]
    team: list[tuple[CareTeamMember, Staff]]


def editor_choices(session: Session, actor: Actor, view: PlanView) -> EditorChoices:
    """Choices for editing a draft (the care team read is audited by care_teams)."""
    linked = {c.id for _, c in view.problems}
    current = (ConditionClinicalStatus.ACTIVE, ConditionClinicalStatus.RECURRENCE, ConditionClinicalStatus.RELAPSE)
    conditions = [c for c in session.scalars(select(Condition).where(
        Condition.patient_id == view.plan.patient_id, Condition.clinical_status.in_(current))
        .order_by(Condition.display)) if c.id not in linked]
    return EditorChoices(conditions, care_teams.list_members(session, actor, view.plan.patient_id))
