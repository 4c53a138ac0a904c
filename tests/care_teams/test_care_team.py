"""Care teams: one active coordinator with history, at most one PCP (also enforced by the database)."""

from __future__ import annotations

import pytest

from careloop.care_teams.models import CareTeamMember
from careloop.errors import Conflict
from careloop.staff.models import StaffRole
from factories import auth, make_org, make_patient, make_staff, make_token


def _setup(session):
    org = make_org(session)
    first, second = make_staff(session, org), make_staff(session, org)
    patient = make_patient(session, org, first)
    token = make_token(session, first)
    session.commit()
    return org, first, second, patient, token


def test_reassigning_the_coordinator_keeps_history(session, client):
    _, first, second, patient, token = _setup(session)
    url = f"/api/v1/patients/{patient.id}/care-team"
    moved = client.post(url, json={"staff_id": str(second.id), "role": "primary_care_coordinator"}, headers=auth(token))
    assert moved.status_code == 201, moved.text
    # the first coordinator is no longer on the team: only the new one can read it now
    assert client.get(url, headers=auth(token)).status_code == 403
    second_token = make_token(session, second)
    session.commit()
    current = client.get(url, headers=auth(second_token)).json()
    assert [(m["role"], m["staff_id"]) for m in current] == [("primary_care_coordinator", str(second.id))]
    history = client.get(url + "?include_history=true", headers=auth(second_token)).json()
    ended = [m for m in history if m["ended_at"]]
    assert [(m["role"], m["staff_id"]) for m in ended] == [("primary_care_coordinator", str(first.id))]


def test_coordinator_cannot_be_removed_only_replaced(session, client):
    *_, patient, token = _setup(session)
    members = client.get(f"/api/v1/patients/{patient.id}/care-team", headers=auth(token)).json()
    response = client.delete(f"/api/v1/patients/{patient.id}/care-team/{members[0]['id']}", headers=auth(token))
    assert response.status_code == 409 and response.json()["code"] == "coordinator_required"


def test_other_roles_several_members_but_not_the_same_person_twice(session, client):
    org, _, _, patient, token = _setup(session)
    nurse = make_staff(session, org, StaffRole.RN_CARE_MANAGER)
    social = make_staff(session, org, StaffRole.SOCIAL_WORKER)
    billing = make_staff(session, org, StaffRole.BILLING)
    session.commit()
    url = f"/api/v1/patients/{patient.id}/care-team"
    assert client.post(url, json={"staff_id": str(nurse.id), "role": "rn_care_manager"},
                       headers=auth(token)).status_code == 201
    assert client.post(url, json={"staff_id": str(social.id), "role": "social_worker"},
                       headers=auth(token)).status_code == 201
    again = client.post(url, json={"staff_id": str(nurse.id), "role": "rn_care_manager"}, headers=auth(token))
    assert again.status_code == 409
    wrong = client.post(url, json={"staff_id": str(billing.id), "role": "other"}, headers=auth(token))
    assert wrong.status_code == 422
    not_pcp = client.post(url, json={"staff_id": str(nurse.id), "role": "primary_care_physician"}, headers=auth(token))
    assert not_pcp.status_code == 422
    ended = client.delete(f"{url}/{_member_id(client, url, token, nurse.id)}", headers=auth(token))
    assert ended.status_code == 200 and ended.json()["ended_at"] is not None


def _member_id(client, url, token, staff_id):
    return next(m["id"] for m in client.get(url, headers=auth(token)).json() if m["staff_id"] == str(staff_id))


def test_database_refuses_a_second_active_pcp(session):
    org = make_org(session)
    pcp1, pcp2 = make_staff(session, org, StaffRole.PRIMARY_CARE_PHYSICIAN), make_staff(
        session, org, StaffRole.PRIMARY_CARE_PHYSICIAN)
    patient = make_patient(session, org, make_staff(session, org), pcp=pcp1)
    from careloop import clock
    from careloop.db import translate_db_errors

    with pytest.raises(Conflict), translate_db_errors(), session.begin_nested():
        session.add(CareTeamMember(organization_id=org.id, patient_id=patient.id, staff_id=pcp2.id,
                                   role="primary_care_physician", started_at=clock.now()))
        session.flush()
