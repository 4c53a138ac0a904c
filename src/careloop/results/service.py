"""Tracked results: place an order, record what comes back, review it, tell the patient; tasks on the way."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from careloop import clock
from careloop.audit import service as audit
from careloop.auth import access
from careloop.auth.actor import Actor
from careloop.auth.permissions import Permission
from careloop.errors import Conflict, Forbidden, InvalidInput, InvalidTransition
from careloop.events import service as events
from careloop.results import rules
from careloop.results.models import ResultFlag, ResultOrder, ResultValue
from careloop.results.models import ResultStatus as S
from careloop.results.schemas import OrderCreate, OrderMove, ResultIn, ValueIn
from careloop.tasks import service as tasks
from careloop.tasks.models import Task, TaskFocus, TaskPriority

_FLAG_TASKS = {ResultFlag.CRITICAL: (TaskPriority.STAT, "Critical result: act on it now"),
               ResultFlag.ABNORMAL: (TaskPriority.URGENT, "Abnormal result: review it")}


def create_order(session: Session, actor: Actor, patient_id: uuid.UUID, data: OrderCreate) -> ResultOrder:
    """Track an order placed by the acting clinician; it is expected back within the kind's allowance."""
    patient = access.load_patient(session, actor, patient_id, Permission.CLINICAL_WRITE)
    if actor.staff_id is None:
        raise Forbidden("An order is placed by a person, not a system client", code="orderer_required")
    placer = data.placer_number or f"CL-{uuid.uuid4().hex[:12].upper()}"
    if session.scalar(select(ResultOrder.id).where(ResultOrder.organization_id == patient.organization_id,
                                                   ResultOrder.placer_number == placer)):
        raise Conflict("An order with this number exists", code="duplicate_order")
    now = clock.now()
    order = ResultOrder(organization_id=patient.organization_id, patient_id=patient.id, ordered_by_id=actor.staff_id,
                        placer_number=placer, kind=data.kind, code=data.code, code_system=data.code_system,
                        display=data.display, ordered_at=now, status_at=now,
                        expected_by=now + rules.EXPECTED_WITHIN[data.kind])
    session.add(order)
    session.flush()
    _record(session, actor, order, "create")
    return order


def get_order(session: Session, actor: Actor, order_id: uuid.UUID, permission: Permission) -> ResultOrder:
    return access.load_patient_record(session, actor, ResultOrder, order_id, permission, what="order")


def patient_orders(session: Session, actor: Actor, patient_id: uuid.UUID) -> list[ResultOrder]:
    access.load_patient(session, actor, patient_id, Permission.CLINICAL_READ)
    return list(session.scalars(select(ResultOrder).where(ResultOrder.patient_id == patient_id)
                                .order_by(ResultOrder.ordered_at.desc(), ResultOrder.id)))


def values_of(session: Session, order: ResultOrder) -> list[ResultValue]:
    """The current values (a corrected or final value replaces the earlier one for the same code)."""
    return list(session.scalars(select(ResultValue).where(ResultValue.order_id == order.id,
                                                          ResultValue.superseded_at.is_(None))
                                .order_by(ResultValue.code, ResultValue.id)))


def find_by_placer(session: Session, organization_id: uuid.UUID, placer_number: str) -> ResultOrder | None:
    """The organisation's order with this number (results refer to it: ORC-2/OBR-2), locked for the update."""
    return session.scalar(select(ResultOrder).where(ResultOrder.organization_id == organization_id,
                                                    ResultOrder.placer_number == placer_number)
                          .with_for_update())


def record_result(session: Session, actor: Actor, order_id: uuid.UUID, data: ResultIn) -> ResultOrder:
    """Store the values that came back; an abnormal or critical result is a task for the orderer at once."""
    return file_result(session, actor, get_order(session, actor, order_id, Permission.CLINICAL_WRITE),
                       data.values)


