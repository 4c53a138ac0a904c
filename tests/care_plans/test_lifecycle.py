"""Care plan life cycle: draft, sign, revise (previous marked revised in the same transaction), complete, revoke."""

from __future__ import annotations

import datetime as dt

import pytest
from plan_world import build_world, draft_with_content, sign
from sqlalchemy import select

from careloop import clock
from careloop.auth.actor import system_actor
from careloop.care_plans import content, queries, service
from careloop.care_plans.models import ActivityStatus, CarePlan, CarePlanStatus, Goal, GoalStatus
from careloop.care_plans.schemas import (
    ActivityCreate,
    CarePlanCreate,
    CarePlanUpdate,
    EducationCreate,
    GoalCreate,
    GoalNoteCreate,
)
from careloop.errors import Conflict, Forbidden, InvalidInput, InvalidTransition, NotFound, StaleVersion
from careloop.events.models import DomainEvent
from careloop.staff.models import StaffRole
from careloop.tasks.models import Task, TaskFocus, TaskStatus
from factories import actor_of, make_staff


def events_of(session, patient, event_type):
    return session.scalars(select(DomainEvent).where(DomainEvent.patient_id == patient.id,
                                                     DomainEvent.type == event_type)).all()


def activity_tasks(session, plan_id):
    """The open task of each of the plan's activities (None for an activity without one)."""
    return [task for _, task in queries.build_view(session, session.get(CarePlan, plan_id)).activities]


def test_signing_activates_the_draft(session, world):
    plan = draft_with_content(session, world)
    assert plan.status == CarePlanStatus.DRAFT and plan.revision == 1
    assert len(events_of(session, world.patient, "care_plan.created")) == 1
    signed = sign(session, world, plan)
    assert signed.status == CarePlanStatus.ACTIVE
    assert signed.signed_by_id == world.pcp.id and signed.signed_at is not None
    assert signed.review_date == clock.today(world.org.timezone) + dt.timedelta(days=90)
    goals = session.scalars(select(Goal).where(Goal.care_plan_id == plan.id)).all()
    assert {g.status for g in goals} == {GoalStatus.ACTIVE}
    [task] = activity_tasks(session, plan.id)
    assert task.focus_type == TaskFocus.CARE_PLAN_ACTIVITY and task.owner_id == world.coordinator.id
    [activated] = events_of(session, world.patient, "care_plan.activated")
    assert activated.payload["chronic_problems"] == 1 and activated.payload["care_plan_id"] == str(plan.id)


def test_a_given_review_date_is_kept(session, world):
    plan = sign(session, world, draft_with_content(session, world, review_date=dt.date(2027, 1, 15)))
    assert plan.review_date == dt.date(2027, 1, 15)


def test_only_signers_sign_and_only_people(session, world):
    plan = draft_with_content(session, world)
    with pytest.raises(Forbidden):
        service.sign_plan(session, world.coordinator_actor, plan.id, expected_version=None)
    with pytest.raises(Forbidden):
        service.sign_plan(session, system_actor(world.org.id), plan.id, expected_version=None)


def test_a_plan_needs_a_goal_to_be_signed(session, world):
    plan = service.create_plan(session, world.coordinator_actor, world.patient.id, CarePlanCreate())
    with pytest.raises(InvalidTransition) as err:
        service.sign_plan(session, world.pcp_actor, plan.id, expected_version=None)
    assert err.value.code == "plan_without_goals"


def test_one_open_plan_at_a_time(session, world):
    plan = draft_with_content(session, world)
    with pytest.raises(Conflict) as err:
        service.create_plan(session, world.coordinator_actor, world.patient.id, CarePlanCreate())
    assert err.value.code == "draft_exists"
    sign(session, world, plan)
    with pytest.raises(Conflict) as err:
        service.create_plan(session, world.coordinator_actor, world.patient.id, CarePlanCreate())
    assert err.value.code == "active_plan_exists"


def test_signed_plans_are_edited_only_through_a_revision(session, world):
    plan = sign(session, world, draft_with_content(session, world))
    with pytest.raises(InvalidTransition) as err:
        service.update_plan(session, world.coordinator_actor, plan.id, CarePlanUpdate(title="x"),
                            expected_version=None)
    assert err.value.code == "plan_not_draft"
    with pytest.raises(InvalidTransition):
        content.add_problem(session, world.coordinator_actor, plan.id, world.hypertension.id)


