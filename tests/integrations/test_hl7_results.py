"""ORU^R01 results on the same feed as ADT: filed on the tracked order they name, all or nothing, with
AE naming what to fix; a real laboratory sample (NIST LRI CBC) end to end; the MLLP listener."""

from __future__ import annotations

import datetime as dt

import pytest
from hl7_messages import Client, ack_fields, adt, obx, oru
from sqlalchemy import func, select

from careloop.integrations.hl7v2 import parse
from careloop.integrations.hl7v2.models import Hl7Message, MessageStatus
from careloop.integrations.hl7v2.review import replay
from careloop.results import service as results
from careloop.results.models import ResultOrder, ResultStatus, ResultValue
from careloop.results.schemas import OrderCreate, OrderMove
from careloop.staff.models import StaffRole
from careloop.tasks.models import OPEN_STATUSES, Task, TaskFocus, TaskPriority
from factories import actor_of, make_patient, make_staff
from shared_data import SHARED_DATA


@pytest.fixture
def doctor(session, org):
    staff = make_staff(session, org, StaffRole.PRIMARY_CARE_PHYSICIAN)
    session.commit()
    return staff


@pytest.fixture
def patient(session, org, coordinator, doctor):
    p = make_patient(session, org, coordinator, pcp=doctor, mrn="H100", mrn_authority="HOSP", family_name="Doe",
                     given_name="Jane", birth_date=dt.date(1950, 1, 1), sex="female")
    session.commit()
    return p


def _order(session, doctor, patient, placer: str, kind: str = "lab") -> ResultOrder:
    order = results.create_order(session, actor_of(doctor), patient.id, OrderCreate(
        kind=kind, code="2823-3", display="Potassium", placer_number=placer))
    session.commit()
    return order


def _state(session, order):
    session.expire_all()
    order = session.get(ResultOrder, order.id)
    values = {v.code: (v.value, v.interpretation) for v in results.values_of(session, order)}
    return order.status, order.flag, values


def _tasks(session, order):
    return session.scalars(select(Task).where(Task.focus_type == TaskFocus.RESULT, Task.focus_id == order.id)
                           .order_by(Task.created_at)).all()


def _code(ack: str) -> str:
    return ack_fields(ack)["MSA"][1]


def test_a_critical_result_is_filed_on_its_order_with_a_stat_task(session, send, doctor, patient):
    order = _order(session, doctor, patient, "ORD-1")
    ack = send(oru(("ORD-1", "F", [obx(value="6.9", flag="HH", observed="20261101071500"),
                                   obx("2951-2", "139", "N", name="Sodium")])))
    assert _code(ack) == "AA", ack
    status, flag, values = _state(session, order)
    assert (status, flag) == (ResultStatus.RESULTED, "critical")
    assert values == {"2823-3": ("6.9", "HH"), "2951-2": ("139", "N")}
    [task] = _tasks(session, order)
    assert (task.priority, task.owner_id) == (TaskPriority.STAT, doctor.id)
    row = session.scalars(select(Hl7Message).order_by(Hl7Message.id.desc())).first()
    assert (row.status, row.patient_id, row.message_type) == (MessageStatus.APPLIED, patient.id, "ORU")
    observed = session.scalar(select(ResultValue.observed_at).where(ResultValue.code == "2823-3"))
    assert observed == dt.datetime(2026, 11, 1, 13, 15, tzinfo=dt.UTC)  # Chicago time in, UTC stored


def test_preliminary_then_final_replaces_values_and_a_correction_reopens_review(session, send, doctor, patient):
    order = _order(session, doctor, patient, "ORD-2")
    assert _code(send(oru(("ORD-2", "P", [obx(value="5.4", flag="H", status="P")])))) == "AA"
    assert _state(session, order)[:2] == (ResultStatus.RESULTED, "abnormal")
    assert _code(send(oru(("ORD-2", "F", [obx(value="4.9", flag="N")])))) == "AA"
    assert _state(session, order) == (ResultStatus.RESULTED, "normal", {"2823-3": ("4.9", "N")})
    assert session.scalar(select(func.count()).select_from(ResultValue).where(ResultValue.order_id == order.id)) == 2
    results.change_status(session, actor_of(doctor), session.get(ResultOrder, order.id),
                          OrderMove(status=ResultStatus.REVIEWED))
    session.commit()
    assert _code(send(oru(("ORD-2", "C", [obx(value="5.0", flag="N", status="C")])))) == "AA"
    status, _, values = _state(session, order)
    assert status == ResultStatus.RESULTED and values == {"2823-3": ("5.0", "N")}
    assert session.get(ResultOrder, order.id).reviewed_at is None
    assert [t.title for t in _tasks(session, order) if t.status in OPEN_STATUSES] == [
        "Corrected result: review it again"]


def test_specimen_received_and_cannot_be_done(session, send, doctor, patient):
    first, second = _order(session, doctor, patient, "ORD-3"), _order(session, doctor, patient, "ORD-4")
    assert _code(send(oru(("ORD-3", "I", [])))) == "AA"
    assert _state(session, first)[0] == ResultStatus.PERFORMED
    assert _code(send(oru(("ORD-4", "X", [])))) == "AA"
    cancelled = session.get(ResultOrder, second.id)
    assert cancelled.status == ResultStatus.CANCELLED and "OBR-25 X" in cancelled.note


