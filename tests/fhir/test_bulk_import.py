"""Bulk import of the Synthea samples: what is mapped lands (counts checked against the files), the rest is
counted, importing again changes nothing, NDJSON references resolve across files, a broken file does not
lose the files before it, and the CLI and $import tell what happened."""

from __future__ import annotations

import json
from collections import Counter

import orjson
import pytest
from sqlalchemy import func, select

from careloop.audit.models import AuditEvent
from careloop.auth.actor import system_actor
from careloop.care_teams.models import CareTeamMember, CareTeamRole
from careloop.clinical.models import (
    Condition,
    Encounter,
    Immunization,
    Observation,
    OutsideCarePlan,
    OutsideCareTeam,
    Procedure,
)
from careloop.events.models import DomainEvent
from careloop.fhir.bulk import Importer
from careloop.fhir.models import ImportedFile
from careloop.medications.models import Medication
from careloop.patients.models import Patient
from careloop.staff.models import StaffRole
from cli_support import run, using_database
from factories import auth, make_org, make_patient, make_staff, make_token
from shared_data import SHARED_DATA

SYNTHEA = SHARED_DATA / "synthea"
STANDARD = SYNTHEA / "standard-synthea-3x"


def _types(folder) -> Counter:
    found = Counter()
    for path in folder.rglob("*.json"):
        for entry in json.loads(path.read_text()).get("entry", []):
            found[entry["resource"]["resourceType"]] += 1
    return found


@pytest.fixture
def org_and_coordinator(session):
    org = make_org(session)
    coordinator = make_staff(session, org)
    session.commit()
    return org, coordinator


def _count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def test_synthea_samples_import_with_everything_accounted_for(session, session_factory, org_and_coordinator):
    org, coordinator = org_and_coordinator
    importer = Importer(session_factory, system_actor(org.id, "test-import"), coordinator.id)
    summary = importer.import_path(STANDARD)
    expected = _types(STANDARD)
    assert summary.imported["Patient"] == expected["Patient"] == 6
    assert summary.imported["Encounter"] == expected["Encounter"] == _count(session, Encounter)
    assert summary.imported["Condition"] + sum(n for k, n in summary.rejected.items()
                                               if k.startswith("Condition")) == expected["Condition"]
    assert summary.imported["MedicationRequest"] == expected["MedicationRequest"] == _count(session, Medication)
    assert not summary.rejected  # the standard samples are clean
    assert summary.imported["Procedure"] == expected["Procedure"] == _count(session, Procedure) > 0
    assert summary.imported["Immunization"] == expected["Immunization"] == _count(session, Immunization) > 0
    linked = session.scalar(select(func.count()).select_from(Procedure).where(Procedure.encounter_id.is_not(None)))
    assert linked == _count(session, Procedure)  # every Synthea procedure names its encounter
    assert summary.imported["CarePlan"] == expected["CarePlan"] == _count(session, OutsideCarePlan) > 0
    assert summary.imported["CareTeam"] == expected["CareTeam"] == _count(session, OutsideCareTeam) > 0
    for kind in ("Claim", "DiagnosticReport", "Organization", "Practitioner"):
        assert summary.not_modeled[kind] == expected[kind]
    diabetes = session.scalars(select(OutsideCarePlan).where(OutsideCarePlan.code == "735985000")).first()
    assert diabetes.title.startswith("Diabetes self management plan") and diabetes.activities
    assert {a["display"] for a in diabetes.activities} >= {"Diabetic diet (finding)"}
    assert any("diabetes" in name.lower() for name in diabetes.addresses)  # the condition it addresses, by name
    team = session.scalars(select(OutsideCareTeam)).first()
    assert team.members and all(m["kind"] in ("practitioner", "organization") for m in team.members)
    assert any(m["identifier"] and m["identifier"].isdigit() for m in team.members)  # the NPI
    assert summary.resources == sum(expected.values())
    observations = [e["resource"] for p in STANDARD.glob("*.json") for e in json.loads(p.read_text())["entry"]
                    if e["resource"]["resourceType"] == "Observation"]
    in_panels = sum(1 for o in observations for c in o.get("component", [])
                    if not any(k.startswith("value") for k in o) and c["code"]["coding"][0]["code"] == "8480-6")
    standalone = sum(1 for o in observations if o["code"]["coding"][0]["code"] == "8480-6")
    systolic = session.scalar(select(func.count()).select_from(Observation).where(Observation.code == "8480-6"))
    assert in_panels > 0 and systolic == in_panels + standalone  # a blood-pressure panel: one row per component
    linked = session.scalar(select(func.count()).select_from(Observation).where(Observation.encounter_id.is_not(None)))
    assert linked == _count(session, Observation)  # every Synthea observation names its encounter
    assert _count(session, ImportedFile) == 8

    again = Importer(session_factory, system_actor(org.id, "test-import"), coordinator.id).import_path(STANDARD)
    assert (again.files, again.files_skipped, again.resources) == (0, 8, 0)
    one = next(STANDARD.glob("Alvin*.json"))
    replay = Importer(session_factory, system_actor(org.id, "test-import"), coordinator.id)
    with session_factory() as s:
        replay.import_bundle(s, orjson.loads(one.read_bytes()))
        s.commit()
    assert not replay.summary.imported and replay.summary.already["Patient"] == 1


