"""Closing the loop: a referral that waits too long in a status gets a task, and the task closes when it moves."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from careloop import clock
from careloop.auth.service import actor_for_staff
from careloop.jobs import worker
from careloop.referrals import service, work
from careloop.referrals.models import Provider, ProviderKind, ReferralStatus
from careloop.referrals.schemas import ReferralCreate, ReferralMove
from careloop.staff.models import StaffRole
from careloop.tasks.models import Task, TaskFocus, TaskPriority, TaskStatus
from factories import make_org, make_patient, make_staff

START = dt.datetime(2026, 11, 2, 15, 0, tzinfo=dt.UTC)


@pytest.fixture
def setting(session):
    org = make_org(session)
    coordinator, pcp = make_staff(session, org), make_staff(session, org, StaffRole.PRIMARY_CARE_PHYSICIAN)
    patient = make_patient(session, org, coordinator, pcp=pcp)
    providers = []
    for n in range(2):
        provider = Provider(organization_id=org.id, external_id=f"P{n}", kind=ProviderKind.PRACTITIONER,
                            name=f"Dr. Heart {n}", specialty_code="207RC0000X", specialty_display="Cardiology")
        session.add(provider)
        providers.append(provider)
    session.commit()
    return coordinator, pcp, patient, providers


def _sweep_at(session, moment):
    with clock.frozen_at(moment):
        return work.sweep_overdue(session)


def _chases(session, referral):
    session.expire_all()
    return session.scalars(select(Task).where(Task.focus_type == TaskFocus.REFERRAL, Task.focus_id == referral.id)
                           .order_by(Task.created_at)).all()


def test_each_late_status_is_chased_once_and_the_chase_closes_when_the_referral_moves(session, setting):
    coordinator, pcp, patient, providers = setting
    doctor = actor_for_staff(pcp)
    with clock.frozen_at(START):
        referral = service.create_referral(session, doctor, patient.id, ReferralCreate(
            provider_id=providers[0].id, reason="Palpitations", urgency="routine"))
        service.move(session, doctor, referral.id, ReferralMove(status="sent"))
        session.commit()
    assert _sweep_at(session, START + dt.timedelta(days=4)) == 0  # five days to accept a routine one
    assert _sweep_at(session, START + dt.timedelta(days=6)) == 1
    assert _sweep_at(session, START + dt.timedelta(days=7)) == 0  # once per wait
    [chase] = _chases(session, referral)
    assert (chase.owner_id, chase.priority, chase.status) == (coordinator.id, TaskPriority.ROUTINE,
                                                              TaskStatus.REQUESTED)
    assert chase.title.startswith("Referral not accepted yet")

    with clock.frozen_at(START + dt.timedelta(days=6, hours=2)):
        service.move(session, doctor, referral.id, ReferralMove(status="declined", note="Not accepting"))
        session.commit()
    first, declined = _chases(session, referral)
    assert first.status == TaskStatus.COMPLETED and first.outcome == "Referral is now declined"
    assert declined.title.startswith("Referral declined") and declined.status == TaskStatus.REQUESTED

    with clock.frozen_at(START + dt.timedelta(days=7)):
        service.move(session, doctor, referral.id, ReferralMove(status="sent", provider_id=providers[1].id))
        service.move(session, doctor, referral.id, ReferralMove(
            status="scheduled", appointment_at=START + dt.timedelta(days=20)))
        session.commit()
    assert all(t.status == TaskStatus.COMPLETED for t in _chases(session, referral))
    assert _sweep_at(session, START + dt.timedelta(days=20, hours=12)) == 0  # the visit is today
    assert _sweep_at(session, START + dt.timedelta(days=21, hours=1)) == 1  # was the patient seen?

    with clock.frozen_at(START + dt.timedelta(days=22)):
        service.move(session, doctor, referral.id, ReferralMove(status="seen"))
        service.move(session, doctor, referral.id, ReferralMove(status="report_received"))
        session.commit()
    assert _sweep_at(session, START + dt.timedelta(days=26)) == 1
    review = _chases(session, referral)[-1]
    assert review.owner_id == pcp.id and review.title.startswith("Review the specialist's report")


def test_urgent_referrals_are_chased_sooner_and_the_worker_runs_the_sweep(session, session_factory, setting):
    _, pcp, patient, providers = setting
    doctor = actor_for_staff(pcp)
    referral = service.create_referral(session, doctor, patient.id, ReferralCreate(
        provider_id=providers[0].id, reason="Syncope", urgency="urgent"))
    service.move(session, doctor, referral.id, ReferralMove(status="sent"))
    session.commit()
    clock.advance(dt.timedelta(hours=25))
    counts = worker.run_once(session_factory)
    assert counts["referral_chase"] == 1
    [chase] = _chases(session, referral)
    assert chase.priority == TaskPriority.URGENT
    assert session.get(type(referral), referral.id).status == ReferralStatus.SENT
