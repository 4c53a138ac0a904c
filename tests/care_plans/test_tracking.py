"""Goals measured from the record, activity completion through tasks, the review sweep, and adherence."""

from __future__ import annotations

import datetime as dt

import pytest
from plan_world import A1C, SYSTOLIC, build_world, dispatch, draft_with_content, observe, sign
from sqlalchemy import select

from careloop import clock
from careloop.care_plans import content, queries, service, work
from careloop.care_plans.models import ActivityStatus, Goal, GoalComparator, GoalStatus
from careloop.care_plans.rules import MEASURE_SYSTEM
from careloop.care_plans.schemas import ActivityCreate, CarePlanCreate, GoalCreate
from careloop.clinical.models import Encounter, EncounterClass
from careloop.errors import Forbidden, InvalidTransition
from careloop.events.models import DomainEvent
from careloop.protocols.models import ProtocolRun
from careloop.tasks import service as tasks
from careloop.tasks.models import Task, TaskFocus, TaskStatus
from factories import actor_of


def goal(session, plan, code):
    return session.scalars(select(Goal).where(Goal.care_plan_id == plan.id, Goal.measure_code == code)).one()


def the_activity(session, plan):
    [(activity, task)] = queries.build_view(session, plan).activities
    return activity, task


# --- goals -----------------------------------------------------------------------------------------------------

def test_latest_measured_values_decide_whether_targets_are_met(session, world):
    plan = sign(session, world, draft_with_content(session, world))
    view = {g.goal.measure_code: g for g in queries.build_view(session, plan).goals}
    assert (view[A1C].progress.value, view[A1C].progress.met, view[A1C].target) == (7.4, True, "< 8 %")
    assert (view[SYSTOLIC].progress.value, view[SYSTOLIC].progress.met) == (152, False)


def test_a_goal_is_marked_achieved_only_when_its_target_is_met(session, world):
    plan = sign(session, world, draft_with_content(session, world))
    actor = world.coordinator_actor
    a1c, bp = goal(session, plan, A1C), goal(session, plan, SYSTOLIC)
    content.change_goal_status(session, actor, plan.id, a1c.id, GoalStatus.ACHIEVED, "A1c 7.4", expected_version=None)
    assert a1c.status == GoalStatus.ACHIEVED and a1c.achieved_at is not None
    with pytest.raises(InvalidTransition) as err:
        content.change_goal_status(session, actor, plan.id, bp.id, GoalStatus.ACHIEVED, None, expected_version=None)
    assert err.value.code == "target_not_met" and err.value.extra["latest_value"] == 152
    observe(session, world, SYSTOLIC, 134, days_ago=0)
    content.change_goal_status(session, actor, plan.id, bp.id, GoalStatus.ACHIEVED, None, expected_version=None)
    assert bp.status == GoalStatus.ACHIEVED


def test_no_ed_visit_in_90_days_is_a_rule_over_encounters(session, world):
    actor = world.coordinator_actor
    plan = service.create_plan(session, actor, world.patient.id, CarePlanCreate())
    ed = content.add_goal(session, actor, plan.id, GoalCreate(
        description="No emergency department visit in 90 days", measure_system=MEASURE_SYSTEM,
        measure_code="ed-visits-90d", comparator=GoalComparator.EQ, target_value=0))
    session.add(Encounter(organization_id=world.org.id, patient_id=world.patient.id,
                          encounter_class=EncounterClass.EMERGENCY, start_at=clock.now() - dt.timedelta(days=120)))
    session.flush()
    assert queries.goal_progress(session, world.patient.id, [ed])[ed.id].met is True
    session.add(Encounter(organization_id=world.org.id, patient_id=world.patient.id,
                          encounter_class=EncounterClass.EMERGENCY, start_at=clock.now() - dt.timedelta(days=30)))
    session.flush()
    progress = queries.goal_progress(session, world.patient.id, [ed])[ed.id]
    assert (progress.value, progress.met) == (1, False)