def test_malformed_codes_are_rejected_by_reason_and_the_rest_lands(session, session_factory, org_and_coordinator):
    org, coordinator = org_and_coordinator
    summary = Importer(session_factory, system_actor(org.id, "t"), coordinator.id).import_path(
        SYNTHEA / "fhir-data-pipes-hiv-module")
    assert summary.imported["Patient"] == 2 and summary.imported["Encounter"] > 100
    hiv = _types(SYNTHEA / "fhir-data-pipes-hiv-module")
    # every observation of this module carries a 36-character "LOINC" code: rejected, counted, reported
    assert summary.rejected["Observation: code string_pattern_mismatch"] == hiv["Observation"]
    assert set(summary.rejected) <= {"Observation: code string_pattern_mismatch",
                                     "Condition: code string_pattern_mismatch"}
    assert all(":" in reason and "AAAA" not in reason for reason in summary.rejected)  # reasons, never values


def test_ndjson_files_resolve_references_across_files(tmp_path, session, session_factory, org_and_coordinator):
    org, coordinator = org_and_coordinator
    bundle = orjson.loads(next(STANDARD.glob("Breana*.json")).read_bytes())
    by_type: dict[str, list[bytes]] = {}
    for entry in bundle["entry"]:
        resource = json.loads(json.dumps(entry["resource"]).replace("urn:uuid:", ""))
        for key in ("subject", "patient", "encounter"):  # NDJSON from a server: Type/id references
            ref = (resource.get(key) or {}).get("reference")
            if ref and "/" not in ref:
                resource[key]["reference"] = f"{'Encounter' if key == 'encounter' else 'Patient'}/{ref}"
        by_type.setdefault(resource["resourceType"], []).append(orjson.dumps(resource))
    for kind in ("Patient", "Encounter", "Observation", "Condition"):
        (tmp_path / f"{kind}.ndjson").write_bytes(b"\n".join(by_type[kind]) + b"\n")
    summary = Importer(session_factory, system_actor(org.id, "t"), coordinator.id).import_path(tmp_path)
    assert summary.imported["Patient"] == 1 and summary.imported["Encounter"] == len(by_type["Encounter"])
    assert summary.imported["Condition"] == len(by_type["Condition"]) and not summary.rejected
    linked = session.scalar(select(func.count()).select_from(Observation).where(Observation.encounter_id.is_not(None)))
    assert linked == _count(session, Observation) > 0



def test_patients_match_by_mrn_and_new_ones_are_enrolled_like_any_other(session, session_factory,
                                                                        org_and_coordinator):
    org, coordinator = org_and_coordinator
    known = make_patient(session, org, coordinator, mrn="H-100", mrn_authority="urn:oid:1.2.3")
    session.commit()

    def patient(rid: str, mrn: str, family: str) -> dict:
        return {"resourceType": "Patient", "id": rid, "name": [{"family": family, "given": ["Ida"]}],
                "gender": "female", "birthDate": "1950-02-03", "identifier": [{
                    "type": {"coding": [{"code": "MR"}]}, "system": "urn:oid:1.2.3", "value": mrn}]}
    condition = {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p3"},
                 "code": {"coding": [{"system": "http://snomed.info/sct", "code": "44054006",
                                      "display": "Diabetes"}]}}
    importer = Importer(session_factory, system_actor(org.id, "t"), coordinator.id)
    with session_factory() as s:  # p1 is the known patient (same MRN); p2 and p3 are one new patient
        importer.import_resources(s, [patient("p1", "H-100", "Known"), patient("p2", "H-200", "New"),
                                      patient("p3", "H-200", "New"), condition])
        s.commit()
    summary = importer.summary
    assert (summary.imported["Patient"], summary.already["Patient"], summary.imported["Condition"]) == (1, 2, 1)
    new = session.scalars(select(Patient).where(Patient.mrn == "H-200")).one()
    assert session.scalar(select(Condition.patient_id).where(Condition.source_ref == "c1")) == new.id
    assert session.scalar(select(Patient.source_ref).where(Patient.id == known.id)) is None  # left as it was
    coordinator_of = session.scalar(select(CareTeamMember.staff_id).where(
        CareTeamMember.patient_id == new.id, CareTeamMember.role == CareTeamRole.PRIMARY_CARE_COORDINATOR))
    assert coordinator_of == coordinator.id
    assert session.scalar(select(func.count()).select_from(DomainEvent).where(
        DomainEvent.patient_id == new.id, DomainEvent.type == "patient.enrolled")) == 1
    assert session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.patient_id == new.id, AuditEvent.action == "create")) == 1
    assert new.name_key and new.dedupe_key  # search keys computed as for any registration

