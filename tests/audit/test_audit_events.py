"""What the audit trail records: reads, search hits, creates, updates, merges, exports and denials."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from careloop import clock
from careloop.audit.models import AuditEvent
from careloop.patients.models import Patient
from careloop.staff.models import Staff
from factories import StaffRole, auth, make_org, make_patient, make_staff, make_token


@dataclass
class Clinic:
    org_id: uuid.UUID
    coordinator: Staff
    supervisor: Staff
    outsider: Staff
    patients: list[Patient]
    tokens: dict[str, str]


@pytest.fixture
def clinic(session) -> Clinic:
    org = make_org(session)
    coordinator = make_staff(session, org)
    outsider = make_staff(session, org)
    supervisor = make_staff(session, org, StaffRole.SUPERVISOR)
    patients = [make_patient(session, org, coordinator, family_name=f"Auditson{n}", given_name="Pat")
                for n in range(3)]
    tokens = {"coordinator": make_token(session, coordinator), "supervisor": make_token(session, supervisor),
              "outsider": make_token(session, outsider)}
    session.commit()
    return Clinic(org.id, coordinator, supervisor, outsider, patients, tokens)


def events(session, clinic: Clinic, **where) -> list[AuditEvent]:
    stmt = select(AuditEvent).where(AuditEvent.organization_id == clinic.org_id)
    for name, value in where.items():
        stmt = stmt.where(getattr(AuditEvent, name) == value)
    return list(session.scalars(stmt.order_by(AuditEvent.seq)))


def test_a_read_is_recorded_with_who_what_when_where_and_why(session, client, clinic):
    patient = clinic.patients[0]
    before = clock.now()
    response = client.get(f"/api/v1/patients/{patient.id}", headers=auth(clinic.tokens["coordinator"]))
    assert response.status_code == 200
    [event] = events(session, clinic, action="read", patient_id=patient.id)
    assert before - dt.timedelta(seconds=1) <= event.occurred_at <= clock.now()
    assert event.occurred_at.tzinfo is not None
    assert (event.actor_id, event.actor_role, event.actor_label) == (
        clinic.coordinator.id, "care_coordinator", clinic.coordinator.email)
    assert (event.organization_id, event.record_type, event.record_id) == (clinic.org_id, "Patient", str(patient.id))
    assert (event.outcome, event.source_address, event.purpose_of_use) == ("success", "testclient", "TREAT")


def test_each_search_hit_is_recorded_once(session, client, clinic):
    response = client.post("/api/v1/patients/_search", json={"name": "Auditson"},
                           headers=auth(clinic.tokens["coordinator"]))
    returned = {item["id"] for item in response.json()["items"]}
    assert returned == {str(p.id) for p in clinic.patients}
    hits = events(session, clinic, action="search")
    assert sorted(str(e.patient_id) for e in hits) == sorted(returned)
    assert all(e.actor_id == clinic.coordinator.id and e.record_type == "Patient" for e in hits)


def test_create_update_and_merge_are_recorded(session, client, clinic):
    headers = auth(clinic.tokens["supervisor"])
    body = {"mrn": "AUD-1", "given_name": "Quill", "family_name": "Marsh", "birth_date": "1944-02-03",
            "sex": "male", "primary_care_coordinator_id": str(clinic.coordinator.id)}
    created = client.post("/api/v1/patients", json=body, headers=headers).json()
    assert [e.action for e in events(session, clinic, patient_id=uuid.UUID(created["id"]))] == ["create"]

    patched = client.patch(f"/api/v1/patients/{created['id']}", json={"city": "Salem", "phone": "555-0100"},
                           headers={**headers, "If-Match": 'W/"1"'})
    assert patched.status_code == 200, patched.text
    [update] = events(session, clinic, action="update", patient_id=uuid.UUID(created["id"]))
    assert update.detail == {"fields": ["city", "phone"]}  # field names, never the values

    survivor, duplicate = clinic.patients[0], clinic.patients[1]
    merged = client.post(f"/api/v1/patients/{survivor.id}/merge",
                         json={"duplicate_id": str(duplicate.id), "reason": "Same person"}, headers=headers)
    assert merged.status_code == 200, merged.text
    merges = events(session, clinic, action="merge")
    assert {e.patient_id for e in merges} == {survivor.id, duplicate.id}


def test_an_export_of_the_audit_trail_is_itself_recorded(session, client, clinic):
    response = client.get("/api/v1/audit/export.csv", headers=auth(clinic.tokens["supervisor"]))
    assert response.status_code == 200
    [export] = events(session, clinic, action="export")
    assert (export.actor_id, export.record_type) == (clinic.supervisor.id, "AuditEvent")


def test_a_403_denial_is_recorded_although_the_request_was_rolled_back(session, client, clinic):
    patient = clinic.patients[0]
    response = client.patch(f"/api/v1/patients/{patient.id}", json={"city": "Nowhere"},
                            headers={**auth(clinic.tokens["outsider"]), "If-Match": 'W/"1"'})
    assert response.status_code == 403 and response.json()["code"] == "not_on_care_team"
    [denial] = events(session, clinic, outcome="denied")
    assert (denial.action, denial.actor_id, denial.patient_id) == ("access_denied", clinic.outsider.id, patient.id)
    assert (denial.record_type, denial.record_id, denial.source_address) == ("Patient", str(patient.id), "testclient")
    session.expire_all()
    assert session.get(Patient, patient.id).city is None


def test_a_denial_for_a_missing_permission_is_recorded(session, client, clinic):
    response = client.get("/api/v1/audit", headers=auth(clinic.tokens["coordinator"]))
    assert response.status_code == 403
    [denial] = events(session, clinic, outcome="denied")
    assert denial.actor_id == clinic.coordinator.id and denial.detail == {"missing": ["audit:read"]}


def test_a_404_denial_keeps_the_trail_while_the_partial_work_is_undone(session, client, clinic):
    other = make_org(session)
    foreign = make_patient(session, other, make_staff(session, other))
    session.commit()
    survivor = clinic.patients[0]
    response = client.post(f"/api/v1/patients/{survivor.id}/merge",
                           json={"duplicate_id": str(foreign.id), "reason": "Guessing ids"},
                           headers=auth(clinic.tokens["supervisor"]))
    assert response.status_code == 404
    assert foreign.family_name not in response.text and foreign.mrn not in response.text
    [denial] = events(session, clinic, outcome="denied")
    assert (denial.patient_id, denial.record_id) == (None, str(foreign.id))  # no foreign patient link
    assert events(session, clinic, action="merge") == []
    assert session.scalars(select(AuditEvent).where(AuditEvent.organization_id == other.id,
                                                    AuditEvent.outcome == "denied")).all() == []
