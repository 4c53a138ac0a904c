"""Staff JSON API."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends
from pydantic import BaseModel
from sqlalchemy.orm import Session

from careloop.auth.actor import Actor
from careloop.auth.deps import require
from careloop.auth.permissions import Permission
from careloop.routing import db, router
from careloop.staff import service
from careloop.staff.models import StaffRole
from careloop.staff.schemas import StaffCreate, StaffRead

api = router(prefix="/api/v1/staff", tags=["staff"])
Db = Annotated[Session, Depends(db)]


class RoleChange(BaseModel):
    role: StaffRole


class ActiveChange(BaseModel):
    is_active: bool


@api.get("", response_model=list[StaffRead], summary="Active staff of the organisation")
def list_staff(session: Db, actor: Annotated[Actor, Depends(require(Permission.STAFF_READ))],
               role: StaffRole | None = None) -> list[StaffRead]:
    return [StaffRead.model_validate(s) for s in service.list_staff(session, actor, role=role)]


@api.post("", response_model=StaffRead, status_code=201, summary="Create a staff member")
def create_staff(data: StaffCreate, session: Db,
                 actor: Annotated[Actor, Depends(require(Permission.STAFF_ADMIN))]) -> StaffRead:
    return StaffRead.model_validate(service.create_staff(session, data, actor=actor))


@api.get("/{staff_id}", response_model=StaffRead, summary="Read a staff member")
def get_staff(staff_id: uuid.UUID, session: Db,
              actor: Annotated[Actor, Depends(require(Permission.STAFF_READ))]) -> StaffRead:
    return StaffRead.model_validate(service.get_staff(session, actor, staff_id))


@api.put("/{staff_id}/role", response_model=StaffRead, summary="Change a staff member's role")
def change_role(staff_id: uuid.UUID, data: RoleChange, session: Db,
                actor: Annotated[Actor, Depends(require(Permission.STAFF_ADMIN))]) -> StaffRead:
    return StaffRead.model_validate(service.change_role(session, actor, staff_id, data.role))


@api.put("/{staff_id}/active", response_model=StaffRead, summary="Enable or disable an account")
def set_active(staff_id: uuid.UUID, data: ActiveChange, session: Db,
               actor: Annotated[Actor, Depends(require(Permission.STAFF_ADMIN))]) -> StaffRead:
    return StaffRead.model_validate(service.set_active(session, actor, staff_id, data.is_active))