def file_result(session: Session, actor: Actor, order: ResultOrder, values: list[ValueIn],
                source: str = "api") -> ResultOrder:
    """Values for an order the caller may write to (the API checked access; the HL7 feed matched the patient).
    Each value replaces the current one with the same code; the flag is that of the current values."""
    if not rules.can_move(order.status, S.RESULTED):
        raise InvalidTransition(f"A {order.status.value} order cannot take a result")
    now = clock.now()
    corrected = order.status in (S.REVIEWED, S.COMMUNICATED)
    session.execute(update(ResultValue).where(ResultValue.order_id == order.id,
                                              ResultValue.superseded_at.is_(None),
                                              ResultValue.code.in_({v.code for v in values}))
                    .values(superseded_at=now))
    for v in values:
        session.add(ResultValue(order_id=order.id, organization_id=order.organization_id, code=v.code,
                                display=v.display, value=v.value, unit=v.unit, reference_range=v.reference_range,
                                interpretation=v.interpretation.upper() if v.interpretation else None,
                                observed_at=clock.ensure_utc(v.observed_at or now), source=source))
    session.flush()
    order.flag = rules.flag_of([v.interpretation for v in values_of(session, order)])
    order.status, order.status_at, order.resulted_at = S.RESULTED, now, now
    order.reviewed_by_id = order.reviewed_at = None
    session.flush()
    tasks.complete_focus_tasks(session, TaskFocus.RESULT, order.id, "Result received")
    if order.flag in _FLAG_TASKS:
        priority, title = _FLAG_TASKS[order.flag]
        _task(session, order, title, priority, now + dt.timedelta(hours=1 if priority == TaskPriority.STAT else 24))
    elif corrected:
        _task(session, order, "Corrected result: review it again", TaskPriority.URGENT, now + dt.timedelta(hours=24))
    _record(session, actor, order, "update")
    return order


def move(session: Session, actor: Actor, order_id: uuid.UUID, data: OrderMove) -> ResultOrder:
    """Performed, reviewed (by the orderer), communicated to the patient (how), or cancelled (why)."""
    return change_status(session, actor, get_order(session, actor, order_id, Permission.CLINICAL_WRITE), data)


def change_status(session: Session, actor: Actor, order: ResultOrder, data: OrderMove) -> ResultOrder:
    """Move an order the caller may write to (see `move`)."""
    target = data.status
    if target == S.RESULTED or not rules.can_move(order.status, target):
        raise InvalidTransition(f"A {order.status.value} order cannot become {target.value}")
    now = clock.now()
    if target == S.REVIEWED:
        if actor.staff_id != order.ordered_by_id:
            raise Forbidden("The clinician who ordered it reviews the result", code="orderer_only")
        order.reviewed_by_id, order.reviewed_at = actor.staff_id, now
    elif target == S.COMMUNICATED:
        if not data.communication_method:
            raise InvalidInput("Say how the patient was told (phone, portal, letter, in person)",
                               field="communication_method")
        order.communicated_at, order.communication_method = now, data.communication_method
    elif target == S.CANCELLED and not data.note:
        raise InvalidInput("Say why the order is cancelled", field="note")
    order.status, order.status_at, order.note = target, now, data.note or order.note
    session.flush()
    if target != S.PERFORMED:
        tasks.complete_focus_tasks(session, TaskFocus.RESULT, order.id, f"Order is now {target.value}")
    if target == S.REVIEWED:  # the patient still has to hear about it
        _task(session, order, "Tell the patient their result", TaskPriority.ROUTINE, now + dt.timedelta(days=2))
    _record(session, actor, order, "update")
    return order


def sweep(session: Session, now: dt.datetime | None = None, limit: int = 1000) -> int:
    """Tasks for orders with nothing back in time and results not reviewed in time (once per status)."""
    now = now or clock.now()
    already = exists().where(Task.focus_type == TaskFocus.RESULT, Task.focus_id == ResultOrder.id,
                             Task.created_at >= ResultOrder.status_at)
    overdue = select(ResultOrder).where(ResultOrder.status.in_(rules.AWAITING), ResultOrder.expected_by <= now,
                                        ~already).limit(limit)
    unreviewed = select(ResultOrder).where(ResultOrder.status == S.RESULTED,
                                           ResultOrder.status_at <= now - rules.REVIEW_WITHIN, ~already).limit(limit)
    created = 0
    for order in session.scalars(overdue):
        _task(session, order, f"Result overdue: chase the {order.kind.value} result", TaskPriority.ROUTINE,
              now + dt.timedelta(days=1))
        created += 1
    for order in session.scalars(unreviewed):
        _task(session, order, "Result not reviewed yet", TaskPriority.URGENT, now + dt.timedelta(hours=24))
        created += 1
    return created


def _task(session: Session, order: ResultOrder, title: str, priority: TaskPriority, due: dt.datetime) -> Task:
    return tasks.create_task(session, organization_id=order.organization_id, patient_id=order.patient_id,
                             title=title, focus_type=TaskFocus.RESULT, focus_id=order.id,
                             owner_id=order.ordered_by_id, priority=priority, due_at=due,
                             description=f"{order.display} ({order.placer_number})")


def _record(session: Session, actor: Actor, order: ResultOrder, action: str) -> None:
    audit.record(session, actor, action, patient_id=order.patient_id, record_type="ResultOrder",
                 record_id=str(order.id), detail={"to": order.status.value})
    events.publish(session, f"result.{order.status.value}", organization_id=order.organization_id,
                   patient_id=order.patient_id, payload={"order_id": str(order.id), "kind": order.kind.value,
                                                         "flag": order.flag.value if order.flag else None})
