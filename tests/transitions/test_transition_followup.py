"""Admission notices, cancellation follow-up, readmission flags and the transitions board API."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from careloop import clock
from careloop.care_teams.models import CareTeamRole
from careloop.care_teams.service import assign
from careloop.clinical.models import Encounter
from careloop.jobs.worker import run_once
from careloop.protocols.models import ProtocolRun
from careloop.staff.models import StaffRole
from careloop.tasks.models import Notification, Task, TaskStatus
from careloop.tasks.service import create_task
from factories import auth, make_staff, make_token

MSH = "MSH|^~\\&|HIS|GENHOSP|CL|CARELOOP|{t}||ADT^{e}|{c}|P|2.5.1"


def _adt(event: str, control: str, when: dt.datetime, *, visit: str = "V1", mrn: str = "T100",
         pclass: str = "I", discharge: dt.datetime | None = None, admit: dt.datetime | None = None) -> str:
    t = when.strftime("%Y%m%d%H%M%S+0000")
    pv1 = ["PV1", "1", pclass, "4E^1^A^GENHOSP"] + [""] * 42
    pv1[19] = visit
    pv1[44] = (admit or when).strftime("%Y%m%d%H%M%S+0000")
    pv1[45] = discharge.strftime("%Y%m%d%H%M%S+0000") if discharge else ""
    return "\r".join([MSH.format(t=t, e=event, c=control), f"EVN|{event}|{t}", f"PID|1||{mrn}^^^HOSP^MR||Doe^Jo",
                      "|".join(pv1)])


def test_admission_notifies_each_active_care_team_member_once(session, session_factory, feed, patient, org,
                                                              coordinator):
    from factories import actor_of
    nurse = make_staff(session, org, StaffRole.RN_CARE_MANAGER)
    assign(session, actor_of(coordinator), patient, CareTeamRole.RN_CARE_MANAGER, nurse.id)
    session.commit()
    now = clock.now()
    feed(_adt("A01", "N1", now - dt.timedelta(minutes=5)))
    feed(_adt("A08", "N2", now - dt.timedelta(minutes=4)))
    feed(_adt("A02", "N3", now - dt.timedelta(minutes=3)))
    run_once(session_factory)
    run_once(session_factory)
    notes = session.scalars(select(Notification).where(Notification.patient_id == patient.id)).all()
    assert sorted(n.recipient_id for n in notes) == sorted([coordinator.id, nurse.id])
    assert all(n.kind == "admission" and "admitted to hospital" in n.message for n in notes)


def test_cancelled_admission_withdraws_tasks_about_it(session, session_factory, feed, patient, org):
    now = clock.now()
    feed(_adt("A01", "C1", now - dt.timedelta(hours=2)))
    encounter = session.scalars(select(Encounter).where(Encounter.patient_id == patient.id)).one()
    task = create_task(session, organization_id=org.id, patient_id=patient.id, title="Call the ward",
                       focus_id=encounter.id, queue_role=StaffRole.CARE_COORDINATOR)
    session.commit()
    feed(_adt("A11", "C2", now - dt.timedelta(hours=1)))
    run_once(session_factory)
    session.refresh(task)
    assert task.status == TaskStatus.CANCELLED and "A11" in task.status_reason


def test_discharge_starts_protocol_and_cancel_discharge_stops_it(session, session_factory, feed, patient):
    now = clock.now()
    feed(_adt("A01", "D1", now - dt.timedelta(days=3)))
    feed(_adt("A03", "D2", now - dt.timedelta(days=1), discharge=now - dt.timedelta(days=1)))
    run_once(session_factory)
    tasks = session.scalars(select(Task).join(ProtocolRun, ProtocolRun.id == Task.protocol_run_id).where(
        Task.patient_id == patient.id, ProtocolRun.protocol_key == "hospital_discharge")).all()
    assert {t.step_key for t in tasks} >= {"interactive_contact", "medication_reconciliation"}
    feed(_adt("A13", "D3", now - dt.timedelta(hours=12)))
    run_once(session_factory)
    for task in tasks:
        session.refresh(task)
    assert all(t.status == TaskStatus.CANCELLED for t in tasks)


def test_board_api_lists_admitted_discharged_and_readmitted(session, client, feed, patient, coordinator,
                                                            session_factory):
    now = clock.now()
    feed(_adt("A01", "B1", now - dt.timedelta(days=10), visit="S1"),
         _adt("A03", "B2", now - dt.timedelta(days=8), visit="S1", discharge=now - dt.timedelta(days=8),
              admit=now - dt.timedelta(days=10)),
         _adt("A01", "B3", now - dt.timedelta(days=1), visit="S2"))
    run_once(session_factory)
    token = make_token(session, coordinator)
    session.commit()
    body = client.get("/api/v1/transitions", headers=auth(token)).json()
    assert [s["mrn"] for s in body["admitted"]] == ["T100"]
    [discharged] = body["discharged"]
    assert {d["status"] for d in discharged["deadlines"]} <= {"due", "late", "done"} and discharged["deadlines"]
    assert [s["readmission_of_id"] for s in body["readmitted"]] == [discharged["encounter_id"]]


def test_board_is_scoped_to_the_care_team(session, client, feed, patient, org):
    feed(_adt("A01", "X1", clock.now() - dt.timedelta(hours=1)))
    outsider = make_staff(session, org, StaffRole.CARE_COORDINATOR)
    token = make_token(session, outsider)
    session.commit()
    assert client.get("/api/v1/transitions", headers=auth(token)).json()["admitted"] == []
    billing = make_staff(session, org, StaffRole.BILLING)
    token = make_token(session, billing)
    session.commit()
    assert client.get("/api/v1/transitions", headers=auth(token)).status_code == 403



def _discharge_steps(session, patient) -> set[str]:
    return {t.step_key for t in session.scalars(select(Task).join(ProtocolRun, ProtocolRun.id == Task.protocol_run_id)
                                                .where(Task.patient_id == patient.id,
                                                       ProtocolRun.protocol_key == "hospital_discharge",
                                                       Task.status != TaskStatus.CANCELLED))}


def test_moderate_complexity_discharge_gets_the_14_day_visit(session, session_factory, feed, patient):
    now = clock.now()
    feed(_adt("A01", "M1", now - dt.timedelta(days=3)))
    feed(_adt("A03", "M2", now - dt.timedelta(days=1), discharge=now - dt.timedelta(days=1)))
    run_once(session_factory)
    steps = _discharge_steps(session, patient)
    assert "face_to_face_14_days" in steps and "face_to_face_7_days" not in steps


def test_high_risk_patient_gets_the_7_day_visit_and_home_visit(session, session_factory, feed, patient):
    patient.risk_tier = "high"
    session.commit()
    now = clock.now()
    feed(_adt("A01", "H1", now - dt.timedelta(days=3)))
    feed(_adt("A03", "H2", now - dt.timedelta(days=1), discharge=now - dt.timedelta(days=1)))
    run_once(session_factory)
    steps = _discharge_steps(session, patient)
    assert {"face_to_face_7_days", "home_visit"} <= steps and "face_to_face_14_days" not in steps


def test_discharge_from_a_readmission_is_high_complexity(session, session_factory, feed, patient):
    now = clock.now()
    feed(_adt("A01", "R1", now - dt.timedelta(days=20), visit="V1"))
    feed(_adt("A03", "R2", now - dt.timedelta(days=15), visit="V1", discharge=now - dt.timedelta(days=15),
              admit=now - dt.timedelta(days=20)))
    feed(_adt("A01", "R3", now - dt.timedelta(days=4), visit="V2"))
    feed(_adt("A03", "R4", now - dt.timedelta(days=1), visit="V2", discharge=now - dt.timedelta(days=1),
              admit=now - dt.timedelta(days=4)))
    run_once(session_factory)
    second = session.scalars(select(Encounter).where(Encounter.patient_id == patient.id,
                                                     Encounter.readmission_of_id.is_not(None))).one()
    runs = session.scalars(select(ProtocolRun).where(ProtocolRun.patient_id == patient.id,
                                                     ProtocolRun.protocol_key == "hospital_discharge")).all()
    tasks = session.scalars(select(Task).where(Task.protocol_run_id.in_([r.id for r in runs]),
                                               Task.step_key.like("face_to_face%"))).all()
    by_run = {t.protocol_run_id: t.step_key for t in tasks}
    assert sorted(by_run.values()) == ["face_to_face_14_days", "face_to_face_7_days"]
    assert second.readmission_of_id is not None
