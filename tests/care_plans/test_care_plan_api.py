"""Care plan API: the whole flow with ETags, the errors a client sees, and adherence."""

from __future__ import annotations

import datetime as dt

from plan_world import A1C, SYSTOLIC

from factories import auth, make_staff, make_token


def tokens(session, world):
    coordinator, pcp = make_token(session, world.coordinator), make_token(session, world.pcp)
    session.commit()
    return auth(coordinator), auth(pcp)


def test_draft_sign_revise_over_the_api(client, session, world):
    coordinator, pcp = tokens(session, world)
    base = f"/api/v1/patients/{world.patient.id}/care-plans"
    assert client.get(base + "/current", headers=coordinator).status_code == 404

    created = client.post(base, json={"title": "Diabetes plan", "patient_goals": "Dance at my daughter's wedding"},
                          headers=coordinator)
    assert created.status_code == 201, created.text
    plan = created.json()
    url = f"/api/v1/care-plans/{plan['id']}"
    assert created.headers["location"] == url and plan["status"] == "draft"

    r = client.post(url + "/problems", json={"condition_id": str(world.diabetes.id)}, headers=coordinator)
    assert r.status_code == 201 and [p["code"] for p in r.json()["problems"]] == ["E11.9"]
    r = client.post(url + "/goals", json={"description": "A1c below 8 %", "measure_code": A1C, "comparator": "lt",
                                          "target_value": 8, "target_unit": "%"}, headers=coordinator)
    goal = r.json()["goals"][0]
    assert (goal["target"], goal["latest_value"], goal["target_met"]) == ("< 8 %", 7.4, True)
    r = client.post(url + "/goals", json={"description": "Half-specified", "comparator": "lt"}, headers=coordinator)
    assert r.status_code == 422
    due = (dt.date.today() + dt.timedelta(days=7)).isoformat()
    r = client.post(url + "/activities", json={"description": "Weekly glucose log review", "frequency_days": 7,
                                               "next_due_date": due, "goal_id": goal["id"]}, headers=coordinator)
    activity = r.json()["activities"][0]
    r = client.patch(url + f"/activities/{activity['id']}", json={"frequency_days": 14},
                     headers={**coordinator, "If-Match": f'W/"{activity["version"]}"'})
    assert r.status_code == 200 and r.json()["activities"][0]["frequency_days"] == 14
    r = client.post(url + "/education", json={"title": "Hypoglycaemia", "body": "Signs and what to do."},
                    headers=coordinator)
    etag = r.headers["etag"]

    assert client.patch(url, json={"title": "x"}, headers=coordinator).status_code == 428
    assert client.post(url + "/sign", headers={**coordinator, "If-Match": etag}).status_code == 403
    assert client.post(url + "/sign", headers={**pcp, "If-Match": 'W/"1"'}).status_code == 412
    signed = client.post(url + "/sign", headers={**pcp, "If-Match": etag})
    assert signed.status_code == 200, signed.text
    body = signed.json()
    assert body["status"] == "active" and body["signed_by_id"] == str(world.pcp.id)
    assert body["activities"][0]["open_task_id"] and body["goals"][0]["status"] == "active"

    r = client.post(url + "/goals", json={"description": "Too late"}, headers=coordinator)
    assert r.status_code == 409 and r.json()["code"] == "plan_not_draft"

    done = client.post(url + f"/activities/{activity['id']}/done", headers=coordinator)
    assert done.json()["activities"][0]["completed_on_time"] == 1
    assert done.json()["adherence"]["on_time_rate"] == 1.0

    revised = client.post(url + "/revise", headers=coordinator)
    assert revised.status_code == 201 and revised.json()["revision"] == 2
    assert revised.json()["supersedes_id"] == plan["id"]
    history = client.get(base, headers=coordinator).json()
    assert [(p["revision"], p["status"]) for p in history] == [(2, "draft"), (1, "active")]
    assert client.get(base + "/current", headers=coordinator).json()["revision"] == 1


def test_goal_status_and_notes(client, session, world):
    from plan_world import draft_with_content, sign

    plan = sign(session, world, draft_with_content(session, world))
    coordinator, _ = tokens(session, world)
    url = f"/api/v1/care-plans/{plan.id}"
    goals = {g["measure_code"]: g for g in client.get(url, headers=coordinator).json()["goals"]}
    bp = goals[SYSTOLIC]
    r = client.post(url + f"/goals/{bp['id']}/status", json={"status": "achieved"},
                    headers={**coordinator, "If-Match": f'W/"{bp["version"]}"'})
    assert r.status_code == 409 and r.json()["code"] == "target_not_met" and r.json()["latest_value"] == 152
    r = client.post(url + f"/goals/{bp['id']}/notes", json={"body": "Started amlodipine", "measured_value": 146},
                    headers=coordinator)
    assert r.status_code == 201
    note = next(g for g in r.json()["goals"] if g["id"] == bp["id"])["notes"][0]
    assert (note["body"], note["measured_value"], note["author_id"]) == ("Started amlodipine", 146,
                                                                          str(world.coordinator.id))
    a1c = goals[A1C]
    r = client.post(url + f"/goals/{a1c['id']}/status", json={"status": "achieved", "note": "7.4 in November"},
                    headers={**coordinator, "If-Match": f'W/"{a1c["version"]}"'})
    assert r.status_code == 200
    assert client.get(f"/api/v1/patients/{world.patient.id}/care-plan-adherence",
                      headers=coordinator).json()["goals_met"] == 1


def test_complete_revoke_and_panel(client, session, world):
    from plan_world import draft_with_content, sign

    plan = sign(session, world, draft_with_content(session, world))
    coordinator, pcp = tokens(session, world)
    url = f"/api/v1/care-plans/{plan.id}"
    etag = client.get(url, headers=pcp).headers["etag"]
    r = client.post(url + "/revoke", json={"reason": ""}, headers={**pcp, "If-Match": etag})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reason"
    panel = client.get("/api/v1/care-plans/panel-adherence", headers=coordinator).json()
    assert panel["patients"] == 1 and panel["goals_total"] == 2
    other = make_staff(session, world.org)
    session.commit()
    r = client.get(f"/api/v1/care-plans/panel-adherence?coordinator_id={other.id}", headers=coordinator)
    assert r.status_code == 403
    r = client.post(url + "/complete", json={"reason": "Moved away"}, headers={**pcp, "If-Match": etag})
    assert r.status_code == 200 and r.json()["status"] == "completed"


def test_strangers_and_other_organisations(client, session, world):
    from plan_world import build_world, draft_with_content

    plan = draft_with_content(session, world)
    stranger = make_token(session, make_staff(session, world.org))
    other = build_world(session)
    outsider = make_token(session, other.coordinator)
    session.commit()
    url = f"/api/v1/care-plans/{plan.id}"
    assert client.get(url, headers=auth(stranger)).status_code == 403
    r = client.get(url, headers=auth(outsider))
    assert r.status_code == 404 and world.patient.family_name not in r.text
    assert client.get(url).status_code == 401
