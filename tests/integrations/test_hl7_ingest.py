"""ADT ingest: store, apply, acknowledge; duplicates, routing, out-of-order events, cancels and merges."""

from __future__ import annotations

import datetime as dt

import pytest
from hl7_messages import ack_fields, adt
from sqlalchemy import func, select

from careloop.audit.models import AuditEvent
from careloop.clinical.models import Encounter, EncounterClass, EncounterStatus
from careloop.events.models import DomainEvent
from careloop.integrations.hl7v2.models import Hl7Message, Hl7PatientIdentifier, MessageStatus
from careloop.patients.models import Patient
from careloop.transitions.rules import COMPLEXITY_RULE
from factories import make_patient


@pytest.fixture
def patient(session, org, coordinator):
    p = make_patient(session, org, coordinator, mrn="H100", mrn_authority="HOSP", family_name="Doe",
                     given_name="Jane", birth_date=dt.date(1950, 1, 1), sex="female")
    session.commit()
    return p


def _messages(session, **where):
    stmt = select(Hl7Message).order_by(Hl7Message.id)
    for name, value in where.items():
        stmt = stmt.where(getattr(Hl7Message, name) == value)
    return session.scalars(stmt).all()


def _encounters(session, patient):
    return session.scalars(select(Encounter).where(Encounter.patient_id == patient.id)
                           .order_by(Encounter.start_at)).all()


def _events(session, kind):
    return session.scalars(select(DomainEvent).where(DomainEvent.type == kind)).all()


def test_admission_creates_encounter_and_acks_aa_with_correct_envelope(session, send, patient):
    text = adt("A01", control="CTRL1", admit="20261101073000", dg1="I50.9^Heart failure^I10")
    ack = ack_fields(send(text))
    assert ack["MSA"][1:3] == ["AA", "CTRL1"]
    msh = ack["MSH"]
    assert msh[2:6] == ["CL", "CARELOOP", "HIS", "GENHOSP"]  # MSH-3/4 and MSH-5/6 swapped
    assert msh[8].startswith("ACK^A01") and msh[11] == "2.5.1"
    [enc] = _encounters(session, patient)
    assert (enc.encounter_class, enc.status, enc.visit_number) == (EncounterClass.INPATIENT,
                                                                   EncounterStatus.IN_PROGRESS, "V1")
    assert enc.start_at == dt.datetime(2026, 11, 1, 13, 30, tzinfo=dt.UTC)  # Chicago (CDT ended Nov 1, 2am)
    assert enc.attending == "Greg House" and enc.facility_name == "GENHOSP" and "I50.9" in enc.reason
    [event] = _events(session, "encounter.admitted")
    assert event.payload["encounter_id"] == str(enc.id)
    [row] = _messages(session)
    assert (row.status, row.ack_code, row.patient_id, row.encounter_id) == (MessageStatus.APPLIED, "AA",
                                                                             patient.id, enc.id)


def test_duplicate_control_id_is_acked_again_and_applied_once(session, send, patient):
    text = adt("A01", control="DUP1")
    first, second = send(text), send(text)
    assert ack_fields(first)["MSA"][1] == ack_fields(second)["MSA"][1] == "AA"
    assert ack_fields(second)["MSA"][2] == "DUP1"
    assert len(_encounters(session, patient)) == 1
    assert [m.status for m in _messages(session)] == [MessageStatus.APPLIED, MessageStatus.DUPLICATE]
    assert session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "hl7_duplicate"))


def test_same_control_id_in_one_batch_is_a_duplicate(session, send, patient):
    acks = send(adt("A01", control="B1"), adt("A01", control="B1"))
    assert [ack_fields(a)["MSA"][1] for a in acks] == ["AA", "AA"]
    assert len(_encounters(session, patient)) == 1


@pytest.mark.parametrize(("kwargs", "code", "err"), [
    ({"receiving": "ELSEWHERE"}, "AR", "207"),
    ({"version": "9.9"}, "AR", "203"),
    ({"version": "2.8"}, "AR", "203"),
    ({"event": "A99"}, "AR", "201"),
    ({"event": "Z99", "message_type": "ZZZ"}, "AR", "200"),
])
def test_unsupported_or_unroutable_messages_are_rejected(session, send, kwargs, code, err):
    ack = ack_fields(send(adt(**kwargs)))
    assert ack["MSA"][1] == code
    assert err in "|".join(ack["ERR"])
    [row] = _messages(session)
    assert row.status == MessageStatus.REJECTED and row.error_text