def test_free_text_goals_can_be_achieved_by_judgement(session, world):
    actor = world.coordinator_actor
    plan = service.create_plan(session, actor, world.patient.id, CarePlanCreate())
    walk = content.add_goal(session, actor, plan.id, GoalCreate(description="Walk to the park", patient_owned=True))
    sign(session, world, plan)
    content.change_goal_status(session, actor, plan.id, walk.id, GoalStatus.ACHIEVED, "Did it!", expected_version=None)
    assert walk.status == GoalStatus.ACHIEVED
    with pytest.raises(InvalidTransition):
        content.change_goal_status(session, actor, plan.id, walk.id, GoalStatus.PROPOSED, None, expected_version=None)


# --- activities ------------------------------------------------------------------------------------------------

def test_completing_an_activity_task_on_time_schedules_the_next(session, session_factory, world):
    plan = sign(session, world, draft_with_content(session, world))
    activity, task = the_activity(session, plan)
    due = activity.next_due_date
    tasks.apply_transition(session, world.coordinator_actor, task, TaskStatus.COMPLETED)
    session.commit()
    dispatch(session, session_factory)
    today = clock.today(world.org.timezone)
    assert (activity.completed_on_time, activity.completed_late) == (1, 0)
    assert activity.next_due_date == today + dt.timedelta(days=30) and due != activity.next_due_date
    _, next_task = the_activity(session, plan)
    assert next_task.id != task.id and next_task.status == TaskStatus.REQUESTED
    dispatch(session, session_factory)  # nothing is counted twice
    assert (activity.completed_on_time, activity.completed_late) == (1, 0)


def test_late_completion_is_counted_late(session, session_factory, world):
    plan = sign(session, world, draft_with_content(session, world))
    activity, task = the_activity(session, plan)
    clock.advance(dt.timedelta(days=10))
    tasks.apply_transition(session, world.coordinator_actor, task, TaskStatus.COMPLETED)
    session.commit()
    dispatch(session, session_factory)
    assert (activity.completed_on_time, activity.completed_late) == (0, 1)


def test_marking_done_on_the_plan_records_at_once_and_the_event_does_not_count_it_again(
        session, session_factory, world):
    plan = sign(session, world, draft_with_content(session, world))
    activity, task = the_activity(session, plan)
    content.mark_activity_done(session, world.coordinator_actor, plan.id, activity.id)
    session.commit()
    assert session.get(Task, task.id).status == TaskStatus.COMPLETED
    assert activity.completed_on_time == 1
    dispatch(session, session_factory)
    assert activity.completed_on_time == 1
    assert len(session.scalars(select(Task).where(Task.focus_id == activity.id)).all()) == 2


def test_a_one_off_activity_is_completed(session, world):
    actor = world.coordinator_actor
    plan = service.create_plan(session, actor, world.patient.id, CarePlanCreate())
    content.add_goal(session, actor, plan.id, GoalCreate(description="Understand insulin"))
    once = content.add_activity(session, actor, plan.id, ActivityCreate(description="Diabetes education class",
                                                                        assigned_role="rn_care_manager"))
    sign(session, world, plan)
    _, task = the_activity(session, plan)
    assert task.owner_id is None and task.queue_role.value == "rn_care_manager" and task.due_at is None
    content.mark_activity_done(session, actor, plan.id, once.id)
    assert once.status == ActivityStatus.COMPLETED and once.next_due_date is None
    with pytest.raises(InvalidTransition):
        content.mark_activity_done(session, actor, plan.id, once.id)


# --- review ----------------------------------------------------------------------------------------------------

def test_a_plan_past_its_review_date_gets_one_review_task(session, session_factory, world):
    with clock.frozen_at(dt.datetime(2026, 11, 25, 15, tzinfo=dt.UTC)):
        plan = sign(session, world, draft_with_content(session, world, review_date=dt.date(2026, 12, 1)))
        clock.advance(dt.timedelta(days=6))  # 1 December: the review date itself is not past yet
        assert work.create_review_tasks(session) == 0
        clock.advance(dt.timedelta(days=1))
        dispatch(session, session_factory)
        _review_task_is_made_once(session, session_factory, world, plan)


