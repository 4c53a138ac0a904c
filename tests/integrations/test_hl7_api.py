"""POST /api/v1/hl7/messages, the review queue and dead letters over the API."""

from __future__ import annotations

import datetime as dt

import pytest
from hl7_messages import ack_fields, adt
from sqlalchemy import select

from careloop.clinical.models import Encounter
from careloop.integrations.hl7v2 import review
from careloop.integrations.hl7v2.models import Hl7Message, Hl7Route, MessageStatus
from careloop.staff.models import StaffRole
from factories import auth, make_org, make_patient, make_staff, make_token

ER7 = {"Content-Type": "x-application/hl7-v2+er7"}


@pytest.fixture
def admin(session, org):
    staff = make_staff(session, org, StaffRole.ADMINISTRATOR)
    session.commit()
    return staff


@pytest.fixture
def bearer(session, admin):
    token = make_token(session, admin)
    session.commit()
    return auth(token)


@pytest.fixture
def headers(bearer):
    return {**bearer, **ER7}


def test_post_message_returns_ack_with_status(session, client, headers, coordinator, org):
    make_patient(session, org, coordinator, mrn="H100", mrn_authority="HOSP")
    session.commit()
    r = client.post("/api/v1/hl7/messages", content=adt("A01", control="HTTP1"), headers=headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("x-application/hl7-v2+er7")
    assert ack_fields(r.text)["MSA"][1:3] == ["AA", "HTTP1"]
    r = client.post("/api/v1/hl7/messages", content=adt("A01", admit="bad"), headers=headers)
    assert r.status_code == 422 and ack_fields(r.text)["MSA"][1] == "AE"
    r = client.post("/api/v1/hl7/messages", content=adt("A01", version="9.9"), headers=headers)
    assert r.status_code == 400 and ack_fields(r.text)["MSA"][1] == "AR"
    r = client.post("/api/v1/hl7/messages", content=adt("A01"), headers={**headers, "Content-Type": "text/plain"})
    assert r.status_code == 200
    assert session.scalar(select(Hl7Message.channel).limit(1)) == "http"


def test_post_needs_token_permission_and_hl7_media_type(session, client, headers, coordinator):
    assert client.post("/api/v1/hl7/messages", content=adt("A01"), headers=ER7).status_code == 401
    token = make_token(session, coordinator)
    session.commit()
    assert client.post("/api/v1/hl7/messages", content=adt("A01"), headers={**auth(token), **ER7}).status_code == 403
    r = client.post("/api/v1/hl7/messages", content=adt("A01"), headers={**headers, "Content-Type": "application/json"})
    assert r.status_code == 415


def test_client_cannot_post_into_another_organisation(session, client, headers):
    other = make_org(session)
    session.add(Hl7Route(organization_id=other.id, receiving_facility="OTHERORG"))
    session.commit()
    r = client.post("/api/v1/hl7/messages", content=adt("A01", receiving="OTHERORG"), headers=headers)
    assert r.status_code == 400 and ack_fields(r.text)["MSA"][1] == "AR"


def test_review_link_applies_queued_messages_in_event_order(session, client, headers, bearer, coordinator, org):
    for control, event, when in (("R1", "A01", "20261101080000"), ("R2", "A03", "20261103080000")):
        client.post("/api/v1/hl7/messages", content=adt(event, control=control, mrn="UNK1", when=when),
                    headers=headers)
    queue = client.get("/api/v1/hl7/review", headers=headers).json()
    assert [m["control_id"] for m in queue] == ["R1", "R2"]
    patient = make_patient(session, org, coordinator)
    session.commit()
    r = client.post(f"/api/v1/hl7/messages/{queue[0]['id']}/link", json={"patient_id": str(patient.id)},
                    headers=bearer)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "applied"
    assert client.get("/api/v1/hl7/review", headers=headers).json() == []
    [enc] = session.scalars(select(Encounter).where(Encounter.patient_id == patient.id)).all()
    assert enc.status.value == "finished"
    later = client.post("/api/v1/hl7/messages", content=adt("A08", mrn="UNK1", when="20261104080000"),
                        headers=headers)
    assert ack_fields(later.text)["MSA"][1] == "AA"
    assert session.scalars(select(Hl7Message).order_by(Hl7Message.id.desc())).first().patient_id == patient.id


def test_create_patient_from_review_queue(session, headers, client, admin, coordinator, org):
    client.post("/api/v1/hl7/messages", content=adt("A01", mrn="NEWP", family="Newman", given="Nina"),
                headers=headers)
    message = session.scalars(select(Hl7Message)).one()
    from factories import actor_of

    review.create_patient(session, actor_of(admin), message.id, coordinator.id)
    session.commit()
    assert message.status == MessageStatus.APPLIED and message.patient_id is not None


def test_dead_letters_dismiss_and_replay(session, client, headers, bearer, org, coordinator):
    make_patient(session, org, coordinator, mrn="H100", mrn_authority="HOSP", birth_date=dt.date(1950, 1, 1))
    session.commit()
    client.post("/api/v1/hl7/messages", content=adt("A01", control="DL1", version="2.2"), headers=headers)
    client.post("/api/v1/hl7/messages", content=adt("A01", control="DL2", admit="x"), headers=headers)
    letters = client.get("/api/v1/hl7/dead-letters", headers=headers).json()
    assert {m["control_id"] for m in letters} == {"DL1", "DL2"}
    dl1 = next(m for m in letters if m["control_id"] == "DL1")
    r = client.post(f"/api/v1/hl7/messages/{dl1['id']}/dismiss", json={"reason": "old test version"},
                    headers=bearer)
    assert r.status_code == 200
    assert [m["control_id"] for m in client.get("/api/v1/hl7/dead-letters", headers=headers).json()] == ["DL2"]
