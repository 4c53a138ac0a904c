"""Referral measures: time to appointment and to loop closure (median, 90th percentile) by specialty and
urgency, counted from the first sending, and open referrals by age."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update

from careloop import clock
from careloop.auth.service import actor_for_staff
from careloop.referrals import queries, service
from careloop.referrals.models import Provider, ProviderKind, Referral
from careloop.referrals.schemas import ReferralCreate, ReferralMove
from careloop.staff.models import StaffRole
from factories import auth, make_org, make_patient, make_staff, make_token

T0 = dt.datetime(2026, 9, 1, 14, 0, tzinfo=dt.UTC)


def _referral(session, doctor, patient, provider, *, urgency="routine", appointment_days=None, closed_days=None,
              resent=False):
    with clock.frozen_at(T0):
        r = service.create_referral(session, doctor, patient.id, ReferralCreate(provider_id=provider.id,
                                                                                reason="Review", urgency=urgency))
        service.move(session, doctor, r.id, ReferralMove(status="sent"))
    if resent:  # declined after a day and sent elsewhere: still counted from the first sending
        with clock.frozen_at(T0 + dt.timedelta(days=1)):
            service.move(session, doctor, r.id, ReferralMove(status="declined", note="Full"))
            service.move(session, doctor, r.id, ReferralMove(status="sent", provider_id=provider.alt))
    if appointment_days is not None:
        with clock.frozen_at(T0 + dt.timedelta(days=2)):
            service.move(session, doctor, r.id, ReferralMove(
                status="scheduled", appointment_at=T0 + dt.timedelta(days=appointment_days)))
    if closed_days is not None:
        with clock.frozen_at(T0 + dt.timedelta(days=closed_days)):
            for status in ("seen", "report_received", "reviewed", "closed"):
                service.move(session, doctor, r.id, ReferralMove(status=status))
    return r


def test_medians_and_90th_percentiles_by_specialty_and_urgency(session, client):
    org = make_org(session)
    pcp = make_staff(session, org, StaffRole.PRIMARY_CARE_PHYSICIAN)
    patient = make_patient(session, org, make_staff(session, org), pcp=pcp)
    specialties = (("207RC0000X", "Cardiology"), ("207RN0300X", "Nephrology"), ("207RC0000X", "Cardiology"))
    cardio, renal, spare = (Provider(organization_id=org.id, external_id=f"X{n}", kind=ProviderKind.PRACTITIONER,
                                     name=f"Dr. {n}", specialty_code=code, specialty_display=name)
                            for n, (code, name) in enumerate(specialties))
    session.add_all([cardio, renal, spare])
    session.flush()
    cardio.alt = spare.id
    doctor = actor_for_staff(pcp)
    for days in (10, 20, 30, 40):  # routine cardiology: appointments after 10..40 days, closed 5 days later
        _referral(session, doctor, patient, cardio, appointment_days=days, closed_days=days + 5, resent=days == 40)
    _referral(session, doctor, patient, cardio, urgency="urgent", appointment_days=2)
    _referral(session, doctor, patient, renal)  # sent, still open
    session.commit()

    with clock.frozen_at(T0 + dt.timedelta(days=45)):
        m = queries.measures(session, doctor)
    groups = {(g.specialty_display, g.urgency): g for g in m.groups}
    routine = groups[("Cardiology", "routine")]
    assert routine.referrals == 4
    assert routine.to_appointment == (4, 25.0, 40.0)  # median of 10, 20, 30, 40; 90th by nearest rank
    assert routine.to_closure == (4, 30.0, 45.0)
    assert groups[("Cardiology", "urgent")].to_appointment == (1, 2.0, 2.0)
    assert groups[("Nephrology", "routine")].to_closure == (0, None, None)
    assert m.open_by_age == {"0-7 days": 0, "8-30 days": 0, "31-60 days": 2, "over 60 days": 0}

    token = make_token(session, pcp)
    session.commit()
    with clock.frozen_at(T0 + dt.timedelta(days=45)):
        body = client.get("/api/v1/referrals/measures", headers=auth(token)).json()
    [row] = [g for g in body["groups"] if g["urgency"] == "routine" and g["specialty_display"] == "Cardiology"]
    assert row["to_appointment"] == {"count": 4, "median_days": 25.0, "p90_days": 40.0}
    session.execute(update(Referral).values(created_at=T0 + dt.timedelta(days=100)))
    session.commit()
    later = client.get("/api/v1/referrals/measures", params={"since": "2026-12-01"}, headers=auth(token)).json()
    assert later["groups"] and client.get("/api/v1/referrals/measures", params={"since": "2027-01-01"},
                                          headers=auth(token)).json()["groups"] == []
