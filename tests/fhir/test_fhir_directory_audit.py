"""FHIR Organization (the caller's organisation), PractitionerRole (the referral directory) and AuditEvent
(read/search of the audit log about patients): valid R4, scoped to the organisation and the role."""

from __future__ import annotations

import uuid

import pytest
from fhir.resources.R4B import get_fhir_model_class

from careloop.referrals.models import Provider, ProviderKind
from careloop.staff.models import StaffRole
from factories import auth, make_org, make_patient, make_staff, make_token

FHIR = {"Accept": "application/fhir+json"}


def valid(resource: dict) -> dict:
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    return resource


def _entries(response) -> list[dict]:
    assert response.status_code == 200, response.text
    return [valid(e["resource"]) for e in valid(response.json()).get("entry", []) if e["search"]["mode"] == "match"]


@pytest.fixture
def world(session):
    org, other = make_org(session), make_org(session)
    coordinator = make_staff(session, org)
    patient = make_patient(session, org, coordinator)
    stranger_patient = make_patient(session, other, make_staff(session, other))
    session.add_all([
        Provider(organization_id=org.id, external_id="1234567890", kind=ProviderKind.PRACTITIONER,
                 name="Dr. Ada Heart", specialty_code="207RC0000X", specialty_display="Cardiovascular Disease",
                 address_line="5 Elm St", city="Springfield", state="IL", postal_code="62701",
                 phone="217-555-0123", direct_address="ada.heart@direct.example.org", accepting_new_patients=False),
        Provider(organization_id=org.id, external_id="KIDNEY-1", kind=ProviderKind.ORGANIZATION,
                 name="Lakeside Kidney Center", specialty_code="207RX0202X", specialty_display="Nephrology",
                 in_network=False),
        Provider(organization_id=other.id, external_id="X", kind=ProviderKind.PRACTITIONER, name="Dr. Elsewhere",
                 specialty_code="207RC0000X", specialty_display="Cardiovascular Disease"),
    ])
    session.commit()
    tokens = {role: {**auth(make_token(session, make_staff(session, org, role))), **FHIR}
              for role in (StaffRole.SUPERVISOR, StaffRole.BILLING)}
    tokens["coordinator"] = {**auth(make_token(session, coordinator)), **FHIR}
    tokens["other_supervisor"] = {**auth(make_token(session, make_staff(session, other, StaffRole.SUPERVISOR))),
                                  **FHIR}
    session.commit()
    return {"org": org, "other": other, "patient": patient, "stranger_patient": stranger_patient, **tokens}


def test_organization_is_the_callers_own(client, world):
    org = client.get(f"/fhir/Organization/{world['org'].id}", headers=world["coordinator"])
    assert org.status_code == 200 and valid(org.json())["name"] == world["org"].name
    assert "etag" in org.headers and "last-modified" in org.headers
    assert client.get(f"/fhir/Organization/{world['other'].id}", headers=world["coordinator"]).status_code == 404
    assert [e["id"] for e in _entries(client.get("/fhir/Organization", headers=world["coordinator"]))] == [
        str(world["org"].id)]


def test_practitioner_roles_are_the_referral_directory(client, world):
    found = _entries(client.get("/fhir/PractitionerRole?specialty=http://nucc.org/provider-taxonomy|207RC0000X",
                                headers=world["coordinator"]))
    assert len(found) == 1  # not the other organisation's cardiologist
    role = found[0]
    assert role["practitioner"]["display"] == "Dr. Ada Heart" and "Not accepting" in role["availabilityExceptions"]
    assert {t["system"] for t in role["telecom"]} == {"phone", "email"} and "Springfield" in role["location"][0][
        "display"]
    kidney = _entries(client.get("/fhir/PractitionerRole?identifier=KIDNEY-1", headers=world["coordinator"]))
    assert kidney[0]["organization"]["display"] == "Lakeside Kidney Center" and "out of network" in kidney[0][
        "availabilityExceptions"]
    read = client.get(f"/fhir/PractitionerRole/{role['id']}", headers=world["coordinator"])
    assert read.status_code == 200 and "etag" not in read.headers  # read-only, not versioned
    billing = world[StaffRole.BILLING]  # no referral:read
    assert client.get("/fhir/PractitionerRole", headers=billing).status_code == 403


def test_audit_events_about_patients_for_auditors_only(client, world):
    patient = world["patient"]
    for _ in range(3):
        assert client.get(f"/fhir/Patient/{patient.id}", headers=world["coordinator"]).status_code == 200
    assert client.get(f"/fhir/Patient/{world['stranger_patient'].id}",
                      headers=world["other_supervisor"]).status_code == 200
    supervisor = world[StaffRole.SUPERVISOR]
    page = client.get(f"/fhir/AuditEvent?patient={patient.id}&subtype=read&_count=2", headers=supervisor)
    first = _entries(page)
    assert len(first) == 2
    for event in first:
        assert event["action"] == "R" and event["outcome"] == "0"
        assert event["entity"][0]["what"]["reference"] == f"Patient/{patient.id}"
        assert event["agent"][0]["who"]["reference"].startswith("Practitioner/")
    link = next(item["url"] for item in page.json()["link"] if item["relation"] == "next")
    rest = _entries(client.get(link.removeprefix("http://testserver"), headers=supervisor))
    assert len(first) + len(rest) >= 3 and not {e["id"] for e in first} & {e["id"] for e in rest}
    one = client.get(f"/fhir/AuditEvent/{first[0]['id']}", headers=supervisor)
    assert one.status_code == 200 and valid(one.json())["id"] == first[0]["id"]
    assert client.get("/fhir/AuditEvent/not-a-number", headers=supervisor).status_code == 404
    # another organisation's events are not there; a coordinator may not read the audit log
    theirs = _entries(client.get(f"/fhir/AuditEvent?patient={world['stranger_patient'].id}", headers=supervisor))
    assert theirs == []
    assert client.get(f"/fhir/AuditEvent?patient={patient.id}", headers=world["coordinator"]).status_code == 403
    assert client.get(f"/fhir/AuditEvent?_id={uuid.uuid4()}", headers=supervisor).status_code == 400


def test_care_team_is_the_patients_team_as_it_stands(client, session, world):
    from careloop.auth.actor import system_actor
    from careloop.care_teams import service as care_teams
    from careloop.care_teams.models import CareTeamRole

    patient = world["patient"]
    first = client.get(f"/fhir/CareTeam/{patient.id}", headers=world["coordinator"])
    assert first.status_code == 200 and "etag" not in first.headers
    team = valid(first.json())
    assert team["subject"]["reference"] == f"Patient/{patient.id}" and team["status"] == "active"
    assert [p["role"][0]["coding"][0]["code"] for p in team["participant"]] == ["primary_care_coordinator"]

    pharmacist = make_staff(session, world["org"], StaffRole.PHARMACIST)
    care_teams.assign(session, system_actor(world["org"].id), patient, CareTeamRole.PHARMACIST, pharmacist.id)
    session.commit()
    found = _entries(client.get(f"/fhir/CareTeam?patient={patient.id}", headers=world["coordinator"]))
    assert len(found) == 1 and len(found[0]["participant"]) == 2
    assert {p["member"]["reference"] for p in found[0]["participant"]} >= {f"Practitioner/{pharmacist.id}"}
    assert found[0]["meta"]["lastUpdated"] >= team["meta"]["lastUpdated"]
    outsider = {**auth(make_token(session, make_staff(session, world["org"]))), **FHIR}
    session.commit()
    assert client.get(f"/fhir/CareTeam/{patient.id}", headers=outsider).status_code == 403  # not on the team
