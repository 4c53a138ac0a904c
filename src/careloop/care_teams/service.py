"""Care team services: assign, reassign and end memberships; single-active roles keep history."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop import clock
from careloop.audit import service as audit
from careloop.auth import access
from careloop.auth.actor import Actor
from careloop.auth.permissions import Permission
from careloop.care_teams.models import SINGLE_ACTIVE_ROLES, CareTeamMember, CareTeamRole
from careloop.care_teams.schemas import CareTeamMemberCreate
from careloop.errors import Conflict, InvalidInput, InvalidTransition, NotFound
from careloop.events import service as events
from careloop.patients.models import Patient
from careloop.staff.models import Staff, StaffRole

# Which staff roles may hold which care-team role (others: any clinical role).
ELIGIBLE: dict[CareTeamRole, frozenset[StaffRole]] = {
    CareTeamRole.PRIMARY_CARE_COORDINATOR: frozenset({
        StaffRole.CARE_COORDINATOR, StaffRole.RN_CARE_MANAGER, StaffRole.SOCIAL_WORKER,
        StaffRole.COMMUNITY_HEALTH_WORKER, StaffRole.SUPERVISOR}),
    CareTeamRole.PRIMARY_CARE_PHYSICIAN: frozenset({StaffRole.PRIMARY_CARE_PHYSICIAN}),
}
_NON_CLINICAL = frozenset({StaffRole.SCHEDULER, StaffRole.BILLING, StaffRole.ADMINISTRATOR})


def active_member(session: Session, patient_id: uuid.UUID, role: CareTeamRole) -> CareTeamMember | None:
    """The active member holding a role (for single-active roles) or the first one."""
    stmt = select(CareTeamMember).where(CareTeamMember.patient_id == patient_id, CareTeamMember.role == role,
                                        CareTeamMember.ended_at.is_(None)).order_by(CareTeamMember.started_at)
    return session.scalars(stmt).first()


def assign(session: Session, actor: Actor, patient: Patient, role: CareTeamRole, staff_id: uuid.UUID,
           *, note: str | None = None, audit_it: bool = True) -> CareTeamMember:
    """Put staff on the patient's team in a role; a single-active role's previous holder is ended."""
    staff = _eligible_staff(session, actor, role, staff_id)
    now = clock.now()
    current = None
    if role in SINGLE_ACTIVE_ROLES:
        current = active_member(session, patient.id, role)
        if current is not None and current.staff_id == staff.id:
            return current
        if current is not None:
            current.ended_at = now
            session.flush()  # the partial unique index must see the old membership ended first
    elif session.scalar(select(CareTeamMember.id).where(
            CareTeamMember.patient_id == patient.id, CareTeamMember.staff_id == staff.id,
            CareTeamMember.role == role, CareTeamMember.ended_at.is_(None))):
        raise Conflict("That person already holds this role on the care team", code="already_member")
    member = CareTeamMember(organization_id=patient.organization_id, patient_id=patient.id,
                            staff_id=staff.id, role=role, started_at=now, note=note)
    session.add(member)
    session.flush()
    if audit_it:
        audit.record(session, actor, "create", patient_id=patient.id, record_type="CareTeamMember",
                     record_id=str(member.id), detail={"role": role.value})
    if role == CareTeamRole.PRIMARY_CARE_COORDINATOR and current is not None:
        events.publish(session, "care_team.coordinator_changed", organization_id=patient.organization_id,
                       patient_id=patient.id, payload={"previous_staff_id": str(current.staff_id),
                                                       "new_staff_id": str(staff.id)})
    return member


def eligible_staff(session: Session, actor: Actor, role: CareTeamRole, staff_id: uuid.UUID) -> Staff:
    """The active staff member of the actor's organisation, if their role may hold this care-team role."""
    return _eligible_staff(session, actor, role, staff_id)


