"""SMART on FHIR v2 scopes on tokens: they narrow what a token may do on /fhir, never widen the role, keep a
SMART-only token off the rest of the API, and bind patient/ scopes to one patient."""

from __future__ import annotations

import datetime as dt

import pytest

from careloop import clock
from careloop.auth import service as auth_service
from careloop.auth import smart
from careloop.clinical.models import Condition, Observation, ObservationCategory
from careloop.errors import InvalidInput
from careloop.staff.models import StaffRole
from factories import auth, make_org, make_patient, make_staff

FHIR = {"Accept": "application/fhir+json"}


@pytest.fixture
def world(session):
    org = make_org(session)
    coordinator = make_staff(session, org)
    first, second = make_patient(session, org, coordinator), make_patient(session, org, coordinator)
    for patient in (first, second):
        session.add_all([Observation(organization_id=org.id, patient_id=patient.id,
                                     category=ObservationCategory.VITAL_SIGNS, code="8480-6", display="Systolic",
                                     value_quantity=130, unit="mm[Hg]", effective_at=clock.now()),
                         Condition(organization_id=org.id, patient_id=patient.id, code="I10", display="Hypertension")])
    session.commit()

    def token(scopes: str, staff=coordinator, **kwargs) -> dict[str, str]:
        raw, _ = auth_service.create_token(session, organization_id=org.id, scopes=scopes,
                                           ttl=dt.timedelta(hours=1), staff=staff, **kwargs)
        session.commit()
        return {**auth(raw), **FHIR}
    return org, coordinator, first, second, token


def _ids(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [e["resource"]["subject"]["reference"] for e in response.json().get("entry", [])
            if e["search"]["mode"] == "match"]


def test_user_scopes_limit_types_and_interactions(client, world):
    _, _, first, _, token = world
    observations = token("user/Observation.rs")
    assert len(_ids(client.get("/fhir/Observation", headers=observations))) == 2
    refused = client.get(f"/fhir/Condition?patient={first.id}", headers=observations)
    assert refused.status_code == 403 and refused.json()["issue"][0]["diagnostics"] == "insufficient_scope"
    read_only = token("user/Observation.r")  # read but not search
    assert client.get("/fhir/Observation", headers=read_only).status_code == 403
    v1 = token("user/*.read")
    assert client.get(f"/fhir/Condition?patient={first.id}", headers=v1).status_code == 200
    assert client.get(f"/fhir/Patient/{first.id}", headers=v1).status_code == 200


def test_a_smart_only_token_works_on_fhir_only(client, world):
    _, _, first, _, token = world
    headers = token("user/*.rs")
    assert client.get(f"/fhir/Patient/{first.id}", headers=headers).status_code == 200
    api = client.get(f"/api/v1/patients/{first.id}", headers=headers)
    assert api.status_code == 403 and api.json()["code"] == "fhir_only_token"
    mixed = token("user/*.rs patient:read")  # CareLoop scopes next to SMART ones keep the API open
    assert client.get(f"/api/v1/patients/{first.id}", headers=mixed).status_code == 200


def test_scopes_never_exceed_the_role(client, session, world):
    org, _, first, _, token = world
    billing = make_staff(session, org, StaffRole.BILLING)  # may see patients, not clinical records
    session.commit()
    headers = token("user/*.cruds", staff=billing)
    assert client.get(f"/fhir/Condition?patient={first.id}", headers=headers).status_code == 403


def test_patient_scopes_are_bound_to_one_patient(client, world):
    _, _, first, second, token = world
    headers = token("patient/*.rs", patient_id=first.id)
    assert set(_ids(client.get("/fhir/Observation", headers=headers))) == {f"Patient/{first.id}"}
    assert client.get(f"/fhir/Patient/{second.id}", headers=headers).status_code == 404
    with pytest.raises(InvalidInput, match="patient context"):
        token("patient/*.rs")


@pytest.mark.parametrize("scope", ["user/Observation.xyz", "user/observation.rs", "launch/Observation.rs",
                                   "user/Observation.", "user/Observation"])
def test_malformed_scopes_are_refused_when_the_token_is_made(world, scope):
    *_, token = world
    with pytest.raises(InvalidInput, match="scope"):
        token(scope)


def test_scope_grammar():
    parsed = smart.parse("patient/Observation.rs user/Condition.cruds system/*.read openid clinical:read")
    assert parsed.allows("Observation", "s") and not parsed.allows("Observation", "c")
    assert parsed.allows("Condition", "u") and parsed.allows("Encounter", "s") and not parsed.allows("Encounter", "c")
    assert parsed.contexts == {"patient", "user", "system"} and parsed.needs_patient
    assert smart.parse("clinical:read *") is None
