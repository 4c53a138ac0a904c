"""Protocol pages: runs per protocol with current and late steps, a run, a definition, a patient's runs."""

from __future__ import annotations

import datetime as dt

from protocol_world import browse_as, dispatch, publish, runs

from careloop import clock
from careloop.staff.models import StaffRole
from factories import make_staff


def discharged_five_days_ago(session, session_factory, world):
    publish(session, world, "encounter.discharged", at=clock.now() - dt.timedelta(days=5), encounter_id="e1",
            encounter_class="inpatient", complexity="high")
    dispatch(session, session_factory)
    return runs(session, world.patient, "hospital_discharge")[0]


def test_overview_shows_current_and_late_steps(client, session, session_factory, world):
    run = discharged_five_days_ago(session, session_factory, world)
    browse_as(client, session, world.coordinator)
    page = client.get("/protocols")
    assert page.status_code == 200
    assert "Hospital discharge transition" in page.text and world.patient.family_name in page.text
    assert "Interactive contact after discharge" in page.text and "late" in page.text
    late = client.get("/protocols?late=true&protocol=hospital_discharge").text
    assert f"/protocols/runs/{run.id}" in late
    none = client.get("/protocols?protocol=specialist_referral").text
    assert "No active runs" in none


def test_run_page_and_cancel(client, session, session_factory, world):
    run = discharged_five_days_ago(session, session_factory, world)
    browse_as(client, session, world.coordinator)
    page = client.get(f"/protocols/runs/{run.id}").text
    assert "Face-to-face visit within 7 days" in page and "Skipped" in page and "Late" in page
    assert "Cancel run" not in page
    token = browse_as(client, session, make_staff(session, world.org, StaffRole.SUPERVISOR))
    assert "Cancel run" in client.get(f"/protocols/runs/{run.id}").text
    r = client.post(f"/protocols/runs/{run.id}/cancel", data={"csrf_token": token, "reason": "Duplicate feed"},
                    follow_redirects=False)
    assert r.status_code == 303
    assert "Cancelled" in client.get(f"/protocols/runs/{run.id}").text


def test_definition_and_patient_runs(client, session, session_factory, world):
    discharged_five_days_ago(session, session_factory, world)
    browse_as(client, session, world.coordinator)
    page = client.get("/protocols/definition?key=hospital_discharge").text
    assert "encounter_class is one of inpatient, observation, emergency" in page
    assert "2 business days after the trigger" in page and "risk is one of high, very_high" in page
    assert client.get("/protocols/definition?key=nope").status_code == 404
    mine = client.get(f"/patients/{world.patient.id}/protocols").text
    assert "Hospital discharge transition" in mine and "New patient intake" in mine
    chart = client.get(f"/patients/{world.patient.id}").text
    assert f"/patients/{world.patient.id}/protocols" in chart and f"/patients/{world.patient.id}/care-plan" in chart


def test_strangers_see_no_runs_and_cannot_open_one(client, session, session_factory, world):
    run = discharged_five_days_ago(session, session_factory, world)
    browse_as(client, session, make_staff(session, world.org))
    assert world.patient.family_name not in client.get("/protocols").text
    assert client.get(f"/protocols/runs/{run.id}").status_code == 403
