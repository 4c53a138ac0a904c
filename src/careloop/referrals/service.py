"""Referrals and the provider directory: create, move through the life cycle, import the directory."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop import clock, csv_import
from careloop.audit import service as audit
from careloop.auth import access
from careloop.auth.actor import Actor
from careloop.auth.permissions import Permission
from careloop.clinical.models import Condition
from careloop.errors import Forbidden, InvalidInput, InvalidTransition, StaleVersion
from careloop.events import service as events
from careloop.organizations.models import Organization
from careloop.referrals import rules, work
from careloop.referrals.models import Provider, Referral, ReferralEvent, ReferralTargets
from careloop.referrals.models import ReferralStatus as S
from careloop.referrals.models import ReferralUrgency as U
from careloop.referrals.schemas import ImportResult, ProviderIn, ReferralCreate, ReferralMove, TargetsIn

# --- directory --------------------------------------------------------------------------------------------------

def import_providers(session: Session, actor: Actor, text: str) -> ImportResult:
    """Create or update directory entries from CSV (header row, columns as ProviderIn); all rows or none."""
    actor.require(Permission.DIRECTORY_ADMIN)
    rows = csv_import.read_rows(text, ProviderIn, booleans=("accepting_new_patients", "in_network"))
    created, updated = csv_import.upsert(session, actor, Provider, rows)
    return ImportResult(created=created, updated=updated)


def search_providers(session: Session, actor: Actor, *, specialty_code: str | None = None,
                     name: str | None = None, accepting_only: bool = False, limit: int = 50) -> list[Provider]:
    """Active directory entries of the actor's organisation, in-network and accepting first."""
    actor.require(Permission.REFERRAL_READ)
    stmt = select(Provider).where(Provider.organization_id == actor.organization_id, Provider.is_active.is_(True))
    if specialty_code:
        stmt = stmt.where(Provider.specialty_code == specialty_code)
    if name:
        stmt = stmt.where(Provider.name.ilike(f"%{name.replace('%', '').replace('_', '')}%"))
    if accepting_only:
        stmt = stmt.where(Provider.accepting_new_patients.is_(True))
    order = (Provider.in_network.desc(), Provider.accepting_new_patients.desc(), Provider.name, Provider.id)
    return list(session.scalars(stmt.order_by(*order).limit(limit)))


def _provider(session: Session, actor: Actor, provider_id: uuid.UUID) -> Provider:
    provider = session.get(Provider, provider_id)
    if provider is None or provider.organization_id != actor.organization_id or not provider.is_active:
        raise InvalidInput("Choose a provider from the directory", field="provider_id")
    return provider


# --- referrals --------------------------------------------------------------------------------------------------

def create_referral(session: Session, actor: Actor, patient_id: uuid.UUID, data: ReferralCreate) -> Referral:
    """A draft referral by the acting clinician, to a directory provider or to a specialty."""
    patient = access.load_patient(session, actor, patient_id, Permission.REFERRAL_WRITE)
    if actor.staff_id is None:
        raise Forbidden("A referral is made by a person, not a system client", code="referrer_required")
    provider = _provider(session, actor, data.provider_id) if data.provider_id else None
    code = provider.specialty_code if provider else data.specialty_code
    display = provider.specialty_display if provider else data.specialty_display
    if not code or not display:
        raise InvalidInput("Choose a provider, or a specialty code and its name", field="specialty_code")
    _check_conditions(session, patient.id, data.condition_ids)
    referral = Referral(organization_id=patient.organization_id, patient_id=patient.id,
                        referring_staff_id=actor.staff_id, provider_id=provider.id if provider else None,
                        specialty_code=code, specialty_display=display, urgency=data.urgency, reason=data.reason,
                        condition_ids=[str(c) for c in data.condition_ids], clinical_question=data.clinical_question)
    session.add(referral)
    session.flush()
    _log(session, actor, referral, None, S.DRAFT, None)
    return referral


def _check_conditions(session: Session, patient_id: uuid.UUID, condition_ids: list[uuid.UUID]) -> None:
    if not condition_ids:
        return
    found = set(session.scalars(select(Condition.id).where(Condition.patient_id == patient_id,
                                                            Condition.id.in_(condition_ids))))
    if found != set(condition_ids):
        raise InvalidInput("Choose conditions from the patient's record", field="condition_ids")


def get_referral(session: Session, actor: Actor, referral_id: uuid.UUID, permission: Permission,
                 *, for_update: bool = False) -> Referral:
    """A referral the actor may use; NotFound across organisations and for patients they may not see."""
    return access.load_patient_record(session, actor, Referral, referral_id, permission, what="referral",
                                      for_update=for_update)


def patient_referrals(session: Session, actor: Actor, patient_id: uuid.UUID) -> list[Referral]:
    """A patient's referrals, newest first."""
    access.load_patient(session, actor, patient_id, Permission.REFERRAL_READ)
    return list(session.scalars(select(Referral).where(Referral.patient_id == patient_id)
                                .order_by(Referral.created_at.desc(), Referral.id)))


