"""FHIR R4 read and search: every emitted resource validates against the R4B models; access, audit,
OperationOutcome errors, content negotiation, paging with sealed links, no PHI in URLs."""

from __future__ import annotations

import datetime as dt
import uuid
from urllib.parse import urlsplit

import pytest
from fhir.resources.R4B import get_fhir_model_class
from sqlalchemy import select

from careloop import clock
from careloop.audit.models import AuditEvent
from careloop.clinical.models import (
    Allergy,
    AllergyCategory,
    Condition,
    Encounter,
    EncounterClass,
    Observation,
    ObservationCategory,
)
from careloop.medications.models import Medication, MedicationSource
from careloop.staff.models import StaffRole
from factories import auth, make_org, make_patient, make_staff, make_token

FHIR = {"Accept": "application/fhir+json"}


def valid(resource: dict) -> dict:
    """The resource parsed by fhir.resources' R4B model of its type (raises when it is not valid FHIR)."""
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    return resource


class World:
    pass


@pytest.fixture
def world(session):
    org = make_org(session)
    coordinator = make_staff(session, org)
    patient = make_patient(session, org, coordinator, family_name="Okafor", given_name="Ada", phone="217-555-0100",
                           address_line="1 Main St", city="Springfield", state="IL", postal_code="62701")
    other = make_patient(session, org, make_staff(session, org))  # not on the coordinator's team
    now = clock.now()
    encounter = Encounter(organization_id=org.id, patient_id=patient.id, encounter_class=EncounterClass.INPATIENT,
                          start_at=now - dt.timedelta(days=5), end_at=now - dt.timedelta(days=2),
                          facility_name="General Hospital", reason="Heart failure", visit_number="V1")
    session.add(encounter)
    session.flush()
    records = [
        Condition(organization_id=org.id, patient_id=patient.id, code="I50.9", display="Heart failure",
                  onset_date=dt.date(2024, 3, 1)),
        *[Observation(organization_id=org.id, patient_id=patient.id, category=ObservationCategory.LABORATORY,
                      code="4548-4", display="Hemoglobin A1c", value_quantity=7.0 + n / 10, unit="%",
                      effective_at=now - dt.timedelta(days=30 * n), encounter_id=encounter.id if n == 0 else None)
          for n in range(5)],
        Observation(organization_id=org.id, patient_id=patient.id, category=ObservationCategory.VITAL_SIGNS,
                    code="8480-6", display="Systolic blood pressure", value_quantity=142, unit="mm[Hg]",
                    effective_at=now),
        Allergy(organization_id=org.id, patient_id=patient.id, substance="Penicillin",
                category=AllergyCategory.MEDICATION, reaction="Hives", recorded_date=dt.date(2020, 1, 1)),
        Medication(organization_id=org.id, patient_id=patient.id, code="314076", display="lisinopril 10 MG",
                   dose="10 mg", frequency="daily", source=MedicationSource.PRACTICE, start_date=dt.date(2025, 1, 1)),
        Condition(organization_id=org.id, patient_id=other.id, code="E11.9", display="Type 2 diabetes"),
    ]
    session.add_all(records)
    session.commit()
    w = World()
    w.org, w.patient, w.other, w.encounter, w.records = org, patient, other, encounter, records
    w.token = {**auth(make_token(session, coordinator)), **FHIR}
    w.billing = {**auth(make_token(session, make_staff(session, org, StaffRole.BILLING))), **FHIR}
    w.stranger = {**auth(make_token(session, make_staff(session, make_org(session), StaffRole.SUPERVISOR))), **FHIR}
    session.commit()
    return w


