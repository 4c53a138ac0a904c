"""FHIR create and update: validated in full (fhir.resources R4B), stored as CareLoop records, conditional
create, If-Match, OperationOutcome errors; official FHIR R4 examples accepted once pointed at our patient."""

from __future__ import annotations

import json

import pytest
from fhir.resources.R4B import get_fhir_model_class
from sqlalchemy import func, select

from careloop.clinical.models import Condition, Observation
from factories import auth, make_org, make_patient, make_staff, make_token
from shared_data import SHARED_DATA

EXAMPLES = SHARED_DATA / "fhir-examples" / "r4-core-4.0.0"
JSON = {"Accept": "application/fhir+json", "Content-Type": "application/fhir+json"}


@pytest.fixture
def world(session):
    org = make_org(session)
    coordinator = make_staff(session, org)
    patient = make_patient(session, org, coordinator)
    other = make_patient(session, org, coordinator)
    session.commit()
    headers = {**auth(make_token(session, coordinator)), **JSON}
    session.commit()
    return patient, other, headers


def _obs(patient_id, value=7.2, **extra) -> dict:
    return {"resourceType": "Observation", "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                      "code": "laboratory"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": "4548-4", "display": "Hemoglobin A1c"}]},
            "subject": {"reference": f"Patient/{patient_id}"}, "effectiveDateTime": "2026-11-01T09:30:00-05:00",
            "valueQuantity": {"value": value, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"},
            **extra}


def _valid(body: dict) -> dict:
    get_fhir_model_class(body["resourceType"]).model_validate(body)
    return body


def test_create_read_back_update_with_if_match(client, session, world):
    patient, other, headers = world
    made = client.post("/fhir/Observation", headers=headers, content=json.dumps(_obs(patient.id)))
    assert made.status_code == 201, made.text
    body = _valid(made.json())
    assert made.headers["location"].endswith(f"/fhir/Observation/{body['id']}/_history/1")
    assert body["valueQuantity"]["value"] == 7.2 and made.headers["etag"] == 'W/"1"'
    url = f"/fhir/Observation/{body['id']}"
    assert client.get(url, headers=headers).json()["effectiveDateTime"].startswith("2026-11-01T14:30:00")
    stale = client.put(url, headers={**headers, "If-Match": 'W/"7"'}, content=json.dumps(_obs(patient.id, 6.9)))
    assert stale.status_code == 412 and stale.json()["resourceType"] == "OperationOutcome"
    updated = client.put(url, headers={**headers, "If-Match": 'W/"1"'},
                         content=json.dumps({**_obs(patient.id, 6.9), "id": body["id"]}))
    assert updated.status_code == 200 and updated.json()["meta"]["versionId"] == "2"
    assert updated.json()["valueQuantity"]["value"] == 6.9
    moved = client.put(url, headers=headers, content=json.dumps(_obs(other.id)))
    assert moved.status_code == 422
    mismatch = client.put(url, headers=headers, content=json.dumps({**_obs(patient.id), "id": "someone-else"}))
    assert mismatch.status_code == 400


def test_conditional_create_does_not_duplicate(client, session, world):
    patient, _, headers = world
    condition = {**headers, "If-None-Exist": f"patient={patient.id}&code=http://loinc.org|4548-4"}
    first = client.post("/fhir/Observation", headers=condition, content=json.dumps(_obs(patient.id)))
    again = client.post("/fhir/Observation", headers=condition, content=json.dumps(_obs(patient.id)))
    assert (first.status_code, again.status_code) == (201, 200) and first.json()["id"] == again.json()["id"]
    client.post("/fhir/Observation", headers=headers, content=json.dumps(_obs(patient.id)))
    assert client.post("/fhir/Observation", headers=condition, content=json.dumps(_obs(patient.id))).status_code == 412
    assert session.scalar(select(func.count()).select_from(Observation)) == 2


