"""Care plan pages: start, edit a draft in place, sign, track goals and activities, revise, history."""

from __future__ import annotations

import re
import uuid

from plan_world import A1C, browse_as, draft_with_content, sign
from sqlalchemy import select

from careloop.care_plans.models import Activity, CarePlan, CarePlanStatus, Goal
from factories import make_staff


def post(client, token, path, **data):
    return client.post(path, data={"csrf_token": token, **data}, follow_redirects=False)


def test_start_and_edit_a_draft(client, session, world):
    token = browse_as(client, session, world.coordinator)
    page = client.get(f"/patients/{world.patient.id}/care-plan")
    assert page.status_code == 200 and "Start a care plan" in page.text
    r = post(client, token, f"/patients/{world.patient.id}/care-plan", title="Diabetes <plan>")
    assert r.status_code == 303
    url = r.headers["location"]
    assert client.get(f"/patients/{world.patient.id}/care-plan", follow_redirects=False).headers["location"] == url
    plan_id = uuid.UUID(url.rsplit("/", 1)[1])

    assert post(client, token, url + "/problems", condition_id=str(world.diabetes.id)).status_code == 303
    r = post(client, token, url + "/goals", description="A1c below 8 %", measure=f"http://loinc.org|{A1C}",
             comparator="lt", target_value="8", target_unit="%")
    assert r.status_code == 303 and r.headers["location"].endswith("#goals")
    r = post(client, token, url + "/goals", description="", measure="")
    assert r.status_code == 422 and "Description" in r.text
    r = post(client, token, url + "/activities", description="Monthly call", frequency_days="30",
             next_due_date="2030-01-15", who=f"staff:{world.coordinator.id}")
    assert r.status_code == 303
    r = post(client, token, url + "/activities", description="Weigh daily", frequency_days="zero")
    assert r.status_code == 422 and "Frequency days" in r.text
    assert post(client, token, url + "/education", title="Foot care", body="Check daily").status_code == 303
    plan = session.get(CarePlan, plan_id)
    session.refresh(plan)
    r = post(client, token, url + "/details", title="Diabetes <plan>", patient_goals="Garden again",
             patient_preferences="", instructions="", review_date="", version=str(plan.version))
    assert r.status_code == 303

    page = client.get(url)
    assert page.status_code == 200
    assert "Diabetes &lt;plan&gt;" in page.text and "Diabetes <plan>" not in page.text
    assert "Type 2 diabetes mellitus" in page.text and "&lt; 8 %" in page.text and "Target met" in page.text
    assert "Garden again" in page.text and "Monthly call" in page.text
    assert "Sign and activate" not in page.text  # the coordinator cannot sign


def test_sign_track_revise_and_history(client, session, world):
    plan = draft_with_content(session, world)
    token = browse_as(client, session, world.pcp)
    url = f"/care-plans/{plan.id}"
    assert "Sign and activate" in client.get(url).text
    r = post(client, token, url + "/sign", version="1")
    assert r.status_code == 412 and "changed by someone else" in r.text  # the plan moved on since version 1
    session.refresh(plan)
    assert post(client, token, url + "/sign", version=str(plan.version)).status_code == 303
    session.expire_all()
    assert session.get(CarePlan, plan.id).status == CarePlanStatus.ACTIVE

    token = browse_as(client, session, world.coordinator)
    activity = session.scalars(select(Activity).where(Activity.care_plan_id == plan.id)).one()
    r = post(client, token, url + f"/activities/{activity.id}/done")
    assert r.status_code == 303 and r.headers["location"].endswith("#activities")
    page = client.get(url).text
    assert re.search(r"data-done>1 on time · 0 late", page)
    assert "100 %" in page

    goal = session.scalars(select(Goal).where(Goal.care_plan_id == plan.id, Goal.measure_code == "8480-6")).one()
    r = post(client, token, url + f"/goals/{goal.id}/status", status="achieved", version=str(goal.version))
    assert r.status_code == 409  # 152 mm[Hg] does not meet < 140
    r = post(client, token, url + f"/goals/{goal.id}/notes", body="Home readings lower", measured_value="138")
    assert r.status_code == 303 and "Home readings lower" in client.get(url).text

    r = post(client, token, url + "/revise")
    assert r.status_code == 303
    draft_url = r.headers["location"]
    assert "Revision 2" in client.get(draft_url).text
    history = client.get(f"/patients/{world.patient.id}/care-plan/history").text
    assert "Revision 2" in history and "Revision 1" in history


def test_pages_need_the_care_team_and_csrf(client, session, world):
    plan = sign(session, world, draft_with_content(session, world))
    stranger = make_staff(session, world.org)
    browse_as(client, session, stranger)
    assert client.get(f"/care-plans/{plan.id}").status_code == 403
    token = browse_as(client, session, world.coordinator)
    assert client.post(f"/care-plans/{plan.id}/revise", data={}, follow_redirects=False).status_code == 403
    assert post(client, token, f"/care-plans/{plan.id}/revise").status_code == 303
