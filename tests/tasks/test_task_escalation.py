"""The escalation sweep: overdue open tasks rise in priority by step; the supervisor is notified exactly once."""

from __future__ import annotations

from sqlalchemy import select
from task_helpers import hours, in_hours, make_task

from careloop import clock
from careloop.audit.models import AuditEvent
from careloop.jobs import worker
from careloop.tasks import escalation
from careloop.tasks import service as tasks
from careloop.tasks.models import Notification, TaskPriority, TaskStatus
from careloop.tasks.schemas import TaskUpdate

P = TaskPriority


def _notifications(session, task):
    return session.scalars(select(Notification).where(Notification.link == f"/tasks/{task.id}")).all()


def _sweep(session, session_factory, *watched):
    """Run a worker cycle; the escalation levels of the watched tasks afterwards.

    Other tasks may exist (protocols start on enrolment), so tests watch their own tasks, not the sweep's count.
    """
    escalation._reset_check()
    worker.run_once(session_factory)
    for task in watched:
        session.refresh(task)
    return [t.escalation_level for t in watched]


def test_priority_rises_per_step_and_supervisor_is_notified_once(session, session_factory, team):
    task = make_task(session, team.patient, team.coordinator, due_at=in_hours(1))
    session.commit()
    assert _sweep(session, session_factory, task) == [0]  # not due yet

    clock.advance(hours(3))  # 2 h overdue: before the first step
    assert _sweep(session, session_factory, task) == [0]
    clock.advance(hours(3))  # 5 h overdue
    assert _sweep(session, session_factory, task) == [1]
    assert (task.priority, task.priority_rank, task.escalation_level) == (P.URGENT, 2, 1)
    assert clock.now() - hours(0.01) < task.escalated_at <= clock.now()
    assert _notifications(session, task) == []
    version = task.version
    assert _sweep(session, session_factory, task) == [1]  # nothing new at the same step
    assert task.version == version

    clock.advance(hours(20))  # 25 h overdue: second step notifies the supervisor
    assert _sweep(session, session_factory, task) == [2]
    assert (task.priority, task.escalation_level) == (P.ASAP, 2)
    [note] = _notifications(session, task)
    assert note.recipient_id == team.supervisor.id and note.kind == "task_overdue"
    assert note.patient_id == team.patient.id and note.dedupe_key == f"task_overdue:{task.id}"

    clock.advance(hours(60))  # 85 h overdue: third step, no second notification
    assert _sweep(session, session_factory, task) == [3]
    assert task.priority == P.STAT
    clock.advance(hours(500))
    assert _sweep(session, session_factory, task) == [3]  # every step reached
    assert len(_notifications(session, task)) == 1
    audited = session.scalars(select(AuditEvent).where(AuditEvent.record_id == str(task.id),
                                                       AuditEvent.client_name == "careloop-escalation")).all()
    assert [e.detail["priority_to"] for e in audited] == ["urgent", "asap", "stat"]


def test_late_discovery_jumps_several_steps_and_notifies_once(session, session_factory, team):
    task = make_task(session, team.patient, team.coordinator, due_at=in_hours(-100))
    session.commit()
    assert _sweep(session, session_factory, task) == [3]
    assert task.priority == P.STAT
    assert len(_notifications(session, task)) == 1


def test_closed_queue_and_future_tasks_are_left_alone(session, session_factory, team):
    done = make_task(session, team.patient, team.coordinator, due_at=in_hours(-30))
    tasks.apply_transition(session, None, done, TaskStatus.COMPLETED)
    queued = make_task(session, team.patient, None, queue_role="care_coordinator", due_at=in_hours(-30))
    later = make_task(session, team.patient, team.coordinator, due_at=in_hours(30))
    undated = make_task(session, team.patient, team.coordinator)
    session.commit()
    assert _sweep(session, session_factory, done, queued, later, undated) == [0, 2, 0, 0]
    assert done.priority == P.ROUTINE and later.priority == P.ROUTINE and undated.priority == P.ROUTINE
    assert queued.priority == P.ASAP  # escalated, but there is no owner whose supervisor to tell
    assert _notifications(session, queued) == []


def test_owner_without_supervisor_is_escalated_without_notification(session, session_factory, team):
    task = make_task(session, team.patient, team.nurse, due_at=in_hours(-30))
    session.commit()
    assert _sweep(session, session_factory, task) == [2]
    assert _notifications(session, task) == []


def test_the_sweep_looks_only_every_few_minutes(session, team):
    first = make_task(session, team.patient, team.coordinator, due_at=in_hours(-5))
    config = escalation.load_rules()
    escalation.escalate_overdue(session, config)
    second = make_task(session, team.patient, team.coordinator, due_at=in_hours(-5))
    escalation.escalate_overdue(session, config)  # looked a moment ago: not again
    assert (first.escalation_level, second.escalation_level) == (1, 0)
    clock.advance(config.check_every)
    escalation.escalate_overdue(session, config)
    assert second.escalation_level == 1


def test_a_new_due_time_restarts_escalation(session, session_factory, team):
    task = make_task(session, team.patient, team.coordinator, due_at=in_hours(-5))
    session.commit()
    assert _sweep(session, session_factory, task) == [1]
    tasks.update_task(session, team.actor(team.coordinator), task.id, TaskUpdate(due_at=in_hours(2)),
                      expected_version=None)
    session.commit()
    assert task.escalation_level == 0 and task.priority == P.URGENT
    clock.advance(hours(7))
    assert _sweep(session, session_factory, task) == [1]
    assert task.priority == P.ASAP
