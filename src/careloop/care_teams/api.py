"""Care team JSON API."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends
from sqlalchemy.orm import Session

from careloop.auth.actor import Actor
from careloop.auth.deps import require
from careloop.auth.permissions import Permission
from careloop.care_teams import service
from careloop.care_teams.models import CareTeamMember
from careloop.care_teams.schemas import CareTeamMemberCreate, CareTeamMemberRead
from careloop.routing import db, router
from careloop.staff.models import Staff

api = router(prefix="/api/v1/patients/{patient_id}/care-team", tags=["care team"])


def to_read(member: CareTeamMember, staff: Staff) -> CareTeamMemberRead:
    """API view of a membership."""
    return CareTeamMemberRead(id=member.id, patient_id=member.patient_id, staff_id=staff.id,
                              staff_name=staff.display_name, staff_role=staff.role.value, role=member.role,
                              started_at=member.started_at, ended_at=member.ended_at, note=member.note)


@api.get("", response_model=list[CareTeamMemberRead], summary="The patient's care team")
def list_members(patient_id: uuid.UUID, session: Annotated[Session, Depends(db)],
                 actor: Annotated[Actor, Depends(require(Permission.PATIENT_READ))],
                 include_history: bool = False) -> list[CareTeamMemberRead]:
    rows = service.list_members(session, actor, patient_id, include_history=include_history)
    return [to_read(m, s) for m, s in rows]


@api.post("", response_model=CareTeamMemberRead, status_code=201,
          summary="Add a member (a new coordinator or PCP replaces the current one, kept as history)")
def add_member(patient_id: uuid.UUID, data: CareTeamMemberCreate, session: Annotated[Session, Depends(db)],
               actor: Annotated[Actor, Depends(require(Permission.CARE_TEAM_WRITE))]) -> CareTeamMemberRead:
    member = service.add_member(session, actor, patient_id, data)
    return to_read(member, session.get(Staff, member.staff_id))


@api.delete("/{member_id}", response_model=CareTeamMemberRead, summary="End a membership (kept as history)")
def end_member(patient_id: uuid.UUID, member_id: uuid.UUID, session: Annotated[Session, Depends(db)],
               actor: Annotated[Actor, Depends(require(Permission.CARE_TEAM_WRITE))]) -> CareTeamMemberRead:
    member = service.end_member(session, actor, patient_id, member_id)
    return to_read(member, session.get(Staff, member.staff_id))
