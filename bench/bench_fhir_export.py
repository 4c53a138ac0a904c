"""FHIR Bulk Data $export throughput (resources/s) and peak memory, then the import of what it wrote.

The population: CareLoop's synthetic population (`careloop.synthetic`, 10,000 patients by default) loaded into a
fresh database; a system-level $export job of every type is written by the worker's code (`run_job`), timed;
its NDJSON files are then imported with `careloop.fhir.bulk` into a second fresh database (the issue's
"10,000-patient Synthea-style population generated through the exporter"), timed. Load, export and import each
run in their own process, so each peak memory figure is that step's alone. `CARELOOP_BENCH_EXPORT_PATIENTS`
changes the size.
"""

from __future__ import annotations

import os
import tempfile

import benchlib

_COMMON = r"""
import json, os, resource, sys, time, uuid
from pathlib import Path
from sqlalchemy import text
from sqlalchemy.engine import make_url
from careloop.auth.actor import system_actor
from careloop.db import make_engine, make_session_factory, session_scope
from careloop.migrate import upgrade
backend, url, tmp = sys.argv[1], sys.argv[2], Path(sys.argv[3])
os.environ["CARELOOP_EXPORT_DIR"] = str(tmp / "exports")

def database(name, fresh):
    if backend == "sqlite":
        return make_engine(f"sqlite:///{tmp / (name + '.db')}")
    if fresh:
        admin = make_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    return make_engine(make_url(url).set(database=name).render_as_string(hide_password=False))

def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
"""
LOAD = _COMMON + r"""
from careloop.synthetic.load import load_demo
engine = database("careloop_bench_export", True)
upgrade(engine)
summary = load_demo(engine, patients=int(sys.argv[4]), seed=42)
print(json.dumps({"organization_id": str(summary.organization_id), "seconds": summary.seconds}))
"""
EXPORT = _COMMON + r"""
from careloop.fhir import export
factory = make_session_factory(database("careloop_bench_export", False))
with session_scope(factory) as session:
    job = export.kick_off(session, system_actor(uuid.UUID(sys.argv[4]), "bench"), "system", types=None,
                          since=None, group_id=None, request_url="http://bench/fhir/$export")
    job_id = job.id
start = time.perf_counter()
export.run_job(factory, job_id)
seconds = time.perf_counter() - start
with session_scope(factory) as session:
    output = session.get(export.ExportJob, job_id).output
folder = export.export_dir() / str(job_id)
print(json.dumps({"seconds": seconds, "exported": sum(o["count"] for o in output), "folder": str(folder),
                  "mib": sum(p.stat().st_size for p in folder.iterdir()) / 2**20, "peak_mib": peak_mib()}))
"""
IMPORT = _COMMON + r"""
from careloop.fhir.bulk import Importer
from careloop.organizations.models import Organization
from careloop.staff.models import Staff, StaffRole
engine = database("careloop_bench_export_import", True)
upgrade(engine)
factory = make_session_factory(engine)
with session_scope(factory) as session:
    org = Organization(name="Bench Import Org")
    session.add(org)
    session.flush()
    staff = Staff(organization_id=org.id, email="cc@bench.example", given_name="C", family_name="C",
                  role=StaffRole.CARE_COORDINATOR)
    session.add(staff)
    session.flush()
    org_id, staff_id = org.id, staff.id
start = time.perf_counter()
summary = Importer(factory, system_actor(org_id, "bench"), staff_id).import_path(Path(sys.argv[4]))
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "resources": summary.resources, "imported": sum(summary.imported.values()),
                  "rejected": sum(summary.rejected.values()), "peak_mib": peak_mib()}))
"""


def run() -> list[dict]:
    patients = int(os.environ.get("CARELOOP_BENCH_EXPORT_PATIENTS", "10000"))
    out: list[dict] = []
    for backend in benchlib.backends():
        with tempfile.TemporaryDirectory() as tmp:
            loaded = benchlib.run_child(LOAD, backend, benchlib.PG_URL, tmp, patients, timeout=3600)
            exported = loaded and benchlib.run_child(EXPORT, backend, benchlib.PG_URL, tmp,
                                                     loaded["organization_id"], timeout=3600)
            imported = exported and benchlib.run_child(IMPORT, backend, benchlib.PG_URL, tmp, exported["folder"],
                                                       timeout=7200)
        if not imported:
            continue
        params = {"backend": backend, "patients": patients}
        import_rate = imported["resources"] / imported["seconds"]
        target = 5000 if backend == "sqlite" else None
        out += [
            benchlib.result("fhir_export", params, "export_resources_per_second",
                            exported["exported"] / exported["seconds"], "resources/s"),
            benchlib.result("fhir_export", params, "export_seconds", exported["seconds"], "s"),
            benchlib.result("fhir_export", params, "exported_resources", exported["exported"], "resources"),
            benchlib.result("fhir_export", params, "ndjson_size", exported["mib"], "MiB"),
            benchlib.result("fhir_export", params, "export_peak_memory", exported["peak_mib"], "MiB"),
            benchlib.result("fhir_export", params, "import_resources_per_second", import_rate, "resources/s",
                            target, None if target is None else import_rate >= target),
            benchlib.result("fhir_export", params, "import_seconds", imported["seconds"], "s"),
            benchlib.result("fhir_export", params, "import_records", imported["imported"], "resources"),
            benchlib.result("fhir_export", params, "import_rejected", imported["rejected"], "resources"),
            benchlib.result("fhir_export", params, "import_peak_memory", imported["peak_mib"], "MiB"),
        ]
    return out
