"""Helpers for protocol tests: an organisation with a coordinator, a nurse, a pharmacist and a patient."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.auth.actor import system_actor
from careloop.care_teams import service as care_teams
from careloop.care_teams.models import CareTeamRole
from careloop.events import service as events
from careloop.jobs import worker
from careloop.organizations.models import Organization
from careloop.patients.models import Patient
from careloop.protocols.models import ProtocolRun
from careloop.staff.models import Staff, StaffRole
from careloop.tasks.models import Task
from factories import make_org, make_patient, make_staff


@dataclass
class World:
    org: Organization
    coordinator: Staff
    nurse: Staff
    pharmacist: Staff
    patient: Patient

    def local(self, y: int, m: int, d: int, hh: int = 10) -> dt.datetime:
        return dt.datetime(y, m, d, hh, tzinfo=ZoneInfo(self.org.timezone)).astimezone(dt.UTC)


def build_world(session: Session, *, timezone: str = "America/New_York", risk_tier: str | None = None,
                pharmacist_on_team: bool = True) -> World:
    org = make_org(session, timezone=timezone)
    coordinator, nurse = make_staff(session, org), make_staff(session, org, StaffRole.RN_CARE_MANAGER)
    pharmacist = make_staff(session, org, StaffRole.PHARMACIST)
    patient = make_patient(session, org, coordinator)
    patient.risk_tier = risk_tier
    if pharmacist_on_team:
        care_teams.assign(session, system_actor(org.id), patient, CareTeamRole.PHARMACIST, pharmacist.id)
    session.commit()
    return World(org, coordinator, nurse, pharmacist, patient)



def publish(session: Session, world: World, event_type: str, *, at: dt.datetime | None = None, **payload):
    event = events.publish(session, event_type, organization_id=world.org.id, patient_id=world.patient.id,
                           payload=payload, occurred_at=at)
    session.commit()
    return event


def dispatch(session: Session, session_factory) -> None:
    worker.run_once(session_factory)
    session.expire_all()


def runs(session: Session, patient: Patient, key: str | None = None) -> list[ProtocolRun]:
    stmt = select(ProtocolRun).where(ProtocolRun.patient_id == patient.id).order_by(ProtocolRun.started_at)
    if key:
        stmt = stmt.where(ProtocolRun.protocol_key == key)
    return list(session.scalars(stmt))


def step_tasks(session: Session, run: ProtocolRun) -> dict[str, Task]:
    return {t.step_key: t for t in session.scalars(select(Task).where(Task.protocol_run_id == run.id))}


def browse_as(client, session: Session, staff: Staff) -> str:
    """Sign the test client in as staff; returns the session's CSRF token."""
    from careloop.auth import service as auth_service

    raw, web = auth_service.start_session(session, staff, None, mfa_pending=False)
    session.commit()
    client.cookies.set("careloop_session", raw)
    return web.csrf_token
