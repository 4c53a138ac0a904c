"""ORU^R01 observation results -> values on tracked orders.

Each ORC/OBR group names the order by its placer number (ORC-2, else OBR-2) and carries OBX values. The
whole message is read and checked first (orders known, patient in PID is the order's patient, values valid)
and only then filed, so a message is applied entirely or not at all. OBR-25 says how far the order got:
I (specimen in, no results) marks it performed, X (cannot be done) cancels it, P/A/R/F/C file the values
(C corrects: a reviewed order goes back for review).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy.orm import Session

from careloop.auth.actor import Actor
from careloop.integrations.hl7v2.adt import AdtError, Header, PatientData, parse_datetime, read_patient
from careloop.integrations.hl7v2.apply import match_patient
from careloop.integrations.hl7v2.models import MessageStatus
from careloop.integrations.hl7v2.parse import Message, Segment
from careloop.integrations.hl7v2.visits import Applied
from careloop.results import rules
from careloop.results import service as results
from careloop.results.models import ResultOrder
from careloop.results.models import ResultStatus as S
from careloop.results.schemas import OrderMove, ValueIn

INTERPRETATIONS = frozenset({"N", "A", "AA", "H", "HH", "L", "LL"})  # the flags HL7 table 0078 and we share
RESULT_STATUSES = frozenset({"P", "A", "R", "F", "C"})
_CODED = frozenset({"CE", "CWE", "CNE"})


@dataclass
class ResultGroup:
    """One ORC/OBR group: the order it answers, OBR-25, and its values."""

    placer_number: str
    location: str  # where the placer number was read (for errors)
    result_status: str
    values: list[ValueIn] = field(default_factory=list)


@dataclass
class ResultMessage:
    header: Header
    sent_at: dt.datetime
    patient: PatientData
    groups: list[ResultGroup]


def read_results(msg: Message, header: Header, tz: str) -> ResultMessage:
    """The typed message; AdtError (AE) naming the segment and field for missing or invalid content."""
    zone = ZoneInfo(tz)
    sent_at = parse_datetime(header.sent_at_text, zone, "MSH^1^7")
    if sent_at is None:
        raise AdtError("MSH-7 message time is missing", "101", "MSH^1^7")
    pid = msg.first("PID")
    if pid is None:
        raise AdtError("PID segment is missing", "100", "PID")
    patient = read_patient(pid, header, zone)
    groups: list[ResultGroup] = []
    orc: Segment | None = None
    for seg in msg.segments:
        if seg.name == "ORC":
            orc = seg
        elif seg.name == "OBR":
            groups.append(_group(orc, seg, len(groups) + 1))
            orc = None
        elif seg.name == "OBX":
            if not groups:
                raise AdtError("OBX before any OBR segment", "100", "OBX")
            value = _value(seg, zone, len(groups[-1].values) + 1)
            if value is not None:
                groups[-1].values.append(value)
    if not groups:
        raise AdtError("OBR segment is missing", "100", "OBR")
    for group in groups:
        if group.result_status in RESULT_STATUSES and not group.values:
            raise AdtError(f"OBR-25 is {group.result_status} but the group has no OBX values", "101", "OBX")
        for value in group.values:
            value.observed_at = value.observed_at or sent_at
    return ResultMessage(header, sent_at, patient, groups)


def _group(orc: Segment | None, obr: Segment, number: int) -> ResultGroup:
    placer, location = (orc.value(2, 1, 1).strip(), "ORC^1^2") if orc is not None else ("", "")
    if not placer:
        placer, location = obr.value(2, 1, 1).strip(), f"OBR^{number}^2"
    if not placer:
        raise AdtError("placer order number (ORC-2 or OBR-2) is missing", "101", f"OBR^{number}^2")
    if len(placer) > 64:
        raise AdtError("placer order number is longer than 64 characters", "102", location)
    status = obr.value(25).strip().upper()
    if status and status not in RESULT_STATUSES | {"O", "I", "S", "X"}:
        raise AdtError(f"OBR-25 result status {status[:5]} is not one of O, I, S, P, A, R, F, C, X", "103",
                       f"OBR^{number}^25")
    return ResultGroup(placer, location, status)


def _value(obx: Segment, zone: ZoneInfo, number: int) -> ValueIn | None:
    """One OBX as a value; None for an OBX without a value (pending, deleted or an embedded document)."""
    kind = obx.value(2).strip().upper()
    if kind in _CODED:
        text = obx.value(5, 1, 2) or obx.value(5, 1, 1)
    elif kind == "SN":  # structured numeric: comparator, number, separator, number
        text = "".join(obx.value(5, 1, c) for c in range(1, 5))
    elif kind in ("ED", "RP"):  # documents and pointers are not result values
        return None
    else:
        text = obx.value(5, 1, 1)
    text = text.strip()
    if not text or obx.value(11).strip().upper() in ("D", "W", "X"):
        return None
    code = obx.value(3, 1, 1).strip()
    display = (obx.value(3, 1, 2) or obx.value(3, 1, 9) or code).strip()
    interpretation = obx.value(8, 1, 1).strip().upper()
    location = f"OBX^{number}"
    try:
        return ValueIn(code=code, display=display[:200], value=text[:200], unit=obx.value(6, 1, 1)[:30] or None,
                       reference_range=obx.value(7)[:60] or None,
                       interpretation=interpretation if interpretation in INTERPRETATIONS else None,
                       observed_at=parse_datetime(obx.value(14), zone, f"{location}^14"))
    except ValidationError as err:
        where = str(err.errors()[0]["loc"][0])
        field_num = {"code": 3, "display": 3, "value": 5}.get(where, 3)
        raise AdtError(f"OBX-{field_num} is missing or invalid", "102", f"{location}^{field_num}") from None


def apply_results(session: Session, org_id: uuid.UUID, message: ResultMessage, actor: Actor) -> Applied:
    """File every group on its order, or nothing: every check comes before the first write."""
    patient_id, _, _ = match_patient(session, org_id, message.patient)
    orders: list[tuple[ResultGroup, ResultOrder]] = []
    for group in message.groups:
        order = results.find_by_placer(session, org_id, group.placer_number)
        if order is None:
            raise AdtError("no tracked order has this placer order number", "204", group.location)
        if patient_id != order.patient_id:
            raise AdtError("the patient in PID-3 is not the patient the order is for", "204", "PID^1^3")
        if _files(group) and not rules.can_move(order.status, S.RESULTED):
            raise AdtError(f"the order is {order.status.value} and cannot take a result", "207", group.location)
        orders.append((group, order))
    applied = Applied(MessageStatus.APPLIED, patient_id=patient_id)
    for group, order in orders:
        if _files(group):
            results.file_result(session, actor, order, group.values, source="hl7")
        elif group.result_status == "I" and order.status == S.ORDERED:
            results.change_status(session, actor, order, OrderMove(status=S.PERFORMED))
        elif group.result_status == "X" and order.status in rules.AWAITING:
            results.change_status(session, actor, order, OrderMove(
                status=S.CANCELLED, note="the performer reported the result cannot be obtained (OBR-25 X)"))
        else:
            applied.add_note(f"order {group.placer_number[:64]}: OBR-25 {group.result_status or '(empty)'} "
                             f"left it {order.status.value}")
    return applied


def _files(group: ResultGroup) -> bool:
    return bool(group.values) and group.result_status in ("", *RESULT_STATUSES)