def _review_task_is_made_once(session, session_factory, world, plan):
    dispatch(session, session_factory)
    reviews = session.scalars(select(Task).where(Task.focus_type == TaskFocus.CARE_PLAN_REVIEW)).all()
    assert [(t.focus_id, t.owner_id) for t in reviews] == [(plan.id, world.coordinator.id)]
    [due] = session.scalars(select(DomainEvent).where(DomainEvent.type == "care_plan.review_due")).all()
    assert due.payload["review_task_id"] == str(reviews[0].id)
    [run] = session.scalars(select(ProtocolRun).where(ProtocolRun.trigger_event_id == due.id)).all()
    assert run.protocol_key == "care_plan_development"
    # Completing the review by hand does not start another cycle for the same plan.
    tasks.apply_transition(session, world.coordinator_actor, reviews[0], TaskStatus.COMPLETED)
    session.commit()
    dispatch(session, session_factory)
    assert len(session.scalars(select(Task).where(Task.focus_type == TaskFocus.CARE_PLAN_REVIEW)).all()) == 1


def test_the_review_ends_with_a_signed_revision(session, session_factory, world):
    plan = sign(session, world, draft_with_content(session, world, review_date=dt.date(2026, 1, 1)))
    dispatch(session, session_factory)
    [review] = session.scalars(select(Task).where(Task.focus_type == TaskFocus.CARE_PLAN_REVIEW)).all()
    revision = service.revise_plan(session, world.coordinator_actor, plan.id)
    session.commit()
    sign(session, world, revision)
    dispatch(session, session_factory)
    assert session.get(Task, review.id).status == TaskStatus.COMPLETED
    assert revision.review_date == clock.today(world.org.timezone) + dt.timedelta(days=90)
    run = session.scalars(select(ProtocolRun).where(ProtocolRun.patient_id == world.patient.id,
                                                    ProtocolRun.context["trigger"].as_string()
                                                    == "care_plan.review_due")).one()
    signed = session.scalars(select(Task).where(Task.protocol_run_id == run.id,
                                                Task.step_key == "sign_revision")).one()
    assert signed.status == TaskStatus.COMPLETED  # completed by care_plan.activated


# --- adherence -------------------------------------------------------------------------------------------------

def test_patient_and_panel_adherence(session, session_factory, world):
    plan = sign(session, world, draft_with_content(session, world))
    content.change_goal_status(session, world.coordinator_actor, plan.id, goal(session, plan, A1C).id,
                               GoalStatus.ACHIEVED, None, expected_version=None)
    activity, _ = the_activity(session, plan)
    content.mark_activity_done(session, world.coordinator_actor, plan.id, activity.id)
    second = build_world(session)  # another patient of another coordinator: not in this panel
    sign(session, second, draft_with_content(session, second))
    session.commit()

    mine = queries.patient_adherence(session, world.coordinator_actor, world.patient.id)
    assert (mine.on_time, mine.late, mine.overdue, mine.goals_met, mine.goals_total) == (1, 0, 0, 1, 2)
    assert mine.on_time_rate == 1.0 and mine.goals_met_rate == 0.5

    clock.advance(dt.timedelta(days=45))  # the next occurrence is now overdue
    panel = queries.panel_adherence(session, world.coordinator_actor, world.coordinator.id)
    assert (panel.patients, panel.on_time, panel.overdue, panel.goals_met, panel.goals_total) == (1, 1, 1, 1, 2)
    assert panel.on_time_rate == 0.5
    with pytest.raises(Forbidden):
        queries.panel_adherence(session, world.coordinator_actor, second.coordinator.id)
    from careloop.staff.models import StaffRole
    from factories import make_staff

    supervisor = actor_of(make_staff(session, world.org, StaffRole.SUPERVISOR))
    assert queries.panel_adherence(session, supervisor, world.coordinator.id).patients == 1
