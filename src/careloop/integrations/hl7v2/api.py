"""HTTP surface of the feed: POST a message (ACK back), the review queue and dead letters as JSON."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from careloop.auth.actor import Actor
from careloop.auth.deps import client_address, require
from careloop.auth.permissions import Permission
from careloop.errors import UnsupportedMediaType
from careloop.integrations.hl7v2 import review
from careloop.integrations.hl7v2.models import MessageStatus
from careloop.integrations.hl7v2.service import Frame, Ingest
from careloop.routing import db, router

api = router(prefix="/api/v1/hl7", tags=["hl7"])
Db = Annotated[Session, Depends(db)]
Admin = Annotated[Actor, Depends(require(Permission.HL7_ADMIN))]
ER7 = "x-application/hl7-v2+er7"
ACCEPTED_TYPES = (ER7, "text/plain", "application/hl7-v2")
_STATUS = {"AA": 200, "AE": 422, "AR": 400}


def _ingest(request: Request, session: Session, body: bytes, actor: Actor) -> str:
    session.commit()  # end the request's own transaction first: the feed commits in its own
    ingest = Ingest(request.app.state.session_factory)
    return ingest.handle([Frame(body, "http", client_address(request))], organization_id=actor.organization_id)[0]


@api.post("/messages", summary="Submit one HL7 v2 ADT message; the response body is the HL7 ACK",
          response_class=Response, responses={200: {"content": {ER7: {}}, "description": "AA"},
                                              400: {"description": "AR (rejected)"},
                                              422: {"description": "AE (content error)"},
                                              503: {"description": "AR (stored nothing; retry later)"}})
async def submit(request: Request, session: Db, actor: Admin) -> Response:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in ACCEPTED_TYPES:
        raise UnsupportedMediaType(f"Content-Type must be {ER7} or text/plain")
    body = await request.body()
    ack = await run_in_threadpool(_ingest, request, session, body, actor)
    code = ack.split("\r")[1][4:6]
    status = 503 if code == "AR" and "temporarily" in ack else _STATUS.get(code, 400)
    return Response(ack, status_code=status, media_type=ER7)


class MessageRead(BaseModel):
    id: int
    received_at: dt.datetime
    status: MessageStatus
    ack_code: str | None
    message_type: str | None
    trigger_event: str | None
    control_id: str | None
    sending_facility: str | None
    event_at: dt.datetime | None
    patient_identifier: str | None
    patient_id: uuid.UUID | None
    encounter_id: uuid.UUID | None
    error_text: str | None
    note: str | None

    model_config = {"from_attributes": True}


class LinkRequest(BaseModel):
    patient_id: uuid.UUID


class DismissRequest(BaseModel):
    reason: str = Field(min_length=3, max_length=300)


@api.get("/review", response_model=list[MessageRead], summary="Messages waiting for a person to pick the patient")
def review_queue(session: Db, actor: Admin) -> list[MessageRead]:
    return [MessageRead.model_validate(m) for m in review.review_queue(session, actor)]


@api.get("/dead-letters", response_model=list[MessageRead], summary="Rejected and failed messages")
def dead_letters(session: Db, actor: Admin) -> list[MessageRead]:
    return [MessageRead.model_validate(m) for m in review.dead_letters(session, actor)]


@api.post("/messages/{message_id}/link", response_model=MessageRead, summary="Apply a queued message to a patient")
def link(message_id: int, data: LinkRequest, session: Db, actor: Admin) -> MessageRead:
    return MessageRead.model_validate(review.link_patient(session, actor, message_id, data.patient_id))


@api.post("/messages/{message_id}/dismiss", response_model=MessageRead, summary="Close a message needing no action")
def dismiss(message_id: int, data: DismissRequest, session: Db, actor: Admin) -> MessageRead:
    return MessageRead.model_validate(review.dismiss(session, actor, message_id, data.reason))
