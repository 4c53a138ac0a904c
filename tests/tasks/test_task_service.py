"""Task services on both backends: life cycle, reasons, edits with versions, comments, time, access, audit."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from task_helpers import in_hours, make_task

from careloop import clock
from careloop.audit.models import AuditEvent
from careloop.errors import Forbidden, InvalidInput, InvalidTransition, NotFound, StaleVersion
from careloop.events.models import DomainEvent
from careloop.tasks import rules
from careloop.tasks import service as tasks
from careloop.tasks.models import TaskPriority, TaskStatus
from careloop.tasks.schemas import TaskCreate, TaskTransition, TaskUpdate, TimeEntryCreate

S = TaskStatus


def _audit(session, record_type, record_id=None):
    stmt = select(AuditEvent).where(AuditEvent.record_type == record_type)
    if record_id is not None:
        stmt = stmt.where(AuditEvent.record_id == str(record_id))
    return session.scalars(stmt.order_by(AuditEvent.seq)).all()


def test_create_through_the_service_is_audited(session, team):
    actor = team.actor(team.coordinator)
    task = tasks.create(session, actor, TaskCreate(patient_id=team.patient.id, title="Book a follow-up visit",
                                                   owner_id=team.coordinator.id, priority="urgent",
                                                   due_at=in_hours(5)))
    assert task.priority == TaskPriority.URGENT and task.priority_rank == 2
    assert task.created_by_id == team.coordinator.id and task.status == S.REQUESTED
    [entry] = _audit(session, "Task", task.id)
    assert entry.action == "create" and entry.patient_id == team.patient.id and entry.actor_id == team.coordinator.id


def test_a_task_needs_an_owner_or_a_queue(session, team):
    with pytest.raises(InvalidInput):
        make_task(session, team.patient, None)
    with pytest.raises(ValueError, match="owner_id or queue_role"):
        TaskCreate(patient_id=team.patient.id, title="x")


@pytest.mark.parametrize(("path", "reason"), [
    ([S.ACCEPTED, S.IN_PROGRESS, S.COMPLETED], None),
    ([S.IN_PROGRESS, S.ON_HOLD, S.IN_PROGRESS, S.COMPLETED], "Waiting for the pharmacy"),
    ([S.ACCEPTED, S.ON_HOLD, S.ACCEPTED, S.FAILED], "Patient unreachable after three calls"),
    ([S.CANCELLED], "Duplicate of another task"),
    ([S.COMPLETED], None),
])
def test_life_cycle_paths(session, team, path, reason):
    task = make_task(session, team.patient, team.coordinator)
    actor = team.actor(team.coordinator)
    for target in path:
        needs = target in rules.NEEDS_REASON
        tasks.transition(session, actor, task.id, TaskTransition(status=target, reason=reason if needs else None,
                                                                  outcome="Done" if target == S.COMPLETED else None))
    assert task.status == path[-1]
    assert (task.completed_at is not None) == (path[-1] in rules.TERMINAL)
    published = session.scalars(select(DomainEvent.type).where(DomainEvent.patient_id == team.patient.id,
                                                               DomainEvent.type.like("task.%"))).all()
    assert published == [f"task.{s.value}" for s in path]
    assert [e.detail["to"] for e in _audit(session, "Task", task.id)] == [s.value for s in path]


@pytest.mark.parametrize(("path", "bad"), [([S.COMPLETED], S.IN_PROGRESS), ([S.IN_PROGRESS], S.REQUESTED),
                                           ([S.CANCELLED], S.COMPLETED), ([S.ON_HOLD], S.COMPLETED)])
def test_forbidden_transitions_are_refused(session, team, path, bad):
    task = make_task(session, team.patient, team.coordinator)
    for target in path:
        tasks.apply_transition(session, None, task, target, reason="because")
    with pytest.raises(InvalidTransition):
        tasks.transition(session, team.actor(team.coordinator), task.id, TaskTransition(status=bad, reason="x"))


@pytest.mark.parametrize("target", sorted(rules.NEEDS_REASON))
def test_reasons_are_required(session, team, target):
    task = make_task(session, team.patient, team.coordinator)
    with pytest.raises(InvalidInput) as err:
        tasks.transition(session, team.actor(team.coordinator), task.id, TaskTransition(status=target, reason="  "))
    assert err.value.field == "reason"
    assert task.status == S.REQUESTED


def test_update_with_version_check(session, team):
    task = make_task(session, team.patient, team.coordinator, due_at=in_hours(2))
    actor = team.actor(team.coordinator)
    task.escalation_level = 1
    session.flush()
    version = task.version
    tasks.update_task(session, actor, task.id, TaskUpdate(title="Call about the new inhaler", priority="asap",
                                                          due_at=in_hours(30)), expected_version=version)
    assert (task.title, task.priority, task.priority_rank, task.escalation_level) == (
        "Call about the new inhaler", TaskPriority.ASAP, 3, 0)
    assert task.version > version
    with pytest.raises(StaleVersion):
        tasks.update_task(session, actor, task.id, TaskUpdate(title="again"), expected_version=version)
    assert _audit(session, "Task", task.id)[-1].detail == {"fields": ["due_at", "priority", "title"]}


def test_update_refuses_closed_tasks_and_empty_fields(session, team):
    actor = team.actor(team.coordinator)
    task = make_task(session, team.patient, team.coordinator)
    with pytest.raises(InvalidInput):
        tasks.update_task(session, actor, task.id, TaskUpdate(title=None), expected_version=None)
    tasks.apply_transition(session, actor, task, S.COMPLETED)
    with pytest.raises(InvalidTransition):
        tasks.update_task(session, actor, task.id, TaskUpdate(title="late edit"), expected_version=None)


def test_only_the_owner_or_a_supervisor_reassigns_by_edit(session, team):
    task = make_task(session, team.patient, team.coordinator)
    nurse = team.actor(team.nurse)
    from careloop.care_teams import service as care_teams
    from careloop.care_teams.models import CareTeamRole

    care_teams.assign(session, team.actor(team.supervisor), team.patient, CareTeamRole.RN_CARE_MANAGER, team.nurse.id)
    with pytest.raises(Forbidden):
        tasks.update_task(session, nurse, task.id, TaskUpdate(owner_id=team.nurse.id), expected_version=None)
    tasks.update_task(session, team.actor(team.coordinator), task.id, TaskUpdate(owner_id=team.nurse.id),
                      expected_version=None)
    assert task.owner_id == team.nurse.id
    tasks.update_task(session, team.actor(team.supervisor), task.id,
                      TaskUpdate(owner_id=None, queue_role="care_coordinator"), expected_version=None)
    assert task.owner_id is None and task.queue_role.value == "care_coordinator"
    with pytest.raises(InvalidInput):
        tasks.update_task(session, team.actor(team.supervisor), task.id, TaskUpdate(queue_role=None),
                          expected_version=None)


def test_time_logging_sums_and_checks(session, team):
    actor = team.actor(team.coordinator)
    task = make_task(session, team.patient, team.coordinator)
    tasks.log_time(session, actor, task.id, TimeEntryCreate(minutes=15))
    tasks.log_time(session, actor, task.id, TimeEntryCreate(minutes=20, service_date=clock.today("UTC")
                                                            - dt.timedelta(days=3), note="Care-plan call"))
    assert task.time_spent_minutes == 35
    with pytest.raises(InvalidInput) as err:
        tasks.log_time(session, actor, task.id, TimeEntryCreate(minutes=5, service_date=clock.today("UTC")
                                                                + dt.timedelta(days=2)))
    assert err.value.field == "service_date"
    with pytest.raises(ValueError):
        TimeEntryCreate(minutes=0)
    with pytest.raises(ValueError):
        TimeEntryCreate(minutes=601)
    assert task.time_spent_minutes == 35
    entries = tasks.time_entries(session, task)
    assert [e.minutes for e, _ in entries] == [15, 20] and entries[0][1].id == team.coordinator.id
    assert len(_audit(session, "TaskTimeEntry")) == 2


def test_comments(session, team):
    actor = team.actor(team.coordinator)
    task = make_task(session, team.patient, team.coordinator)
    tasks.add_comment(session, actor, task.id, "  Left a voicemail  ")
    with pytest.raises(InvalidInput):
        tasks.add_comment(session, actor, task.id, "   ")
    [(comment, author)] = tasks.comments(session, task)
    assert comment.body == "Left a voicemail" and author.id == team.coordinator.id
    assert _audit(session, "TaskComment")[0].patient_id == team.patient.id


def test_detail_and_patient_list(session, team):
    actor = team.actor(team.coordinator)
    urgent = make_task(session, team.patient, team.coordinator, priority=TaskPriority.URGENT, due_at=in_hours(9))
    routine = make_task(session, team.patient, team.coordinator, due_at=in_hours(1))
    done = make_task(session, team.patient, team.coordinator)
    tasks.apply_transition(session, actor, done, S.COMPLETED)
    detail = tasks.task_detail(session, actor, urgent.id)
    assert detail.patient.id == team.patient.id and detail.owner.id == team.coordinator.id
    assert S.COMPLETED in detail.next_statuses and S.REQUESTED not in detail.next_statuses
    assert [t.id for t in tasks.list_patient_tasks(session, actor, team.patient.id)] == [urgent.id, routine.id]
    everything = tasks.list_patient_tasks(session, actor, team.patient.id, include_closed=True)
    assert [t.id for t in everything] == [urgent.id, routine.id, done.id]
    assert _audit(session, "TaskList")


def test_access_not_on_care_team_and_other_organisation(session, team):
    task = make_task(session, team.patient, team.coordinator)
    foreign = make_task(session, team.stranger_patient, team.stranger)
    with pytest.raises(Forbidden) as err:
        tasks.get_task(session, team.actor(team.outsider), task.id)
    assert err.value.code == "not_on_care_team"
    with pytest.raises(NotFound):
        tasks.get_task(session, team.actor(team.coordinator), foreign.id)
    with pytest.raises(NotFound):
        tasks.create(session, team.actor(team.coordinator),
                     TaskCreate(patient_id=team.stranger_patient.id, title="x", owner_id=team.coordinator.id))
    with pytest.raises(InvalidInput):  # an owner from another organisation
        tasks.create(session, team.actor(team.coordinator),
                     TaskCreate(patient_id=team.patient.id, title="x", owner_id=team.stranger.id))
    assert tasks.get_task(session, team.actor(team.supervisor), task.id).id == task.id  # organisation-wide role
