"""Bulk Data $export: kick-off (system, Patient, Group), status and manifest, NDJSON files that validate,
what each requester may export (care panel, patient-scoped tokens, SMART scopes, _type, _since), cancel and
expiry, and the audit trail."""

from __future__ import annotations

import datetime as dt
import uuid

import orjson
import pytest
from fhir.resources.R4B import get_fhir_model_class
from sqlalchemy import select

from careloop import clock
from careloop.audit.models import AuditEvent
from careloop.auth import service as auth_service
from careloop.clinical.models import Condition, Observation, ObservationCategory
from careloop.fhir import export
from careloop.fhir.models import ExportJob
from careloop.staff.models import StaffRole
from factories import auth, make_org, make_patient, make_staff

FHIR = {"Accept": "application/fhir+json"}
ASYNC = {**FHIR, "Prefer": "respond-async"}


@pytest.fixture
def world(session):
    org = make_org(session)
    supervisor = make_staff(session, org, StaffRole.SUPERVISOR)
    ann, bob = make_staff(session, org), make_staff(session, org)
    panels = {"ann": [make_patient(session, org, ann) for _ in range(3)], "bob": [make_patient(session, org, bob)]}
    for patient in [p for group in panels.values() for p in group]:
        session.add_all([Observation(organization_id=org.id, patient_id=patient.id,
                                     category=ObservationCategory.VITAL_SIGNS, code="8480-6", display="Systolic",
                                     value_quantity=130, unit="mm[Hg]", effective_at=clock.now()),
                         Condition(organization_id=org.id, patient_id=patient.id, code="I10", display="Hypertension")])
    other = make_org(session)
    make_patient(session, other, make_staff(session, other))  # another organisation's patient: never exported
    session.commit()

    def token(staff=supervisor, scopes: str = "*", **kwargs) -> dict[str, str]:
        raw, _ = auth_service.create_token(session, organization_id=staff.organization_id, scopes=scopes,
                                           ttl=dt.timedelta(hours=1), staff=staff, **kwargs)
        session.commit()
        return {**auth(raw), **ASYNC}
    return {"org": org, "supervisor": supervisor, "ann": ann, "bob": bob, "panels": panels, "token": token}


def _kick_off(client, url: str, headers: dict) -> str:
    response = client.get(url, headers=headers)
    assert response.status_code == 202, response.text
    return response.headers["content-location"].removeprefix("http://testserver")


def _finish(client, session_factory, status_url: str, headers: dict) -> dict:
    waiting = client.get(status_url, headers=headers)
    assert waiting.status_code == 202 and waiting.headers["x-progress"] == "pending"
    assert export.run_pending(session_factory) == 1
    done = client.get(status_url, headers=headers)
    assert done.status_code == 200, done.text
    assert done.headers["content-type"].startswith("application/json") and "expires" in done.headers
    return done.json()


def _download(client, manifest: dict, headers: dict) -> dict[str, list[dict]]:
    files = {}
    for item in manifest["output"]:
        response = client.get(item["url"].removeprefix("http://testserver"), headers=headers)
        assert response.status_code == 200 and response.headers["content-type"] == "application/fhir+ndjson"
        resources = [orjson.loads(line) for line in response.content.splitlines()]
        assert len(resources) == item["count"]
        for resource in resources:  # every exported resource is valid FHIR R4
            assert resource["resourceType"] == item["type"]
            get_fhir_model_class(item["type"]).model_validate(resource)
        files[item["type"]] = resources
    return files


def _patients_of(files: dict[str, list[dict]]) -> set[str]:
    found = {f"Patient/{p['id']}" for p in files.get("Patient", [])}
    found |= {r["entity"][0]["what"]["reference"] if name == "AuditEvent"
              else r.get("subject", r.get("patient", {})).get("reference")
              for name, rows in files.items() if name != "Patient" for r in rows}
    return found


def test_system_export_writes_valid_ndjson_for_the_whole_organisation(client, session, session_factory, world):
    headers = world["token"]()
    status_url = _kick_off(client, "/fhir/$export?_type=Patient,Observation,Condition", headers)
    manifest = _finish(client, session_factory, status_url, headers)
    assert manifest["requiresAccessToken"] is True and manifest["error"] == []
    assert manifest["request"].endswith("/fhir/$export?_type=Patient,Observation,Condition")
    files = _download(client, manifest, headers)
    everyone = {f"Patient/{p.id}" for group in world["panels"].values() for p in group}
    assert {name: len(rows) for name, rows in files.items()} == {"Patient": 4, "Observation": 4, "Condition": 4}
    assert _patients_of(files) == everyone  # nothing of the other organisation
    job = session.get(ExportJob, uuid.UUID(status_url.rsplit("/", 1)[1]))
    exported = session.scalars(select(AuditEvent.patient_id).where(AuditEvent.action == "export",
                                                                  AuditEvent.record_id == str(job.id))).all()
    assert {f"Patient/{p}" for p in exported} == everyone  # one audit entry per patient whose data left
    downloads = session.scalars(select(AuditEvent).where(AuditEvent.action == "export_download")).all()
    assert len(downloads) == 3