@pytest.mark.parametrize(("body", "status", "element"), [
    ({"resourceType": "Observation", "code": {"text": "x"}}, 400, "status"),  # not valid FHIR: status required
    ({"resourceType": "Condition"}, 400, "resourceType"),  # another type than the URL's
    ({"resourceType": "Observation", "status": "final", "code": {"text": "A1c"},
      "subject": {"reference": "Group/1"}, "effectiveDateTime": "2026-11-01T09:30:00Z"}, 422, "Observation.code"),
    ({"resourceType": "Observation", "status": "final", "valueQuantity": {"value": "high"},
      "code": {"coding": [{"code": "4548-4"}]}}, 400, "valueQuantity"),
])
def test_invalid_resources_get_operation_outcomes_naming_the_element(client, session, world, body, status, element):
    *_, headers = world
    refused = client.post("/fhir/Observation", headers=headers, content=json.dumps(body))
    assert refused.status_code in (status, 422 if status == 400 else 400), refused.text
    outcome = _valid(refused.json())
    assert any(element in json.dumps(issue) for issue in outcome["issue"]), outcome
    assert "high" not in refused.text  # the submitted value is never echoed
    assert session.scalar(select(func.count()).select_from(Observation)) == 0


def test_media_types_read_only_types_and_scopes(client, session, world):
    patient, _, headers = world
    text = client.post("/fhir/Observation", headers={**headers, "Content-Type": "text/plain"},
                       content=json.dumps(_obs(patient.id)))
    assert text.status_code == 415
    assert client.post("/fhir/Observation", headers=headers, content=b"{not json").status_code == 400
    assert client.post("/fhir/Patient", headers=headers, content=b"{}").status_code == 405
    stranger = {**auth(make_token(session, make_staff(session, make_org(session)))), **JSON}
    observer = {**auth(make_token(session, session.get(type(patient), patient.id) and make_staff(
        session, make_org(session)), scopes="user/Observation.rs")), **JSON}
    session.commit()
    assert client.post("/fhir/Observation", headers=stranger, content=json.dumps(_obs(patient.id))).status_code == 404
    assert client.post("/fhir/Observation", headers=observer, content=json.dumps(_obs(patient.id))).status_code == 403


@pytest.mark.parametrize("name", ["condition-example-f201-fever.json", "condition-example-stroke.json",
                                  "observation-example-bmi.json", "observation-example-heart-rate.json",
                                  "encounter-example-home.json", "medicationstatementexample1.json"])
def test_official_r4_examples_are_accepted(client, session, world, name):
    patient, _, headers = world
    resource = json.loads((EXAMPLES / name).read_text())
    for key in ("subject", "patient"):
        if key in resource:
            resource[key] = {"reference": f"Patient/{patient.id}"}
    for key in ("encounter", "context", "asserter", "recorder", "id", "text", "derivedFrom", "hasMember"):
        resource.pop(key, None)
    if resource["resourceType"] == "Encounter":
        resource["period"] = {"start": "2026-10-01T09:00:00Z", "end": "2026-10-01T10:00:00Z"}
    if resource["resourceType"] == "Observation" and "effectivePeriod" in resource:
        resource["effectiveDateTime"] = resource.pop("effectivePeriod")["start"]
    made = client.post(f"/fhir/{resource['resourceType']}", headers=headers, content=json.dumps(resource))
    assert made.status_code == 201, made.text
    _valid(made.json())


def test_a_condition_keeps_its_snomed_coding(client, session, world):
    patient, _, headers = world
    resource = json.loads((EXAMPLES / "condition-example-stroke.json").read_text())
    resource["subject"] = {"reference": f"Patient/{patient.id}"}
    made = client.post("/fhir/Condition", headers=headers, content=json.dumps(resource))
    assert made.status_code == 201, made.text
    stored = session.scalars(select(Condition)).one()
    assert (stored.code_system, stored.code) == ("http://snomed.info/sct", "422504002")


