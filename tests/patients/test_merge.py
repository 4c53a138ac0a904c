"""Merging a duplicate moves every record to the survivor and leaves a trace."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from careloop.care_teams.models import CareTeamMember
from careloop.clinical.models import Allergy, Condition, Encounter, Observation
from careloop.medications.models import Medication
from careloop.patients.models import Patient, PatientMerge
from careloop.staff.models import StaffRole
from factories import auth, make_org, make_patient, make_staff, make_token

NOW = dt.datetime(2026, 1, 5, 10, tzinfo=dt.UTC)


def _chart(session, org, patient):
    encounter = Encounter(organization_id=org.id, patient_id=patient.id, encounter_class="ambulatory", start_at=NOW)
    session.add(encounter)
    session.flush()
    session.add_all([
        Condition(organization_id=org.id, patient_id=patient.id, code="I10", display="Hypertension"),
        Observation(organization_id=org.id, patient_id=patient.id, category="vital_signs", code="8480-6",
                    display="Systolic", value_quantity=140, unit="mm[Hg]", effective_at=NOW, encounter_id=encounter.id),
        Medication(organization_id=org.id, patient_id=patient.id, code="314076", display="lisinopril 10 MG"),
        Allergy(organization_id=org.id, patient_id=patient.id, substance="Penicillin", category="medication")])
    session.flush()


def test_merge_moves_everything_and_retires_the_duplicate(session, client):
    org = make_org(session)
    coordinator, other, pcp = make_staff(session, org), make_staff(session, org), make_staff(
        session, org, StaffRole.PRIMARY_CARE_PHYSICIAN)
    supervisor = make_staff(session, org, StaffRole.SUPERVISOR)
    survivor = make_patient(session, org, coordinator, pcp=pcp)
    duplicate = make_patient(session, org, other)
    _chart(session, org, duplicate)
    token = make_token(session, supervisor)
    session.commit()
    response = client.post(f"/api/v1/patients/{survivor.id}/merge",
                           json={"duplicate_id": str(duplicate.id), "reason": "same person, two MRNs"},
                           headers=auth(token))
    assert response.status_code == 200, response.text
    moved = response.json()["moved_counts"]
    assert moved["condition"] == moved["observation"] == moved["medication"] == moved["allergy"] == 1
    assert moved["encounter"] == 1 and moved["care_team_member"] == 1
    session.expire_all()
    for model in (Condition, Observation, Medication, Allergy, Encounter):
        assert session.scalar(select(func.count()).where(model.patient_id == duplicate.id)) == 0
        assert session.scalar(select(func.count()).where(model.patient_id == survivor.id)) == 1
    active = session.scalars(select(CareTeamMember).where(CareTeamMember.patient_id == survivor.id,
                                                          CareTeamMember.ended_at.is_(None))).all()
    assert {(m.role.value, m.staff_id) for m in active} == {("primary_care_coordinator", coordinator.id),
                                                           ("primary_care_physician", pcp.id)}
    retired = session.get(Patient, duplicate.id)
    assert retired.status.value == "inactive" and retired.merged_into_id == survivor.id
    trace = session.scalar(select(PatientMerge).where(PatientMerge.duplicate_id == duplicate.id))
    assert trace.survivor_id == survivor.id and trace.merged_by_id == supervisor.id
    again = client.post(f"/api/v1/patients/{survivor.id}/merge",
                        json={"duplicate_id": str(duplicate.id), "reason": "twice"}, headers=auth(token))
    assert again.status_code == 409
    edit = client.patch(f"/api/v1/patients/{duplicate.id}", json={"phone": "555-010-0000"},
                        headers={**auth(token), "If-Match": f'W/"{retired.version}"'})
    assert edit.status_code == 409


def test_merge_rules(session, client):
    org = make_org(session)
    coordinator = make_staff(session, org)
    supervisor = make_staff(session, org, StaffRole.SUPERVISOR)
    a, b = make_patient(session, org, coordinator), make_patient(session, org, coordinator)
    foreign_org = make_org(session)
    foreign = make_patient(session, foreign_org, make_staff(session, foreign_org))
    tokens = make_token(session, coordinator), make_token(session, supervisor)
    session.commit()
    body = {"duplicate_id": str(b.id), "reason": "duplicate"}
    assert client.post(f"/api/v1/patients/{a.id}/merge", json=body, headers=auth(tokens[0])).status_code == 403
    itself = client.post(f"/api/v1/patients/{a.id}/merge", json={"duplicate_id": str(a.id), "reason": "x" * 5},
                         headers=auth(tokens[1]))
    assert itself.status_code == 422
    across = client.post(f"/api/v1/patients/{a.id}/merge", json={"duplicate_id": str(foreign.id), "reason": "dup"},
                         headers=auth(tokens[1]))
    assert across.status_code == 404
