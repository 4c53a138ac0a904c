"""Moving tasks: coordinator change (through the worker), coverage while away, bulk reassign, queue claims."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from task_helpers import in_hours, make_task

from careloop.audit.models import AuditEvent
from careloop.auth.access import load_patient
from careloop.auth.permissions import Permission
from careloop.care_teams import service as care_teams
from careloop.care_teams.models import CareTeamMember, CareTeamRole
from careloop.errors import Conflict, Forbidden, InvalidInput, InvalidTransition, NotFound
from careloop.events.models import DomainEvent
from careloop.jobs import worker
from careloop.staff.models import StaffRole
from careloop.tasks import assignment
from careloop.tasks import service as tasks
from careloop.tasks.models import TaskStatus
from factories import make_staff


def _on_team(session, patient, staff) -> bool:
    return session.scalar(select(CareTeamMember.id).where(
        CareTeamMember.patient_id == patient.id, CareTeamMember.staff_id == staff.id,
        CareTeamMember.ended_at.is_(None))) is not None


# --- coordinator change --------------------------------------------------------------------------

def test_new_coordinator_gets_the_previous_coordinators_open_tasks(session, session_factory, team):
    open_task = make_task(session, team.patient, team.coordinator, due_at=in_hours(5))
    on_hold = make_task(session, team.patient, team.coordinator)
    tasks.apply_transition(session, None, on_hold, TaskStatus.ON_HOLD, reason="Waiting for records")
    done = make_task(session, team.patient, team.coordinator)
    tasks.apply_transition(session, None, done, TaskStatus.COMPLETED)
    nurses = make_task(session, team.patient, team.nurse)
    other_patient = make_task(session, team.other_patient, team.coordinator)
    new = make_staff(session, team.org, StaffRole.CARE_COORDINATOR, family_name="Newcomer")
    care_teams.assign(session, team.actor(team.supervisor), team.patient, CareTeamRole.PRIMARY_CARE_COORDINATOR,
                      new.id)
    [event] = session.scalars(select(DomainEvent).where(DomainEvent.type == "care_team.coordinator_changed",
                                                        DomainEvent.patient_id == team.patient.id)).all()
    assert event.payload == {"previous_staff_id": str(team.coordinator.id), "new_staff_id": str(new.id)}
    session.commit()
    assert open_task.owner_id == team.coordinator.id  # nothing moves before the event is dispatched

    worker.run_once(session_factory)
    for t in (open_task, on_hold, done, nurses, other_patient):
        session.refresh(t)
    assert open_task.owner_id == new.id and on_hold.owner_id == new.id
    assert done.owner_id == team.coordinator.id and nurses.owner_id == team.nurse.id
    assert other_patient.owner_id == team.coordinator.id
    audited = session.scalars(select(AuditEvent).where(AuditEvent.record_id == str(open_task.id),
                                                       AuditEvent.client_name == "careloop-worker")).all()
    assert audited[-1].detail["why"] == "coordinator_changed"


def test_first_coordinator_and_same_coordinator_publish_nothing(session, team):
    care_teams.assign(session, team.actor(team.supervisor), team.patient, CareTeamRole.PRIMARY_CARE_COORDINATOR,
                      team.coordinator.id)
    assert session.scalars(select(DomainEvent).where(DomainEvent.type == "care_team.coordinator_changed")).all() == []


# --- coverage -----------------------------------------------------------------------------------------

def test_new_tasks_for_an_away_coordinator_go_to_the_backup(session, team):
    assignment.set_away(session, team.actor(team.supervisor), team.coordinator.id, True)
    task = make_task(session, team.patient, team.coordinator)
    assert task.owner_id == team.backup.id
    assert _on_team(session, team.patient, team.backup)  # so the backup can open the patient and see the task
    assert load_patient(session, team.actor(team.backup), team.patient.id, Permission.TASK_READ)


def test_marking_away_moves_open_tasks_to_the_backup_and_back_stops_routing(session, team):
    supervisor = team.actor(team.supervisor)
    first = make_task(session, team.patient, team.coordinator)
    second = make_task(session, team.patient, team.coordinator, due_at=in_hours(3))
    closed = make_task(session, team.patient, team.coordinator)
    tasks.apply_transition(session, None, closed, TaskStatus.CANCELLED, reason="Not needed")
    staff, moved = assignment.set_away(session, supervisor, team.coordinator.id, True)
    assert (staff.away, moved) == (True, 2)
    assert first.owner_id == second.owner_id == team.backup.id and closed.owner_id == team.coordinator.id
    staff, moved = assignment.set_away(session, supervisor, team.coordinator.id, False)
    assert (staff.away, moved) == (False, 0)
    assert make_task(session, team.patient, team.coordinator).owner_id == team.coordinator.id
    away_audit = session.scalars(select(AuditEvent).where(AuditEvent.record_type == "Staff",
                                                          AuditEvent.record_id == str(team.coordinator.id))).all()
    assert [e.detail["away"] for e in away_audit] == [True, False]


def test_away_needs_a_valid_backup_and_task_assign(session, team):
    supervisor = team.actor(team.supervisor)
    with pytest.raises(InvalidInput):
        assignment.set_away(session, supervisor, team.backup.id, True)  # no backup set
    with pytest.raises(InvalidInput):
        assignment.set_away(session, supervisor, team.backup.id, True, team.backup.id)
    with pytest.raises(InvalidInput):
        assignment.set_away(session, supervisor, team.backup.id, True, team.stranger.id)
    with pytest.raises(NotFound):
        assignment.set_away(session, supervisor, team.stranger.id, True, team.backup.id)
    with pytest.raises(Forbidden):
        assignment.set_away(session, team.actor(team.coordinator), team.backup.id, True, team.coordinator.id)
    staff, _ = assignment.set_away(session, supervisor, team.backup.id, True, team.nurse.id)
    assert staff.backup_id == team.nurse.id


def test_backup_chain_when_the_backup_is_away_too(session, team):
    supervisor = team.actor(team.supervisor)
    assignment.set_away(session, supervisor, team.backup.id, True, team.nurse.id)
    assignment.set_away(session, supervisor, team.coordinator.id, True)
    assert make_task(session, team.patient, team.coordinator).owner_id == team.nurse.id


# --- bulk reassign -----------------------------------------------------------------------------------

def test_bulk_reassign_moves_all(session, team):
    batch = [make_task(session, team.patient, team.coordinator) for _ in range(3)]
    batch.append(make_task(session, team.other_patient, team.backup))
    count = assignment.reassign(session, team.actor(team.supervisor), [t.id for t in batch], team.nurse.id)
    assert count == 4 and {t.owner_id for t in batch} == {team.nurse.id}
    assert _on_team(session, team.patient, team.nurse) and _on_team(session, team.other_patient, team.nurse)


@pytest.mark.parametrize("bad", ["missing", "foreign", "closed"])
def test_bulk_reassign_is_all_or_nothing(session, team, bad):
    import uuid

    batch = [make_task(session, team.patient, team.coordinator) for _ in range(3)]
    if bad == "missing":
        extra = uuid.uuid4()
    elif bad == "foreign":
        extra = make_task(session, team.stranger_patient, team.stranger).id
    else:
        closed = make_task(session, team.patient, team.coordinator)
        tasks.apply_transition(session, None, closed, TaskStatus.COMPLETED)
        extra = closed.id
    session.commit()
    with pytest.raises((NotFound, InvalidTransition)) as err:
        assignment.reassign(session, team.actor(team.supervisor), [*[t.id for t in batch], extra], team.nurse.id)
    assert 400 <= err.value.status < 500
    session.rollback()
    assert {t.owner_id for t in batch} == {team.coordinator.id}


def test_bulk_reassign_needs_task_assign_and_a_valid_owner(session, team):
    task = make_task(session, team.patient, team.coordinator)
    with pytest.raises(Forbidden):
        assignment.reassign(session, team.actor(team.coordinator), [task.id], team.backup.id)
    with pytest.raises(InvalidInput):
        assignment.reassign(session, team.actor(team.supervisor), [task.id], team.stranger.id)


# --- queue claims ------------------------------------------------------------------------------------

def test_claim_a_queue_task(session, team):
    task = make_task(session, team.patient, None, queue_role=StaffRole.CARE_COORDINATOR)
    care_teams.assign(session, team.actor(team.supervisor), team.patient, CareTeamRole.RN_CARE_MANAGER, team.nurse.id)
    with pytest.raises(Forbidden):  # an RN is not in the coordinators' queue
        assignment.claim(session, team.actor(team.nurse), task.id)
    claimed = assignment.claim(session, team.actor(team.coordinator), task.id)
    assert claimed.owner_id == team.coordinator.id
    with pytest.raises(Conflict):
        assignment.claim(session, team.actor(team.coordinator), task.id)
    other = make_task(session, team.patient, None, queue_role=StaffRole.CARE_COORDINATOR)
    with pytest.raises(Forbidden):  # not on the patient's care team
        assignment.claim(session, team.actor(team.outsider), other.id)