def _outcome(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    body = valid(response.json())
    assert body["resourceType"] == "OperationOutcome"
    if code:
        assert body["issue"][0]["code"] == code
    return body


def test_capability_statement_is_public_and_valid(client):
    response = client.get("/fhir/metadata")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/fhir+json")
    statement = valid(response.json())
    types = {r["type"] for r in statement["rest"][0]["resource"]}
    assert types == {"Patient", "Condition", "Encounter", "Observation", "AllergyIntolerance", "MedicationStatement",
                     "Practitioner", "CarePlan", "Goal", "Task", "ServiceRequest", "Organization",
                     "PractitionerRole", "AuditEvent", "Procedure", "Immunization", "CareTeam",
                     "MedicationRequest"}
    interactions = {r["type"]: {i["code"] for i in r["interaction"]} for r in statement["rest"][0]["resource"]}
    writable = {"Condition", "Encounter", "Observation", "AllergyIntolerance", "MedicationStatement", "Procedure",
                "Immunization", "MedicationRequest"}
    for name, codes in interactions.items():
        assert codes == ({"read", "search-type", "create", "update"} if name in writable else {"read", "search-type"})
    assert {o["name"] for o in statement["rest"][0]["operation"]} == {"export", "patient-export", "group-export"}
    _outcome(client.get("/fhir/metadata", headers={"Accept": "application/fhir+xml"}), 406, "not-supported")


def test_every_type_reads_as_valid_fhir_with_etag_and_audit(client, session, world):
    patient = client.get(f"/fhir/Patient/{world.patient.id}", headers=world.token)
    assert patient.status_code == 200 and patient.headers["etag"] == 'W/"1"' and patient.headers["last-modified"]
    body = valid(patient.json())
    assert body["identifier"][0]["value"] == world.patient.mrn and body["address"][0]["city"] == "Springfield"
    for record in world.records[:-1]:
        kind = {"Allergy": "AllergyIntolerance", "Medication": "MedicationStatement"}.get(
            type(record).__name__, type(record).__name__)
        got = client.get(f"/fhir/{kind}/{record.id}", headers=world.token)
        assert got.status_code == 200, got.text
        assert valid(got.json())["id"] == str(record.id)
    valid(client.get(f"/fhir/Encounter/{world.encounter.id}", headers=world.token).json())
    reads = session.scalars(select(AuditEvent).where(AuditEvent.action == "read",
                                                     AuditEvent.patient_id == world.patient.id)).all()
    assert len(reads) >= len(world.records) and {e.record_type for e in reads} >= {"Patient", "Observation"}


def test_errors_are_operation_outcomes(client, world):
    _outcome(client.get(f"/fhir/Patient/{world.patient.id}"), 401, "login")
    _outcome(client.get(f"/fhir/Patient/{world.patient.id}", headers=world.stranger), 404, "not-found")
    _outcome(client.get(f"/fhir/Patient/{world.other.id}", headers=world.token), 403, "forbidden")
    _outcome(client.get(f"/fhir/Condition/{world.records[0].id}", headers=world.billing), 403, "forbidden")
    _outcome(client.get("/fhir/Questionnaire/1", headers=world.token), 404, "not-found")
    _outcome(client.get(f"/fhir/Patient/{uuid.uuid4()}", headers=world.token), 404, "not-found")
    _outcome(client.get("/fhir/Observation?date=yesterday", headers=world.token), 400, "invalid")
    _outcome(client.get("/fhir/Observation?_format=xml", headers={**world.token, "Accept": "*/*"}), 406)


def _all_pages(client, url, headers) -> list[dict]:
    resources = []
    while url:
        page = client.get(url, headers=headers)
        assert page.status_code == 200, page.text
        bundle = valid(page.json())
        resources += [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
    return resources


def test_search_by_patient_code_and_date_with_paging(client, world):
    pid = world.patient.id
    a1c = _all_pages(client, f"/fhir/Observation?patient={pid}&code=http://loinc.org|4548-4&_count=2", world.token)
    assert len(a1c) == 5 and len({r["id"] for r in a1c}) == 5
    since = (clock.now() - dt.timedelta(days=65)).date().isoformat()
    recent = _all_pages(client, f"/fhir/Observation?subject=Patient/{pid}&code=4548-4&date=ge{since}", world.token)
    assert len(recent) == 3
    newest_first = _all_pages(client, f"/fhir/Observation?patient={pid}&_sort=-date&_count=3", world.token)
    dates = [r["effectiveDateTime"] for r in newest_first]
    assert dates == sorted(dates, reverse=True) and len(dates) == 6
    vitals = _all_pages(client, f"/fhir/Observation?patient={pid}&category=vital-signs", world.token)
    assert [r["code"]["coding"][0]["code"] for r in vitals] == ["8480-6"]
    count = client.get("/fhir/Condition?_summary=count", headers=world.token).json()
    assert count["total"] == 1  # the other patient's condition is not the coordinator's to see
    assert _all_pages(client, "/fhir/Condition?code=E11.9", world.token) == []


def test_unknown_parameters_follow_prefer_handling(client, world):
    lenient = client.get(f"/fhir/Condition?patient={world.patient.id}&foo=bar", headers=world.token).json()
    outcome = [e for e in lenient["entry"] if e["search"]["mode"] == "outcome"]
    assert len(outcome) == 1 and "foo" in outcome[0]["resource"]["issue"][0]["diagnostics"]
    strict = client.get("/fhir/Condition?foo=bar", headers={**world.token, "Prefer": "handling=strict"})
    _outcome(strict, 400, "invalid")


def test_identifying_searches_are_posted_and_page_links_carry_no_phi(client, world):
    refused = client.get("/fhir/Patient?name=Okaf", headers=world.token)
    assert _outcome(refused, 400)["issue"][0]["diagnostics"] == "search_terms_in_url"
    form = {**world.token, "Content-Type": "application/x-www-form-urlencoded"}
    found = client.post("/fhir/Patient/_search", headers=form, content=b"name=okaf&birthdate=le2030&_count=1")
    bundle = valid(found.json())
    assert [e["resource"]["id"] for e in bundle["entry"]] == [str(world.patient.id)]
    for link in bundle["link"]:
        assert "okaf" not in link["url"].lower() and "2030" not in link["url"]
    by_mrn = client.post("/fhir/Patient/_search", headers=form,
                         content=f"identifier={world.patient.mrn_authority}|{world.patient.mrn}".encode())
    assert [e["resource"]["id"] for e in by_mrn.json()["entry"]] == [str(world.patient.id)]
    tampered = "/fhir/Observation?_cursor=" + "A" * 60
    _outcome(client.get(tampered, headers=world.token), 400)


def test_next_links_are_relative_to_the_server_and_sealed(client, world):
    page = client.get(f"/fhir/Observation?patient={world.patient.id}&_count=1", headers=world.token).json()
    next_url = next(link["url"] for link in page["link"] if link["relation"] == "next")
    parts = urlsplit(next_url)
    assert parts.path == "/fhir/Observation" and parts.query.startswith("_cursor=")
    assert str(world.patient.id) not in next_url
    cross = client.get(f"/fhir/Condition?{parts.query}", headers=world.token)
    _outcome(cross, 400)


def test_care_coordination_resources_are_valid_fhir(client, session, world):
    from careloop.auth.actor import system_actor
    from careloop.care_plans import content
    from careloop.care_plans import service as plans
    from careloop.care_plans.schemas import CarePlanCreate, GoalCreate
    from careloop.referrals import service as referrals
    from careloop.referrals.models import Provider, ProviderKind
    from careloop.referrals.schemas import ReferralCreate
    from careloop.tasks import service as tasks

    actor = system_actor(world.org.id)
    pcp = make_staff(session, world.org, StaffRole.PRIMARY_CARE_PHYSICIAN, npi="1234567893")
    plan = plans.create_plan(session, actor, world.patient.id, CarePlanCreate(title="Heart failure plan"))
    goal = content.add_goal(session, actor, plan.id, GoalCreate(
        description="A1c under 7.5%", measure_code="4548-4", comparator="lt", target_value=7.5, target_unit="%",
        due_date=dt.date(2027, 1, 1)))
    task = tasks.create_task(session, organization_id=world.org.id, patient_id=world.patient.id,
                             title="Call after discharge", owner_id=pcp.id, due_at=clock.now())
    provider = Provider(organization_id=world.org.id, external_id="X1", kind=ProviderKind.PRACTITIONER,
                        name="Dr. Heart", specialty_code="207RC0000X", specialty_display="Cardiovascular Disease")
    session.add(provider)
    session.flush()
    lead = make_staff(session, world.org, StaffRole.SUPERVISOR)
    referral = referrals.create_referral(session, actor_of_staff(lead), world.patient.id, ReferralCreate(
        provider_id=provider.id, reason="Exertional chest pain", clinical_question="Stress test?"))
    session.commit()
    supervisor = {**auth(make_token(session, lead)), **FHIR}
    session.commit()
    for kind, rid in (("CarePlan", plan.id), ("Goal", goal.id), ("Task", task.id), ("ServiceRequest", referral.id),
                      ("Practitioner", pcp.id)):
        got = client.get(f"/fhir/{kind}/{rid}", headers=supervisor)
        assert got.status_code == 200, (kind, got.text)
        valid(got.json())
        if kind != "Practitioner":
            found = client.get(f"/fhir/{kind}?patient={world.patient.id}", headers=supervisor).json()
            assert [e["resource"]["id"] for e in found["entry"]] == [str(rid)]
            assert client.get(f"/fhir/{kind}/{rid}", headers=world.stranger).status_code == 404
    assert valid(client.get(f"/fhir/Goal/{goal.id}", headers=supervisor).json())["target"][0]["detailQuantity"][
        "comparator"] == "<"
    by_npi = client.get("/fhir/Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|1234567893",
                        headers=supervisor).json()
    assert [e["resource"]["id"] for e in by_npi["entry"]] == [str(pcp.id)]
    mine = client.get(f"/fhir/Task?owner=Practitioner/{pcp.id}", headers=supervisor).json()
    assert [valid(e["resource"])["id"] for e in mine["entry"]] == [str(task.id)]


def actor_of_staff(staff):
    from careloop.auth.service import actor_for_staff

    return actor_for_staff(staff)


def test_include_and_revinclude_the_common_pairs(client, world):
    pid = world.patient.id
    page = client.get(f"/fhir/Observation?patient={pid}&_include=Observation:patient&_count=3", headers=world.token)
    bundle = valid(page.json())
    modes = [(e["search"]["mode"], e["resource"]["resourceType"]) for e in bundle["entry"]]
    assert modes.count(("include", "Patient")) == 1 and modes.count(("match", "Observation")) == 3
    rev = client.get(f"/fhir/Patient?_id={pid}&_revinclude=Condition:patient&_revinclude=Observation:subject",
                     headers=world.token).json()
    kinds = sorted(e["resource"]["resourceType"] for e in rev["entry"] if e["search"]["mode"] == "include")
    assert kinds == ["Condition"] + ["Observation"] * 6
    for entry in rev["entry"]:
        valid(entry["resource"])
    bad = client.get("/fhir/Observation?_include=Observation:code", headers=world.token)
    _outcome(bad, 400)
    scoped = client.get(f"/fhir/Patient?_id={world.other.id}&_revinclude=Condition:patient", headers=world.token)
    assert scoped.json()["entry"] == []  # not the coordinator's patient: nothing, and nothing of theirs included
