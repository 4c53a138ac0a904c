"""Care plans drive the shipped protocols: development steps complete on plan events; follow-up per plan cycle."""

from __future__ import annotations

from plan_world import dispatch, draft_with_content, sign
from sqlalchemy import select

from careloop.care_plans import service
from careloop.protocols.models import ProtocolRun, ProtocolRunStatus
from careloop.tasks.models import Task, TaskStatus


def run_of(session, world, key):
    return session.scalars(select(ProtocolRun).where(ProtocolRun.patient_id == world.patient.id,
                                                     ProtocolRun.protocol_key == key)
                           .order_by(ProtocolRun.started_at)).all()


def steps(session, run):
    return {t.step_key: t.status for t in session.scalars(select(Task).where(Task.protocol_run_id == run.id))}


def test_development_steps_follow_the_plan(session, session_factory, world):
    # The plan is drafted before the worker saw the enrolment: the draft step is created already done.
    plan = draft_with_content(session, world)
    dispatch(session, session_factory)
    dispatch(session, session_factory)
    [development] = run_of(session, world, "care_plan_development")
    assert steps(session, development) == {"draft_plan": TaskStatus.COMPLETED, "sign_plan": TaskStatus.REQUESTED}
    sign(session, world, plan)
    dispatch(session, session_factory)
    dispatch(session, session_factory)
    assert steps(session, development) == {"draft_plan": TaskStatus.COMPLETED, "sign_plan": TaskStatus.COMPLETED,
                                           "share_plan": TaskStatus.REQUESTED}


def test_each_activation_starts_a_fresh_follow_up_cycle(session, session_factory, world):
    plan = sign(session, world, draft_with_content(session, world))
    dispatch(session, session_factory)
    [first] = run_of(session, world, "chronic_condition_follow_up")
    assert set(steps(session, first)) == {"monthly_check_in", "medication_review", "pcp_follow_up_visit"}
    revision = service.revise_plan(session, world.coordinator_actor, plan.id)
    session.commit()
    sign(session, world, revision)
    dispatch(session, session_factory)
    first_again, second = run_of(session, world, "chronic_condition_follow_up")
    assert first_again.status == ProtocolRunStatus.CANCELLED and second.status == ProtocolRunStatus.ACTIVE
    assert set(steps(session, first).values()) == {TaskStatus.CANCELLED}
