"""Medication management through the API: a discharge reconciliation signed into the active list, fills and
adherence tasks, CSV import, allergy checks, interaction honesty, instructions in the patient's language."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import func, select

from careloop import clock
from careloop.audit.models import AuditEvent
from careloop.care_plans.models import CarePlan
from careloop.clinical.models import Allergy, AllergyCategory
from careloop.medications.models import MedicationFill
from careloop.staff.models import StaffRole
from careloop.tasks import service as tasks
from careloop.tasks.models import Task, TaskFocus, TaskStatus
from factories import auth, make_org, make_patient, make_staff, make_token


class Clinic:
    pass


@pytest.fixture
def clinic(session):
    org = make_org(session, timezone="America/Chicago")
    coordinator, pcp = make_staff(session, org), make_staff(session, org, StaffRole.PRIMARY_CARE_PHYSICIAN)
    patient = make_patient(session, org, coordinator, pcp=pcp, preferred_language="es")
    session.commit()
    c = Clinic()
    c.org, c.patient, c.coordinator_staff = org, patient, coordinator
    c.pcp, c.coordinator = auth(make_token(session, pcp)), auth(make_token(session, coordinator))
    c.supervisor = auth(make_token(session, make_staff(session, org, StaffRole.SUPERVISOR)))
    session.commit()
    return c


HOME = [("314076", "10 mg", "oral", "daily"), ("860975", "500 mg", "oral", "twice daily"),
        ("36567", "20 mg", "oral", "at bedtime"), ("855332", "5 mg", "oral", "daily")]
DISCHARGE = [("314077", "20 mg", "PO", "once daily"), ("860975", "500 mg", "oral", "twice daily"),
             ("617310", "20 mg", "oral", "daily"), ("855332", "5 mg", "oral", "daily")]
NAMES = {"314076": "lisinopril 10 MG Oral Tablet", "314077": "lisinopril 20 MG Oral Tablet",
         "860975": "24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet", "36567": "simvastatin",
         "617310": "atorvastatin 20 MG Oral Tablet", "855332": "Warfarin Sodium 5 MG Oral Tablet"}


def _add(client, c, source, code, dose, route, frequency, display=None):
    made = client.post(f"/api/v1/patients/{c.patient.id}/medications", headers=c.coordinator, json={
        "source": source, "code": code, "display": display or NAMES[code], "dose": dose, "route": route,
        "frequency": frequency})
    assert made.status_code == 201, made.text
    return made.json()["id"]


def _lists(client, c):
    return client.get(f"/api/v1/patients/{c.patient.id}/medication-lists", headers=c.pcp).json()


def test_a_discharge_reconciliation_becomes_the_active_list(client, session, clinic):
    c = clinic
    for row in HOME:
        _add(client, c, "practice", *row)
    for row in DISCHARGE:
        _add(client, c, "hospital_discharge", *row)
    step = tasks.create_task(session, organization_id=c.org.id, patient_id=c.patient.id, title="Reconcile",
                             owner_id=c.coordinator_staff.id, step_key="medication_reconciliation")
    session.commit()
    started = client.post(f"/api/v1/patients/{c.patient.id}/reconciliations", headers=c.coordinator, json={})
    assert started.status_code == 201, started.text
    rec = started.json()
    lines = {ln["label"]: ln for ln in rec["lines"]}
    assert lines["lisinopril"]["classes"] == ["dose_changed"]
    assert set(lines["atorvastatin"]["classes"]) == {"new", "therapeutic_duplication"}
    assert lines["warfarin"]["high_risk"] and lines["warfarin"]["classes"] == ["unchanged"]
    url = f"/api/v1/reconciliations/{rec['id']}"

    def decide(label, headers=c.pcp, **body):
        return client.post(f"{url}/lines/{lines[label]['id']}/decision", headers=headers, json=body)

    assert decide("warfarin", headers=c.coordinator, decision="continue").status_code == 403  # not licensed
    assert client.post(f"{url}/sign", headers=c.pcp).status_code == 422  # undecided lines
    assert decide("simvastatin", decision="stop").status_code == 422  # stopping a home medicine needs a reason
    assert decide("lisinopril", decision="continue").status_code == 200  # the discharge version by default
    assert decide("metformin", decision="modify", from_source="practice", frequency="daily").status_code == 200
    assert decide("simvastatin", decision="stop", reason="Switched to atorvastatin in hospital").status_code == 200
    assert decide("atorvastatin", decision="continue").status_code == 200
    version = decide("warfarin", decision="continue", from_source="practice").json()["version"]
    assert client.post(f"{url}/sign", headers={**c.pcp, "If-Match": f'W/"{version - 1}"'}).status_code == 412
    signed = client.post(f"{url}/sign", headers={**c.pcp, "If-Match": f'W/"{version}"'})
    assert signed.status_code == 200, signed.text
    assert signed.json()["status"] == "signed"
    assert client.post(f"{url}/sign", headers=c.pcp).status_code == 409

    practice = {m["display"]: m for m in _lists(client, c)["practice"]}
    assert set(practice) == {NAMES["314077"], NAMES["860975"], NAMES["617310"], NAMES["855332"]}
    assert practice[NAMES["314077"]]["dose"] == "20 mg" and practice[NAMES["860975"]]["frequency"] == "daily"
    assert len(_lists(client, c)["hospital_discharge"]) == 4  # the source lists are kept as they came
    session.expire_all()
    assert session.get(Task, step.id).status == TaskStatus.COMPLETED
    trace = session.scalars(select(AuditEvent.action).where(
        AuditEvent.record_type == "MedicationReconciliationLine")).all()
    assert len(trace) == 5 and session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "sign", AuditEvent.record_type == "MedicationReconciliation")) == 1


def test_nothing_to_reconcile_and_other_organisations(client, session, clinic):
    c = clinic
    refused = client.post(f"/api/v1/patients/{c.patient.id}/reconciliations", headers=c.coordinator,
                          json={"sources": ["practice", "practice"]})
    assert refused.status_code == 422
    empty = client.post(f"/api/v1/patients/{c.patient.id}/reconciliations", headers=c.coordinator, json={})
    assert empty.status_code == 422 and empty.headers["content-type"].startswith("application/problem+json")
    _add(client, c, "practice", *HOME[0])
    rec = client.post(f"/api/v1/patients/{c.patient.id}/reconciliations", headers=c.coordinator, json={}).json()
    stranger = auth(make_token(session, make_staff(session, make_org(session), StaffRole.SUPERVISOR)))
    session.commit()
    assert client.get(f"/api/v1/reconciliations/{rec['id']}", headers=stranger).status_code == 404


def _fills(days_and_supply, code="314076", prefix="RX"):
    today = clock.today("America/Chicago")
    return [{"code": code, "display": NAMES.get(code, code), "filled_on": (today - dt.timedelta(days=ago)).isoformat(),
             "days_supply": supply, "pharmacy": "Main St Pharmacy", "fill_number": f"{prefix}{i}"}
            for i, (ago, supply) in enumerate(days_and_supply)]


def test_fills_give_pdc_with_gaps_and_a_task_below_80_percent(client, session, clinic):
    c = clinic
    url = f"/api/v1/patients/{c.patient.id}/fills"
    made = client.post(url, headers=c.coordinator, json=_fills([(149, 30), (129, 30), (59, 30)]))
    assert made.status_code == 201 and made.json() == {"created": 3, "updated": 0}
    assert client.post(url, headers=c.coordinator, json=_fills([(149, 30)])).json() == {"created": 0, "updated": 1}
    [lisinopril] = client.get(f"/api/v1/patients/{c.patient.id}/adherence", headers=c.pcp).json()
    assert (lisinopril["label"], lisinopril["fills"], lisinopril["adherent"]) == ("lisinopril", 3, False)
    assert lisinopril["pdc"] == round(90 / 150, 4)  # 60 days from the first two (carried over), 30 from the third
    assert [g["days"] for g in lisinopril["gaps"]] == [30, 30]
    [task] = session.scalars(select(Task).where(Task.patient_id == c.patient.id, Task.focus_type == TaskFocus.GAP))
    assert task.title.startswith("Low adherence: lisinopril (60%") and task.owner_id == c.coordinator_staff.id
    client.post(url, headers=c.coordinator, json=_fills([(10, 30)], prefix="NEW"))
    assert session.scalar(select(func.count()).select_from(Task).where(Task.focus_type == TaskFocus.GAP)) == 1
    bad = client.post(url, headers=c.coordinator, json=_fills([(1, 0)]))
    assert bad.status_code == 422


def test_fill_csv_import_is_all_or_nothing(client, session, clinic):
    c = clinic
    header = "mrn,code,display,filled_on,days_supply,pharmacy,fill_number\n"
    good = f"{c.patient.mrn},314076,lisinopril 10 MG Oral Tablet,2026-10-01,30,Main St,A1\n"
    unknown = "NOPE,314076,lisinopril 10 MG Oral Tablet,2026-10-01,30,Main St,A2\n"

    def send(text):
        return client.post("/api/v1/medication-fills/import", headers={**c.coordinator, "Content-Type": "text/csv"},
                           content=(header + text).encode())
    refused = send(good + unknown)
    assert refused.status_code == 422 and "Row 3" in refused.json()["detail"]
    assert session.scalar(select(func.count()).select_from(MedicationFill)) == 0
    assert send(good).json() == {"created": 1, "updated": 0, "patients": 1}


def test_checks_find_allergy_conflicts_and_say_interactions_are_not_checked(client, session, clinic):
    c = clinic
    session.add_all([Allergy(organization_id=c.org.id, patient_id=c.patient.id, substance="Penicillin",
                             category=AllergyCategory.MEDICATION),
                     Allergy(organization_id=c.org.id, patient_id=c.patient.id, substance="Peanut",
                             category=AllergyCategory.FOOD)])
    session.commit()
    augmentin = _add(client, c, "hospital_discharge", "562508", "1 tablet", "oral", "twice daily",
                     display="amoxicillin 875 MG / clavulanate 125 MG Oral Tablet")
    warfarin = _add(client, c, "practice", *HOME[3])
    checks = client.get(f"/api/v1/patients/{c.patient.id}/medication-checks", headers=c.pcp).json()
    assert [(x["medication_id"], x["substance"]) for x in checks["allergy_conflicts"]] == [(augmentin, "Penicillin")]
    assert checks["high_risk"] == [warfarin]
    assert checks["interactions"]["available"] is False and "does not check" in checks["interactions"]["reason"]
    rec = client.post(f"/api/v1/patients/{c.patient.id}/reconciliations", headers=c.coordinator, json={}).json()
    amoxicillin = next(ln for ln in rec["lines"] if ln["label"].startswith("amoxicillin"))
    assert len(amoxicillin["allergy_ids"]) == 1


def test_instructions_are_attached_in_the_patients_language(client, session, clinic):
    c = clinic
    med = _add(client, c, "practice", *HOME[0])
    body = {"ingredient_rxcui": "29046", "title": "Lisinopril", "purpose": "Lowers blood pressure.",
            "how_to_take": "One tablet each morning.", "watch_for": "Dizziness, a dry cough, swelling of the face."}
    assert client.put("/api/v1/medication-instructions", headers=c.pcp, json=body).status_code == 200
    spanish = {**body, "language": "es", "title": "Lisinopril (español)", "purpose": "Baja la presión arterial."}
    assert client.put("/api/v1/medication-instructions", headers=c.pcp, json=spanish).status_code == 200
    assert client.put("/api/v1/medication-instructions", headers=c.pcp,
                      json={**body, "ingredient_rxcui": "1"}).status_code == 422
    assert len(client.get("/api/v1/medication-instructions", headers=c.coordinator).json()) == 2
    plan = client.post(f"/api/v1/patients/{c.patient.id}/care-plans", headers=c.pcp, json={"title": "Hypertension"})
    assert plan.status_code == 201, plan.text
    attached = client.post(f"/api/v1/care-plans/{plan.json()['id']}/medication-education", headers=c.pcp,
                           json={"medication_id": med})
    assert attached.status_code == 201, attached.text
    assert attached.json()["language"] == "es" and "Baja la presión" in attached.json()["body"]
    other = _add(client, c, "practice", *HOME[3])
    missing = client.post(f"/api/v1/care-plans/{plan.json()['id']}/medication-education", headers=c.pcp,
                          json={"medication_id": other})
    assert missing.status_code == 422
    plan_id = uuid.UUID(plan.json()["id"])
    assert session.scalar(select(CarePlan.status).where(CarePlan.id == plan_id)).value == "draft"


def test_drug_vocabulary_search(client, clinic):
    found = client.get("/api/v1/drugs?q=warfarin", headers=clinic.coordinator).json()
    assert found[0]["rxcui"] == "855332" and found[0]["high_risk"] and found[0]["drug_classes"] == ["anticoagulant"]
