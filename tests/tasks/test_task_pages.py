"""Task pages: worklist (buckets, filters, claim, bulk reassign), team view, task detail forms, patient tasks."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select
from task_helpers import in_hours, make_task

from careloop.auth import service as auth_service
from careloop.tasks.models import Task, TaskStatus, TaskTimeEntry


@pytest.fixture
def signed_in(client, session):
    """sign_in(staff) puts a browser session on the client and returns its CSRF token."""
    def sign_in(staff) -> str:
        raw, web = auth_service.start_session(session, staff, None, mfa_pending=False)
        session.commit()
        client.cookies.set("careloop_session", raw)
        return web.csrf_token

    return sign_in


def _post(client, path, csrf, **data):
    return client.post(path, data={"csrf_token": csrf, **data}, follow_redirects=False)


def test_worklist_page_buckets_and_nav(client, session, team, signed_in):
    make_task(session, team.patient, team.coordinator, title="Overdue call", due_at=in_hours(-3))
    make_task(session, team.patient, team.coordinator, title="Later visit", due_at=in_hours(60))
    session.commit()
    signed_in(team.coordinator)
    page = client.get("/worklist")
    assert page.status_code == 200
    assert '<a class="mainnav__link" href="/worklist"' in page.text and 'aria-current="page">Worklist' in page.text
    assert "Overdue call" in page.text and "Later visit" in page.text
    assert re.search(r"Overdue <span[^>]*>1</span>", page.text) and "My tasks (2)" in page.text
    overdue_only = client.get("/worklist?bucket=overdue").text
    assert "Overdue call" in overdue_only and "Later visit" not in overdue_only
    assert "Reassign selected" not in page.text  # coordinators cannot bulk reassign
    assert "Choose a type" in client.get("/worklist?focus=nonsense").text
    assert client.get("/worklist/team").status_code == 403


def test_queue_claim_from_the_worklist(client, session, team, signed_in):
    task = make_task(session, team.patient, None, title="Queue work", queue_role="care_coordinator")
    session.commit()
    csrf = signed_in(team.coordinator)
    queue = client.get("/worklist?view=queue").text
    assert "Queue work" in queue and f'formaction="/tasks/{task.id}/claim"' in queue
    response = _post(client, f"/tasks/{task.id}/claim", csrf)
    assert response.status_code == 303
    session.refresh(task)
    assert task.owner_id == team.coordinator.id


def test_task_page_time_comments_and_completion(client, session, team, signed_in):
    task = make_task(session, team.patient, team.coordinator, title="Medication review <b>", due_at=in_hours(2))
    session.commit()
    csrf = signed_in(team.coordinator)
    page = client.get(f"/tasks/{task.id}")
    assert page.status_code == 200 and "Medication review &lt;b&gt;" in page.text
    assert _post(client, f"/tasks/{task.id}/time", csrf, minutes="15", note="Phone call").status_code == 303
    bad = _post(client, f"/tasks/{task.id}/time", csrf, minutes="0")
    assert bad.status_code == 422 and "between 1 and 600" in bad.text
    future = (dt.date.today() + dt.timedelta(days=3)).isoformat()
    assert "cannot be in the future" in _post(client, f"/tasks/{task.id}/time", csrf, minutes="5",
                                              service_date=future).text
    assert _post(client, f"/tasks/{task.id}/comments", csrf, body="Pharmacy called back").status_code == 303
    held = _post(client, f"/tasks/{task.id}/status", csrf, status="on_hold", reason="")
    assert held.status_code == 422 and "A reason is required" in held.text
    done = _post(client, f"/tasks/{task.id}/status", csrf, status="completed", outcome="Reviewed with patient")
    assert done.status_code == 303
    session.refresh(task)
    assert task.status == TaskStatus.COMPLETED and task.time_spent_minutes == 15
    assert session.scalars(select(TaskTimeEntry.minutes).where(TaskTimeEntry.task_id == task.id)).all() == [15]
    page = client.get(f"/tasks/{task.id}").text
    assert "15 minutes" in page and "Pharmacy called back" in page and "Reviewed with patient" in page
    assert "Complete task" not in page  # closed: no status actions
    assert "Medication review" not in client.get("/worklist").text


def test_forms_need_the_csrf_token(client, session, team, signed_in):
    task = make_task(session, team.patient, team.coordinator)
    session.commit()
    signed_in(team.coordinator)
    response = _post(client, f"/tasks/{task.id}/time", "wrong", minutes="15")
    assert response.status_code == 403


def test_supervisor_team_view_away_and_bulk_reassign(client, session, team, signed_in):
    batch = [make_task(session, team.patient, team.coordinator, title=f"Batch {n}") for n in range(2)]
    session.commit()
    csrf = signed_in(team.supervisor)
    page = client.get("/worklist/team")
    assert page.status_code == 200 and team.coordinator.display_name in page.text
    theirs = client.get(f"/worklist?owner={team.coordinator.id}").text
    assert f"Worklist of {team.coordinator.display_name}" in theirs and "Reassign selected" in theirs
    response = _post(client, "/worklist/reassign", csrf, owner_id=str(team.nurse.id),
                     back=f"/worklist?owner={team.coordinator.id}", task_ids=[str(t.id) for t in batch])
    assert response.status_code == 303 and response.headers["location"].endswith("&reassigned=2")
    assert "2 tasks reassigned" in client.get(response.headers["location"]).text
    for t in batch:
        session.refresh(t)
    assert {t.owner_id for t in batch} == {team.nurse.id}
    away = _post(client, f"/worklist/team/{team.nurse.id}/away", csrf, away="true", backup_id=str(team.backup.id))
    assert away.status_code == 303
    for t in batch:
        session.refresh(t)
    assert {t.owner_id for t in batch} == {team.backup.id}
    assert "Mark back" in client.get("/worklist/team").text


def test_patient_tasks_page_creates_a_task(client, session, team, signed_in):
    csrf = signed_in(team.coordinator)
    page = client.get(f"/patients/{team.patient.id}/tasks")
    assert page.status_code == 200 and "New task" in page.text
    missing = _post(client, f"/patients/{team.patient.id}/tasks", csrf, title="", assign=f"staff:{team.coordinator.id}")
    assert missing.status_code == 422 and "Enter what needs to be done" in missing.text
    created = _post(client, f"/patients/{team.patient.id}/tasks", csrf, title="Send the education leaflet",
                    priority="urgent", due_date="2030-05-01", due_time="09:30", assign=f"staff:{team.coordinator.id}")
    assert created.status_code == 303
    task = session.scalars(select(Task).where(Task.title == "Send the education leaflet")).one()
    assert task.owner_id == team.coordinator.id and task.priority.value == "urgent"
    assert task.due_at == dt.datetime(2030, 5, 1, 13, 30, tzinfo=dt.UTC)  # 09:30 in New York
    queued = _post(client, f"/patients/{team.patient.id}/tasks", csrf, title="Pharmacist check",
                   assign="queue:pharmacist")
    assert queued.status_code == 303
    assert "Send the education leaflet" in client.get(f"/patients/{team.patient.id}/tasks").text
    chart = client.get(f"/patients/{team.patient.id}").text
    assert f'href="/patients/{team.patient.id}/tasks"' in chart


def test_pages_respect_care_teams_and_organisations(client, session, team, signed_in):
    task = make_task(session, team.patient, team.coordinator)
    foreign = make_task(session, team.stranger_patient, team.stranger)
    session.commit()
    signed_in(team.outsider)
    assert client.get(f"/tasks/{task.id}").status_code == 403
    assert client.get(f"/tasks/{foreign.id}").status_code == 404
    assert client.get(f"/patients/{team.stranger_patient.id}/tasks").status_code == 404
    client.cookies.clear()
    assert client.get("/worklist", follow_redirects=False).status_code == 303
