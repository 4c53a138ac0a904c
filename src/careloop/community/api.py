"""Community referral JSON API: the community directory (search, CSV import) and referrals to an outcome."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from careloop.auth.actor import Actor
from careloop.auth.deps import require
from careloop.auth.permissions import Permission
from careloop.community import service
from careloop.community.models import Need
from careloop.community.schemas import (
    CommunityReferralCreate,
    CommunityReferralMove,
    CommunityReferralRead,
    ServiceRead,
)
from careloop.referrals.schemas import ImportResult
from careloop.routing import csv_body, db, router

api = router(prefix="/api/v1", tags=["community"])
Db = Annotated[Session, Depends(db)]
Reader = Annotated[Actor, Depends(require(Permission.REFERRAL_READ))]
Writer = Annotated[Actor, Depends(require(Permission.REFERRAL_WRITE))]
DirectoryAdmin = Annotated[Actor, Depends(require(Permission.DIRECTORY_ADMIN))]


@api.get("/community/services", response_model=list[ServiceRead], summary="Search the community directory")
def services(session: Db, actor: Reader, need: Need | None = None) -> list[ServiceRead]:
    return [ServiceRead.model_validate(s) for s in service.search_services(session, actor, need=need)]


@api.post("/community/services/import", response_model=ImportResult,
          summary="Create or update community services from CSV (needs as food;housing)")
async def import_services(request: Request, session: Db, actor: DirectoryAdmin) -> ImportResult:
    return service.import_services(session, actor, await csv_body(request))


@api.get("/patients/{patient_id}/community-referrals", response_model=list[CommunityReferralRead],
         summary="A patient's community referrals")
def patient_referrals(patient_id: uuid.UUID, session: Db, actor: Reader) -> list[CommunityReferralRead]:
    return [CommunityReferralRead.model_validate(r) for r in service.patient_referrals(session, actor, patient_id)]


@api.post("/patients/{patient_id}/community-referrals", response_model=CommunityReferralRead, status_code=201,
          summary="Refer the patient to a community service (with their consent)")
def create_referral(patient_id: uuid.UUID, data: CommunityReferralCreate, session: Db,
                    actor: Writer) -> CommunityReferralRead:
    return CommunityReferralRead.model_validate(service.create_referral(session, actor, patient_id, data))


@api.post("/community-referrals/{referral_id}/status", response_model=CommunityReferralRead,
          summary="Record the answer or outcome: accepted, service_provided, unable_to_contact, "
                  "declined_by_patient, not_eligible")
def move_referral(referral_id: uuid.UUID, data: CommunityReferralMove, session: Db,
                  actor: Writer) -> CommunityReferralRead:
    return CommunityReferralRead.model_validate(service.move(session, actor, referral_id, data))
