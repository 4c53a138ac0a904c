"""Tracked results through the API and the page: order, result, abnormal and critical tasks, overdue and
unreviewed tasks, review by the orderer only, communication to the patient."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from careloop import clock
from careloop.results import service
from careloop.results.models import ResultOrder, ResultStatus
from careloop.staff.models import StaffRole
from careloop.tasks.models import Task, TaskFocus, TaskPriority, TaskStatus
from factories import auth, make_org, make_patient, make_staff, make_token
from web_helpers import post_form, sign_in


@pytest.fixture
def clinic(session):
    org = make_org(session)
    coordinator, pcp = make_staff(session, org), make_staff(session, org, StaffRole.PRIMARY_CARE_PHYSICIAN)
    patient = make_patient(session, org, coordinator, pcp=pcp)
    session.commit()
    tokens = auth(make_token(session, pcp)), auth(make_token(session, coordinator))
    session.commit()
    return org, pcp, coordinator, patient, *tokens


def _tasks(session, order_id):
    session.expire_all()
    return session.scalars(select(Task).where(Task.focus_type == TaskFocus.RESULT, Task.focus_id == order_id)
                           .order_by(Task.created_at)).all()


def test_a_critical_result_goes_round_the_loop(client, session, clinic):
    _, pcp, _, patient, doctor, nurse = clinic
    made = client.post(f"/api/v1/patients/{patient.id}/result-orders", headers=doctor, json={
        "kind": "lab", "code": "2823-3", "display": "Potassium", "placer_number": "ORD-1"})
    assert made.status_code == 201, made.text
    oid = made.json()["id"]
    assert client.post(f"/api/v1/patients/{patient.id}/result-orders", headers=doctor, json={
        "code": "2823-3", "display": "Potassium", "placer_number": "ORD-1"}).status_code == 409
    bad = client.post(f"/api/v1/result-orders/{oid}/results", headers=nurse,
                      json={"values": [{"code": "2823-3", "display": "K", "value": "6.9", "interpretation": "XX"}]})
    assert bad.status_code == 422
    result = client.post(f"/api/v1/result-orders/{oid}/results", headers=nurse, json={"values": [
        {"code": "2823-3", "display": "Potassium", "value": "6.9", "unit": "mmol/L", "reference_range": "3.5-5.1",
         "interpretation": "hh"}]}).json()
    assert (result["status"], result["flag"]) == ("resulted", "critical")
    [urgent] = _tasks(session, __import__("uuid").UUID(oid))
    assert (urgent.priority, urgent.owner_id) == (TaskPriority.STAT, pcp.id)
    refused = client.post(f"/api/v1/result-orders/{oid}/status", headers=nurse, json={"status": "reviewed"})
    assert refused.status_code == 403 and refused.json()["code"] == "orderer_only"
    assert client.post(f"/api/v1/result-orders/{oid}/status", headers=doctor,
                       json={"status": "reviewed"}).status_code == 200
    critical, tell = _tasks(session, urgent.focus_id)
    assert critical.status == TaskStatus.COMPLETED and tell.title == "Tell the patient their result"
    assert client.post(f"/api/v1/result-orders/{oid}/status", headers=nurse,
                       json={"status": "communicated"}).status_code == 422  # how?
    told = client.post(f"/api/v1/result-orders/{oid}/status", headers=nurse,
                       json={"status": "communicated", "communication_method": "phone"}).json()
    assert told["status"] == "communicated" and told["values"][0]["value"] == "6.9"
    assert all(t.status == TaskStatus.COMPLETED for t in _tasks(session, urgent.focus_id))


def test_overdue_and_unreviewed_results_become_tasks(session, clinic):
    from careloop.auth.service import actor_for_staff
    from careloop.results.schemas import OrderCreate, ResultIn

    _, pcp, _, patient, *_ = clinic
    doctor = actor_for_staff(pcp)
    start = dt.datetime(2026, 11, 2, 15, tzinfo=dt.UTC)
    with clock.frozen_at(start):
        waiting = service.create_order(session, doctor, patient.id, OrderCreate(code="4548-4", display="HbA1c"))
        normal = service.create_order(session, doctor, patient.id, OrderCreate(code="2345-7", display="Glucose"))
        service.record_result(session, doctor, normal.id, ResultIn(values=[
            {"code": "2345-7", "display": "Glucose", "value": "92", "interpretation": "N"}]))
        session.commit()
    assert _tasks(session, normal.id) == []  # a normal result raises nothing at once
    with clock.frozen_at(start + dt.timedelta(days=1)):
        assert service.sweep(session) == 0
    with clock.frozen_at(start + dt.timedelta(days=3, hours=1)):
        assert service.sweep(session) == 2  # the lab is late; the normal result is unreviewed
        assert service.sweep(session) == 0
        session.commit()
    assert _tasks(session, waiting.id)[0].title.startswith("Result overdue")
    assert _tasks(session, normal.id)[0].title == "Result not reviewed yet"


def test_results_page_places_and_reviews_orders(client, session, clinic):
    _, pcp, _, patient, doctor, _ = clinic
    sign_in(client, pcp.email)
    url = f"/patients/{patient.id}/results"
    assert "No tracked orders" in client.get(url).text
    placed = post_form(client, url, {"kind": "imaging", "code": "36643-5", "display": "Chest X-ray"}, page=url)
    assert placed.status_code == 303
    order = session.scalars(select(ResultOrder)).one()
    client.post(f"/api/v1/result-orders/{order.id}/results", headers=doctor, json={"values": [
        {"code": "36643-5", "display": "Impression", "value": "Right lower lobe opacity", "interpretation": "A"}]})
    page = client.get(url).text
    assert "Right lower lobe opacity" in page and "Abnormal" in page and "Mark reviewed" in page
    assert post_form(client, f"/result-orders/{order.id}/status", {"status": "reviewed"}, page=url).status_code == 303
    assert post_form(client, f"/result-orders/{order.id}/status",
                     {"status": "communicated", "communication_method": "portal"}, page=url).status_code == 303
    session.refresh(order)
    assert order.status == ResultStatus.COMMUNICATED and order.communication_method == "portal"