def provider_of(session: Session, referral: Referral) -> Provider | None:
    return session.get(Provider, referral.provider_id) if referral.provider_id else None


def history(session: Session, referral: Referral) -> list[ReferralEvent]:
    return list(session.scalars(select(ReferralEvent).where(ReferralEvent.referral_id == referral.id)
                                .order_by(ReferralEvent.occurred_at, ReferralEvent.id)))


def move(session: Session, actor: Actor, referral_id: uuid.UUID, data: ReferralMove,
         *, expected_version: int | None = None) -> Referral:
    """Move a referral on (rules.TRANSITIONS); each change is timestamped, audited and published."""
    referral = get_referral(session, actor, referral_id, Permission.REFERRAL_WRITE, for_update=True)
    if expected_version is not None and expected_version != referral.version:
        raise StaleVersion(extra={"current_version": referral.version})
    current, target = referral.status, data.status
    if not rules.can_move(current, target):
        raise InvalidTransition(f"A {current.value} referral cannot become {target.value}")
    if target in rules.NEEDS_REASON and not data.note:
        raise InvalidInput(f"Say why the referral is {target.value}", field="note")
    now = clock.now()
    if target == S.SENT:
        _send(session, actor, referral, data)
    elif target == S.SCHEDULED:
        if data.appointment_at is None:
            raise InvalidInput("Give the appointment's date and time", field="appointment_at")
        referral.appointment_at = clock.ensure_utc(data.appointment_at)
    elif target == S.REVIEWED and actor.staff_id != referral.referring_staff_id:
        raise Forbidden("Only the referring clinician reviews the specialist's report", code="referrer_only")
    if target in (S.CLOSED, S.CANCELLED, S.EXPIRED):
        referral.closed_at = now
    referral.status, referral.status_reason = target, data.note if target in rules.NEEDS_REASON else None
    referral.status_at = now
    session.flush()
    _log(session, actor, referral, current, target, data.note)
    work.close_chases(session, referral)
    if target == S.DECLINED:  # a new destination is needed now, not after a wait
        work.chase_task(session, referral, now)
    events.publish(session, f"referral.{target.value}", organization_id=referral.organization_id,
                   patient_id=referral.patient_id, payload={"referral_id": str(referral.id),
                                                            "urgency": referral.urgency.value})
    return referral


def _send(session: Session, actor: Actor, referral: Referral, data: ReferralMove) -> None:
    """Sending (again, after a decline: to a new destination) starts the clock to the appointment."""
    if referral.status == S.DECLINED and (data.provider_id is None or data.provider_id == referral.provider_id):
        raise InvalidInput("A declined referral is sent to a new destination", field="provider_id")
    if data.provider_id is not None:
        provider = _provider(session, actor, data.provider_id)
        referral.provider_id = provider.id
        referral.specialty_code, referral.specialty_display = provider.specialty_code, provider.specialty_display
    org = session.get(Organization, referral.organization_id)
    referral.sent_at = clock.now()
    referral.target_appointment_date = rules.target_appointment_date(
        clock.today(org.timezone), referral.urgency, targets_of(session, org.id)[0])


# --- target times -----------------------------------------------------------------------------------------------

def targets_of(session: Session, organization_id: uuid.UUID) -> tuple[dict[U, int], bool]:
    """The organisation's target days by urgency, and whether they are the defaults (rules.TARGET_DAYS)."""
    row = session.get(ReferralTargets, organization_id)
    if row is None:
        return dict(rules.TARGET_DAYS), True
    return {U.ROUTINE: row.routine_days, U.URGENT: row.urgent_days, U.STAT: row.stat_days}, False


def set_targets(session: Session, actor: Actor, data: TargetsIn) -> dict[U, int]:
    """Set the organisation's own target days (used for referrals sent from now on)."""
    actor.require(Permission.DIRECTORY_ADMIN)
    targets = {U.ROUTINE: data.routine_days, U.URGENT: data.urgent_days, U.STAT: data.stat_days}
    problem = rules.targets_problem(targets)
    if problem:
        raise InvalidInput(problem, field="stat_days")
    row = session.get(ReferralTargets, actor.organization_id, with_for_update=True)
    if row is None:
        row = ReferralTargets(organization_id=actor.organization_id)
        session.add(row)
    row.routine_days, row.urgent_days, row.stat_days = data.routine_days, data.urgent_days, data.stat_days
    row.updated_at, row.updated_by_id = clock.now(), actor.staff_id
    session.flush()
    audit.record(session, actor, "update", record_type="ReferralTargets", record_id=str(actor.organization_id),
                 detail={u.value: d for u, d in targets.items()})
    return targets


def _log(session: Session, actor: Actor, referral: Referral, current: S | None, target: S, note: str | None) -> None:
    session.add(ReferralEvent(referral_id=referral.id, organization_id=referral.organization_id,
                              from_status=current, to_status=target, occurred_at=clock.now(),
                              actor_id=actor.staff_id, note=note))
    audit.record(session, actor, "create" if current is None else "update", patient_id=referral.patient_id,
                 record_type="Referral", record_id=str(referral.id), detail={"to": target.value})
