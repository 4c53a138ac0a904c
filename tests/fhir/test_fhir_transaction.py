"""Transaction Bundles: all entries or none, urn:uuid references resolved in any order, conditional entries,
a transaction-response that validates, and the failing entry named."""

from __future__ import annotations

import json

import pytest
from fhir.resources.R4B import get_fhir_model_class
from sqlalchemy import func, select

from careloop.clinical.models import Condition, Encounter, Observation
from factories import auth, make_org, make_patient, make_staff, make_token

JSON = {"Accept": "application/fhir+json", "Content-Type": "application/fhir+json"}


@pytest.fixture
def world(session):
    org = make_org(session)
    coordinator = make_staff(session, org)
    patient = make_patient(session, org, coordinator)
    session.commit()
    headers = {**auth(make_token(session, coordinator)), **JSON}
    session.commit()
    return patient, headers


def _obs(patient_id, encounter_ref: str, value: float) -> dict:
    return {"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
            "subject": {"reference": f"Patient/{patient_id}"}, "encounter": {"reference": encounter_ref},
            "effectiveDateTime": "2026-11-02T08:00:00Z", "valueQuantity": {"value": value, "unit": "/min"}}


def _bundle(patient_id, *, bad: bool = False) -> dict:
    encounter = {"resourceType": "Encounter", "status": "finished",
                 "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                 "subject": {"reference": f"Patient/{patient_id}"},
                 "period": {"start": "2026-11-02T07:30:00Z", "end": "2026-11-02T08:30:00Z"}}
    condition = {"resourceType": "Condition", "subject": {"reference": f"Patient/{patient_id}"},
                 "code": {"coding": [{"system": "http://snomed.info/sct", "code": "38341003",
                                      "display": "Hypertensive disorder"}]}}
    if bad:
        condition["code"] = {"text": "no code"}
    entries = [  # the observations come first: they point at the encounter created later in the Bundle
        {"fullUrl": "urn:uuid:0b1d6c1e-0000-4000-8000-000000000001", "resource": _obs(
            patient_id, "urn:uuid:0b1d6c1e-0000-4000-8000-0000000000e1", 71),
         "request": {"method": "POST", "url": "Observation"}},
        {"fullUrl": "urn:uuid:0b1d6c1e-0000-4000-8000-000000000002", "resource": _obs(
            patient_id, "urn:uuid:0b1d6c1e-0000-4000-8000-0000000000e1", 74),
         "request": {"method": "POST", "url": "Observation"}},
        {"fullUrl": "urn:uuid:0b1d6c1e-0000-4000-8000-0000000000e1", "resource": encounter,
         "request": {"method": "POST", "url": "Encounter"}},
        {"fullUrl": "urn:uuid:0b1d6c1e-0000-4000-8000-000000000003", "resource": condition,
         "request": {"method": "POST", "url": "Condition", "ifNoneExist": f"patient={patient_id}&code=38341003"}},
    ]
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def test_a_transaction_creates_everything_with_local_references_resolved(client, session, world):
    patient, headers = world
    response = client.post("/fhir", headers=headers, content=json.dumps(_bundle(patient.id)))
    assert response.status_code == 200, response.text
    result = response.json()
    get_fhir_model_class("Bundle").model_validate(result)
    assert result["type"] == "transaction-response"
    assert [e["response"]["status"] for e in result["entry"]] == ["201 Created"] * 4
    encounter = session.scalars(select(Encounter)).one()
    assert {o.encounter_id for o in session.scalars(select(Observation))} == {encounter.id}
    assert result["entry"][0]["resource"]["encounter"]["reference"] == f"Encounter/{encounter.id}"
    again = client.post("/fhir", headers=headers, content=json.dumps(_bundle(patient.id))).json()
    assert again["entry"][3]["response"]["status"] == "200 OK"  # ifNoneExist found the condition
    assert session.scalar(select(func.count()).select_from(Condition)) == 1


def test_one_bad_entry_and_nothing_is_written(client, session, world):
    patient, headers = world
    response = client.post("/fhir", headers=headers, content=json.dumps(_bundle(patient.id, bad=True)))
    assert response.status_code == 422, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "Bundle.entry[3]" in json.dumps(outcome)
    for model in (Encounter, Observation, Condition):
        assert session.scalar(select(func.count()).select_from(model)) == 0


@pytest.mark.parametrize(("change", "status"), [
    (lambda b: b.update(type="batch"), 400),
    (lambda b: b["entry"][0]["request"].update(method="DELETE"), 400),
    (lambda b: b["entry"][0]["resource"]["encounter"].update(reference="urn:uuid:nowhere"), 400),
    (lambda b: b["entry"].append({"resource": {"resourceType": "Patient"}, "request": {"method": "POST",
                                                                                         "url": "Patient"}}), 400),
])
def test_unsupported_bundles_are_refused(client, session, world, change, status):
    patient, headers = world
    bundle = _bundle(patient.id)
    change(bundle)
    response = client.post("/fhir", headers=headers, content=json.dumps(bundle))
    assert response.status_code == status, response.text
    assert session.scalar(select(func.count()).select_from(Observation)) == 0
