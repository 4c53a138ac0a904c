"""Task and worklist API: every endpoint, problem+json errors, ETag/If-Match, all-or-nothing bulk reassign,
care-team and organisation scoping."""

from __future__ import annotations

import uuid

import pytest
from task_helpers import in_hours, make_task

from careloop.jobs import worker
from careloop.tasks.models import Task, TaskStatus
from factories import auth, make_token


@pytest.fixture
def tokens(session, team):
    made = {name: make_token(session, getattr(team, name)) for name in
            ("coordinator", "supervisor", "outsider", "stranger", "backup", "nurse")}
    session.commit()
    return {name: auth(token) for name, token in made.items()}


def _problem(response, status, code=None):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    if code:
        assert response.json()["code"] == code


def test_create_read_edit_and_etags(client, team, tokens):
    body = {"patient_id": str(team.patient.id), "title": "Arrange transport to the cardiology visit",
            "owner_id": str(team.coordinator.id), "priority": "urgent", "due_at": in_hours(4).isoformat()}
    created = client.post("/api/v1/tasks", json=body, headers=tokens["coordinator"])
    assert created.status_code == 201, created.text
    task = created.json()
    assert created.headers["location"] == f"/api/v1/tasks/{task['id']}"
    assert created.headers["etag"] == f'W/"{task["version"]}"'
    assert task["status"] == "requested" and task["priority"] == "urgent"
    url = f"/api/v1/tasks/{task['id']}"
    read = client.get(url, headers=tokens["coordinator"])
    assert read.status_code == 200 and read.json()["title"] == body["title"]
    _problem(client.patch(url, json={"title": "x"}, headers=tokens["coordinator"]), 428, "precondition_required")
    stale = client.patch(url, json={"title": "x"}, headers={**tokens["coordinator"], "If-Match": 'W/"999"'})
    _problem(stale, 412, "stale_version")
    edited = client.patch(url, json={"priority": "stat", "description": "Wheelchair van"},
                          headers={**tokens["coordinator"], "If-Match": read.headers["etag"]})
    assert edited.status_code == 200 and edited.json()["priority"] == "stat"
    assert edited.headers["etag"] != read.headers["etag"]
    _problem(client.post("/api/v1/tasks", json={**body, "owner_id": None}, headers=tokens["coordinator"]), 422)
    naive = client.post("/api/v1/tasks", json={**body, "due_at": "2026-01-01T10:00:00"},
                        headers=tokens["coordinator"])
    _problem(naive, 422)


def test_status_comments_and_time(client, session, team, tokens):
    task = make_task(session, team.patient, team.coordinator)
    session.commit()
    url = f"/api/v1/tasks/{task.id}"
    h = tokens["coordinator"]
    _problem(client.post(f"{url}/transition", json={"status": "on_hold"}, headers=h), 422, "invalid_input")
    moved = client.post(f"{url}/transition", json={"status": "in_progress"}, headers=h)
    assert moved.status_code == 200 and moved.json()["status"] == "in_progress"
    _problem(client.post(f"{url}/transition", json={"status": "requested"}, headers=h), 409, "invalid_transition")
    _problem(client.post(f"{url}/transition", json={"status": "completed"}, headers={**h, "If-Match": 'W/"1"'}),
             412)
    comment = client.post(f"{url}/comments", json={"body": "Spoke with the daughter"}, headers=h)
    assert comment.status_code == 201 and comment.json()["author"]["id"] == str(team.coordinator.id)
    assert [c["body"] for c in client.get(f"{url}/comments", headers=h).json()] == ["Spoke with the daughter"]
    logged = client.post(f"{url}/time", json={"minutes": 15, "note": "Phone call"}, headers=h)
    assert logged.status_code == 201 and logged.json()["minutes"] == 15
    _problem(client.post(f"{url}/time", json={"minutes": 601}, headers=h), 422)
    _problem(client.post(f"{url}/time", json={"minutes": 5, "service_date": "2999-01-01"}, headers=h), 422)
    assert [e["minutes"] for e in client.get(f"{url}/time", headers=h).json()] == [15]
    done = client.post(f"{url}/transition", json={"status": "completed", "outcome": "Visit booked"}, headers=h)
    assert done.json()["status"] == "completed" and done.json()["time_spent_minutes"] == 15
    listed = client.get(f"/api/v1/patients/{team.patient.id}/tasks?include_closed=true", headers=h)
    assert [t["id"] for t in listed.json()] == [str(task.id)]
    assert client.get(f"/api/v1/patients/{team.patient.id}/tasks", headers=h).json() == []


