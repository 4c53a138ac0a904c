"""No PHI in application logs, and no exception (whose message may hold PHI) ever reaches the server's log."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient
from security_seed import World

from careloop.main import create_app
from careloop.patients import service as patients_service
from careloop.staff.models import StaffRole
from factories import auth, make_patient

NAME, MRN = ("Zebedee", "Quintrell"), "PHI-MRN-12345"
CLIENT_SIDE_LOGGERS = ("httpx", "httpcore")  # the test client logs the URLs it calls; not the application


@pytest.fixture
def zebedee(session, world: World):
    patient = make_patient(session, world.a.org, world.a.staff[StaffRole.CARE_COORDINATOR], given_name=NAME[0],
                           family_name=NAME[1], mrn=MRN)
    session.commit()
    return patient


def _application_records(caplog) -> list[str]:
    lines = []
    for record in caplog.records:
        if record.name.startswith(CLIENT_SIDE_LOGGERS):
            continue
        lines.append(record.getMessage() + (record.exc_text or "") + str(record.args or ""))
    return lines


def _assert_no_phi(caplog) -> None:
    lines = _application_records(caplog)
    assert lines, "nothing was logged: the test would prove nothing"
    for line in lines:
        for secret in (*NAME, MRN):
            assert secret not in line, line


def test_requests_touching_a_patient_log_no_phi(client, world: World, zebedee, caplog):
    caplog.set_level(logging.DEBUG)
    headers = auth(world.a.token(StaffRole.CARE_COORDINATOR))
    base = f"/api/v1/patients/{zebedee.id}"
    client.get(base, headers=headers)
    client.post("/api/v1/patients/_search", json={"name": NAME[1]}, headers=headers)
    client.post("/api/v1/patients/_search", json={"mrn": MRN}, headers=headers)
    client.post("/api/v1/patients/_search", json={"mrn": MRN, "scope": "nonsense"}, headers=headers)
    client.get("/api/v1/patients", params={"mrn": MRN}, headers=headers)  # refused: not even the refusal logs it
    client.patch(base, json={"caregiver_name": f"{NAME[0]} Senior"}, headers={**headers, "If-Match": 'W/"1"'})
    client.patch(base, json={"caregiver_name": f"{NAME[0]} Senior"}, headers={**headers, "If-Match": 'W/"9"'})
    client.patch(base, json={"postal_code": NAME[1] + "!!"}, headers={**headers, "If-Match": 'W/"2"'})
    client.post("/api/v1/patients", json={"mrn": MRN, "given_name": NAME[0], "family_name": NAME[1],
                                          "birth_date": "1950-01-01", "sex": "male",
                                          "primary_care_coordinator_id": str(world.a.outsider.id)}, headers=headers)
    client.get(base, headers=auth(world.a.token(StaffRole.SCHEDULER)))
    client.get(base, headers={"Authorization": f"Bearer {MRN}"})
    _assert_no_phi(caplog)


def test_a_500_whose_message_holds_phi_logs_none_of_it(client, world: World, zebedee, caplog, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError(f"could not load {NAME[0]} {NAME[1]} ({MRN})")

    monkeypatch.setattr(patients_service, "get_patient", explode)
    caplog.set_level(logging.DEBUG)
    response = client.get(f"/api/v1/patients/{zebedee.id}", headers=auth(world.a.token(StaffRole.CARE_COORDINATOR)))
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "internal_error"
    assert not any(secret in response.text for secret in (*NAME, MRN))
    assert any("RuntimeError" in line for line in _application_records(caplog))
    _assert_no_phi(caplog)


def test_exceptions_never_reach_the_server(session_factory, world: World, zebedee, monkeypatch):
    """A server (uvicorn, gunicorn) logs escaping exceptions with their message and traceback: none may escape."""
    monkeypatch.setattr(patients_service, "get_patient",
                        lambda *a, **k: (_ for _ in ()).throw(ValueError(f"{NAME[1]} {MRN}")))
    with TestClient(create_app(session_factory=session_factory), raise_server_exceptions=True) as strict:
        response = strict.get(f"/api/v1/patients/{zebedee.id}",
                              headers=auth(world.a.token(StaffRole.CARE_COORDINATOR)))
    assert response.status_code == 500
    assert response.headers["x-content-type-options"] == "nosniff"
    assert MRN not in response.text