def test_a_broken_file_keeps_the_files_before_it(tmp_path, session, session_factory, org_and_coordinator):
    org, coordinator = org_and_coordinator
    good = next(STANDARD.glob("Alvin*.json"))
    (tmp_path / "a-good.json").write_bytes(good.read_bytes())
    (tmp_path / "b-broken.json").write_bytes(b'{"resourceType": "Bundle", "entry": [')
    importer = Importer(session_factory, system_actor(org.id, "t"), coordinator.id)
    with pytest.raises(Exception, match="not JSON"):
        importer.import_path(tmp_path)
    assert _count(session, Patient) == 1 and _count(session, ImportedFile) == 1
    (tmp_path / "b-broken.json").unlink()
    resumed = Importer(session_factory, system_actor(org.id, "t"), coordinator.id).import_path(tmp_path)
    assert resumed.files_skipped == 1 and _count(session, Patient) == 1


def test_import_endpoint_and_imported_data_read_back_as_fhir(client, session, org_and_coordinator):
    org, coordinator = org_and_coordinator
    supervisor = make_staff(session, org, StaffRole.SUPERVISOR)
    session.commit()
    headers = {**auth(make_token(session, supervisor)), "Accept": "application/fhir+json"}
    session.commit()
    body = next(STANDARD.glob("Ellsworth*.json")).read_bytes()
    url = f"/fhir/$import?coordinator={coordinator.id}"
    done = client.post(url, headers={**headers, "Content-Type": "application/fhir+json"}, content=body)
    assert done.status_code == 200, done.text
    lines = [i["diagnostics"] for i in done.json()["issue"]]
    assert "imported Patient: 1" in lines and any(line.startswith("not modeled Claim") for line in lines)
    assert client.post(url, headers={**headers, "Content-Type": "text/csv"}, content=body).status_code == 415
    other = make_staff(session, make_org(session))
    session.commit()
    assert client.post(f"/fhir/$import?coordinator={other.id}", headers={
        **headers, "Content-Type": "application/fhir+json"}, content=body).status_code == 422
    patient = session.scalars(select(Patient)).one()
    observations = client.get(f"/fhir/Observation?patient={patient.id}&_count=5", headers=headers).json()
    from fhir.resources.R4B import get_fhir_model_class

    for entry in observations["entry"]:
        get_fhir_model_class("Observation").model_validate(entry["resource"])
    conditions = client.get(f"/fhir/Condition?patient={patient.id}", headers=headers).json()
    assert conditions["entry"] and conditions["entry"][0]["resource"]["code"]["coding"][0]["system"] == \
        "http://snomed.info/sct"
    assert session.scalar(select(func.count()).select_from(Condition)) == len(conditions["entry"])


def test_cli_import_prints_the_summary(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    with using_database(monkeypatch, url):
        assert run("db", "upgrade")[0] == 0
        assert run("orgs", "create", "Lakeside Practice")[0] == 0
        code, output = run("users", "create", "--org", "Lakeside Practice", "--email", "cc@lakeside.example",
                           "--role", "care_coordinator", "--given-name", "Cam", "--family-name", "Lee",
                           stdin="correct horse battery staple 42\n")
        assert code == 0, output
        folder = tmp_path / "in"
        folder.mkdir()
        (folder / "one.json").write_bytes(next(STANDARD.glob("Juana*.json")).read_bytes())
        code, output = run("import", str(folder), "--org", "Lakeside Practice", "--coordinator",
                           "cc@lakeside.example")
        assert code == 0, output
        assert "Patient" in output and "1 files imported, 0 already imported" in output
        code, output = run("import", str(folder), "--org", "Lakeside Practice", "--coordinator",
                           "cc@lakeside.example")
        assert code == 0 and "0 files imported, 1 already imported" in output
        code, output = run("import", str(folder), "--org", "Lakeside Practice", "--coordinator", "nobody@x.y")
        assert code == 2 and "no active staff member" in output.lower()


def test_import_refuses_a_coordinator_who_cannot_hold_the_role_before_reading_anything(client, session,
                                                                                       org_and_coordinator):
    org, _ = org_and_coordinator
    supervisor = make_staff(session, org, StaffRole.SUPERVISOR)
    scheduler = make_staff(session, org, StaffRole.SCHEDULER)
    headers = {**auth(make_token(session, supervisor)), "Content-Type": "application/fhir+json",
               "Accept": "application/fhir+json"}
    session.commit()
    body = next(STANDARD.glob("Juana*.json")).read_bytes()
    refused = client.post(f"/fhir/$import?coordinator={scheduler.id}", headers=headers, content=body)
    assert refused.status_code == 422 and "coordinator" in refused.text and "scheduler" in refused.text
    assert _count(session, Patient) == 0 and _count(session, Encounter) == 0
