"""Staff services: create accounts, look them up, change roles and deactivate."""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop import clock
from careloop.audit import service as audit
from careloop.auth import passwords
from careloop.auth.actor import Actor
from careloop.auth.permissions import Permission
from careloop.errors import Conflict, NotFound
from careloop.staff.models import Staff, StaffRole
from careloop.staff.schemas import StaffCreate


def create_staff(session: Session, data: StaffCreate, *, actor: Actor) -> Staff:
    """A staff member of the actor's organisation; e-mails are unique (case-insensitive) everywhere."""
    actor.require(Permission.STAFF_ADMIN)
    email = data.email.lower()
    if session.scalar(select(Staff.id).where(Staff.email == email)):
        raise Conflict("A user with that e-mail already exists", code="duplicate_user")
    password_hash = None
    if data.password is not None:
        passwords.check_policy(data.password)
        password_hash = passwords.hash_password(data.password)
    staff = Staff(organization_id=actor.organization_id, email=email, given_name=data.given_name,
                  family_name=data.family_name, role=data.role, npi=data.npi, password_hash=password_hash,
                  password_changed_at=clock.now() if password_hash else None)
    session.add(staff)
    session.flush()
    audit.record(session, actor, "create", record_type="Staff", record_id=str(staff.id),
                 detail={"role": data.role.value})
    return staff


def get_staff(session: Session, actor: Actor, staff_id: uuid.UUID) -> Staff:
    """A staff member of the actor's organisation."""
    actor.require(Permission.STAFF_READ)
    staff = session.get(Staff, staff_id)
    if staff is None or staff.organization_id != actor.organization_id:
        raise NotFound("Staff member not found")
    return staff


def list_staff(session: Session, actor: Actor, *, role: StaffRole | None = None,
               roles: Collection[StaffRole] | None = None) -> list[Staff]:
    """Active staff of the organisation (of one role, or of any of `roles`), by name."""
    actor.require(Permission.STAFF_READ)
    stmt = select(Staff).where(Staff.organization_id == actor.organization_id, Staff.is_active.is_(True))
    if role:
        stmt = stmt.where(Staff.role == role)
    if roles is not None:
        stmt = stmt.where(Staff.role.in_(roles))
    return list(session.scalars(stmt.order_by(Staff.family_name, Staff.given_name, Staff.id)))


def change_role(session: Session, actor: Actor, staff_id: uuid.UUID, role: StaffRole) -> Staff:
    """Change a staff member's role: a privilege change, audited; it applies to the next request."""
    actor.require(Permission.STAFF_ADMIN)
    staff = get_staff(session, actor, staff_id)
    previous, staff.role = staff.role, role
    session.flush()
    audit.record(session, actor, "privilege_change", record_type="Staff", record_id=str(staff.id),
                 detail={"from": previous.value, "to": role.value})
    return staff


def set_active(session: Session, actor: Actor, staff_id: uuid.UUID, active: bool) -> Staff:
    """Enable or disable an account; disabling ends every session and token at once."""
    from careloop.auth import service as auth_service

    actor.require(Permission.STAFF_ADMIN)
    staff = get_staff(session, actor, staff_id)
    staff.is_active = active
    if not active:
        auth_service.revoke_all_for(session, staff.id)
    session.flush()
    audit.record(session, actor, "privilege_change", record_type="Staff", record_id=str(staff.id),
                 detail={"active": active})
    return staff
