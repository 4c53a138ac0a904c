"""Clinical record JSON API: the same five routes for every record kind."""

import uuid
from typing import Annotated, Any

from fastapi import Body, Depends, Query, Request, Response
from sqlalchemy.orm import Session

from careloop.auth.actor import Actor
from careloop.auth.deps import require
from careloop.auth.permissions import Permission
from careloop.clinical.service import KINDS, RecordKind, create_record, get_record, list_records, update_record
from careloop.etags import require_if_match, set_etag
from careloop.routing import db, router

api = router(prefix="/api/v1/patients/{patient_id}", tags=["clinical record"])
Db = Annotated[Session, Depends(db)]
Reader = Annotated[Actor, Depends(require(Permission.CLINICAL_READ))]
Writer = Annotated[Actor, Depends(require(Permission.CLINICAL_WRITE))]


def _register(kind: RecordKind) -> None:
    label = kind.record_type.lower()

    def list_(patient_id: uuid.UUID, session: Db, actor: Reader,
              code: Annotated[str | None, Query(max_length=20)] = None) -> list[Any]:
        return [kind.read.model_validate(r) for r in list_records(session, actor, kind, patient_id, code=code)]

    def create(patient_id: uuid.UUID, response: Response, session: Db, actor: Writer,
               data: Annotated[kind.create, Body()]) -> Any:
        record = create_record(session, actor, kind, patient_id, data)
        set_etag(response, record.version)
        response.headers["Location"] = f"/api/v1/patients/{patient_id}/{kind.path}/{record.id}"
        return kind.read.model_validate(record)

    def read(patient_id: uuid.UUID, record_id: uuid.UUID, response: Response, session: Db, actor: Reader) -> Any:
        record = get_record(session, actor, kind, patient_id, record_id)
        set_etag(response, record.version)
        return kind.read.model_validate(record)

    def update(patient_id: uuid.UUID, record_id: uuid.UUID, request: Request, response: Response, session: Db,
               actor: Writer, data: Annotated[kind.update, Body()]) -> Any:
        record = update_record(session, actor, kind, patient_id, record_id, data,
                               expected_version=require_if_match(request))
        set_etag(response, record.version)
        return kind.read.model_validate(record)

    base = f"/{kind.path}"
    api.add_api_route(base, list_, methods=["GET"], response_model=list[kind.read], summary=f"List {kind.path}",
                      name=f"list_{kind.path}")
    api.add_api_route(base, create, methods=["POST"], response_model=kind.read, status_code=201,
                      summary=f"Add a {label}", name=f"create_{label}")
    api.add_api_route(base + "/{record_id}", read, methods=["GET"], response_model=kind.read,
                      summary=f"Read a {label}", name=f"read_{label}")
    api.add_api_route(base + "/{record_id}", update, methods=["PATCH"], response_model=kind.read,
                      summary=f"Update a {label} (If-Match required)", name=f"update_{label}")


for _kind in KINDS.values():
    _register(_kind)