def test_missing_pid3_is_ae_with_err_segment(session, send, org):
    text = adt("A01", control="NOPID").replace("PID|1||H100^^^HOSP^MR|", "PID|1|||")
    ack = ack_fields(send(text))
    assert ack["MSA"][1:3] == ["AE", "NOPID"]
    assert ack["ERR"][2] == "PID^1^3" and ack["ERR"][3].startswith("101^")
    [row] = _messages(session)
    assert row.status == MessageStatus.ERROR and "PID-3" in row.error_text


def test_err_segment_for_v23_uses_err1(send, org):
    text = adt("A01", version="2.3").replace("PID|1||H100^^^HOSP^MR|", "PID|1|||")
    ack = ack_fields(send(text))
    assert ack["ERR"][1] == "PID^1^3^101&Required field missing&HL70357"


def test_bad_dates_are_ae(session, send, patient):
    assert ack_fields(send(adt("A01", admit="2026-11-01")))["MSA"][1] == "AE"
    assert ack_fields(send(adt("A01", when="20991231120000")))["MSA"][1] == "AE"  # EVN-2 in the future
    assert ack_fields(send(adt("A01", when="19000101")))["MSA"][1] == "AE"
    assert _encounters(session, patient) == []


def test_unknown_patient_goes_to_review_and_is_acked(session, send, org):
    ack = ack_fields(send(adt("A01", mrn="NOBODY", family="Unknown")))
    assert ack["MSA"][1] == "AA"
    [row] = _messages(session)
    assert row.status == MessageStatus.NEEDS_REVIEW and row.patient_identifier == "NOBODY^HOSP"


def test_demographic_match_links_identifier(session, send, org, coordinator):
    p = make_patient(session, org, coordinator, family_name="Smith", given_name="Ann",
                     birth_date=dt.date(1960, 5, 5), sex="female")
    send(adt("A04", mrn="X9", family="SMITH", given="ANN", dob="19600505", pclass="E"))
    [enc] = _encounters(session, p)
    assert enc.encounter_class == EncounterClass.EMERGENCY
    assert session.scalar(select(Hl7PatientIdentifier.patient_id).where(Hl7PatientIdentifier.value == "X9")) == p.id


def test_ambiguous_demographics_go_to_review(session, send, org, coordinator):
    for _ in range(2):
        make_patient(session, org, coordinator, family_name="Twin", given_name="Sam",
                     birth_date=dt.date(1970, 1, 1), sex="male")
    send(adt("A01", mrn="T1", family="Twin", given="Sam", dob="19700101", sex="M"))
    [row] = _messages(session)
    assert row.status == MessageStatus.NEEDS_REVIEW and row.note.startswith("ambiguous")


def test_stale_a08_does_not_overwrite_newer_demographics(session, send, patient):
    send(adt("A08", family="Doe", given="Ann", when="20261102120000"))
    send(adt("A08", family="Doe", given="Anne", when="20261102110000"))
    session.expire_all()
    assert session.get(Patient, patient.id).given_name == "Ann"
    assert _messages(session)[-1].note.startswith("demographics older")
    assert "kept as history" in _messages(session)[-1].note


def test_discharge_before_admission(session, send, patient):
    send(adt("A03", when="20261105100000", admit="20261101080000", discharge="20261105093000", disposition="01"))
    send(adt("A01", when="20261101080000", admit="20261101080000"))
    [enc] = _encounters(session, patient)
    assert enc.status == EncounterStatus.FINISHED and enc.discharge_disposition == "01"
    assert enc.end_at == dt.datetime(2026, 11, 5, 15, 30, tzinfo=dt.UTC)
    [discharged] = _events(session, "encounter.discharged")
    assert discharged.payload == {"encounter_id": str(enc.id), "encounter_class": "inpatient",
                                  "discharged_at": enc.end_at.isoformat(), "complexity": "moderate",
                                  "complexity_rule": COMPLEXITY_RULE}
    assert _events(session, "encounter.admitted") == []


