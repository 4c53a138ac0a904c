"""The one place patient access is decided: organisation, care team, break-the-glass, portal scope."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, and_, false, select, true, union_all
from sqlalchemy.orm import Session

from careloop import clock
from careloop.audit import service as audit
from careloop.auth.actor import Actor
from careloop.auth.models import BreakGlassGrant
from careloop.auth.permissions import Permission
from careloop.care_teams.models import CareTeamMember
from careloop.errors import Forbidden, NotFound
from careloop.patients.models import Patient

R = TypeVar("R", bound=Any)


def care_relationship(actor: Actor, patient_id: ColumnElement) -> ColumnElement[bool]:
    """SQL condition: the actor is on the patient's active care team or holds a live break-glass grant."""
    if actor.staff_id is None:
        return false()
    # IN over the actor's own patients (not a correlated EXISTS per patient row) lets the planner start from
    # that small set: a coordinator's list stays fast with 100,000 patients in the organisation.
    on_team = select(CareTeamMember.patient_id).where(CareTeamMember.staff_id == actor.staff_id,
                                                      CareTeamMember.ended_at.is_(None))
    glass = select(BreakGlassGrant.patient_id).where(BreakGlassGrant.staff_id == actor.staff_id,
                                                     BreakGlassGrant.expires_at > clock.now())
    return patient_id.in_(union_all(on_team, glass))


def visible_patients(actor: Actor) -> ColumnElement[bool]:
    """SQL condition on Patient for the rows this actor may open."""
    scope = [Patient.organization_id == actor.organization_id]
    if actor.patient_scope is not None:
        scope.append(Patient.id.in_(actor.patient_scope) if actor.patient_scope else false())
    elif not actor.org_wide:
        scope.append(care_relationship(actor, Patient.id))
    return and_(*scope) if scope else true()


def load_patient(session: Session, actor: Actor, patient_id: uuid.UUID, permission: Permission,
                 *, for_update: bool = False) -> Patient:
    """The patient if actor may use it with permission; NotFound across organisations, else Forbidden."""
    actor.require(permission)
    stmt = select(Patient).where(Patient.id == patient_id, Patient.organization_id == actor.organization_id)
    if for_update:
        stmt = stmt.with_for_update()
    patient = session.scalars(stmt).one_or_none()
    if patient is None or (actor.patient_scope is not None and patient.id not in actor.patient_scope):
        raise _denied(NotFound("Patient not found"), patient_id=None, record_id=str(patient_id))
    if not actor.org_wide and actor.patient_scope is None and not _has_relationship(session, actor, patient):
        raise _denied(Forbidden("You are not on this patient's care team. Use break-the-glass with a "
                                "reason if you need emergency access.", code="not_on_care_team"),
                      patient_id=patient.id, record_id=str(patient.id))
    return patient


def load_patient_record(session: Session, actor: Actor, model: type[R], record_id: uuid.UUID, permission: Permission,
                        *, what: str, for_update: bool = False) -> R:
    """A record about one patient (a referral, an order, a reconciliation...) that the actor may use with
    permission: NotFound ("No such <what>") across organisations, the patient's access rules otherwise."""
    stmt = select(model).where(model.id == record_id, model.organization_id == actor.organization_id)
    record = session.scalars(stmt.with_for_update() if for_update else stmt).one_or_none()
    if record is None:
        raise NotFound(f"No such {what}")
    load_patient(session, actor, record.patient_id, permission)
    return record


def _has_relationship(session: Session, actor: Actor, patient: Patient) -> bool:
    return bool(session.scalar(select(care_relationship(actor, Patient.id)).where(Patient.id == patient.id)))


def _denied(error: Forbidden | NotFound, *, patient_id: uuid.UUID | None, record_id: str) -> Exception:
    """Attach the denial's audit entry; the edge writes it after rolling back the request."""
    error.audit = audit.Entry(action="access_denied", outcome="denied", patient_id=patient_id,
                              record_type="Patient", record_id=record_id)
    return error


def active_break_glass(session: Session, actor: Actor, patient_id: uuid.UUID) -> BreakGlassGrant | None:
    """The actor's live break-glass grant for the patient, if any."""
    if actor.staff_id is None:
        return None
    stmt = select(BreakGlassGrant).where(
        BreakGlassGrant.staff_id == actor.staff_id, BreakGlassGrant.patient_id == patient_id,
        BreakGlassGrant.expires_at > clock.now()).order_by(BreakGlassGrant.expires_at.desc())
    return session.scalars(stmt).first()