def test_group_export_is_one_coordinators_panel(client, session_factory, world):
    headers = world["token"]()
    manifest = _finish(client, session_factory,
                       _kick_off(client, f"/fhir/Group/{world['ann'].id}/$export", headers), headers)
    files = _download(client, manifest, headers)
    assert _patients_of(files) - {None} == {f"Patient/{p.id}" for p in world["panels"]["ann"]}
    assert client.get(f"/fhir/Group/{uuid.uuid4()}/$export", headers=headers).status_code == 404


def test_a_patient_scoped_token_exports_that_patient_only(client, session_factory, world):
    patient = world["panels"]["ann"][1]
    headers = world["token"](scopes="patient/*.rs", patient_id=patient.id)
    manifest = _finish(client, session_factory, _kick_off(client, "/fhir/Patient/$export", headers), headers)
    files = _download(client, manifest, headers)
    assert _patients_of(files) == {f"Patient/{patient.id}"}
    assert files["Patient"][0]["id"] == str(patient.id)


def test_types_scopes_and_since_narrow_the_export(client, session, session_factory, world):
    patients_only = world["token"](scopes="user/Patient.rs")
    refused = client.get("/fhir/$export?_type=Observation", headers=patients_only)
    assert refused.status_code == 400 and refused.json()["issue"][0]["diagnostics"] == "no_readable_type"
    manifest = _finish(client, session_factory, _kick_off(client, "/fhir/$export", patients_only), patients_only)
    assert [o["type"] for o in manifest["output"]] == ["Patient"]  # the scopes decide, not the server's list

    clock.advance(dt.timedelta(minutes=5))
    later = clock.now()
    fresh = world["panels"]["bob"][0]
    session.add(Observation(organization_id=world["org"].id, patient_id=fresh.id,
                            category=ObservationCategory.VITAL_SIGNS, code="8867-4", display="Heart rate",
                            value_quantity=64, unit="/min", effective_at=later))
    session.commit()
    headers = world["token"]()
    since = (later - dt.timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    manifest = _finish(client, session_factory, _kick_off(client, f"/fhir/$export?_since={since}", headers), headers)
    files = _download(client, manifest, headers)
    assert {name: len(rows) for name, rows in files.items()} == {"Observation": 1}
    assert files["Observation"][0]["code"]["coding"][0]["code"] == "8867-4"


@pytest.mark.parametrize(("url", "prefer", "code"), [
    ("/fhir/$export", "", "respond_async_required"),
    ("/fhir/$export?_typeFilter=Observation%3Fcode%3D1", "respond-async", "unsupported_parameter"),
    ("/fhir/$export?_outputFormat=text/csv", "respond-async", "unsupported_format"),
    ("/fhir/Patient/$export?_type=Practitioner", "respond-async", "invalid_type"),
    ("/fhir/$export?_since=yesterday", "respond-async", "invalid_since"),
    ("/fhir/$export?_since=2026-01-01T00:00:00", "respond-async", "invalid_since"),
])
def test_bad_kick_offs_are_operation_outcomes(client, session, world, url, prefer, code):
    response = client.get(url, headers={**world["token"](), "Prefer": prefer})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    assert response.json()["issue"][0]["diagnostics"] == code
    assert session.scalar(select(ExportJob.id)) is None  # nothing queued


def test_only_the_requester_sees_the_job_and_cancel_and_expiry_remove_the_files(client, session, session_factory,
                                                                                world):
    headers = world["token"]()
    status_url = _kick_off(client, "/fhir/$export?_type=Patient", headers)
    other = make_staff(session, world["org"], StaffRole.SUPERVISOR)
    assert client.get(status_url, headers=world["token"](other)).status_code == 404
    coordinator = world["token"](world["ann"])  # no fhir:export permission
    assert client.get("/fhir/$export", headers=coordinator).status_code == 403

    manifest = _finish(client, session_factory, status_url, headers)
    folder = export.export_dir() / status_url.rsplit("/", 1)[1]
    assert (folder / "Patient.ndjson").exists() and oct(folder.stat().st_mode & 0o777) == "0o700"
    assert client.delete(status_url, headers=headers).status_code == 202
    assert not folder.exists() and client.get(status_url, headers=headers).status_code == 404
    assert client.get(manifest["output"][0]["url"], headers=headers).status_code == 404

    status_url = _kick_off(client, "/fhir/$export?_type=Patient", headers)
    _finish(client, session_factory, status_url, headers)
    folder = export.export_dir() / status_url.rsplit("/", 1)[1]
    clock.advance(export.RETENTION + dt.timedelta(minutes=1))
    export.run_pending(session_factory)
    assert not folder.exists()
    assert client.get(status_url, headers=world["token"]()).status_code == 404  # (the old token has expired)


def test_the_worker_sweep_runs_queued_exports(client, session_factory, world):
    from careloop.jobs import worker

    headers = world["token"]()
    status_url = _kick_off(client, "/fhir/$export?_type=Condition", headers)
    counts = worker.run_once(session_factory)
    assert counts["fhir_export"] == 1
    manifest = client.get(status_url, headers=headers).json()
    assert manifest["output"] == [{"type": "Condition", "count": 4, "url": manifest["output"][0]["url"]}]



def test_cli_export_writes_the_files_and_refuses_bad_input(tmp_path, monkeypatch):
    from cli_support import run, using_database
    from shared_data import SHARED_DATA

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    with using_database(monkeypatch, url):
        assert run("db", "upgrade")[0] == 0
        assert run("orgs", "create", "Lakeside Practice")[0] == 0
        code, output = run("users", "create", "--org", "Lakeside Practice", "--email", "cc@lakeside.example",
                           "--role", "care_coordinator", "--given-name", "Cam", "--family-name", "Lee",
                           stdin="correct horse battery staple 42\n")
        assert code == 0, output
        bundle = next((SHARED_DATA / "synthea" / "standard-synthea-3x").glob("Juana*.json"))
        assert run("import", str(bundle), "--org", "Lakeside Practice", "--coordinator", "cc@lakeside.example")[0] == 0
        conditions = sum(1 for e in orjson.loads(bundle.read_bytes())["entry"]
                         if e["resource"]["resourceType"] == "Condition")

        out = tmp_path / "out"
        code, output = run("export", str(out), "--org", "Lakeside Practice", "--type", "Patient,Condition")
        assert code == 0, output
        assert sorted(p.name for p in out.iterdir()) == ["Condition.ndjson", "Patient.ndjson"]
        assert len((out / "Patient.ndjson").read_bytes().splitlines()) == 1
        assert len((out / "Condition.ndjson").read_bytes().splitlines()) == conditions
        assert f"{conditions:,}" in output

        code, output = run("export", str(out), "--org", "Lakeside Practice")
        assert code == 2 and "must be new or empty" in output
        code, output = run("export", str(tmp_path / "x"), "--org", "Lakeside Practice", "--type", "Claim")
        assert code == 2 and "_type" in output
        code, output = run("export", str(tmp_path / "y"), "--org", "Lakeside Practice", "--coordinator", "no@x.y")
        assert code == 2 and "no staff member" in output.lower()


def test_an_export_does_not_hold_the_sqlite_write_lock_between_pages(tmp_path, monkeypatch):
    """Each page is read in its own transaction: while the export is between pages, the application writes."""
    import sqlite3

    from careloop.auth.actor import system_actor
    from careloop.db import make_engine, make_session_factory, session_scope
    from careloop.fhir.resources import TYPES
    from careloop.migrate import upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'lock.db'}")
    upgrade(engine)
    factory = make_session_factory(engine)
    with session_scope(factory) as session:
        org = make_org(session)
        coordinator = make_staff(session, org)
        for _ in range(5):
            make_patient(session, org, coordinator)
    monkeypatch.setattr(export, "PAGE", 2)
    pages = export._resources(factory, system_actor(org.id), TYPES["Patient"], None, "system", None)
    first = next(pages)  # the first page is read; the generator waits with two patients in hand
    writer = sqlite3.connect(tmp_path / "lock.db", timeout=0.2, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # would raise "database is locked" if the export still held the lock
    writer.execute("UPDATE organization SET name = name")
    writer.execute("COMMIT")
    writer.close()
    assert first[0]["resourceType"] == "Patient" and len([first, *pages]) == 5
    engine.dispose()


def test_a_queued_export_of_a_deactivated_user_fails_without_writing(client, session, session_factory, world):
    headers = world["token"]()
    status_url = _kick_off(client, "/fhir/$export?_type=Patient", headers)
    job_id = uuid.UUID(status_url.rsplit("/", 1)[1])
    world["supervisor"].is_active = False
    session.commit()
    export.run_pending(session_factory)
    session.expire_all()
    job = session.get(ExportJob, job_id)
    assert job.status == "failed" and job.output == [] and not (export.export_dir() / str(job_id)).exists()
