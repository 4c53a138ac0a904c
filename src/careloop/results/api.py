"""Results JSON API: tracked orders, their results, review and communication."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Response
from sqlalchemy.orm import Session

from careloop.auth.actor import Actor
from careloop.auth.deps import require
from careloop.auth.permissions import Permission
from careloop.results import service
from careloop.results.models import ResultOrder
from careloop.results.schemas import OrderCreate, OrderMove, OrderRead, ResultIn, ValueRead
from careloop.routing import db, router

api = router(prefix="/api/v1", tags=["results"])
Db = Annotated[Session, Depends(db)]
Reader = Annotated[Actor, Depends(require(Permission.CLINICAL_READ))]
Writer = Annotated[Actor, Depends(require(Permission.CLINICAL_WRITE))]


def to_read(session: Session, order: ResultOrder) -> OrderRead:
    read = OrderRead.model_validate(order)
    read.values = [ValueRead.model_validate(v) for v in service.values_of(session, order)]
    return read


@api.get("/patients/{patient_id}/result-orders", response_model=list[OrderRead], summary="A patient's tracked orders")
def patient_orders(patient_id: uuid.UUID, session: Db, actor: Reader) -> list[OrderRead]:
    return [to_read(session, o) for o in service.patient_orders(session, actor, patient_id)]


@api.post("/patients/{patient_id}/result-orders", response_model=OrderRead, status_code=201,
          summary="Track an order (lab, imaging, other)")
def create_order(patient_id: uuid.UUID, data: OrderCreate, response: Response, session: Db,
                 actor: Writer) -> OrderRead:
    order = service.create_order(session, actor, patient_id, data)
    response.headers["Location"] = f"/api/v1/result-orders/{order.id}"
    return to_read(session, order)


@api.get("/result-orders/{order_id}", response_model=OrderRead, summary="An order with its result")
def read_order(order_id: uuid.UUID, session: Db, actor: Reader) -> OrderRead:
    return to_read(session, service.get_order(session, actor, order_id, Permission.CLINICAL_READ))


@api.post("/result-orders/{order_id}/results", response_model=OrderRead,
          summary="Record the result values (abnormal and critical ones raise a task for the orderer)")
def record_result(order_id: uuid.UUID, data: ResultIn, session: Db, actor: Writer) -> OrderRead:
    return to_read(session, service.record_result(session, actor, order_id, data))


@api.post("/result-orders/{order_id}/status", response_model=OrderRead,
          summary="performed, reviewed (by the orderer), communicated (how), cancelled (why)")
def move_order(order_id: uuid.UUID, data: OrderMove, session: Db, actor: Writer) -> OrderRead:
    return to_read(session, service.move(session, actor, order_id, data))
