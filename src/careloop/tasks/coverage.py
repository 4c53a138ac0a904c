"""Who may own a task, who covers for an away owner, and the care-team access an owner needs."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.auth.actor import system_actor
from careloop.auth.permissions import ORG_WIDE_ROLES
from careloop.care_teams import service as care_teams
from careloop.care_teams.models import CareTeamMember, CareTeamRole
from careloop.errors import InvalidInput
from careloop.patients.models import Patient
from careloop.staff.models import Staff
from careloop.tasks import rules


def require_assignee(session: Session, organization_id: uuid.UUID, staff_id: uuid.UUID,
                     *, field: str = "owner_id") -> Staff:
    """An active staff member of the organisation who can be given tasks; InvalidInput names the field."""
    staff = session.get(Staff, staff_id)
    if staff is None or staff.organization_id != organization_id or not staff.is_active:
        raise InvalidInput("No active staff member with that id in this organisation", field=field)
    return staff


def covering_owner(session: Session, staff_id: uuid.UUID) -> uuid.UUID:
    """The person who works staff_id's tasks now: staff_id, or their backup (chain) while they are away."""
    def lookup(sid: uuid.UUID) -> tuple[bool, uuid.UUID | None] | None:
        staff = session.get(Staff, sid)
        return None if staff is None or not staff.is_active else (staff.away, staff.backup_id)

    return rules.covering_owner(staff_id, lookup)


def ensure_on_care_team(session: Session, organization_id: uuid.UUID, patient_ids: Iterable[uuid.UUID],
                        staff_id: uuid.UUID, *, note: str) -> int:
    """Put a task's new owner on the care team (role other) of patients they cannot open yet; returns joins.

    Without this a task moved to a backup or a new owner would vanish from their worklist, which shows only
    patients they may see. Organisation-wide roles already see every patient.
    """
    staff = session.get(Staff, staff_id)
    wanted = set(patient_ids)
    if staff is None or staff.role in ORG_WIDE_ROLES or not wanted:
        return 0
    have = set(session.scalars(select(CareTeamMember.patient_id).where(
        CareTeamMember.staff_id == staff_id, CareTeamMember.ended_at.is_(None),
        CareTeamMember.patient_id.in_(wanted))))
    actor = system_actor(organization_id, "careloop-task-coverage")
    for patient_id in sorted(wanted - have):
        care_teams.assign(session, actor, session.get(Patient, patient_id), CareTeamRole.OTHER, staff_id,
                          note=note[:500])
    return len(wanted - have)
