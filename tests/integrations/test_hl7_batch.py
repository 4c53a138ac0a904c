"""Batch ingest (store in one statement, lookups loaded once per batch, one pipeline) gives exactly the result
of applying the same messages one at a time: same outcomes, patients, identifiers, encounters and events."""

from __future__ import annotations

import datetime as dt
import logging
import re

import pytest
from hl7_messages import ack_fields, adt
from sqlalchemy import select

from careloop.clinical.models import Encounter
from careloop.events.models import DomainEvent
from careloop.integrations.hl7v2.models import Hl7Message, Hl7PatientIdentifier, Hl7Route, MessageStatus
from careloop.integrations.hl7v2.service import PREFETCH_MIN, Frame
from careloop.patients.models import Patient
from factories import make_org, make_patient, make_staff

PEOPLE = {  # mrn: (family, given, birth date)
    "P1": ("Able", "Ann", dt.date(1941, 2, 3)), "P2": ("Baker", "Bo", dt.date(1952, 4, 5)),
    "P3": ("Cole", "Cy", dt.date(1963, 6, 7)), "P4": ("Dunn", "Di", dt.date(1974, 8, 9)),
    "P5": ("Eve", "Ed", dt.date(1945, 1, 2)), "P6": ("Eve", "Edd", dt.date(1945, 1, 2)),
}


def _traffic(receiving: str, prefix: str, *, conflict: bool = False) -> list[str]:
    """Several messages per patient and visit, in one batch: every read a later message makes depends on
    what an earlier one in the same batch wrote."""
    def m(event: str, mrn: str, n: int, person: str | None = None, **kw) -> str:
        family, given, born = PEOPLE.get(person or mrn, ("Nobody", "Known", dt.date(1990, 1, 1)))
        kw.setdefault("family", family)
        return adt(event, control=f"{prefix}{n:03d}", mrn=mrn, given=given, dob=born.strftime("%Y%m%d"),
                   receiving=receiving, **kw)
    clash = [m("A08", "P2", 21, visit="V11", when="20261101110000")] if conflict else []  # P1's visit number
    return [
        m("A01", "P1", 1, visit="V11", when="20261101080000", admit="20261101080000"),
        m("A08", "P1", 2, visit="V11", when="20261101090000", family="Able-Smith"),  # renamed in the batch
        m("A02", "P1", 3, visit="V11", when="20261101100000", family="Able-Smith"),
        m("A03", "P1", 4, visit="V11", when="20261103100000", discharge="20261103100000", disposition="01",
          family="Able-Smith"),
        m("A08", "P1", 5, visit="V11", when="20261101083000", family="Stale"),  # older: history only
        m("A01", "P2", 6, visit="V21", when="20261101080000", admit="20261101080000"),
        m("A03", "P2", 7, visit="V21", when="20261102080000", discharge="20261102080000"),
        m("A01", "P2", 8, visit="V22", when="20261110080000", admit="20261110080000"),  # readmission
        m("A04", "P3", 9, visit="V31", pclass="E", when="20261101120000"),
        m("A06", "P3", 10, visit="V31", when="20261101130000"),  # ED -> inpatient
        # matched on name and birth date, then by the identifier that first message taught us
        m("A04", "X9", 11, "P4", authority="OTHER", visit="V41", pclass="E", when="20261101080000"),
        m("A08", "X9", 12, "P4", authority="OTHER", visit="V41", when="20261101090000"),
        m("A05", "P4", 13, visit="V42", pclass="I", when="20261101070000"),
        m("A01", "P4", 14, visit="V42", when="20261105070000", admit="20261105070000"),
        m("A11", "P4", 15, visit="V42", when="20261105080000"),
        m("A13", "P4", 16, visit="V49", when="20261105090000"),  # nothing to cancel
        m("A01", "UNKNOWN", 17, visit="V51", when="20261101080000"),  # to the review queue
        *clash,
        m("A01", "P6", 18, visit="V61", when="20261101080000", admit="20261101080000"),
        m("A40", "P5", 19, mrg="P6", pv1=False, when="20261101090000"),  # a merge: the batch reads afresh
        m("A08", "P6", 20, visit="V61", when="20261101100000"),  # the old MRN resolves to the survivor
    ]


def _organisation(session, receiving: str):
    org = make_org(session, timezone="America/New_York")
    session.add(Hl7Route(organization_id=org.id, receiving_facility=receiving, label="batch test"))
    coordinator = make_staff(session, org)
    for mrn, (family, given, born) in PEOPLE.items():
        make_patient(session, org, coordinator, mrn=mrn, mrn_authority="HOSP", family_name=family, given_name=given,
                     birth_date=born, sex="female")
    session.commit()
    return org


