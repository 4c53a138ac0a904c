"""OAuth2 token endpoints (client credentials, revocation) and break-the-glass API."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import Depends, Form, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from careloop import clock
from careloop.auth import service
from careloop.auth.actor import Actor
from careloop.auth.deps import api_actor, require
from careloop.auth.permissions import Permission
from careloop.errors import BadRequest, CareLoopError
from careloop.routing import db, router

oauth = router(prefix="/oauth", tags=["auth"])
api = router(prefix="/api/v1", tags=["auth"])
Db = Annotated[Session, Depends(db)]


OAUTH_ERRORS = {"invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
                "unsupported_grant_type", "invalid_scope"}


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "Bearer"
    expires_in: int
    scope: str


@oauth.post("/token", response_model=TokenResponse, summary="OAuth2 client-credentials grant")
def token(session: Db, grant_type: Annotated[str, Form()], client_id: Annotated[str, Form(max_length=100)],
          client_secret: Annotated[str, Form(max_length=200)],
          scope: Annotated[str | None, Form(max_length=1000)] = None) -> TokenResponse:
    try:
        if grant_type != "client_credentials":
            raise BadRequest("Only the client_credentials grant is supported", code="unsupported_grant_type")
        raw, tok = service.client_credentials(session, client_id, client_secret, scope)
    except CareLoopError as err:  # RFC 6749 section 5.2: the problem also carries the OAuth `error` code
        err.extra["error"] = err.code if err.code in OAUTH_ERRORS else "invalid_request"
        if err.code == "invalid_scope":
            err.status = 400
        raise
    return TokenResponse(access_token=raw, expires_in=int((tok.expires_at - clock.now()).total_seconds()),
                         scope=tok.scopes)


@oauth.post("/revoke", status_code=200, summary="Revoke the presented bearer token (RFC 7009)")
def revoke(request: Request, session: Db, actor: Annotated[Actor, Depends(api_actor)]) -> dict[str, str]:
    raw = request.headers["authorization"].partition(" ")[2].strip()
    service.revoke_token(session, raw=raw)
    return {"status": "revoked"}


class BreakGlassRequest(BaseModel):
    reason: str = Field(min_length=10, max_length=500)


class BreakGlassRead(BaseModel):
    id: uuid.UUID
    patient_id: uuid.UUID
    staff_id: uuid.UUID
    reason: str
    created_at: dt.datetime
    expires_at: dt.datetime
    reviewed_at: dt.datetime | None
    review_note: str | None

    model_config = {"from_attributes": True}


class ReviewRequest(BaseModel):
    note: str = Field(min_length=1, max_length=500)


@api.post("/patients/{patient_id}/break-glass", response_model=BreakGlassRead, status_code=201,
          summary="Emergency access to a patient outside your care teams")
def break_glass(patient_id: uuid.UUID, data: BreakGlassRequest, session: Db,
                actor: Annotated[Actor, Depends(require(Permission.BREAK_GLASS))]) -> BreakGlassRead:
    return BreakGlassRead.model_validate(service.break_glass(session, actor, patient_id, data.reason))


@api.get("/break-glass", response_model=list[BreakGlassRead], summary="Emergency accesses awaiting review")
def pending_reviews(session: Db, actor: Annotated[Actor, Depends(require(Permission.BREAK_GLASS_REVIEW))],
                    include_reviewed: bool = False) -> list[BreakGlassRead]:
    rows = service.list_break_glass(session, actor, include_reviewed=include_reviewed)
    return [BreakGlassRead.model_validate(g) for g in rows]


@api.post("/break-glass/{grant_id}/review", response_model=BreakGlassRead, summary="Mark an emergency access reviewed")
def review(grant_id: uuid.UUID, data: ReviewRequest, session: Db,
           actor: Annotated[Actor, Depends(require(Permission.BREAK_GLASS_REVIEW))]) -> BreakGlassRead:
    return BreakGlassRead.model_validate(service.review_break_glass(session, actor, grant_id, data.note))
