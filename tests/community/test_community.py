"""Community referrals: the directory (CSV import, search by need), consent, closed-loop outcomes, follow-up
tasks for unanswered referrals, pages and the CLI."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from careloop import clock
from careloop.audit.models import AuditEvent
from careloop.community import service
from careloop.community.models import CommunityReferral, CommunityReferralStatus, CommunityService
from careloop.staff.models import StaffRole
from careloop.tasks.models import Task, TaskFocus, TaskStatus
from cli_support import run, using_database
from factories import auth, make_org, make_patient, make_staff, make_token
from web_helpers import post_form, sign_in

SERVICES = ("external_id,name,needs,area,eligibility,phone\n"
            "FB1,Eastside Food Bank,food,Sangamon County,Any resident,217-555-0300\n"
            "HS2,Home Safe Housing,housing;utilities,Springfield,Income under 200% FPL,217-555-0301\n")


@pytest.fixture
def team(session):
    org = make_org(session)
    coordinator, supervisor = make_staff(session, org), make_staff(session, org, StaffRole.SUPERVISOR)
    patient = make_patient(session, org, coordinator, family_name="Vance", given_name="Lia")
    session.commit()
    tokens = auth(make_token(session, coordinator)), auth(make_token(session, supervisor))
    session.commit()
    return org, coordinator, patient, *tokens


def _import(client, headers, text=SERVICES):
    return client.post("/api/v1/community/services/import", content=text.encode(),
                       headers={**headers, "Content-Type": "text/csv"})


def test_directory_consent_outcomes_audit_and_follow_up(client, session, team):
    _org, coordinator, patient, mine, boss = team
    assert _import(client, mine).status_code == 403
    assert _import(client, boss).json() == {"created": 2, "updated": 0}
    bad = _import(client, boss, SERVICES + "X3,Nowhere,groceries,,,\n")
    assert bad.status_code == 422 and "Row 4: needs" in bad.json()["detail"]
    food = client.get("/api/v1/community/services", params={"need": "food"}, headers=mine).json()
    assert [s["name"] for s in food] == ["Eastside Food Bank"]
    url = f"/api/v1/patients/{patient.id}/community-referrals"
    body = {"service_id": food[0]["id"], "need": "food", "consent": False, "consent_method": "verbal"}
    refused = client.post(url, json=body, headers=mine)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "consent"
    wrong_need = client.post(url, json={**body, "consent": True, "need": "housing"}, headers=mine)
    assert wrong_need.status_code == 422 and wrong_need.json()["errors"][0]["field"] == "need"
    with clock.frozen_at(dt.datetime(2026, 11, 2, 15, tzinfo=dt.UTC)):
        made = client.post(url, json={**body, "consent": True}, headers=mine)
    assert made.status_code == 201 and made.json()["status"] == "sent"
    rid = made.json()["id"]

    with clock.frozen_at(dt.datetime(2026, 11, 8, 15, tzinfo=dt.UTC)):
        assert service.follow_up_sweep(session) == 0  # a week to answer
    with clock.frozen_at(dt.datetime(2026, 11, 10, 15, tzinfo=dt.UTC)):
        assert service.follow_up_sweep(session) == 1
        assert service.follow_up_sweep(session) == 0
    session.commit()
    [task] = session.scalars(select(Task).where(Task.focus_type == TaskFocus.REFERRAL)).all()
    assert task.owner_id == coordinator.id and task.title.startswith("Community referral unanswered")

    moves = f"/api/v1/community-referrals/{rid}/status"
    assert client.post(moves, json={"status": "accepted"}, headers=mine).status_code == 200
    session.expire_all()
    assert session.get(Task, task.id).status == TaskStatus.COMPLETED
    done = client.post(moves, json={"status": "service_provided", "note": "Weekly boxes started"}, headers=mine)
    assert done.json()["status"] == "service_provided" and done.json()["closed_at"]
    assert client.post(moves, json={"status": "not_eligible"}, headers=mine).status_code == 409
    audited = session.scalars(select(AuditEvent.action).where(AuditEvent.record_type == "CommunityReferral")).all()
    assert sorted(audited) == ["create", "update", "update"]

    other = make_org(session)
    outsider = auth(make_token(session, make_staff(session, other, StaffRole.SUPERVISOR)))
    session.commit()
    assert client.post(moves, json={"status": "accepted"}, headers=outsider).status_code == 404
    assert client.get("/api/v1/community/services", headers=outsider).json() == []


def test_pages_refer_with_consent_and_record_the_outcome(client, session, team):
    _org, coordinator, patient, _, boss = team
    _import(client, boss)
    sign_in(client, coordinator.email)
    assert "Eastside Food Bank" in client.get("/community?need=food").text
    assert "Home Safe Housing" not in client.get("/community?need=food").text
    page_url = f"/patients/{patient.id}/community-referrals"
    food = session.scalars(select(CommunityService).where(CommunityService.external_id == "FB1")).one()
    no_consent = post_form(client, page_url, {"service_id": str(food.id), "need": "food"}, page=page_url)
    assert no_consent.status_code == 422 and "consent" in no_consent.text
    sent = post_form(client, page_url, {"service_id": str(food.id), "need": "food", "consent": "yes",
                                        "consent_method": "written"}, page=page_url)
    assert sent.status_code == 303
    referral = session.scalars(select(CommunityReferral)).one()
    assert "Eastside Food Bank" in client.get(page_url).text
    outcome = post_form(client, f"/community-referrals/{referral.id}/status",
                        {"status": "unable_to_contact", "note": "Three calls, no answer"}, page=page_url)
    assert outcome.status_code == 303
    session.refresh(referral)
    assert referral.status == CommunityReferralStatus.UNABLE_TO_CONTACT and referral.closed_at is not None


def test_cli_imports_the_community_directory(tmp_path, monkeypatch):
    with using_database(monkeypatch, f"sqlite:///{tmp_path / 'cli.db'}"):
        assert run("db", "upgrade")[0] == 0
        assert run("orgs", "create", "Lakeside Practice")[0] == 0
        path = tmp_path / "community.csv"
        path.write_text(SERVICES, encoding="utf-8")
        code, output = run("community", "import", str(path), "--org", "Lakeside Practice")
        assert code == 0 and "services: 2 created, 0 updated" in output
        path.write_text(SERVICES.replace("food,Sangamon", "meals,Sangamon"), encoding="utf-8")
        code, output = run("community", "import", str(path), "--org", "Lakeside Practice")
        assert code == 2 and "Row 2: needs" in output