def _eligible_staff(session: Session, actor: Actor, role: CareTeamRole, staff_id: uuid.UUID) -> Staff:
    staff = session.get(Staff, staff_id)
    if staff is None or staff.organization_id != actor.organization_id or not staff.is_active:
        raise InvalidInput("No active staff member with that id in this organisation", field="staff_id")
    allowed = ELIGIBLE.get(role)
    if (allowed is not None and staff.role not in allowed) or (allowed is None and staff.role in _NON_CLINICAL):
        raise InvalidInput(f"A {staff.role.value} cannot hold the care-team role {role.value}", field="role")
    return staff


def add_member(session: Session, actor: Actor, patient_id: uuid.UUID,
               data: CareTeamMemberCreate) -> CareTeamMember:
    """Add (or, for coordinator/PCP, reassign) a care-team member."""
    patient = access.load_patient(session, actor, patient_id, Permission.CARE_TEAM_WRITE, for_update=True)
    return assign(session, actor, patient, data.role, data.staff_id, note=data.note)


def end_member(session: Session, actor: Actor, patient_id: uuid.UUID, member_id: uuid.UUID) -> CareTeamMember:
    """End a membership (kept as history); the coordinator can only be replaced, never removed."""
    patient = access.load_patient(session, actor, patient_id, Permission.CARE_TEAM_WRITE, for_update=True)
    member = session.get(CareTeamMember, member_id)
    if member is None or member.patient_id != patient.id:
        raise NotFound("Care team member not found")
    if member.ended_at is not None:
        raise InvalidTransition("This membership has already ended")
    if member.role == CareTeamRole.PRIMARY_CARE_COORDINATOR:
        raise InvalidTransition("Every patient needs a primary care coordinator: assign a new one instead",
                                code="coordinator_required")
    member.ended_at = clock.now()
    session.flush()
    audit.record(session, actor, "update", patient_id=patient.id, record_type="CareTeamMember",
                 record_id=str(member.id), detail={"ended": True})
    return member


def list_members(session: Session, actor: Actor, patient_id: uuid.UUID,
                 *, include_history: bool = False) -> list[tuple[CareTeamMember, Staff]]:
    """The care team (active first, then history when asked), with each member's staff record."""
    patient = access.load_patient(session, actor, patient_id, Permission.PATIENT_READ)
    stmt = (select(CareTeamMember, Staff).join(Staff, Staff.id == CareTeamMember.staff_id)
            .where(CareTeamMember.patient_id == patient.id)
            .order_by(CareTeamMember.ended_at.is_not(None), CareTeamMember.role, CareTeamMember.started_at))
    if not include_history:
        stmt = stmt.where(CareTeamMember.ended_at.is_(None))
    rows = [(m, s) for m, s in session.execute(stmt).all()]
    audit.record(session, actor, "read", patient_id=patient.id, record_type="CareTeam", record_id=str(patient.id))
    return rows


def primary_staff(session: Session, patient_ids: list[uuid.UUID]) -> dict[tuple[uuid.UUID, CareTeamRole], Staff]:
    """Active coordinator and PCP of many patients in one query: {(patient_id, role): staff}."""
    if not patient_ids:
        return {}
    stmt = (select(CareTeamMember.patient_id, CareTeamMember.role, Staff)
            .join(Staff, Staff.id == CareTeamMember.staff_id)
            .where(CareTeamMember.patient_id.in_(patient_ids), CareTeamMember.ended_at.is_(None),
                   CareTeamMember.role.in_(SINGLE_ACTIVE_ROLES)))
    return {(pid, role): staff for pid, role, staff in session.execute(stmt).all()}


def coordinator_assignment(session: Session, patient_id: uuid.UUID) -> dict[str, Any]:
    """Who a follow-up task for the patient goes to: their primary care coordinator, else the coordinators'
    queue (as create_task's owner_id / queue_role)."""
    coordinator = primary_staff(session, [patient_id]).get((patient_id, CareTeamRole.PRIMARY_CARE_COORDINATOR))
    if coordinator is not None:
        return {"owner_id": coordinator.id, "queue_role": None}
    return {"owner_id": None, "queue_role": StaffRole.CARE_COORDINATOR}
