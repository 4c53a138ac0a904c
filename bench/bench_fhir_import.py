"""FHIR bulk import throughput (resources/s) and peak memory, SQLite and PostgreSQL.

The population: the six real Synthea 3.x patient bundles of ../shared/data cloned to N patients (every id and
urn:uuid replaced deterministically per clone, identifiers made distinct), one transaction Bundle per patient
as Synthea writes them, with the hospital and practitioner bundles first. Each import runs in its own process
on a fresh database. Target: at least 5,000 resources/s on SQLite; memory flat in the size of the input.
`CARELOOP_BENCH_IMPORT_SIZES` (default "1000") chooses the populations, e.g. "1000,10000".
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import uuid
from pathlib import Path

import benchlib

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = Path(os.environ.get("CARELOOP_SHARED_DATA", ROOT.parent / "shared" / "data")) / "synthea" / \
    "standard-synthea-3x"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from sqlalchemy import text
from sqlalchemy.engine import make_url
from careloop.auth.actor import system_actor
from careloop.db import make_engine, make_session_factory, session_scope
from careloop.fhir.bulk import Importer
from careloop.migrate import upgrade
from careloop.organizations.models import Organization
from careloop.staff.models import Staff, StaffRole
backend, url, folder = sys.argv[1], sys.argv[2], Path(sys.argv[3])
if backend == "postgresql":
    admin = make_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text('DROP DATABASE IF EXISTS "careloop_bench_import" WITH (FORCE)'))
        conn.execute(text('CREATE DATABASE "careloop_bench_import"'))
    url = make_url(url).set(database="careloop_bench_import").render_as_string(hide_password=False)
engine = make_engine(url)
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
importer = Importer(factory, system_actor(org_id, "bench"), staff_id)
start = time.perf_counter()
summary = importer.import_path(folder)
seconds = time.perf_counter() - start
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "resources": summary.resources, "imported": sum(summary.imported.values()),
                  "rejected": sum(summary.rejected.values()), "peak_mib": peak_kib / 1024}))
"""


def population(folder: Path, patients: int) -> int:
    """Write `patients` patient bundles (and the shared hospital/practitioner bundles); returns the bytes."""
    templates = [p.read_text() for p in sorted(SAMPLES.glob("*.json")) if not p.name.endswith("Information.json")]
    for shared in ("hospitalInformation.json", "practitionerInformation.json"):
        shutil.copy(SAMPLES / shared, folder / shared)
    total = 0
    for n in range(patients):
        text = _clone(templates[n % len(templates)], n)
        path = folder / f"patient-{n:06d}.json"
        path.write_text(text)
        total += len(text)
    return total


def _clone(template: str, clone: int) -> str:
    """The bundle with every UUID replaced by one derived from (clone, old UUID): ids, urn:uuid references and
    identifier values stay consistent within the clone and distinct across clones."""
    return _UUID.sub(lambda m: str(uuid.uuid5(uuid.NAMESPACE_URL, f"clone-{clone}-{m.group(0)}")), template)


def run() -> list[dict]:
    sizes = [int(s) for s in os.environ.get("CARELOOP_BENCH_IMPORT_SIZES", "1000").split(",")]
    out: list[dict] = []
    for patients in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "in"
            folder.mkdir()
            size = population(folder, patients)
            for backend in benchlib.backends():
                url = f"sqlite:///{Path(tmp) / 'import.db'}" if backend == "sqlite" else benchlib.PG_URL
                figures = benchlib.run_child(CHILD, backend, url, folder, timeout=7200)
                if figures is None:
                    continue
                params = {"backend": backend, "patients": patients, "input_mib": round(size / 2**20)}
                rate = figures["resources"] / figures["seconds"]
                target = 5000 if backend == "sqlite" else None
                out += [
                    benchlib.result("fhir_import", params, "resources_per_second", rate, "resources/s", target,
                                    None if target is None else rate >= target),
                    benchlib.result("fhir_import", params, "seconds", figures["seconds"], "s"),
                    benchlib.result("fhir_import", params, "resources", figures["resources"], "resources"),
                    benchlib.result("fhir_import", params, "records_imported", figures["imported"], "resources"),
                    benchlib.result("fhir_import", params, "peak_memory", figures["peak_mib"], "MiB"),
                ]
                if backend == "sqlite":
                    Path(tmp, "import.db").unlink(missing_ok=True)
    return out