def test_unknown_order_is_ae_and_replays_once_the_order_is_tracked(session, send, session_factory, doctor,
                                                                     patient):
    ack = ack_fields(send(oru(("LATE-1", "F", [obx(value="4.0")]))))
    assert ack["MSA"][1] == "AE" and ack["ERR"][3].startswith("204^") and ack["ERR"][2] == "ORC^1^2"
    row = session.scalars(select(Hl7Message).order_by(Hl7Message.id.desc())).first()
    assert row.status == MessageStatus.ERROR and "placer order number" in row.error_text
    order = _order(session, doctor, patient, "LATE-1")
    assert replay(session_factory, row.id) == "AA"
    assert _state(session, order)[0] == ResultStatus.RESULTED


def test_a_message_is_filed_entirely_or_not_at_all(session, send, org, doctor, patient, coordinator):
    good, done = _order(session, doctor, patient, "ORD-5"), _order(session, doctor, patient, "ORD-6")
    results.change_status(session, actor_of(doctor), session.get(ResultOrder, done.id),
                          OrderMove(status=ResultStatus.CANCELLED, note="duplicate order"))
    session.commit()
    ack = ack_fields(send(oru(("ORD-5", "F", [obx(value="4.2")]), ("ORD-6", "F", [obx(value="4.3")]))))
    assert ack["MSA"][1] == "AE" and "cancelled" in ack["MSA"][3]
    assert _state(session, good) == (ResultStatus.ORDERED, None, {})
    other = make_patient(session, org, coordinator, mrn="H200", mrn_authority="HOSP")
    session.commit()
    ack = ack_fields(send(oru(("ORD-5", "F", [obx(value="4.2")]), mrn="H200")))
    assert ack["MSA"][1] == "AE" and ack["ERR"][2] == "PID^1^3"  # another patient's order: never filed
    assert _state(session, good)[0] == ResultStatus.ORDERED and other.id != patient.id
    assert not _tasks(session, good)


@pytest.mark.parametrize(("message", "location", "code"), [
    (oru(("ORD-7", "F", [])), "OBX", "101"),  # final without values
    (oru(("ORD-7", "Q", [obx()])), "OBR^1^25", "103"),  # not a result status
    (oru(("", "F", [obx()]), orc=False), "OBR^1^2", "101"),  # no placer number
    (oru(("ORD-7", "F", [obx(observed="2026-11-01")])), "OBX^1^14", "102"),  # not an HL7 date/time
    (oru(("ORD-7", "F", [obx(code="")])), "OBX^1^3", "102"),  # no observation code
])
def test_bad_content_is_ae_naming_the_field(session, send, doctor, patient, message, location, code):
    order = _order(session, doctor, patient, "ORD-7")
    ack = ack_fields(send(message))
    assert ack["MSA"][1] == "AE" and ack["ERR"][2] == location and ack["ERR"][3].startswith(f"{code}^"), ack
    assert _state(session, order) == (ResultStatus.ORDERED, None, {})


def test_real_lri_cbc_sample_is_filed(session, send, org, coordinator, doctor):
    """NIST's LRI CBC message: 28 values (numeric, coded, text), a critical leukocyte count (HH)."""
    patient = make_patient(session, org, coordinator, pcp=doctor, mrn="PATID1234", mrn_authority="NIST MPI")
    session.commit()
    order = _order(session, doctor, patient, "ORD666555")
    raw = (SHARED_DATA / "hl7v2/microsoft-fhir-converter/LRI_2.0-NG_CBC_Typ_Message.hl7").read_text()
    lines = parse.normalise(raw).split("\r")
    msh = lines[0].split("|")
    msh[5] = "CARELOOP"
    ack = send("\r".join(["|".join(msh), *lines[1:]]))
    assert _code(ack) == "AA", ack
    status, flag, values = _state(session, order)
    assert (status, flag, len(values)) == (ResultStatus.RESULTED, "critical", 28)
    assert values["26464-8"] == ("105600", "HH") and values["718-7"] == ("12.5", "L")
    unit = session.scalar(select(ResultValue.unit).where(ResultValue.code == "718-7"))
    assert unit == "g/mL"


def test_results_arrive_over_the_mllp_listener(port, session, doctor, patient):
    order = _order(session, doctor, patient, "ORD-8")
    client = Client(port)
    try:
        assert _code(client.send(oru(("ORD-8", "F", [obx(value="3.1", flag="L")])))) == "AA"
    finally:
        client.close()
    assert _state(session, order)[:2] == (ResultStatus.RESULTED, "abnormal")


def test_a_result_inside_a_batch_of_adt_messages(session, send, doctor, patient):
    """Messages arriving together: the ORU is applied on its own between the ADT runs, each ACKed for itself."""
    order = _order(session, doctor, patient, "ORD-9")
    acks = send(*[adt("A08", mrn="H100", authority="HOSP") for _ in range(5)],
                oru(("ORD-9", "F", [obx(value="4.4")])), oru(("NOPE", "F", [obx()])),
                *[adt("A08", mrn="H100", authority="HOSP") for _ in range(5)])
    assert [_code(a) for a in acks] == ["AA"] * 5 + ["AA", "AE"] + ["AA"] * 5
    assert _state(session, order)[0] == ResultStatus.RESULTED
