"""Referral pages: the tracker (overdue first), a patient's referrals with the form, one referral and its moves."""

from __future__ import annotations

import datetime as dt

import pytest

from careloop import clock
from careloop.referrals.models import Provider, ProviderKind, Referral, ReferralStatus
from careloop.staff.models import StaffRole
from factories import make_org, make_patient, make_staff
from web_helpers import post_form, sign_in


@pytest.fixture
def office(session):
    org = make_org(session, timezone="America/New_York")
    coordinator, pcp = make_staff(session, org), make_staff(session, org, StaffRole.PRIMARY_CARE_PHYSICIAN)
    patient = make_patient(session, org, coordinator, pcp=pcp, family_name="Quill", given_name="Rosa")
    other = make_patient(session, org, make_staff(session, org), family_name="Elsewhere", given_name="Eli")
    providers = [Provider(organization_id=org.id, external_id=f"P{n}", kind=ProviderKind.PRACTITIONER,
                          name=name, specialty_code="207RC0000X", specialty_display="Cardiology")
                 for n, name in enumerate(("Dr. Ada Heart", "Dr. Ben Beat"))]
    session.add_all(providers)
    session.commit()
    return coordinator, pcp, patient, other, providers


def test_start_send_and_track_a_referral_from_the_pages(client, session, office):
    coordinator, pcp, patient, _other, providers = office
    sign_in(client, pcp.email)
    page = client.get(f"/patients/{patient.id}/referrals")
    assert page.status_code == 200 and "Dr. Ada Heart" in page.text and "No referrals yet" in page.text
    made = post_form(client, f"/patients/{patient.id}/referrals", {
        "provider_id": str(providers[0].id), "urgency": "urgent", "reason": "New murmur",
        "clinical_question": "Echo?"}, page=f"/patients/{patient.id}/referrals")
    assert made.status_code == 303
    detail_url = made.headers["location"]
    detail = client.get(detail_url).text
    assert "Cardiology referral" in detail and "New murmur" in detail and 'value="sent"' in detail
    sent = post_form(client, detail_url + "/status", {"status": "sent"}, page=detail_url)
    assert sent.status_code == 303
    referral = session.get(Referral, __import__("uuid").UUID(detail_url.rsplit("/", 1)[1]))
    session.refresh(referral)
    assert referral.status == ReferralStatus.SENT and referral.target_appointment_date is not None
    bad = post_form(client, detail_url + "/status", {"status": "scheduled"}, page=detail_url)
    assert bad.status_code == 422 and "appointment" in bad.text.lower()
    when = (clock.now() + dt.timedelta(days=3)).astimezone(dt.timezone(dt.timedelta(hours=-5)))
    scheduled = post_form(client, detail_url + "/status", {
        "status": "scheduled", "appointment_at": when.strftime("%Y-%m-%dT%H:%M")}, page=detail_url)
    assert scheduled.status_code == 303
    session.refresh(referral)
    assert referral.status == ReferralStatus.SCHEDULED and referral.appointment_at is not None
    assert "Scheduled" in client.get(detail_url).text

    sign_in(client, coordinator.email)
    tracker = client.get("/referrals").text
    assert "Quill, Rosa" in tracker and "Elsewhere" not in tracker
    assert 'href="/referrals"' in client.get("/patients").text  # in the main navigation


def test_the_tracker_puts_overdue_referrals_first(client, session, office):
    coordinator, pcp, patient, _, providers = office
    from careloop.auth.service import actor_for_staff
    from careloop.referrals import service
    from careloop.referrals.schemas import ReferralCreate, ReferralMove

    doctor = actor_for_staff(pcp)
    fresh = service.create_referral(session, doctor, patient.id, ReferralCreate(
        provider_id=providers[1].id, reason="Follow-up of arrhythmia"))
    with clock.frozen_at(clock.now() - dt.timedelta(days=10)):
        old = service.create_referral(session, doctor, patient.id, ReferralCreate(
            provider_id=providers[0].id, reason="Chest pain", urgency="urgent"))
        service.move(session, doctor, old.id, ReferralMove(status="sent"))
    session.commit()
    sign_in(client, coordinator.email)
    html = client.get("/referrals").text
    assert html.index(f"/referrals/{old.id}") < html.index(f"/referrals/{fresh.id}")
    assert "Overdue" in html and "row--late" in html
    only_sent = client.get("/referrals?status=sent").text
    assert f"/referrals/{old.id}" in only_sent and f"/referrals/{fresh.id}" not in only_sent