def test_stale_versions_are_refused(session, world):
    plan = draft_with_content(session, world)
    seen = plan.version
    content.add_problem(session, world.coordinator_actor, plan.id, world.hypertension.id)
    session.commit()
    assert plan.version == seen + 1  # content changes move the plan's version (the ETag a signer signs)
    with pytest.raises(StaleVersion):
        service.sign_plan(session, world.pcp_actor, plan.id, expected_version=seen)
    service.sign_plan(session, world.pcp_actor, plan.id, expected_version=seen + 1)


def test_revising_copies_the_content_and_activation_supersedes_in_one_step(session, world):
    actor = world.coordinator_actor
    plan = draft_with_content(session, world)
    content.add_education(session, actor, plan.id, EducationCreate(title="Foot care", body="Check your feet daily."))
    plan = sign(session, world, plan)
    a1c = session.scalars(select(Goal).where(Goal.care_plan_id == plan.id, Goal.measure_code == "4548-4")).one()
    content.add_goal_note(session, actor, plan.id, a1c.id, GoalNoteCreate(body="Diet going well", measured_value=7.4))
    [old_task] = activity_tasks(session, plan.id)

    revision = service.revise_plan(session, actor, plan.id)
    session.commit()
    assert (revision.revision, revision.supersedes_id, revision.status) == (2, plan.id, CarePlanStatus.DRAFT)
    view = queries.build_view(session, revision)
    assert [c.code for _, c in view.problems] == ["E11.9"]
    assert {g.goal.description for g in view.goals} == {"A1c below 8 %", "Systolic blood pressure below 140"}
    copied_a1c = next(g for g in view.goals if g.goal.measure_code == "4548-4")
    assert [n.body for n in copied_a1c.notes] == ["Diet going well"]
    [(activity, task)] = view.activities
    assert activity.goal_id == copied_a1c.goal.id and task is None
    assert [e.title for e in view.education] == ["Foot care"]
    with pytest.raises(Conflict):
        service.revise_plan(session, actor, plan.id)

    sign(session, world, revision)
    session.expire_all()
    assert plan.status == CarePlanStatus.REVISED and plan.ended_at is not None
    assert revision.status == CarePlanStatus.ACTIVE
    assert session.get(Task, old_task.id).status == TaskStatus.CANCELLED
    [new_task] = activity_tasks(session, revision.id)
    assert new_task.status == TaskStatus.REQUESTED
    history = queries.list_plans(session, actor, world.patient.id)
    assert [(p.revision, p.status) for p in history] == [(2, CarePlanStatus.ACTIVE), (1, CarePlanStatus.REVISED)]


def test_completing_and_revoking(session, world):
    plan = sign(session, world, draft_with_content(session, world))
    with pytest.raises(Forbidden):  # ending an active plan is a signer's decision
        service.end_plan(session, world.coordinator_actor, plan.id, CarePlanStatus.COMPLETED, "",
                         expected_version=None)
    with pytest.raises(InvalidInput):
        service.end_plan(session, world.pcp_actor, plan.id, CarePlanStatus.REVOKED, " ", expected_version=None)
    service.end_plan(session, world.pcp_actor, plan.id, CarePlanStatus.COMPLETED, "Goals met",
                     expected_version=None)
    session.commit()
    assert plan.status == CarePlanStatus.COMPLETED and plan.status_reason == "Goals met"
    assert activity_tasks(session, plan.id) == [None]
    assert session.scalars(select(Task).where(Task.focus_type == TaskFocus.CARE_PLAN_ACTIVITY,
                                              Task.patient_id == world.patient.id)).one().status == TaskStatus.CANCELLED
    assert events_of(session, world.patient, "care_plan.completed")
    with pytest.raises(InvalidTransition):
        service.end_plan(session, world.pcp_actor, plan.id, CarePlanStatus.REVOKED, "x", expected_version=None)
    draft = service.create_plan(session, world.coordinator_actor, world.patient.id, CarePlanCreate())
    assert draft.revision == 2
    service.end_plan(session, world.coordinator_actor, draft.id, CarePlanStatus.REVOKED, "Started by mistake",
                     expected_version=None)
    assert draft.status == CarePlanStatus.REVOKED


