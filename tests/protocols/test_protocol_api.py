"""Protocol API: definitions, runs with current and late steps, a patient's runs, cancellation."""

from __future__ import annotations

import datetime as dt

from protocol_world import dispatch, publish

from careloop import clock
from careloop.staff.models import StaffRole
from factories import auth, make_staff, make_token


def test_definitions(client, session, world):
    token = auth(make_token(session, world.coordinator))
    session.commit()
    found = {p["key"]: p for p in client.get("/api/v1/protocols", headers=token).json()}
    assert {"hospital_discharge", "new_patient_intake", "care_plan_development", "specialist_referral",
            "chronic_condition_follow_up"} <= set(found)
    [discharge] = client.get("/api/v1/protocols?key=hospital_discharge", headers=token).json()
    steps = {s["key"]: s for s in discharge["steps"]}
    assert steps["interactive_contact"]["due"] == "2 business days after the trigger"
    assert steps["home_visit"]["when"] == {"risk": {"in": ["high", "very_high"]}}
    assert steps["medication_reconciliation"]["role"] == ["pharmacist", "rn_care_manager"]
    assert client.get("/api/v1/protocols?key=nope", headers=token).status_code == 404


def test_runs_show_current_and_late_steps(client, session, session_factory, world):
    publish(session, world, "encounter.discharged", at=clock.now() - dt.timedelta(days=5), encounter_id="e1",
            encounter_class="inpatient", complexity="high")
    dispatch(session, session_factory)
    token = auth(make_token(session, world.coordinator))
    session.commit()
    page = client.get("/api/v1/protocol-runs?protocol=hospital_discharge", headers=token).json()
    assert page["total"] == 1
    [run] = page["items"]
    assert run["patient"]["id"] == str(world.patient.id) and run["protocol_name"] == "Hospital discharge transition"
    assert run["late_steps"] >= 2  # two business days after a discharge five days ago have passed
    assert run["current_steps"][0]["due_at"] <= run["current_steps"][-1]["due_at"]
    late = client.get("/api/v1/protocol-runs?late=true", headers=token).json()
    assert [r["id"] for r in late["items"]] == [run["id"]]
    counts = {c["key"]: c for c in client.get("/api/v1/protocol-runs/summary", headers=token).json()}
    assert counts["hospital_discharge"]["active"] == 1 and counts["hospital_discharge"]["late"] == 1
    assert counts["specialist_referral"]["active"] == 0
    detail = client.get(f"/api/v1/protocol-runs/{run['id']}", headers=token).json()
    states = {s["key"]: s["state"] for s in detail["steps"]}
    assert states["face_to_face_14_days"] == "skipped" and states["face_to_face_7_days"] == "requested"
    mine = client.get(f"/api/v1/patients/{world.patient.id}/protocol-runs", headers=token).json()
    assert {r["protocol_key"] for r in mine} == {"hospital_discharge", "new_patient_intake", "care_plan_development"}


def test_cancelling_needs_protocol_admin(client, session, session_factory, world):
    publish(session, world, "referral.created", referral_id="r1")
    dispatch(session, session_factory)
    coordinator = auth(make_token(session, world.coordinator))
    supervisor = auth(make_token(session, make_staff(session, world.org, StaffRole.SUPERVISOR)))
    session.commit()
    [run] = client.get("/api/v1/protocol-runs?protocol=specialist_referral", headers=coordinator).json()["items"]
    url = f"/api/v1/protocol-runs/{run['id']}/cancel"
    assert client.post(url, json={"reason": "Entered in error"}, headers=coordinator).status_code == 403
    r = client.post(url, json={"reason": "Entered in error"}, headers=supervisor)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert {s["state"] for s in r.json()["steps"]} >= {"cancelled"}
    assert client.post(url, json={"reason": "again"}, headers=supervisor).status_code == 409


def test_runs_of_patients_off_my_care_team_are_hidden(client, session, session_factory, world):
    publish(session, world, "referral.created", referral_id="r1")
    dispatch(session, session_factory)
    stranger = auth(make_token(session, make_staff(session, world.org)))
    session.commit()
    assert client.get("/api/v1/protocol-runs?status=any", headers=stranger).json()["total"] == 0
    run_id = client.get("/api/v1/protocol-runs", headers=auth(make_token(session, world.coordinator))).json()
    session.commit()
    assert client.get(f"/api/v1/protocol-runs/{run_id['items'][0]['id']}", headers=stranger).status_code == 403
