"""Referral documents (stored and served as what the bytes are, audited) and per-organisation target times."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from sqlalchemy import func, select

from careloop import clock
from careloop.audit.models import AuditEvent
from careloop.referrals.models import Provider, ProviderKind, ReferralDocument
from careloop.staff.models import StaffRole
from factories import auth, make_org, make_patient, make_staff, make_token
from web_helpers import post_form, sign_in

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40
HTML = b"<html><body><script>alert(document.cookie)</script></body></html>"
CCDA = b'<?xml version="1.0"?>\n<ClinicalDocument xmlns="urn:hl7-org:v3"></ClinicalDocument>\n'


@pytest.fixture
def clinic(session):
    org = make_org(session, timezone="America/Chicago")
    coordinator, pcp = make_staff(session, org), make_staff(session, org, StaffRole.PRIMARY_CARE_PHYSICIAN)
    supervisor = make_staff(session, org, StaffRole.SUPERVISOR)
    patient = make_patient(session, org, coordinator, pcp=pcp)
    provider = Provider(organization_id=org.id, external_id="1234567890", kind=ProviderKind.PRACTITIONER,
                        name="Dr. Ada Heart", specialty_code="207RC0000X", specialty_display="Cardiovascular Disease")
    session.add(provider)
    session.commit()

    class Clinic:
        pass
    c = Clinic()
    c.org, c.patient, c.provider, c.coordinator_staff = org, patient, provider, coordinator
    c.pcp, c.coordinator, c.supervisor = (auth(make_token(session, s)) for s in (pcp, coordinator, supervisor))
    session.commit()
    return c


def _referral(client, c, urgency="routine"):
    made = client.post(f"/api/v1/patients/{c.patient.id}/referrals", headers=c.pcp, json={
        "provider_id": str(c.provider.id), "reason": "Chest pain on exertion", "urgency": urgency})
    assert made.status_code == 201, made.text
    return made.json()["id"]


def _upload(client, c, rid, body, content_type, name="letter.pdf", kind="referral_letter"):
    return client.post(f"/api/v1/referrals/{rid}/documents?kind={kind}", content=body, headers={
        **c.coordinator, "Content-Type": content_type, "Content-Disposition": f"attachment; filename*=UTF-8''{name}"})


def _count(session):
    return session.scalar(select(func.count()).select_from(ReferralDocument))


def test_a_document_round_trips_as_an_audited_attachment(client, session, clinic):
    rid = _referral(client, clinic)
    made = _upload(client, clinic, rid, PDF, "application/pdf", name="..%2F..%2Fetc%2Fcardio%20letter.pdf")
    assert made.status_code == 201, made.text
    doc = made.json()
    assert (doc["filename"], doc["content_type"], doc["size"]) == ("cardio letter.pdf", "application/pdf", len(PDF))
    assert doc["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert made.headers["location"].endswith(doc["id"])
    [listed] = client.get(f"/api/v1/referrals/{rid}/documents", headers=clinic.pcp).json()
    assert listed["id"] == doc["id"]
    got = client.get(f"/api/v1/referrals/{rid}/documents/{doc['id']}", headers=clinic.pcp)
    assert got.status_code == 200 and got.content == PDF
    assert got.headers["content-type"] == "application/pdf"
    assert got.headers["content-disposition"].startswith('attachment; filename="cardio letter.pdf"')
    assert got.headers["x-content-type-options"] == "nosniff" and got.headers["cache-control"] == "no-store"
    actions = session.scalars(select(AuditEvent.action).where(AuditEvent.record_type == "ReferralDocument")).all()
    assert sorted(actions) == ["create", "read"]
    xml = _upload(client, clinic, rid, CCDA, "text/xml", name="ccd.xml", kind="clinical_summary")
    assert xml.status_code == 201 and xml.json()["content_type"] == "application/xml"


@pytest.mark.parametrize(("body", "declared", "status"), [
    (PNG, "application/pdf", 415),  # the bytes are a PNG
    (b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 60, "application/pdf", 415),  # a Windows executable
    (HTML, "text/html", 415),  # HTML would be text/plain here, never served as HTML
    (b"", "application/pdf", 422),
    (b"%PDF-" + b"0" * (8 * 1024 * 1024), "application/pdf", 413),
])
def test_bad_documents_are_refused_and_nothing_is_stored(client, session, clinic, body, declared, status):
    rid = _referral(client, clinic)
    refused = _upload(client, clinic, rid, body, declared)
    assert refused.status_code == status, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert _count(session) == 0


def test_plain_text_that_looks_like_html_is_served_as_text(client, clinic):
    rid = _referral(client, clinic)
    doc = _upload(client, clinic, rid, HTML, "text/plain", name="note.txt").json()
    got = client.get(f"/api/v1/referrals/{rid}/documents/{doc['id']}", headers=clinic.pcp)
    assert got.headers["content-type"].startswith("text/plain") and "sandbox" in got.headers["content-security-policy"]


def test_a_consult_report_for_a_seen_referral_marks_the_report_received(client, clinic):
    rid = _referral(client, clinic)
    when = (clock.now() + dt.timedelta(days=1)).isoformat()
    for body in ({"status": "sent"}, {"status": "scheduled", "appointment_at": when}, {"status": "seen"}):
        assert client.post(f"/api/v1/referrals/{rid}/status", headers=clinic.coordinator, json=body).status_code == 200
    assert _upload(client, clinic, rid, PDF, "application/pdf", kind="consult_report").status_code == 201
    referral = client.get(f"/api/v1/referrals/{rid}", headers=clinic.pcp).json()
    assert referral["status"] == "report_received"
    assert referral["history"][-1]["note"] == "consult report attached"


def test_documents_of_another_organisation_are_not_found(client, session, clinic):
    rid = _referral(client, clinic)
    doc = _upload(client, clinic, rid, PDF, "application/pdf").json()
    other = make_org(session)
    stranger = auth(make_token(session, make_staff(session, other, StaffRole.SUPERVISOR)))
    session.commit()
    assert client.get(f"/api/v1/referrals/{rid}/documents/{doc['id']}", headers=stranger).status_code == 404
    assert client.get(f"/api/v1/referrals/{rid}/documents", headers=stranger).status_code == 404


def test_organisation_target_times_apply_to_referrals_sent_afterwards(client, clinic):
    assert client.get("/api/v1/referrals/targets", headers=clinic.coordinator).json() == {
        "routine_days": 30, "urgent_days": 3, "stat_days": 1, "is_default": True}
    new = {"routine_days": 14, "urgent_days": 2, "stat_days": 0}
    assert client.put("/api/v1/referrals/targets", headers=clinic.coordinator, json=new).status_code == 403
    bad = client.put("/api/v1/referrals/targets", headers=clinic.supervisor, json={**new, "stat_days": 5})
    assert bad.status_code == 422 and "no later than urgent" in bad.json()["detail"]
    assert client.put("/api/v1/referrals/targets", headers=clinic.supervisor, json=new).json()["is_default"] is False
    rid = _referral(client, clinic)
    sent = client.post(f"/api/v1/referrals/{rid}/status", headers=clinic.coordinator, json={"status": "sent"}).json()
    today = clock.today("America/Chicago")
    assert sent["target_appointment_date"] == (today + dt.timedelta(days=14)).isoformat()


def test_documents_and_targets_from_the_pages(client, session, clinic):
    rid = _referral(client, clinic)
    sign_in(client, clinic.coordinator_staff.email)
    assert "No documents yet." in client.get(f"/referrals/{rid}").text
    sent = post_form(client, f"/referrals/{rid}/documents", {"kind": "clinical_summary"}, page=f"/referrals/{rid}",
                     files={"file": ("summary.pdf", PDF, "application/pdf")})
    assert sent.status_code == 303, sent.text
    page = client.get(f"/referrals/{rid}")
    doc_id = session.scalar(select(ReferralDocument.id))
    assert f"/referrals/{rid}/documents/{doc_id}" in page.text and "summary.pdf" in page.text
    assert client.get(f"/referrals/{rid}/documents/{doc_id}").content == PDF
    tracker = client.get("/referrals")
    assert "Save targets" not in tracker.text  # coordinators see the targets, supervisors set them
    assert post_form(client, "/referrals/targets", {"routine_days": "20", "urgent_days": "2", "stat_days": "1"},
                     page="/referrals").status_code == 403