def test_procedures_and_immunizations_round_trip(client, session, world):
    """A US Core procedure example and a Synthea immunization, each pointed at our patient: stored, read back
    valid, found by code and date."""
    patient, _, headers = world
    rehab = json.loads((SHARED_DATA / "fhir-examples" / "us-core-9.0.0" / "procedure-rehab.json").read_text())
    for key in ("id", "basedOn", "encounter", "meta"):
        rehab.pop(key)
    rehab["subject"] = {"reference": f"Patient/{patient.id}"}
    made = client.post("/fhir/Procedure", headers=headers, content=json.dumps(rehab))
    assert made.status_code == 201, made.text
    procedure = _valid(made.json())
    assert procedure["code"]["coding"][0]["code"] == "24165007" and procedure["performedDateTime"].startswith(
        "2002-05-23")

    bundle = json.loads(next((SHARED_DATA / "synthea" / "standard-synthea-3x").glob("Juana*.json")).read_text())
    shot = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Immunization")
    shot = {**{k: v for k, v in shot.items() if k not in ("id", "encounter", "location")},
            "patient": {"reference": f"Patient/{patient.id}"}}
    made = client.post("/fhir/Immunization", headers=headers, content=json.dumps(shot))
    assert made.status_code == 201, made.text
    immunization = _valid(made.json())
    cvx = shot["vaccineCode"]["coding"][0]["code"]
    assert immunization["vaccineCode"]["coding"][0] == {k: v for k, v in shot["vaccineCode"]["coding"][0].items()}

    found = client.get(f"/fhir/Immunization?patient={patient.id}&vaccine-code=http://hl7.org/fhir/sid/cvx|{cvx}",
                       headers=headers).json()
    assert [e["resource"]["id"] for e in found["entry"]] == [immunization["id"]]
    assert client.get(f"/fhir/Procedure?patient={patient.id}&date=ge2003", headers=headers).json().get(
        "entry", []) == []
    dated = client.get(f"/fhir/Procedure?patient={patient.id}&date=2002-05", headers=headers).json()
    assert [e["resource"]["id"] for e in dated["entry"]] == [procedure["id"]]
    api = client.get(f"/api/v1/patients/{patient.id}/immunizations", headers=headers)
    assert api.status_code == 200 and api.json()[0]["code"] == cvx


def test_medication_requests_are_the_practice_list(client, session, world):
    """US Core's contained-medication request lands on the practice's list and reads back as a
    MedicationRequest; a discharge-list entry is a MedicationStatement only."""
    from careloop.auth.actor import system_actor
    from careloop.clinical import service as clinical

    patient, _, headers = world
    example = json.loads((SHARED_DATA / "fhir-examples" / "us-core-9.0.0" /
                          "medicationrequest-contained-oral-axid.json").read_text())
    for key in ("id", "meta", "requester", "text"):
        example.pop(key, None)
    example["subject"] = {"reference": f"Patient/{patient.id}"}
    made = client.post("/fhir/MedicationRequest", headers=headers, content=json.dumps(example))
    assert made.status_code == 201, made.text
    request = _valid(made.json())
    assert request["intent"] == "plan" and request["medicationCodeableConcept"]["coding"][0]["code"] == "582620"
    assert request["dosageInstruction"][0]["text"] == "10 mL bid" and request["authoredOn"] == "2008-04-05"

    meds = clinical.KINDS["medications"]
    discharge = clinical.create_record(session, system_actor(patient.organization_id), meds, patient.id,
                                       meds.create(display="furosemide 40 MG Oral Tablet", code="313988",
                                                   source="hospital_discharge"))
    session.commit()
    found = client.get(f"/fhir/MedicationRequest?patient={patient.id}", headers=headers).json()
    assert [e["resource"]["id"] for e in found["entry"]] == [request["id"]]
    assert client.get(f"/fhir/MedicationRequest/{discharge.id}", headers=headers).status_code == 404
    assert client.get(f"/fhir/MedicationStatement/{discharge.id}", headers=headers).status_code == 200
    statement = client.get(f"/fhir/MedicationStatement/{request['id']}", headers=headers).json()
    assert statement["category"]["coding"][0]["code"] == "practice"


def test_a_procedures_reason_comes_from_its_code_or_the_condition_named(client, world):
    patient, _, headers = world
    base = {"resourceType": "Procedure", "status": "completed", "subject": {"reference": f"Patient/{patient.id}"},
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "73761001", "display": "Colonoscopy"}]}}
    coded = {**base, "reasonCode": [{"coding": [{"system": "http://snomed.info/sct", "code": "275978004",
                                                 "display": "Screening for malignant neoplasm of colon"}]}]}
    named = {**base, "reasonCode": [{}], "reasonReference": [{"reference": "Condition/x", "display": "Polyp"}]}
    reasons = []
    for body in (coded, named):
        made = client.post("/fhir/Procedure", headers=headers, content=json.dumps(body))
        assert made.status_code == 201, made.text
        reasons.append(_valid(made.json())["reasonCode"][0]["text"])
    assert reasons == ["Screening for malignant neoplasm of colon", "Polyp"]