def test_worklist_and_team_view(client, session, team, tokens):
    overdue = make_task(session, team.patient, team.coordinator, due_at=in_hours(-2))
    make_task(session, team.patient, team.coordinator)
    session.commit()
    page = client.get("/api/v1/worklist?limit=1", headers=tokens["coordinator"])
    assert page.status_code == 200, page.text
    data = page.json()
    assert data["counts"] == {"overdue": 1, "today": 0, "upcoming": 0, "no_due": 1, "total": 2}
    assert data["items"][0]["task"]["id"] == str(overdue.id) and data["items"][0]["bucket"] == "overdue"
    assert data["items"][0]["patient"]["id"] == str(team.patient.id) and data["next_cursor"]
    second = client.get(f"/api/v1/worklist?limit=1&cursor={data['next_cursor']}", headers=tokens["coordinator"])
    assert second.json()["items"][0]["bucket"] == "no_due" and second.json()["next_cursor"] is None
    assert client.get("/api/v1/worklist?bucket=overdue", headers=tokens["coordinator"]).json()["items"][0][
        "task"]["id"] == str(overdue.id)
    _problem(client.get("/api/v1/worklist?bucket=later", headers=tokens["coordinator"]), 422)
    _problem(client.get(f"/api/v1/worklist?owner_id={team.backup.id}", headers=tokens["coordinator"]), 403)
    _problem(client.get("/api/v1/worklist/team", headers=tokens["coordinator"]), 403)
    team_view = client.get("/api/v1/worklist/team", headers=tokens["supervisor"])
    mine = next(w for w in team_view.json() if w["staff"]["id"] == str(team.coordinator.id))
    assert (mine["open"], mine["overdue"]) == (2, 1)


def test_bulk_reassign_all_or_nothing(client, session, team, tokens):
    batch = [make_task(session, team.patient, team.coordinator) for _ in range(3)]
    closed = make_task(session, team.patient, team.coordinator)
    session.commit()
    closed.status = TaskStatus.COMPLETED
    session.commit()
    ids = [str(t.id) for t in batch]
    body = {"task_ids": [*ids, str(uuid.uuid4())], "owner_id": str(team.backup.id)}
    _problem(client.post("/api/v1/tasks/reassign", json=body, headers=tokens["supervisor"]), 404)
    _problem(client.post("/api/v1/tasks/reassign", json={**body, "task_ids": [*ids, str(closed.id)]},
                         headers=tokens["supervisor"]), 409)
    for t in batch:
        session.refresh(t)
    assert {t.owner_id for t in batch} == {team.coordinator.id}
    _problem(client.post("/api/v1/tasks/reassign", json={**body, "task_ids": ids}, headers=tokens["coordinator"]),
             403)
    ok = client.post("/api/v1/tasks/reassign", json={**body, "task_ids": ids}, headers=tokens["supervisor"])
    assert ok.status_code == 200 and ok.json()["reassigned"] == 3
    for t in batch:
        session.refresh(t)
    assert {t.owner_id for t in batch} == {team.backup.id}


def test_claim_and_away(client, session, team, tokens):
    queued = make_task(session, team.patient, None, queue_role="care_coordinator")
    mine = make_task(session, team.patient, team.coordinator)
    session.commit()
    claimed = client.post(f"/api/v1/tasks/{queued.id}/claim", headers=tokens["coordinator"])
    assert claimed.status_code == 200 and claimed.json()["owner_id"] == str(team.coordinator.id)
    _problem(client.post(f"/api/v1/tasks/{queued.id}/claim", headers=tokens["coordinator"]), 409)
    url = f"/api/v1/worklist/team/{team.coordinator.id}/away"
    _problem(client.put(url, json={"away": True}, headers=tokens["coordinator"]), 403)
    away = client.put(url, json={"away": True}, headers=tokens["supervisor"])
    assert away.status_code == 200 and away.json() == {"staff_id": str(team.coordinator.id), "away": True,
                                                       "backup_id": str(team.backup.id), "moved": 2}
    session.refresh(mine)
    assert mine.owner_id == team.backup.id
    _problem(client.put(f"/api/v1/worklist/team/{team.stranger.id}/away", json={"away": False},
                        headers=tokens["supervisor"]), 404)


def test_scoping_not_on_care_team_and_other_organisation(client, session, team, tokens):
    task = make_task(session, team.patient, team.coordinator)
    foreign = make_task(session, team.stranger_patient, team.stranger)
    session.commit()
    _problem(client.get(f"/api/v1/tasks/{task.id}", headers=tokens["outsider"]), 403, "not_on_care_team")
    _problem(client.get(f"/api/v1/tasks/{foreign.id}", headers=tokens["coordinator"]), 404, "task_not_found")
    _problem(client.get(f"/api/v1/patients/{team.stranger_patient.id}/tasks", headers=tokens["coordinator"]), 404)
    _problem(client.post(f"/api/v1/tasks/{foreign.id}/transition", json={"status": "completed"},
                         headers=tokens["coordinator"]), 404)
    assert client.get("/api/v1/worklist", headers=tokens["stranger"]).json()["counts"]["total"] == 1
    _problem(client.get("/api/v1/worklist"), 401)


def test_coordinator_change_through_the_api_moves_tasks(client, session, session_factory, team, tokens):
    task = make_task(session, team.patient, team.coordinator)
    session.commit()
    response = client.post(f"/api/v1/patients/{team.patient.id}/care-team",
                           json={"staff_id": str(team.backup.id), "role": "primary_care_coordinator"},
                           headers=tokens["supervisor"])
    assert response.status_code == 201, response.text
    worker.run_once(session_factory)
    assert session.get(Task, task.id, populate_existing=True).owner_id == team.backup.id
    assert client.get(f"/api/v1/tasks/{task.id}", headers=tokens["backup"]).status_code == 200
