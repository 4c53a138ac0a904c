"""Community services and referrals: import and search the directory, refer with consent, record outcomes,
follow up on unanswered referrals."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from careloop import clock, csv_import
from careloop.audit import service as audit
from careloop.auth import access
from careloop.auth.actor import Actor
from careloop.auth.permissions import Permission
from careloop.care_teams import service as care_teams
from careloop.community import rules
from careloop.community.models import CommunityReferral, CommunityService, Need
from careloop.community.models import CommunityReferralStatus as S
from careloop.community.schemas import CommunityReferralCreate, CommunityReferralMove, ServiceIn
from careloop.errors import Forbidden, InvalidInput, InvalidTransition
from careloop.events import service as events
from careloop.referrals.schemas import ImportResult
from careloop.tasks import service as tasks
from careloop.tasks.models import Task, TaskFocus


def import_services(session: Session, actor: Actor, text: str) -> ImportResult:
    """Create or update community services from CSV (columns as ServiceIn); all rows or none."""
    actor.require(Permission.DIRECTORY_ADMIN)
    rows = csv_import.read_rows(text, ServiceIn, lists=("needs",))
    created, updated = csv_import.upsert(session, actor, CommunityService, rows)
    return ImportResult(created=created, updated=updated)


def search_services(session: Session, actor: Actor, *, need: Need | None = None) -> list[CommunityService]:
    """Active community services of the actor's organisation (serving `need`), by name."""
    actor.require(Permission.REFERRAL_READ)
    found = session.scalars(select(CommunityService).where(
        CommunityService.organization_id == actor.organization_id, CommunityService.is_active.is_(True))
        .order_by(CommunityService.name, CommunityService.id))
    return [s for s in found if need is None or need.value in s.needs]


def create_referral(session: Session, actor: Actor, patient_id: uuid.UUID,
                    data: CommunityReferralCreate) -> CommunityReferral:
    """Refer the patient to a service for a need it serves; only with the patient's consent."""
    patient = access.load_patient(session, actor, patient_id, Permission.REFERRAL_WRITE)
    if actor.staff_id is None:
        raise Forbidden("A referral is made by a person, not a system client", code="referrer_required")
    if not data.consent:
        raise InvalidInput("Ask the patient first: a community referral needs their consent", field="consent")
    service = session.get(CommunityService, data.service_id)
    if service is None or service.organization_id != patient.organization_id or not service.is_active:
        raise InvalidInput("Choose a service from the community directory", field="service_id")
    if data.need.value not in service.needs:
        raise InvalidInput(f"{service.name} does not serve this need", field="need")
    now = clock.now()
    referral = CommunityReferral(organization_id=patient.organization_id, patient_id=patient.id,
                                 service_id=service.id, need=data.need, note=data.note,
                                 consent_method=data.consent_method, consent_at=now, referred_by_id=actor.staff_id,
                                 status=S.SENT, status_at=now)
    session.add(referral)
    session.flush()
    _record(session, actor, referral, "create")
    return referral


def patient_referrals(session: Session, actor: Actor, patient_id: uuid.UUID) -> list[CommunityReferral]:
    access.load_patient(session, actor, patient_id, Permission.REFERRAL_READ)
    return list(session.scalars(select(CommunityReferral).where(CommunityReferral.patient_id == patient_id)
                                .order_by(CommunityReferral.created_at.desc(), CommunityReferral.id)))


def get_referral(session: Session, actor: Actor, referral_id: uuid.UUID, permission: Permission) -> CommunityReferral:
    return access.load_patient_record(session, actor, CommunityReferral, referral_id, permission,
                                      what="community referral")


def move(session: Session, actor: Actor, referral_id: uuid.UUID, data: CommunityReferralMove) -> CommunityReferral:
    """Record the service's answer or the outcome (closed-loop status); its follow-up tasks are done."""
    referral = get_referral(session, actor, referral_id, Permission.REFERRAL_WRITE)
    if not rules.can_move(referral.status, data.status):
        raise InvalidTransition(f"A {referral.status.value} community referral cannot become {data.status.value}")
    now = clock.now()
    referral.status, referral.status_at, referral.outcome_note = data.status, now, data.note
    if data.status in rules.OUTCOMES:
        referral.closed_at = now
    session.flush()
    _record(session, actor, referral, "update")
    tasks.complete_focus_tasks(session, TaskFocus.REFERRAL, referral.id,
                               f"Community referral is now {data.status.value.replace('_', ' ')}")
    return referral


def _record(session: Session, actor: Actor, referral: CommunityReferral, action: str) -> None:
    audit.record(session, actor, action, patient_id=referral.patient_id, record_type="CommunityReferral",
                 record_id=str(referral.id), detail={"to": referral.status.value, "need": referral.need.value})
    events.publish(session, f"community_referral.{referral.status.value}", organization_id=referral.organization_id,
                   patient_id=referral.patient_id, payload={"referral_id": str(referral.id),
                                                            "need": referral.need.value})


def follow_up_sweep(session: Session, now: dt.datetime | None = None, limit: int = 1000) -> int:
    """A follow-up task for each unanswered (or outcome-less) referral past its allowance, once per wait."""
    now = now or clock.now()
    already = exists().where(Task.focus_type == TaskFocus.REFERRAL, Task.focus_id == CommunityReferral.id,
                             Task.created_at >= CommunityReferral.status_at)
    created = 0
    for referral in session.scalars(select(CommunityReferral).where(CommunityReferral.status.in_(rules.OPEN),
                                                                     ~already)
                                    .order_by(CommunityReferral.status_at).limit(limit)):
        due = rules.follow_up_at(referral.status, clock.ensure_utc(referral.status_at))
        if due is None or due > now:
            continue
        tasks.create_task(session, organization_id=referral.organization_id, patient_id=referral.patient_id,
                          title=rules.FOLLOW_UP_TITLES[referral.status], focus_type=TaskFocus.REFERRAL,
                          focus_id=referral.id, **care_teams.coordinator_assignment(session, referral.patient_id),
                          due_at=now + dt.timedelta(days=2), description=f"{referral.need.value} referral",
                          step_key=f"community:{referral.status.value}")
        created += 1
    return created
