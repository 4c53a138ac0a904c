"""The medication page and the reconciliation screen over HTTP (forms with CSRF), and the fills CLI."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from careloop.auth.actor import system_actor
from careloop.care_plans.models import EducationItem
from careloop.care_teams import service as care_teams
from careloop.care_teams.models import CareTeamRole
from careloop.db import make_engine, make_session_factory, session_scope
from careloop.medications import service as medications
from careloop.medications.models import Medication, MedicationFill, MedicationSource, MedicationStatus, Reconciliation
from careloop.medications.schemas import FillIn
from careloop.organizations.models import Organization
from careloop.staff.models import StaffRole
from cli_support import run, using_database
from factories import make_org, make_patient, make_staff
from web_helpers import post_form, sign_in


def test_lists_side_by_side_then_reconcile_and_sign_from_the_pages(client, session):
    org = make_org(session)
    coordinator, pharmacist = make_staff(session, org), make_staff(session, org, StaffRole.PHARMACIST)
    patient = make_patient(session, org, coordinator)
    care_teams.assign(session, system_actor(org.id), patient, CareTeamRole.PHARMACIST, pharmacist.id)
    session.commit()
    page = f"/patients/{patient.id}/medications"
    sign_in(client, coordinator.email)
    assert "Drug-drug interactions are not checked" in client.get(page).text
    for source, code, dose in (("practice", "314076", "10 mg"), ("hospital_discharge", "314077", "20 mg")):
        added = post_form(client, page, {"source": source, "code": code, "dose": dose, "frequency": "daily"},
                          page=page)
        assert added.status_code == 303, added.text
    free = post_form(client, page, {"source": "patient_reported", "display": "Turmeric capsules"}, page=page)
    assert free.status_code == 303
    bad = post_form(client, page, {"source": "practice", "code": "99999999"}, page=page)
    assert bad.status_code == 422
    html = client.get(page).text
    assert "lisinopril 20 MG Oral Tablet" in html and "Turmeric capsules" in html and "(no code)" in html
    started = post_form(client, f"/patients/{patient.id}/reconciliations",
                        {"sources": ["practice", "hospital_discharge", "patient_reported"]}, page=page)
    assert started.status_code == 303
    rec = session.scalars(select(Reconciliation)).one()
    screen = client.get(started.headers["location"]).text
    assert "Dose changed" in screen and "Unverifiable" in screen and "A pharmacist, nurse care manager" in screen
    lines = client.get(f"/api/v1/reconciliations/{rec.id}")  # pages only: the API wants a token
    assert lines.status_code == 401

    client.cookies.clear()
    sign_in(client, pharmacist.email)
    screen = client.get(f"/reconciliations/{rec.id}").text
    line_ids = [part.split('"')[0] for part in screen.split('id="line-')[1:]]
    assert len(line_ids) == 2
    for line_id in line_ids:
        decided = post_form(client, f"/reconciliations/{rec.id}/lines/{line_id}/decision", {"decision": "continue"},
                            page=f"/reconciliations/{rec.id}")
        assert decided.status_code == 303, decided.text
    signed = post_form(client, f"/reconciliations/{rec.id}/sign", {}, page=f"/reconciliations/{rec.id}")
    assert signed.status_code == 303
    assert "the practice list now holds the decisions" in client.get(f"/reconciliations/{rec.id}").text
    session.expire_all()
    active = session.scalars(select(Medication).where(Medication.source == MedicationSource.PRACTICE,
                                                      Medication.status == MedicationStatus.ACTIVE)).all()
    assert sorted(m.display for m in active) == ["Turmeric capsules", "lisinopril 20 MG Oral Tablet"]


def test_cli_imports_fills(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    with using_database(monkeypatch, url):
        assert run("db", "upgrade")[0] == 0
        assert run("orgs", "create", "Lakeside Practice")[0] == 0
        engine = make_engine(url)
        with session_scope(make_session_factory(engine)) as session:
            org = session.scalars(select(Organization)).one()
            patient = make_patient(session, org, make_staff(session, org), mrn="L-1001")
            patient_id = patient.id
        path = tmp_path / "fills.csv"
        today = dt.date.today()
        rows = [f"L-1001,314076,lisinopril 10 MG Oral Tablet,{today - dt.timedelta(days=d)},30,Main St,F{d}"
                for d in (90, 60, 30)]
        path.write_text("mrn,code,display,filled_on,days_supply,pharmacy,fill_number\n" + "\n".join(rows) + "\n")
        code, output = run("fills", "import", str(path), "--org", "Lakeside Practice")
        assert code == 0 and "fills: 3 created, 0 updated" in output, output
        path.write_text("mrn,code,display,filled_on,days_supply,pharmacy,fill_number\nL-1001,x,y,z,30,a,b\n")
        code, output = run("fills", "import", str(path), "--org", "Lakeside Practice")
        assert code == 2 and "Row 2: code" in output
        with session_scope(make_session_factory(engine)) as session:
            fills = session.scalars(select(MedicationFill).where(MedicationFill.patient_id == patient_id)).all()
            assert len(fills) == 3
        engine.dispose()


def test_instructions_page_and_adding_them_to_the_draft_plan(client, session):
    org = make_org(session)
    coordinator, pcp = make_staff(session, org), make_staff(session, org, StaffRole.PRIMARY_CARE_PHYSICIAN)
    patient = make_patient(session, org, coordinator, pcp=pcp)
    session.commit()
    sign_in(client, pcp.email)
    page = f"/patients/{patient.id}/medications"
    assert post_form(client, page, {"source": "practice", "code": "314076"}, page=page).status_code == 303
    assert "start one (or revise the active plan) first" in client.get(page).text
    saved = post_form(client, "/medication-instructions", {
        "ingredient_rxcui": "29046", "language": "EN", "title": "Lisinopril", "purpose": "Lowers blood pressure.",
        "how_to_take": "One tablet each morning.", "watch_for": "Dizziness."}, page="/medication-instructions")
    assert saved.status_code == 303
    assert "Lowers blood pressure." in client.get("/medication-instructions").text
    assert post_form(client, f"/patients/{patient.id}/care-plan", {"title": "Blood pressure"},
                     page=page).status_code == 303
    med = session.scalars(select(Medication).where(Medication.patient_id == patient.id)).one()
    added = post_form(client, f"/patients/{patient.id}/medication-education", {"medication_id": str(med.id)},
                      page=page)
    assert added.status_code == 303, added.text
    item = session.scalars(select(EducationItem)).one()
    assert item.title == "Lisinopril" and "How to take it: One tablet each morning." in item.body


def test_low_adherence_flags_the_patient_on_the_chart(client, session):
    org = make_org(session)
    coordinator = make_staff(session, org)
    patient = make_patient(session, org, coordinator)
    session.commit()
    sign_in(client, coordinator.email)
    assert "Low medication adherence" not in client.get(f"/patients/{patient.id}").text
    today = dt.date.today()
    fills = [FillIn(code="83367", display="atorvastatin", filled_on=today - dt.timedelta(days=d), days_supply=30,
                    pharmacy="Main St", fill_number=f"N{d}") for d in (150, 60)]
    medications.add_fills(session, system_actor(org.id), patient.id, fills)
    session.commit()
    chart = client.get(f"/patients/{patient.id}").text
    assert "Low medication adherence" in chart and 'title="atorvastatin"' in chart
    assert "row--late" in client.get(f"/patients/{patient.id}/medications").text  # the PDC row is highlighted