def test_cancel_admit_and_cancel_discharge(session, send, patient):
    send(adt("A01", when="20261101080000"))
    send(adt("A11", when="20261101090000"))
    [enc] = _encounters(session, patient)
    session.refresh(enc)
    assert enc.status == EncounterStatus.CANCELLED
    assert len(_events(session, "encounter.admit_cancelled")) == 1
    send(adt("A01", visit="V2", when="20261102080000"))
    send(adt("A03", visit="V2", when="20261103080000"))
    send(adt("A13", visit="V2", when="20261103090000"))
    second = next(e for e in _encounters(session, patient) if e.visit_number == "V2")
    session.refresh(second)
    assert second.status == EncounterStatus.IN_PROGRESS and second.end_at is None
    assert len(_events(session, "encounter.discharge_cancelled")) == 1


def test_cancel_for_unknown_visit_is_aa_without_action(session, send, patient):
    assert ack_fields(send(adt("A11", visit="NEVER")))["MSA"][1] == "AA"
    assert _encounters(session, patient) == []
    assert _messages(session)[0].note.startswith("no such visit")


def test_transfer_and_class_change(session, send, patient):
    send(adt("A04", pclass="E", when="20261101080000"))
    send(adt("A06", pclass="I", when="20261101100000"))
    [enc] = _encounters(session, patient)
    session.refresh(enc)
    assert enc.encounter_class == EncounterClass.INPATIENT
    send(adt("A02", pclass="I", when="20261101120000").replace("4E^401^B^GENHOSP", "5W^1^A^NORTHWING"))
    session.refresh(enc)
    assert enc.facility_name == "NORTHWING"


def test_observation_class(session, send, patient):
    send(adt("A01", pclass="O").replace("|V1|", "|V1|").replace("PV1|1|O|", "PV1|1|OBS|"))
    [enc] = _encounters(session, patient)
    assert enc.encounter_class == EncounterClass.OBSERVATION


def test_readmission_within_30_days_links_index_stay(session, send, patient):
    send(adt("A01", visit="S1", when="20261001080000", admit="20261001080000"))
    send(adt("A03", visit="S1", when="20261005080000", discharge="20261005080000"))
    send(adt("A01", visit="S2", when="20261020080000", admit="20261020080000"))
    send(adt("A01", visit="S3", when="20261115080000", admit="20261115080000"))
    by_visit = {e.visit_number: e for e in _encounters(session, patient)}
    assert by_visit["S2"].readmission_of_id == by_visit["S1"].id
    assert by_visit["S3"].readmission_of_id is None


def test_merge_a40_moves_records_and_old_mrn_resolves_to_survivor(session, send, org, coordinator):
    survivor = make_patient(session, org, coordinator, mrn="NEW1", mrn_authority="HOSP")
    old = make_patient(session, org, coordinator, mrn="OLD1", mrn_authority="HOSP")
    send(adt("A01", mrn="OLD1", visit="M1", family=old.family_name, given=old.given_name))
    ack = ack_fields(send(adt("A40", mrn="NEW1", mrg="OLD1", pv1=False)))
    assert ack["MSA"][1] == "AA"
    session.expire_all()
    assert session.get(Patient, old.id).merged_into_id == survivor.id
    send(adt("A08", mrn="OLD1", visit="M1", when="20261101090000", family=survivor.family_name))
    assert [e.patient_id for e in _encounters(session, survivor)] != []
    assert _messages(session)[-1].patient_id == survivor.id
    assert session.scalar(select(func.count()).select_from(Patient).where(Patient.mrn == "OLD1")) == 1


def test_self_merge_is_ae(send, patient):
    ack = ack_fields(send(adt("A40", mrn="H100", mrg="H100", pv1=False)))
    assert ack["MSA"][1] == "AE"


def test_a_b_a_merge_chain_is_safe(session, send, org, coordinator):
    a = make_patient(session, org, coordinator, mrn="A1", mrn_authority="HOSP")
    make_patient(session, org, coordinator, mrn="B1", mrn_authority="HOSP")
    assert ack_fields(send(adt("A40", mrn="B1", mrg="A1", pv1=False)))["MSA"][1] == "AA"
    assert ack_fields(send(adt("A40", mrn="A1", mrg="B1", pv1=False)))["MSA"][1] == "AA"
    session.expire_all()
    assert session.get(Patient, a.id).merged_into_id is not None
