"""The protocol engine on both backends: triggers, due dates, dependencies, completion, cancellation, replays."""

from __future__ import annotations

import datetime as dt

from protocol_world import build_world, dispatch, publish, runs, step_tasks
from sqlalchemy import select, update

from careloop.care_teams.models import CareTeamRole
from careloop.events.models import DomainEvent
from careloop.patients.models import PatientStatus
from careloop.protocols import service
from careloop.protocols.models import ProtocolRunStatus
from careloop.staff.models import StaffRole
from careloop.tasks import service as tasks
from careloop.tasks.models import TaskFocus, TaskPriority, TaskStatus

DISCHARGE = "hospital_discharge"


def discharge(session, world, at, **payload):
    return publish(session, world, "encounter.discharged", at=at,
                   **{"encounter_id": "enc-1", "encounter_class": "inpatient", **payload})


def complete(session, task):
    tasks.apply_transition(session, None, task, TaskStatus.COMPLETED)
    session.commit()


def test_enrolment_starts_intake_and_care_plan_development(session, session_factory, world):
    dispatch(session, session_factory)
    started = {r.protocol_key: r for r in runs(session, world.patient)}
    assert set(started) == {"new_patient_intake", "care_plan_development"}
    intake = step_tasks(session, started["new_patient_intake"])
    assert set(intake) == {"welcome_call", "medication_review"}
    assert intake["welcome_call"].owner_id == world.coordinator.id
    assert intake["medication_review"].owner_id == world.pharmacist.id  # the pharmacist on the care team
    assert intake["welcome_call"].focus_type == TaskFocus.PROTOCOL_STEP
    assert intake["welcome_call"].focus_id == started["new_patient_intake"].id
    assert set(step_tasks(session, started["care_plan_development"])) == {"draft_plan"}


def test_friday_discharge_of_a_high_risk_high_complexity_patient(session, session_factory):
    world = build_world(session, risk_tier="high", pharmacist_on_team=False)
    friday = world.local(2026, 11, 20, 14)
    discharge(session, world, friday, complexity="high")
    dispatch(session, session_factory)
    [run] = runs(session, world.patient, DISCHARGE)
    assert run.anchor_at == friday and run.context["complexity"] == "high" and run.context["risk"] == "high"
    steps = step_tasks(session, run)
    assert set(steps) == {"interactive_contact", "medication_reconciliation", "face_to_face_7_days", "home_visit"}
    assert steps["interactive_contact"].due_at == world.local(2026, 11, 24, 23) + dt.timedelta(minutes=59)
    assert steps["face_to_face_7_days"].due_at == world.local(2026, 11, 27, 23) + dt.timedelta(minutes=59)
    assert steps["home_visit"].due_at == friday + dt.timedelta(hours=72)
    assert steps["home_visit"].priority == TaskPriority.ASAP
    # No pharmacist on the team and no nurse member: the pharmacist queue gets medication reconciliation.
    assert steps["medication_reconciliation"].owner_id is None
    assert steps["medication_reconciliation"].queue_role == StaffRole.PHARMACIST


def test_moderate_complexity_low_risk_gets_the_14_day_visit_and_no_home_visit(session, session_factory):
    world = build_world(session, risk_tier="low")
    wednesday = world.local(2026, 11, 25, 9)
    discharge(session, world, wednesday, complexity="moderate", encounter_class="observation")
    dispatch(session, session_factory)
    steps = step_tasks(session, runs(session, world.patient, DISCHARGE)[0])
    assert set(steps) == {"interactive_contact", "medication_reconciliation", "face_to_face_14_days"}
    # Thanksgiving (Thu 26) is skipped: Fri 27 is the first business day, Mon 30 the second.
    assert steps["interactive_contact"].due_at == world.local(2026, 11, 30, 23) + dt.timedelta(minutes=59)
    assert steps["face_to_face_14_days"].due_at == world.local(2026, 12, 9, 23) + dt.timedelta(minutes=59)


def test_due_dates_count_in_the_organisation_time_zone(session, session_factory):
    world = build_world(session, timezone="America/Los_Angeles")
    # 22:00 on Friday in California is already Saturday in UTC.
    late_friday = world.local(2026, 11, 20, 22)
    assert late_friday.weekday() == 5
    discharge(session, world, late_friday)
    dispatch(session, session_factory)
    steps = step_tasks(session, runs(session, world.patient, DISCHARGE)[0])
    assert steps["interactive_contact"].due_at == world.local(2026, 11, 24, 23) + dt.timedelta(minutes=59)


def test_ambulatory_encounters_and_inactive_patients_start_nothing(session, session_factory, world):
    discharge(session, world, world.local(2026, 11, 20), encounter_class="ambulatory")
    other = build_world(session)
    other.patient.status = PatientStatus.DECEASED
    other.patient.deceased_date = dt.date(2026, 11, 19)
    session.commit()
    discharge(session, other, other.local(2026, 11, 20))
    dispatch(session, session_factory)
    assert runs(session, world.patient, DISCHARGE) == [] and runs(session, other.patient, DISCHARGE) == []


def test_replaying_the_trigger_never_starts_the_protocol_twice(session, session_factory, world):
    event = discharge(session, world, world.local(2026, 11, 20))
    dispatch(session, session_factory)
    session.execute(update(DomainEvent).where(DomainEvent.id == event.id).values(dispatched_at=None))
    session.commit()
    dispatch(session, session_factory)
    assert service.start_runs(session, [session.get(DomainEvent, event.id)]) == []
    [run] = runs(session, world.patient, DISCHARGE)
    assert len(step_tasks(session, run)) == 3