def _state(session, org) -> dict:
    """Everything the feed wrote for one organisation, with database ids replaced by stable names."""
    patients = {p.id: p for p in session.scalars(select(Patient).where(Patient.organization_id == org.id))}
    mrn = {pid: p.mrn for pid, p in patients.items()}
    encounters = session.scalars(select(Encounter).where(Encounter.organization_id == org.id)).all()
    visit = {e.id: e.visit_number for e in encounters} | {str(e.id): e.visit_number for e in encounters}
    messages = session.scalars(select(Hl7Message).where(Hl7Message.organization_id == org.id)
                               .order_by(Hl7Message.control_id)).all()
    events = session.scalars(select(DomainEvent).where(DomainEvent.organization_id == org.id)).all()
    return {
        "patients": sorted((p.mrn, p.family_name, p.given_name, mrn.get(p.merged_into_id), p.version)
                           for p in patients.values()),
        "identifiers": sorted((x.authority, x.value, mrn[x.patient_id], x.demographics_at) for x in session.scalars(
            select(Hl7PatientIdentifier).where(Hl7PatientIdentifier.organization_id == org.id))),
        "encounters": sorted((mrn[e.patient_id], e.visit_number, e.encounter_class, e.status, e.start_at, e.end_at,
                              e.discharge_disposition, visit.get(e.readmission_of_id), e.version) for e in encounters),
        "messages": [(m.control_id[1:], m.status, m.ack_code, re.sub(r"\(merge [0-9a-f-]+\)", "", m.note or ""),
                      mrn.get(m.patient_id),
                      visit.get(m.encounter_id)) for m in messages],
        "events": sorted((e.type, mrn.get(e.patient_id), e.occurred_at, visit.get(e.payload.get("encounter_id")),
                          e.payload.get("complexity")) for e in events if e.type.startswith("encounter.")),
    }


@pytest.mark.parametrize("conflict", [False, True], ids=["clean", "one-fails-half-way"])
def test_one_batch_equals_one_message_at_a_time(session, ingest, conflict, caplog):
    """With `conflict`, a message fails after writing (its visit number is another patient's): the batch is
    redone with a savepoint per message, and still matches."""
    batch_org, single_org = _organisation(session, "BATCHED"), _organisation(session, "SINGLY")
    batched, singly = _traffic("BATCHED", "B", conflict=conflict), _traffic("SINGLY", "S", conflict=conflict)
    assert len(batched) >= PREFETCH_MIN  # the batch takes the loaded-lookups path

    with caplog.at_level(logging.INFO, logger="careloop.hl7"):
        batch_acks = ingest.handle([Frame(t.encode()) for t in batched])
    # the fast path (loaded lookups, no savepoint per message) held unless a message failed half-way
    assert any("redone one message at a time" in r.getMessage() for r in caplog.records) is conflict
    single_acks = [ingest.handle([Frame(t.encode())])[0] for t in singly]

    assert [ack_fields(a)["MSA"][1] for a in batch_acks] == [ack_fields(a)["MSA"][1] for a in single_acks]
    session.expire_all()
    batch_state, single_state = _state(session, batch_org), _state(session, single_org)
    assert batch_state == single_state
    # and the shared result is the right one, not merely the same mistake twice
    statuses = {c: s for c, s, *_ in batch_state["messages"]}
    assert statuses["017"] == MessageStatus.NEEDS_REVIEW and statuses["019"] == MessageStatus.APPLIED
    assert ("Able-Smith", "Ann") in {(f, g) for m, f, g, *_ in batch_state["patients"] if m == "P1"}
    assert ("OTHER", "X9", "P4") in {x[:3] for x in batch_state["identifiers"]}
    encounters = {(e[0], e[1]): e for e in batch_state["encounters"]}
    assert encounters[("P2", "V22")][7] == "V21"  # readmission linked to the index stay
    assert encounters[("P5", "V61")][0] == "P5"  # moved to the survivor by the merge
    assert "Stale" not in str(batch_state["patients"])
    assert (statuses.get("021") == MessageStatus.ERROR) is conflict


def test_second_copy_in_one_batch_is_stored_as_duplicate_and_answered_with_the_first_outcome(session, ingest, org,
                                                                                           coordinator):
    make_patient(session, org, coordinator, mrn="H7", mrn_authority="HOSP", family_name="Doe", given_name="Jane",
                 birth_date=dt.date(1950, 1, 1))
    session.commit()
    good, bad = adt("A01", control="TWICE", mrn="H7"), adt("A01", control="BADDATE", mrn="H7", admit="2026-11-01")
    acks = ingest.handle([Frame(t.encode()) for t in (good, good, bad, bad)])
    assert [ack_fields(a)["MSA"][1:3] for a in acks] == [["AA", "TWICE"], ["AA", "TWICE"],
                                                         ["AE", "BADDATE"], ["AE", "BADDATE"]]
    rows = session.scalars(select(Hl7Message).order_by(Hl7Message.id)).all()
    (first, copy), (first_bad, copy_bad) = ([r for r in rows if r.control_id == c] for c in ("TWICE", "BADDATE"))
    assert (first.status, copy.status, copy.duplicate_of_id, copy.ack_code) == (
        MessageStatus.APPLIED, MessageStatus.DUPLICATE, first.id, "AA")
    assert (first_bad.status, copy_bad.duplicate_of_id, copy_bad.ack_code) == (MessageStatus.ERROR, first_bad.id,
                                                                               "AE")
    assert session.scalar(select(Encounter.id).where(Encounter.visit_number == "V1")) is not None

