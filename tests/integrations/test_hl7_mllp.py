"""MLLP framing and the listener's robustness (security checklist 5.1, 5.3, 5.5 and bad inputs)."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from hl7_messages import EB, SB, Client, ack_fields, adt, frame
from sqlalchemy import select

from careloop.clinical.models import Encounter
from careloop.integrations.hl7v2.models import Hl7Message, MessageStatus
from factories import make_patient


@pytest.fixture
def patient(session, org, coordinator):
    p = make_patient(session, org, coordinator, mrn="H100", mrn_authority="HOSP", family_name="Doe",
                     given_name="Jane", birth_date=dt.date(1950, 1, 1), sex="female")
    session.commit()
    return p


def test_two_messages_in_one_write(port, patient):
    client = Client(port)
    client.send_raw(frame(adt("A01", control="W1")) + frame(adt("A08", control="W2", when="20261101090000")))
    acks = [ack_fields(client.read_ack()) for _ in range(2)]
    assert [(a["MSA"][1], a["MSA"][2]) for a in acks] == [("AA", "W1"), ("AA", "W2")]
    client.close()


def test_one_message_split_over_three_writes(port, patient):
    client = Client(port)
    data = frame(adt("A01", control="S1"))
    for part in (data[:7], data[7:60], data[60:]):
        client.send_raw(part)
        time.sleep(0.05)
    assert ack_fields(client.read_ack())["MSA"][1:3] == ["AA", "S1"]
    client.close()


def test_missing_end_block_times_out_and_server_keeps_serving(port, patient):
    stalled = Client(port)
    stalled.send_raw(SB + adt("A01", control="T1").encode())  # no 0x1C 0x0D
    time.sleep(1.5)
    with pytest.raises((ConnectionError, OSError)):
        stalled.read_ack()
    fresh = Client(port)
    assert ack_fields(fresh.send(adt("A01", control="T2")))["MSA"][1] == "AA"
    fresh.close()


def test_pipelined_acks_match_their_messages(port, patient):
    client = Client(port)
    controls = [f"P{i}" for i in range(20)]
    client.send_raw(b"".join(frame(adt("A08", control=c, when=f"2026110109{i:02d}00"))
                             for i, c in enumerate(controls)))
    assert [ack_fields(client.read_ack())["MSA"][2] for _ in controls] == controls
    client.close()


def test_garbage_and_bad_frames_do_not_stop_the_listener(port, session, patient):
    client = Client(port)
    assert ack_fields(client.send(b"this is not hl7"))["MSA"][1] == "AR"
    assert ack_fields(client.send(adt("A01", control="NUL").encode().replace(b"Jane", b"Ja\x00ne")))["MSA"][1] == "AR"
    assert ack_fields(client.send(adt("A01", control="ODD").replace("^", "#")))["MSA"][1] == "AA"
    assert ack_fields(client.send(adt("A01", control="LAT").encode().replace(b"Doe", b"D\xf6e")))["MSA"][1] == "AA"
    missing_control = adt("A01").replace("|P|2.5.1", "|P|2.5.1").split("|")
    missing_control[9] = ""
    assert ack_fields(client.send("|".join(missing_control)))["MSA"][1] == "AR"
    client.send_raw(b"junk before start" + EB + b"\r")  # no start block: skipped, connection kept
    assert ack_fields(client.send(adt("A01", control="AFTER")))["MSA"][1:3] == ["AA", "AFTER"]
    client.close()
    statuses = [m.status for m in session.scalars(select(Hl7Message).order_by(Hl7Message.id))]
    assert statuses.count(MessageStatus.REJECTED) == 3


def test_oversized_frame_closes_only_that_connection(port, patient):
    big = Client(port)
    big.send_raw(frame(adt("A01") + "\rNTE|1||" + "x" * 100_000))
    with pytest.raises((ConnectionError, OSError)):
        big.read_ack()
    ok = Client(port)
    assert ack_fields(ok.send(adt("A01", control="OK2")))["MSA"][1] == "AA"
    ok.close()


def test_duplicate_over_mllp_is_acked_twice(port, session, patient):
    client = Client(port)
    text = adt("A01", control="D1")
    assert ack_fields(client.send(text))["MSA"][1] == ack_fields(client.send(text))["MSA"][1] == "AA"
    client.close()
    assert len(session.scalars(select(Encounter).where(Encounter.patient_id == patient.id)).all()) == 1


def test_listener_runs_inside_the_web_app_when_configured(monkeypatch, session_factory, org, patient):
    from fastapi.testclient import TestClient

    from careloop.config import get_settings
    from careloop.main import create_app

    monkeypatch.setenv("CARELOOP_HL7_INPROCESS_LISTENER", "true")
    monkeypatch.setenv("CARELOOP_HL7_PORT", "0")
    monkeypatch.setenv("CARELOOP_INPROCESS_WORKER", "false")
    get_settings.cache_clear()
    try:
        app = create_app(session_factory=session_factory)
        with TestClient(app):
            port = app.state.hl7_listener.port
            client = Client(port)
            assert ack_fields(client.send(adt("A01", control="INPROC")))["MSA"][1:3] == ["AA", "INPROC"]
            client.close()
    finally:
        get_settings.cache_clear()
