"""The clinical record API: conditions, encounters, observations, medications and allergies of a patient."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from careloop.audit.models import AuditEvent
from factories import auth, make_org, make_patient, make_staff, make_token

# kind -> (a valid new record, a valid change, a field and a value that is wrong for it)
KINDS = {
    "conditions": ({"code": "E11.9", "display": "Type 2 diabetes mellitus", "chronic": True},
                   {"clinical_status": "resolved"}, ("onset_date", "not-a-date")),
    "encounters": ({"encounter_class": "inpatient", "start_at": "2026-10-01T08:00:00Z",
                    "facility_name": "General Hospital"}, {"end_at": "2026-10-04T15:00:00Z"},
                   ("encounter_class", "spaceship")),
    "observations": ({"category": "laboratory", "code": "4548-4", "display": "Hemoglobin A1c",
                      "value_quantity": 8.2, "unit": "%", "effective_at": "2026-10-02T09:00:00Z"},
                     {"value_quantity": 7.9}, ("effective_at", "yesterday")),
    "medications": ({"display": "Metformin 500 mg oral tablet", "code": "861007", "dose": "500 mg"},
                    {"dose": "1000 mg"}, ("status", "sometimes")),
    "allergies": ({"substance": "Penicillin", "category": "medication", "reaction": "Hives"},
                  {"reaction": "Anaphylaxis"}, ("category", "weather")),
}


@pytest.fixture
def chart(session):
    org = make_org(session)
    coordinator = make_staff(session, org)
    patient = make_patient(session, org, coordinator)
    other_org = make_org(session)
    stranger = make_patient(session, other_org, make_staff(session, other_org))
    session.commit()
    return patient, stranger, auth(make_token(session, coordinator))


@pytest.mark.parametrize("kind", KINDS)
def test_create_read_list_and_update_with_versions(session, client, chart, kind):
    patient, _, headers = chart
    new, change, _ = KINDS[kind]
    base = f"/api/v1/patients/{patient.id}/{kind}"
    created = client.post(base, json=new, headers=headers)
    assert created.status_code == 201, created.text
    record = created.json()
    assert created.headers["location"] == f"{base}/{record['id']}" and created.headers["etag"] == 'W/"1"'
    assert client.get(f"{base}/{record['id']}", headers=headers).json() == record
    assert [r["id"] for r in client.get(base, headers=headers).json()] == [record["id"]]

    updated = client.patch(f"{base}/{record['id']}", json=change, headers={**headers, "If-Match": 'W/"1"'})
    assert updated.status_code == 200, updated.text
    assert updated.headers["etag"] == 'W/"2"' and all(updated.json()[k] == v or k.endswith("_at")
                                                      for k, v in change.items())
    stale = client.patch(f"{base}/{record['id']}", json=change, headers={**headers, "If-Match": 'W/"1"'})
    assert stale.status_code == 412 and stale.headers["content-type"].startswith("application/problem+json")
    assert client.patch(f"{base}/{record['id']}", json=change, headers=headers).status_code == 428
    actions = session.scalars(select(AuditEvent.action).where(AuditEvent.record_id == record["id"])).all()
    assert {"create", "read", "update"} <= set(actions)


@pytest.mark.parametrize("kind", KINDS)
def test_invalid_field_is_422_naming_the_field_and_nothing_is_written(session, client, chart, kind):
    patient, _, headers = chart
    new, _, (field, value) = KINDS[kind]
    base = f"/api/v1/patients/{patient.id}/{kind}"
    response = client.post(base, json={**new, field: value}, headers=headers)
    assert response.status_code == 422
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert any(field in (e.get("field") or "") for e in problem["errors"]), problem
    assert value not in response.text  # the value sent is not echoed
    assert client.get(base, headers=headers).json() == []


@pytest.mark.parametrize("kind", KINDS)
def test_unknown_and_other_organisation_records_are_404(session, client, chart, kind):
    patient, stranger, headers = chart
    missing = client.get(f"/api/v1/patients/{patient.id}/{kind}/00000000-0000-0000-0000-000000000000",
                         headers=headers)
    assert missing.status_code == 404
    for method in ("GET", "POST"):
        response = client.request(method, f"/api/v1/patients/{stranger.id}/{kind}", headers=headers,
                                  json=KINDS[kind][0] if method == "POST" else None)
        assert response.status_code == 404 and stranger.family_name not in response.text
