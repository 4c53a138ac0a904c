"""The synthetic population: deterministic, realistic, loaded set-based and readable by the ORM."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select, text

from careloop.auth.passwords import verify_password
from careloop.care_teams.models import CareTeamMember
from careloop.clinical.models import Condition, Encounter, Immunization, Observation, Procedure
from careloop.db import make_session_factory, session_scope
from careloop.errors import Conflict
from careloop.medications.models import Medication
from careloop.patients.models import Patient
from careloop.staff.models import Staff
from careloop.synthetic.load import DEMO_PASSWORD, demo_logins, load_demo
from careloop.synthetic.vocab import CONDITIONS
from conftest import ANCHOR

ICD10 = re.compile(r"^[A-TV-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$")


def _dump(engine, table: str) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(f"SELECT * FROM {table} ORDER BY id"))]


def _orm_rows(engine, model, *columns) -> list[tuple]:
    """Rows as Python values through the ORM, so SQLite and PostgreSQL storage compare equal."""
    with session_scope(make_session_factory(engine)) as session:
        return [tuple(r) for r in session.execute(select(*(getattr(model, c) for c in columns))
                                                  .order_by(model.id))]


def test_same_seed_same_rows_and_ids(fresh_engine, tmp_path):
    from careloop.db import make_engine
    from careloop.migrate import upgrade

    other = make_engine(f"sqlite:///{tmp_path / 'again.db'}")
    upgrade(other)
    load_demo(fresh_engine, patients=120, seed=7, anchor=ANCHOR)
    load_demo(other, patients=120, seed=7, anchor=ANCHOR)
    for model, columns in ((Patient, ("id", "mrn", "given_name", "family_name", "birth_date", "sex")),
                           (Condition, ("id", "patient_id", "code", "onset_date")),
                           (Encounter, ("id", "patient_id", "encounter_class", "start_at", "readmission_of_id")),
                           (Observation, ("id", "code", "value_quantity", "effective_at")),
                           (CareTeamMember, ("id", "patient_id", "staff_id", "role", "ended_at"))):
        assert _orm_rows(fresh_engine, model, *columns) == _orm_rows(other, model, *columns)


def test_different_seed_gives_different_people(fresh_engine, tmp_path):
    from careloop.db import make_engine
    from careloop.migrate import upgrade

    other = make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    upgrade(other)
    load_demo(fresh_engine, patients=50, seed=1, anchor=ANCHOR)
    load_demo(other, patients=50, seed=2, anchor=ANCHOR)
    assert {r[0] for r in _dump(fresh_engine, "patient")}.isdisjoint({r[0] for r in _dump(other, "patient")})


def test_population_is_coherent_and_orm_readable(fresh_engine):
    summary = load_demo(fresh_engine, patients=400, seed=42, anchor=ANCHOR)
    assert summary.patients == 400 and summary.rows["patient"] == 400
    with session_scope(make_session_factory(fresh_engine)) as session:
        patient = session.scalars(select(Patient).limit(1)).one()
        assert patient.version == 1 and patient.created_at.tzinfo is not None
        coordinators = session.execute(select(CareTeamMember.patient_id, func.count()).where(
            CareTeamMember.role == "primary_care_coordinator", CareTeamMember.ended_at.is_(None))
            .group_by(CareTeamMember.patient_id)).all()
        assert len(coordinators) == 400 and {n for _, n in coordinators} == {1}
        pcps = session.execute(select(func.count()).where(
            CareTeamMember.role == "primary_care_physician", CareTeamMember.ended_at.is_(None))
            .group_by(CareTeamMember.patient_id)).scalars().all()
        assert set(pcps) <= {1}
        assert all(ICD10.match(c) for c in session.scalars(select(Condition.code)))
        assert all(re.fullmatch(r"\d{1,7}", c) for c in session.scalars(select(Medication.code)))
        assert all(re.fullmatch(r"\d{1,7}-\d", c) for c in session.scalars(select(Observation.code)))
        encounter = session.scalars(select(Encounter).limit(1)).one()
        assert encounter.start_at.tzinfo is not None and encounter.end_at >= encounter.start_at


def test_medications_match_conditions(fresh_engine):
    load_demo(fresh_engine, patients=400, seed=3, anchor=ANCHOR)
    allowed = {}
    for condition in CONDITIONS:
        for rxnorm, *_ in condition.medications:
            allowed.setdefault(rxnorm, set()).update(code for code, _ in condition.icd10)
    with session_scope(make_session_factory(fresh_engine)) as session:
        conditions: dict = {}
        for pid, code in session.execute(select(Condition.patient_id, Condition.code)):
            conditions.setdefault(pid, set()).add(code)
        for pid, rxnorm in session.execute(select(Medication.patient_id, Medication.code)):
            assert conditions.get(pid, set()) & allowed[rxnorm], f"{rxnorm} without an indication"


def test_immunizations_and_procedures_follow_age_sex_and_conditions(fresh_engine):
    load_demo(fresh_engine, patients=400, seed=3, anchor=ANCHOR)
    with session_scope(make_session_factory(fresh_engine)) as session:
        people = {p.id: p for p in session.scalars(select(Patient))}
        conditions: dict = {}
        for pid, code in session.execute(select(Condition.patient_id, Condition.code)):
            conditions.setdefault(pid, set()).add(code[:3])
        procedures = session.execute(select(Procedure.patient_id, Procedure.code, Procedure.performed_at)).all()
        shots = session.execute(select(Immunization.patient_id, Immunization.code, Immunization.occurred_at)).all()
    assert procedures and shots
    for pid, code, when in procedures:
        age = (ANCHOR - people[pid].birth_date).days // 365
        assert when.date() < ANCHOR
        if code == "24623002":
            assert people[pid].sex.value == "female" and 50 <= age <= 74  # screening mammography
        elif code == "73761001":
            assert 45 <= age <= 75  # screening colonoscopy
        elif code == "40701008":
            assert "I50" in conditions[pid]  # echocardiography for heart failure
    for pid, code, when in shots:
        assert when.date() < ANCHOR and (ANCHOR - people[pid].birth_date).days // 365 >= (65 if code == "33" else 18)

def test_labs_follow_disease_control(fresh_engine):
    load_demo(fresh_engine, patients=1500, seed=5, anchor=ANCHOR)
    with fresh_engine.connect() as conn:
        def mean_a1c(has_diabetes_with_hyperglycemia: bool) -> float:
            op = "=" if has_diabetes_with_hyperglycemia else "<>"
            return conn.execute(text(
                "SELECT avg(o.value_quantity) FROM observation o JOIN condition c ON c.patient_id = o.patient_id "
                f"WHERE o.code = '4548-4' AND c.code LIKE 'E11%' AND c.code {op} 'E11.65'")).scalar()
        assert mean_a1c(True) > 8.5 > 7.5 > mean_a1c(False)
        hypertensive = conn.execute(text(
            "SELECT avg(o.value_quantity) FROM observation o WHERE o.code = '8480-6' AND o.patient_id IN "
            "(SELECT patient_id FROM condition WHERE code = 'I10')")).scalar()
        others = conn.execute(text(
            "SELECT avg(o.value_quantity) FROM observation o WHERE o.code = '8480-6' AND o.patient_id NOT IN "
            "(SELECT patient_id FROM condition WHERE code = 'I10')")).scalar()
        assert hypertensive > others + 10


def test_medicare_age_readmission_rate_is_in_published_range(fresh_engine):
    load_demo(fresh_engine, patients=6000, seed=11, anchor=ANCHOR)
    cutoff = (ANCHOR - dt.timedelta(days=65 * 365 + 16)).isoformat()
    with fresh_engine.connect() as conn:
        stays, readmitted = conn.execute(text(
            "SELECT count(*), sum(CASE WHEN EXISTS (SELECT 1 FROM encounter r WHERE r.readmission_of_id = e.id) "
            "THEN 1 ELSE 0 END) FROM encounter e JOIN patient p ON p.id = e.patient_id "
            "WHERE e.encounter_class = 'inpatient' AND p.birth_date <= :cutoff"), {"cutoff": cutoff}).one()
        bad_links = conn.execute(text(
            "SELECT count(*) FROM encounter r JOIN encounter i ON i.id = r.readmission_of_id "
            "WHERE r.start_at < i.end_at OR i.encounter_class <> 'inpatient' AND i.encounter_class <> 'observation' "
            "OR r.patient_id <> i.patient_id")).scalar()
    assert 0.15 <= readmitted / stays <= 0.20, readmitted / stays
    assert bad_links == 0


def test_refuses_non_empty_database_unless_append(fresh_engine):
    load_demo(fresh_engine, patients=30, seed=1, anchor=ANCHOR)
    with pytest.raises(Conflict):
        load_demo(fresh_engine, patients=30, seed=1, anchor=ANCHOR)
    load_demo(fresh_engine, patients=30, seed=1, anchor=ANCHOR, append=True)
    with fresh_engine.connect() as conn:
        total, distinct = conn.execute(text("SELECT count(*), count(DISTINCT mrn) FROM patient")).one()
        orgs = conn.execute(text("SELECT count(*) FROM organization")).scalar()
    assert total == distinct == 60 and orgs == 1


def test_demo_logins_sign_in_with_the_demo_password(fresh_engine):
    load_demo(fresh_engine, patients=20, seed=1, anchor=ANCHOR)
    with session_scope(make_session_factory(fresh_engine)) as session:
        for email, role in demo_logins():
            staff = session.scalar(select(Staff).where(Staff.email == email))
            assert staff is not None and staff.role.value == role
            assert verify_password(DEMO_PASSWORD, staff.password_hash)[0]
        coordinator = session.scalar(select(Staff).where(Staff.email == "coordinator@demo.careloop.test"))
        panel = session.scalar(select(func.count()).where(CareTeamMember.staff_id == coordinator.id,
                                                          CareTeamMember.role == "primary_care_coordinator"))
        assert panel > 0


def test_bulk_load_leaves_planner_statistics(fresh_engine):
    load_demo(fresh_engine, patients=60, seed=3, anchor=ANCHOR)
    with fresh_engine.connect() as conn:
        if fresh_engine.dialect.name == "sqlite":
            analysed = {row[0] for row in conn.exec_driver_sql("SELECT tbl FROM sqlite_stat1")}
        else:
            analysed = {row[0] for row in conn.exec_driver_sql(
                "SELECT relname FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL")}
    assert {"patient", "encounter", "observation"} <= analysed