def test_access_is_the_patients(session, world):
    plan = draft_with_content(session, world)
    stranger = actor_of(make_staff(session, world.org))
    with pytest.raises(Forbidden):
        queries.plan_view(session, stranger, plan.id)
    other = build_world(session)
    with pytest.raises(NotFound):
        queries.plan_view(session, other.coordinator_actor, plan.id)
    with pytest.raises(InvalidInput):
        content.add_problem(session, world.coordinator_actor, plan.id, other.diabetes.id)


def test_activities_in_a_copied_revision_keep_their_history(session, world, session_factory):
    plan = sign(session, world, draft_with_content(session, world))
    [(activity, _)] = queries.build_view(session, plan).activities
    content.mark_activity_done(session, world.coordinator_actor, plan.id, activity.id)
    session.commit()
    revision = service.revise_plan(session, world.coordinator_actor, plan.id)
    [(copy, _)] = queries.build_view(session, revision).activities
    assert (copy.completed_on_time, copy.next_due_date, copy.status) == (1, activity.next_due_date,
                                                                        ActivityStatus.SCHEDULED)


def test_merging_two_patients_with_active_plans_keeps_the_survivors_plan(session, world):
    """The one-active-plan rule survives a merge: the duplicate's plan is revoked (and its tasks cancelled)."""
    from careloop.patients import service as patients_service
    from factories import make_patient

    survivor_plan = sign(session, world, draft_with_content(session, world))
    duplicate = make_patient(session, world.org, world.coordinator, pcp=world.pcp)
    other = service.create_plan(session, world.coordinator_actor, duplicate.id,
                                CarePlanCreate(title="Registered twice"))
    content.add_goal(session, world.coordinator_actor, other.id, GoalCreate(description="Stable weight"))
    content.add_activity(session, world.coordinator_actor, other.id, ActivityCreate(
        description="Weekly weight", frequency_days=7, next_due_date=clock.today(world.org.timezone)))
    other = service.sign_plan(session, world.pcp_actor, other.id, expected_version=None)
    session.commit()
    supervisor = make_staff(session, world.org, StaffRole.SUPERVISOR)
    patients_service.merge_patients(session, actor_of(supervisor), world.patient.id, duplicate.id,
                                    "Registered twice")
    session.commit()
    session.expire_all()
    plans = {p.id: p for p in session.scalars(select(CarePlan).where(CarePlan.patient_id == world.patient.id))}
    assert plans[survivor_plan.id].status == CarePlanStatus.ACTIVE
    assert plans[other.id].status == CarePlanStatus.REVOKED and "merged" in plans[other.id].status_reason
    assert [t.status for t in activity_tasks(session, other.id) if t is not None] == []
    moved_tasks = session.scalars(select(Task).where(Task.patient_id == world.patient.id,
                                                     Task.title == "Weekly weight")).all()
    assert moved_tasks and all(t.status == TaskStatus.CANCELLED for t in moved_tasks)


def test_a_duplicates_plan_without_a_counterpart_moves_and_stays_in_force(session, world):
    from careloop.patients import service as patients_service
    from factories import make_patient

    duplicate = make_patient(session, world.org, world.coordinator, pcp=world.pcp)
    plan = service.create_plan(session, world.coordinator_actor, duplicate.id, CarePlanCreate(title="Only plan"))
    content.add_goal(session, world.coordinator_actor, plan.id, GoalCreate(description="Stable weight"))
    plan = service.sign_plan(session, world.pcp_actor, plan.id, expected_version=None)
    session.commit()
    supervisor = make_staff(session, world.org, StaffRole.SUPERVISOR)
    patients_service.merge_patients(session, actor_of(supervisor), world.patient.id, duplicate.id, "Twice")
    session.commit()
    session.expire_all()
    moved = session.get(CarePlan, plan.id)
    assert moved.patient_id == world.patient.id and moved.status == CarePlanStatus.ACTIVE