def test_dependencies_create_steps_when_predecessors_complete(session, session_factory, world):
    dispatch(session, session_factory)
    run = runs(session, world.patient, "new_patient_intake")[0]
    welcome = step_tasks(session, run)["welcome_call"]
    complete(session, welcome)
    dispatch(session, session_factory)
    steps = step_tasks(session, run)
    assert set(steps) == {"welcome_call", "medication_review", "consent", "comprehensive_assessment",
                          "social_needs_screening"}
    # [rn_care_manager, coordinator]: no nurse on the team, so the coordinator holds the next role listed.
    assert steps["comprehensive_assessment"].owner_id == world.coordinator.id
    assert steps["consent"].due_at > welcome.completed_at


def test_the_run_completes_when_every_applicable_step_is_resolved(session, session_factory, world):
    discharge(session, world, world.local(2026, 11, 20))
    dispatch(session, session_factory)
    run = runs(session, world.patient, DISCHARGE)[0]
    steps = list(step_tasks(session, run).values())
    for task in steps[:-1]:
        complete(session, task)
    tasks.apply_transition(session, None, steps[-1], TaskStatus.CANCELLED, reason="Patient declined")
    session.commit()
    dispatch(session, session_factory)
    assert run.status == ProtocolRunStatus.COMPLETED and run.completed_at is not None


def test_a_cancelled_discharge_cancels_the_run_and_its_open_tasks(session, session_factory, world):
    discharge(session, world, world.local(2026, 11, 20), encounter_id="enc-1")
    discharge(session, world, world.local(2026, 11, 21), encounter_id="enc-2")
    dispatch(session, session_factory)
    publish(session, world, "encounter.discharge_cancelled", encounter_id="enc-1")
    dispatch(session, session_factory)
    by_encounter = {run.context["encounter_id"]: run for run in runs(session, world.patient, DISCHARGE)}
    first, second = by_encounter["enc-1"], by_encounter["enc-2"]  # started together: same started_at
    assert first.status == ProtocolRunStatus.CANCELLED
    assert {t.status for t in step_tasks(session, first).values()} == {TaskStatus.CANCELLED}
    assert second.status == ProtocolRunStatus.ACTIVE
    assert {t.status for t in step_tasks(session, second).values()} == {TaskStatus.REQUESTED}


def test_steps_complete_on_their_event_for_the_same_referral(session, session_factory, world):
    publish(session, world, "referral.created", referral_id="r-1")
    dispatch(session, session_factory)
    run = runs(session, world.patient, "specialist_referral")[0]
    assert set(step_tasks(session, run)) == {"send_referral"}
    publish(session, world, "referral.sent", referral_id="r-other")
    dispatch(session, session_factory)
    assert step_tasks(session, run)["send_referral"].status == TaskStatus.REQUESTED
    publish(session, world, "referral.sent", referral_id="r-1")
    dispatch(session, session_factory)
    steps = step_tasks(session, run)
    assert steps["send_referral"].status == TaskStatus.COMPLETED
    assert steps["send_referral"].outcome == "Completed by referral.sent"
    assert set(steps) == {"send_referral", "confirm_receipt"}
    publish(session, world, "referral.cancelled", referral_id="r-1")
    dispatch(session, session_factory)
    assert run.status == ProtocolRunStatus.CANCELLED


def test_a_completion_event_that_came_first_completes_the_step_when_it_is_created(session, session_factory, world):
    publish(session, world, "referral.created", referral_id="r-9")
    publish(session, world, "referral.sent", referral_id="r-9")
    publish(session, world, "referral.acknowledged", referral_id="r-9")
    dispatch(session, session_factory)
    dispatch(session, session_factory)
    steps = step_tasks(session, runs(session, world.patient, "specialist_referral")[0])
    assert steps["send_referral"].status == TaskStatus.COMPLETED
    assert steps["confirm_receipt"].status == TaskStatus.COMPLETED
    assert steps["appointment_scheduled"].status == TaskStatus.REQUESTED


def test_a_new_coordinator_gets_the_steps_created_after_the_change(session, session_factory, world):
    from careloop.auth.actor import system_actor
    from careloop.care_teams import service as care_teams
    from factories import make_staff

    dispatch(session, session_factory)
    successor = make_staff(session, world.org)
    care_teams.assign(session, system_actor(world.org.id), world.patient, CareTeamRole.PRIMARY_CARE_COORDINATOR,
                      successor.id)
    complete(session, step_tasks(session, runs(session, world.patient, "new_patient_intake")[0])["welcome_call"])
    dispatch(session, session_factory)
    consent = step_tasks(session, runs(session, world.patient, "new_patient_intake")[0])["consent"]
    assert consent.owner_id == successor.id


def test_runs_are_started_only_for_their_patient(session, session_factory, world):
    other = build_world(session)
    discharge(session, world, world.local(2026, 11, 20))
    dispatch(session, session_factory)
    assert len(runs(session, world.patient, DISCHARGE)) == 1 and runs(session, other.patient, DISCHARGE) == []
    assert session.scalars(select(DomainEvent).where(DomainEvent.dispatched_at.is_(None))).all() == []


def test_a_discharge_and_its_cancellation_in_one_batch_leave_no_active_run(session, session_factory, world):
    """Batched dispatch keeps event order: the cancellation comes after the start it cancels."""
    discharge(session, world, world.local(2026, 11, 20), encounter_id="enc-9")
    publish(session, world, "encounter.discharge_cancelled", encounter_id="enc-9")
    discharge(session, world, world.local(2026, 11, 21), encounter_id="enc-10")
    dispatch(session, session_factory)
    by_encounter = {run.context["encounter_id"]: run for run in runs(session, world.patient, DISCHARGE)}
    assert by_encounter["enc-9"].status == ProtocolRunStatus.CANCELLED
    assert by_encounter["enc-10"].status == ProtocolRunStatus.ACTIVE
