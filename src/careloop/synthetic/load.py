"""Load a synthetic population through the bulk path: chunks of generated rows, set-based inserts.

SQLite gets executemany on the raw connection, PostgreSQL gets COPY; memory stays bounded by the chunk.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import operator
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine, func, select

import careloop.models  # noqa: F401  (every table in Base.metadata: the writer reads their columns)
from careloop import clock
from careloop.auth.passwords import hash_password
from careloop.db import Base, make_session_factory, session_scope
from careloop.errors import Conflict
from careloop.organizations.models import Organization
from careloop.patients.models import Patient
from careloop.staff.models import Staff
from careloop.synthetic import people
from careloop.synthetic.generate import Batch, Context, make_patient, new_id, ts

DEMO_PASSWORD = "careloop-demo-2026"
DEMO_DOMAIN = "demo.careloop.test"
CHUNK = 1000
TABLE_ORDER = ("provider", "community_service", "patient", "care_team_member", "condition", "medication", "allergy",
               "encounter", "observation", "procedure", "immunization")
# Demo sign-ins: the first staff member of each role gets the well-known address.
DEMO_ROLES = (("coordinator", "care_coordinator"), ("nurse", "rn_care_manager"), ("pcp", "primary_care_physician"),
              ("social", "social_worker"), ("pharmacist", "pharmacist"), ("supervisor", "supervisor"),
              ("admin", "administrator"), ("scheduler", "scheduler"), ("billing", "billing"),
              ("specialist", "specialist"), ("chw", "community_health_worker"))


@dataclass
class LoadSummary:
    patients: int
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    organization_id: str | None = None


def demo_logins() -> list[tuple[str, str]]:
    """(e-mail, role) of the demo sign-ins."""
    return [(f"{local}@{DEMO_DOMAIN}", role) for local, role in DEMO_ROLES]


def _staff_plan(patients: int) -> list[tuple[str, int]]:
    """How many staff of each role a population of this size needs (realistic panel sizes)."""
    return [("care_coordinator", max(2, math.ceil(patients / 200))),
            ("primary_care_physician", max(1, math.ceil(patients / 1800))),
            ("rn_care_manager", max(1, math.ceil(patients / 1000))),
            ("social_worker", max(1, math.ceil(patients / 2500))),
            ("pharmacist", max(1, math.ceil(patients / 4000))),
            ("supervisor", 1), ("administrator", 1), ("scheduler", 1), ("billing", 1), ("specialist", 2),
            ("community_health_worker", max(1, math.ceil(patients / 5000)))]


def _staff_rows(rng: random.Random, org_id: str, patients: int, password: str, loaded_at: str) -> list[dict]:
    demo = {role: local for local, role in DEMO_ROLES}
    password_hash, rows = hash_password(password), []
    for role, count in _staff_plan(patients):
        for n in range(count):
            given, family = rng.choice(people.STAFF_GIVEN), rng.choice(people.FAMILY[:50])
            email = f"{demo[role]}@{DEMO_DOMAIN}" if n == 0 else f"{role.replace('_', '.')}.{n}@{DEMO_DOMAIN}"
            rows.append({"id": new_id(rng), "organization_id": org_id, "email": email, "given_name": given,
                         "family_name": family, "role": role, "npi": f"{1000000000 + rng.randint(0, 899999999)}"
                         if role in ("primary_care_physician", "specialist") else None, "is_active": 1,
                         "password_hash": password_hash, "password_changed_at": loaded_at,
                         "mfa_secret_encrypted": None, "mfa_enabled": 0, "mfa_last_step": None,
                         "break_glass_allowed": 1, "supervisor_id": None, "backup_id": None, "away": 0,
                         "created_at": loaded_at, "updated_at": loaded_at, "version": 1})
    supervisor = next(r["id"] for r in rows if r["role"] == "supervisor")
    coordinators = [r for r in rows if r["role"] == "care_coordinator"]
    for i, row in enumerate(coordinators):
        row["supervisor_id"], row["backup_id"] = supervisor, coordinators[(i + 1) % len(coordinators)]["id"]
    return rows


# The demo directory: specialties (NUCC provider taxonomy) coordination teams refer to most.
DEMO_SPECIALTIES = (("207RC0000X", "Cardiovascular Disease"), ("207RE0101X", "Endocrinology, Diabetes & Metabolism"),
                    ("207RN0300X", "Nephrology"), ("207RP1001X", "Pulmonary Disease"), ("2084N0400X", "Neurology"),
                    ("207RG0100X", "Gastroenterology"), ("2084P0800X", "Psychiatry"),
                    ("207X00000X", "Orthopaedic Surgery"))


def _provider_rows(rng: random.Random, org_id: str, loaded_at: str) -> list[dict]:
    """Two providers per specialty: one accepting in network, one not accepting (or out of network)."""
    rows = []
    for n, (code, display) in enumerate(DEMO_SPECIALTIES):
        for k in range(2):
            given, family = rng.choice(people.FEMALE + people.MALE), rng.choice(people.FAMILY)
            rows.append({"id": new_id(rng), "organization_id": org_id, "external_id": f"{1000000000 + n * 10 + k}",
                         "kind": "practitioner", "name": f"Dr. {given} {family}", "specialty_code": code,
                         "specialty_display": display, "specialty_system": "http://nucc.org/provider-taxonomy",
                         "address_line": f"{100 + n * 7} Medical Plaza", "city": "Springfield", "state": "IL",
                         "postal_code": "62701", "phone": f"(217) 555-{2000 + n * 10 + k:04d}",
                         "direct_address": f"referrals{n}{k}@direct.springfield-health.example",
                         "accepting_new_patients": int(k == 0), "in_network": int(k == 0 or n % 2 == 0), "is_active": 1,
                         "created_at": loaded_at, "updated_at": loaded_at})
    return rows


DEMO_COMMUNITY = (("Eastside Food Bank", ["food"], "Any Sangamon County resident"),
                  ("Meals on Wheels Springfield", ["food"], "Homebound adults 60 and over"),
                  ("Home Safe Housing", ["housing", "utilities"], "Household income under 200% of the poverty line"),
                  ("Springfield Rides", ["transportation"], "Medical appointments within the county"),
                  ("Safe Harbor", ["interpersonal_safety", "housing"], "Anyone; confidential 24-hour line"),
                  ("Money Matters Coaching", ["financial_strain", "utilities"], "Adults with a bank account or ID"),
                  ("Prairie Counseling Center", ["behavioral_health"], "Medicaid and sliding scale"))


def _community_rows(rng: random.Random, org_id: str, loaded_at: str) -> list[dict]:
    """The demo community directory: one or two services for each social need."""
    return [{"id": new_id(rng), "organization_id": org_id, "external_id": f"CS{n:03d}", "name": name,
             "needs": json.dumps(needs), "area": "Sangamon County", "eligibility": eligibility,
             "phone": f"(217) 555-{3000 + n:04d}", "email": None, "website": None,
             "address_line": f"{200 + n * 11} Community Way", "is_active": 1,
             "created_at": loaded_at, "updated_at": loaded_at}
            for n, (name, needs, eligibility) in enumerate(DEMO_COMMUNITY)]


NOT_GENERATED = frozenset({"source_ref"})


class _Writer:
    """Set-based inserts in storage form for one backend."""

    def __init__(self, engine: Engine) -> None:
        self.engine, self.postgres = engine, engine.dialect.name == "postgresql"
        # Columns the generator never fills: `source_ref` is the id of the FHIR resource a record was imported
        # from (fhir/bulk.py); generated records come from no file. Any other new column must be generated.
        self.columns = {name: [c.name for c in Base.metadata.tables[name].columns if c.name not in NOT_GENERATED]
                        for name in (*TABLE_ORDER, "staff", "organization")}

    def write(self, batch: dict[str, list[dict]]) -> dict[str, int]:
        counts = {}
        with self.engine.begin() as conn:
            raw = conn.connection.driver_connection
            cursor = raw.cursor()
            if self.postgres:
                cursor.execute("SET LOCAL TIME ZONE 'UTC'")
            else:  # rows of one chunk refer to each other (staff backups, readmissions): check at commit
                cursor.execute("PRAGMA defer_foreign_keys = ON")
                cursor.execute("PRAGMA cache_size = -262144")  # keep the random-keyed index pages in memory
            for table in ("organization", "staff", *TABLE_ORDER):
                rows = batch.get(table)
                if rows:
                    self._insert(cursor, table, rows)
                    counts[table] = len(rows)
        return counts

    def _insert(self, cursor, table: str, rows: list[dict]) -> None:
        columns = self.columns[table]
        tuples = list(map(operator.itemgetter(*columns), rows))  # KeyError here = model changed, update generator
        names = ", ".join(columns)
        if self.postgres:
            with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:  # names come from metadata
                for row in tuples:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" * len(columns))
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", tuples)  # noqa: S608 (names from metadata)


def _existing(engine: Engine, org_name: str) -> tuple[Organization | None, int, int]:
    with session_scope(make_session_factory(engine)) as session:
        total = session.scalar(select(func.count()).select_from(Patient)) or 0
        org = session.scalar(select(Organization).where(Organization.name == org_name))
        in_org = session.scalar(select(func.count()).where(Patient.organization_id == org.id)) if org else 0
        return org, total, in_org or 0


def _pools(engine: Engine, org_id: str) -> dict[str, list[str]]:
    with session_scope(make_session_factory(engine)) as session:
        rows = session.execute(select(Staff.id, Staff.role).where(Staff.organization_id == org_id,
                                                                 Staff.is_active.is_(True)).order_by(Staff.email))
        pools: dict[str, list[str]] = {}
        for staff_id, role in rows:
            pools.setdefault(role.value, []).append(staff_id.hex)
        return pools


def load_demo(engine: Engine, *, patients: int, seed: int = 42, append: bool = False,
              org_name: str = "Riverside Care Partners", password: str = DEMO_PASSWORD,
              progress: Callable[[int], None] | None = None, anchor: dt.date | None = None) -> LoadSummary:
    """Generate and load `patients` patients (deterministic for seed and anchor date) into engine's database."""
    started = time.perf_counter()
    org, total, in_org = _existing(engine, org_name)
    if total and not append:
        raise Conflict("The database already has patients; use --append to add more", code="database_not_empty")
    anchor = anchor or clock.today()
    loaded_at = ts(clock.now().replace(tzinfo=None))
    writer, summary = _Writer(engine), LoadSummary(patients=patients)
    first = Batch()
    if org is None:
        org_id = new_id(random.Random(f"org:{seed}:{org_name}"))
        first.rows["organization"] = [{"id": org_id, "name": org_name, "timezone": "America/New_York",
                                       "mrn_authority": "urn:oid:2.16.840.1.113883.3.7777.1",
                                       "created_at": loaded_at, "updated_at": loaded_at, "version": 1}]
        first.rows["staff"] = _staff_rows(random.Random(f"staff:{seed}"), org_id, patients, password, loaded_at)
        first.rows["provider"] = _provider_rows(random.Random(f"providers:{seed}"), org_id, loaded_at)
        first.rows["community_service"] = _community_rows(random.Random(f"community:{seed}"), org_id, loaded_at)
        pools = {}
        for row in first.rows["staff"]:
            pools.setdefault(row["role"], []).append(row["id"])
    else:
        org_id, pools = org.id.hex, _pools(engine, org.id)
    summary.organization_id = org_id
    ctx = Context(org_id=org_id, mrn_authority="urn:oid:2.16.840.1.113883.3.7777.1", anchor=anchor,
                  loaded_at=loaded_at, coordinators=pools["care_coordinator"], pcps=pools["primary_care_physician"],
                  nurses=pools.get("rn_care_manager", []), social_workers=pools.get("social_worker", []),
                  pharmacists=pools.get("pharmacist", []), mrn_offset=in_org,
                  id_base=int(dt.datetime.combine(anchor, dt.time(), dt.UTC).timestamp() * 1000))
    if org is not None:
        ctx.mrn_authority = org.mrn_authority
    for start in range(0, patients, CHUNK):
        batch = first if start == 0 else Batch()
        rng = random.Random(f"patients:{seed}:{in_org + start}")
        count = min(CHUNK, patients - start)
        for index in range(start, start + count):
            make_patient(rng, ctx, index, batch)
        for table, n in writer.write(batch.rows).items():
            summary.rows[table] = summary.rows.get(table, 0) + n
        if progress:
            progress(count)
    _analyze(engine)
    summary.seconds = time.perf_counter() - started
    return summary


def _analyze(engine: Engine) -> None:
    """Fresh planner statistics after a bulk load, so the first queries pick the right indexes."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA analysis_limit=1000")  # sampled: seconds, not minutes, at 1M rows
        conn.exec_driver_sql("ANALYZE")
