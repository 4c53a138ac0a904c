"""Referrals through the API: directory import and search, the whole life cycle, its history and audit."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from careloop import clock
from careloop.audit.models import AuditEvent
from careloop.clinical.models import Condition
from careloop.events.models import DomainEvent
from careloop.referrals.models import Provider
from careloop.staff.models import StaffRole
from factories import auth, make_org, make_patient, make_staff, make_token

DIRECTORY = "\n".join([
    "external_id,kind,name,specialty_code,specialty_display,city,state,phone,direct_address,"
    "accepting_new_patients,in_network",
    "1234567890,practitioner,Dr. Ada Heart,207RC0000X,Cardiovascular Disease,Springfield,IL,217-555-0101,"
    "ada.heart@direct.example.org,yes,yes",
    "1234567891,practitioner,Dr. Ben Beat,207RC0000X,Cardiovascular Disease,Springfield,IL,217-555-0102,,no,yes",
    "ORG-77,organization,Lakeside Kidney Center,207RX0202X,Nephrology,Decatur,IL,217-555-0199,,yes,no",
]) + "\n"


@pytest.fixture
def clinic(session):
    org = make_org(session, timezone="America/Chicago")
    coordinator, pcp = make_staff(session, org), make_staff(session, org, StaffRole.PRIMARY_CARE_PHYSICIAN)
    supervisor = make_staff(session, org, StaffRole.SUPERVISOR)
    patient = make_patient(session, org, coordinator, pcp=pcp)
    condition = Condition(organization_id=org.id, patient_id=patient.id, code="I50.9", display="Heart failure")
    session.add(condition)
    session.commit()

    class Clinic:
        pass
    c = Clinic()
    c.org, c.patient, c.condition = org, patient, condition
    c.pcp, c.coordinator, c.supervisor = auth(make_token(session, pcp)), auth(make_token(session, coordinator)), \
        auth(make_token(session, supervisor))
    session.commit()
    return c


def _import(client, headers, text=DIRECTORY):
    return client.post("/api/v1/directory/import", content=text.encode(), headers={**headers,
                                                                                 "Content-Type": "text/csv"})


def test_directory_import_is_all_or_nothing_and_reimport_updates(client, session, clinic):
    assert _import(client, clinic.coordinator).status_code == 403  # directory admins only
    first = _import(client, clinic.supervisor)
    assert first.status_code == 200 and first.json() == {"created": 3, "updated": 0}
    again = _import(client, clinic.supervisor, DIRECTORY.replace("Dr. Ben Beat", "Dr. Benjamin Beat"))
    assert again.json() == {"created": 0, "updated": 3}
    bad = DIRECTORY + "999,practitioner,Dr. No Code,cardio,Cardiology,,,,,yes,yes\n"
    refused = _import(client, clinic.supervisor, bad)
    assert refused.status_code == 422 and "Row 5" in refused.json()["detail"]
    assert session.scalar(select(Provider.name).where(Provider.external_id == "1234567891")) == "Dr. Benjamin Beat"
    assert len(session.scalars(select(Provider).where(Provider.organization_id == clinic.org.id)).all()) == 3
    wrong_type = client.post("/api/v1/directory/import", content=b"{}", headers={**clinic.supervisor,
                                                                                "Content-Type": "application/json"})
    assert wrong_type.status_code == 415
    cardiology = client.get("/api/v1/directory", params={"specialty_code": "207RC0000X"}, headers=clinic.pcp).json()
    assert [p["name"] for p in cardiology] == ["Dr. Ada Heart", "Dr. Benjamin Beat"]  # accepting first
    accepting = client.get("/api/v1/directory", params={"accepting": "true"}, headers=clinic.pcp).json()
    assert "Dr. Benjamin Beat" not in [p["name"] for p in accepting]


def _providers(client, clinic):
    _import(client, clinic.supervisor)
    found = client.get("/api/v1/directory", headers=clinic.pcp).json()
    return {p["name"]: p["id"] for p in found}


def _move(client, headers, referral_id, status, **extra):
    return client.post(f"/api/v1/referrals/{referral_id}/status", json={"status": status, **extra}, headers=headers)


def test_a_referral_goes_round_the_loop_with_history_audit_and_events(client, session, clinic):
    providers = _providers(client, clinic)
    created = client.post(f"/api/v1/patients/{clinic.patient.id}/referrals", headers=clinic.pcp, json={
        "provider_id": providers["Dr. Ben Beat"], "urgency": "urgent", "reason": "Worsening dyspnoea",
        "condition_ids": [str(clinic.condition.id)], "clinical_question": "Is an echo indicated?"})
    assert created.status_code == 201, created.text
    referral = created.json()
    rid = referral["id"]
    assert created.headers["location"] == f"/api/v1/referrals/{rid}" and created.headers["etag"] == 'W/"1"'
    assert (referral["status"], referral["specialty_code"]) == ("draft", "207RC0000X")

    sent = _move(client, clinic.coordinator, rid, "sent").json()
    today = clock.today("America/Chicago")
    assert sent["target_appointment_date"] == (today + dt.timedelta(days=3)).isoformat()
    assert _move(client, clinic.coordinator, rid, "declined").status_code == 422  # a reason is needed
    _move(client, clinic.coordinator, rid, "declined", note="Not accepting new patients")
    same = _move(client, clinic.coordinator, rid, "sent", provider_id=providers["Dr. Ben Beat"])
    assert same.status_code == 422 and same.json()["errors"][0]["field"] == "provider_id"  # a new destination
    resent = _move(client, clinic.coordinator, rid, "sent", provider_id=providers["Dr. Ada Heart"]).json()
    assert resent["provider_id"] == providers["Dr. Ada Heart"]
    assert _move(client, clinic.coordinator, rid, "scheduled").status_code == 422  # when?
    when = (clock.now() + dt.timedelta(days=2)).isoformat()
    for status, extra in (("accepted", {}), ("scheduled", {"appointment_at": when}), ("seen", {}),
                          ("report_received", {})):
        assert _move(client, clinic.coordinator, rid, status, **extra).status_code == 200, status
    refused = _move(client, clinic.coordinator, rid, "reviewed")
    assert refused.status_code == 403 and refused.json()["code"] == "referrer_only"
    assert _move(client, clinic.pcp, rid, "reviewed").status_code == 200
    stale = client.post(f"/api/v1/referrals/{rid}/status", json={"status": "closed"},
                        headers={**clinic.pcp, "If-Match": 'W/"1"'})
    assert stale.status_code == 412
    closed = _move(client, clinic.pcp, rid, "closed").json()
    assert closed["status"] == "closed" and closed["closed_at"]
    assert [h["to_status"] for h in closed["history"]] == [
        "draft", "sent", "declined", "sent", "accepted", "scheduled", "seen", "report_received", "reviewed", "closed"]
    assert closed["history"][2]["note"] == "Not accepting new patients"
    assert _move(client, clinic.pcp, rid, "cancelled", note="Too late").status_code == 409

    audited = session.scalars(select(AuditEvent).where(AuditEvent.record_type == "Referral",
                                                        AuditEvent.record_id == rid)).all()
    assert len(audited) == 10 and {a.patient_id for a in audited} == {clinic.patient.id}
    published = session.scalars(select(DomainEvent.type).where(DomainEvent.type.like("referral.%"))).all()
    assert "referral.sent" in published and "referral.closed" in published
    listed = client.get(f"/api/v1/patients/{clinic.patient.id}/referrals", headers=clinic.coordinator).json()
    assert [r["id"] for r in listed] == [rid]


def test_bad_referrals_are_refused_and_other_organisations_see_nothing(client, session, clinic):
    _providers(client, clinic)
    url = f"/api/v1/patients/{clinic.patient.id}/referrals"
    no_destination = client.post(url, json={"reason": "Check"}, headers=clinic.pcp)
    assert no_destination.status_code == 422 and no_destination.json()["errors"][0]["field"] == "specialty_code"
    other = make_org(session)
    stranger = make_patient(session, other, make_staff(session, other))
    alien = Condition(organization_id=other.id, patient_id=stranger.id, code="E11.9", display="Diabetes")
    session.add(alien)
    session.commit()
    wrong_condition = client.post(url, headers=clinic.pcp, json={
        "specialty_code": "207RX0202X", "specialty_display": "Nephrology", "reason": "CKD 4",
        "condition_ids": [str(alien.id)]})
    assert wrong_condition.status_code == 422 and wrong_condition.json()["errors"][0]["field"] == "condition_ids"
    ok = client.post(url, headers=clinic.pcp, json={"specialty_code": "207RX0202X", "specialty_display": "Nephrology",
                                                    "reason": "CKD 4"})
    assert ok.status_code == 201
    outsider = auth(make_token(session, make_staff(session, other, StaffRole.SUPERVISOR)))
    session.commit()
    assert client.get(f"/api/v1/referrals/{ok.json()['id']}", headers=outsider).status_code == 404
    assert client.post(f"/api/v1/patients/{stranger.id}/referrals", headers=clinic.pcp, json={
        "specialty_code": "207RX0202X", "specialty_display": "Nephrology", "reason": "x"}).status_code == 404
    assert client.get("/api/v1/directory", headers=outsider).json() == []  # each organisation has its own
