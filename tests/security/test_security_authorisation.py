"""Authorisation beyond the route: organisation isolation, care-team scoping, search, break-the-glass, portal scope."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

import pytest
from security_seed import RECORD_BODIES, World
from sqlalchemy import select

from careloop import clock
from careloop.audit.models import AuditEvent
from careloop.auth.permissions import Permission
from careloop.config import get_settings
from careloop.errors import NotFound
from careloop.patients import queries
from careloop.patients import service as patients_service
from careloop.staff.models import StaffRole
from factories import actor_of, auth, make_patient, make_token

PATIENT_ROUTES = ["", "/care-team", *(f"/{kind}" for kind in RECORD_BODIES),
                  *(f"/{kind}/{{record}}" for kind in RECORD_BODIES)]


def _path(world_tenant, suffix: str, record_owner=None) -> str:
    owner = record_owner or world_tenant
    kind = suffix.split("/")[1] if "{record}" in suffix else None
    filled = suffix.replace("{record}", str(owner.records[kind])) if kind else suffix
    return f"/api/v1/patients/{world_tenant.patient.id}{filled}"


def _phi(tenant) -> list[str]:
    p = tenant.patient
    return [p.family_name, p.mrn, p.birth_date.isoformat()]


# --- organisation isolation -------------------------------------------------------------------------------------

@pytest.mark.parametrize("role", [StaffRole.CARE_COORDINATOR, StaffRole.SUPERVISOR])
def test_another_organisations_patient_is_404_everywhere_without_phi(client, world: World, role):
    headers = auth(world.a.token(role))
    for suffix in PATIENT_ROUTES:
        response = client.get(_path(world.b, suffix), headers=headers)
        assert response.status_code == 404, suffix
        assert not any(value in response.text for value in _phi(world.b)), suffix


def test_a_record_id_of_another_patient_is_404_even_through_an_allowed_patient(client, world: World, session):
    headers = auth(world.a.token(StaffRole.SUPERVISOR))
    other_in_org = make_patient(session, world.a.org, world.a.staff[StaffRole.CARE_COORDINATOR])
    session.commit()
    for kind in RECORD_BODIES:
        foreign = f"/api/v1/patients/{world.a.patient.id}/{kind}/{world.b.records[kind]}"
        assert client.get(foreign, headers=headers).status_code == 404, kind
        sibling = f"/api/v1/patients/{other_in_org.id}/{kind}/{world.a.records[kind]}"
        assert client.get(sibling, headers=headers).status_code == 404, kind
    member = f"/api/v1/patients/{world.a.patient.id}/care-team/{world.b.member.id}"
    assert client.delete(member, headers=headers).status_code == 404


def test_guessed_ids_are_404(client, world: World):
    headers = auth(world.a.token(StaffRole.SUPERVISOR))
    for path in (f"/api/v1/patients/{uuid.uuid4()}", f"/api/v1/staff/{uuid.uuid4()}",
                 f"/api/v1/staff/{world.b.target.id}",
                 f"/api/v1/patients/{world.a.patient.id}/conditions/{uuid.uuid4()}"):
        assert client.get(path, headers=headers).status_code == 404, path
    review = client.post(f"/api/v1/break-glass/{world.b.grant.id}/review", json={"note": "not ours"}, headers=headers)
    assert review.status_code == 404


def test_an_other_organisations_staff_cannot_be_put_on_a_care_team(client, world: World):
    response = client.post(f"/api/v1/patients/{world.a.patient.id}/care-team",
                           json={"staff_id": str(world.b.spare.id), "role": "pharmacist"},
                           headers=auth(world.a.token(StaffRole.CARE_COORDINATOR)))
    assert response.status_code == 422
    assert world.b.spare.family_name not in response.text


# --- care-team scoping -----------------------------------------------------------------------------------------

def test_a_clinician_off_the_care_team_gets_403_not_on_care_team(client, world: World, session):
    token = make_token(session, world.a.outsider)
    session.commit()
    for suffix in PATIENT_ROUTES:
        response = client.get(_path(world.a, suffix), headers=auth(token))
        assert response.status_code == 403, suffix
        assert response.json()["code"] == "not_on_care_team"
        assert not any(value in response.text for value in _phi(world.a))


@pytest.mark.parametrize("role", [StaffRole.SUPERVISOR, StaffRole.ADMINISTRATOR, StaffRole.CARE_COORDINATOR])
def test_team_members_and_organisation_wide_roles_see_the_patient(client, world: World, role):
    response = client.get(f"/api/v1/patients/{world.a.patient.id}", headers=auth(world.a.token(role)))
    assert response.status_code == 200 and response.json()["mrn"] == world.a.patient.mrn


def test_an_ended_membership_ends_access(client, world: World):
    social_worker = auth(world.a.token(StaffRole.SOCIAL_WORKER))
    assert client.get(f"/api/v1/patients/{world.a.patient.id}", headers=social_worker).status_code == 200
    ended = client.delete(f"/api/v1/patients/{world.a.patient.id}/care-team/{world.a.member.id}",
                          headers=auth(world.a.token(StaffRole.CARE_COORDINATOR)))
    assert ended.status_code == 200
    assert client.get(f"/api/v1/patients/{world.a.patient.id}", headers=social_worker).status_code == 403


def test_care_team_search_never_includes_patients_outside_the_team(client, world: World, session):
    token = make_token(session, world.a.outsider)
    session.commit()
    page = client.post("/api/v1/patients/_search", json={"name": world.a.patient.family_name},
                       headers=auth(token)).json()
    assert page["items"] == []
    mine = client.get("/api/v1/patients", params={"limit": 200},
                      headers=auth(world.a.token(StaffRole.CARE_COORDINATOR))).json()["items"]
    assert {i["id"] for i in mine} == {str(world.a.patient.id), str(world.a.duplicate.id), str(world.a.fresh.id)}


def test_organisation_search_shows_outsiders_identification_only(client, world: World, session):
    token = make_token(session, world.a.outsider)
    session.commit()
    p = world.a.patient
    response = client.post("/api/v1/patients/_search", json={"scope": "organization", "name": p.family_name,
                                                              "birth_date": p.birth_date.isoformat()},
                           headers=auth(token))
    [hit] = response.json()["items"]
    assert hit["access"] == "restricted" and hit["id"] == str(p.id)
    assert {k for k, v in hit.items() if v is not None} == {"id", "mrn", "given_name", "family_name", "birth_date",
                                                           "access"}
    too_broad = client.post("/api/v1/patients/_search", json={"scope": "organization", "name": "a"},
                            headers=auth(token))
    assert too_broad.status_code == 400 and too_broad.json()["code"] == "search_too_broad"
    by_mrn = client.post("/api/v1/patients/_search", json={"scope": "organization", "mrn": world.b.patient.mrn},
                         headers=auth(token))
    assert by_mrn.json()["items"] == []  # never another organisation's


# --- break-the-glass -------------------------------------------------------------------------------------------

def test_break_the_glass_grants_time_limited_audited_access_for_review(client, world: World, session):
    outsider, patient = world.a.outsider, world.a.patient
    token = make_token(session, outsider, ttl=dt.timedelta(hours=6))
    supervisor = auth(world.a.token(StaffRole.SUPERVISOR))
    session.commit()
    url = f"/api/v1/patients/{patient.id}"
    assert client.get(url, headers=auth(token)).status_code == 403

    short = client.post(f"{url}/break-glass", json={"reason": "urgent"}, headers=auth(token))
    assert short.status_code == 422
    padded = client.post(f"{url}/break-glass", json={"reason": "  x         y   "}, headers=auth(token))
    assert padded.status_code == 422  # whitespace does not count towards the reason

    granted = client.post(f"{url}/break-glass", json={"reason": "Unconscious in the emergency department"},
                          headers=auth(token))
    assert granted.status_code == 201, granted.text
    grant = granted.json()
    expires = dt.datetime.fromisoformat(grant["expires_at"].replace("Z", "+00:00"))
    minutes = get_settings().break_glass_minutes
    assert abs(expires - clock.now() - dt.timedelta(minutes=minutes)) < dt.timedelta(minutes=1)
    assert client.get(url, headers=auth(token)).status_code == 200
    assert client.get(f"{url}/conditions", headers=auth(token)).status_code == 200

    glass = session.scalars(select(AuditEvent).where(AuditEvent.actor_id == outsider.id,
                                                     AuditEvent.patient_id == patient.id)
                            .order_by(AuditEvent.seq)).all()
    flagged = [e for e in glass if e.action == "break_glass"]
    reads = [e for e in glass if e.action == "read" and e.record_type == "Patient"]
    assert flagged and flagged[-1].purpose_of_use == "ETREAT" and flagged[-1].detail["reason"]
    assert reads and reads[-1].purpose_of_use == "ETREAT" and reads[-1].detail.get("break_glass") is True

    pending = client.get("/api/v1/break-glass", headers=supervisor).json()
    assert grant["id"] in {g["id"] for g in pending}
    reviewed = client.post(f"/api/v1/break-glass/{grant['id']}/review", json={"note": "Appropriate"},
                           headers=supervisor)
    assert reviewed.status_code == 200 and reviewed.json()["reviewed_at"] is not None
    assert grant["id"] not in {g["id"] for g in client.get("/api/v1/break-glass", headers=supervisor).json()}
    history = client.get("/api/v1/break-glass", params={"include_reviewed": True}, headers=supervisor).json()
    assert grant["id"] in {g["id"] for g in history}

    clock.advance(dt.timedelta(minutes=minutes, seconds=1))
    expired = client.get(url, headers=auth(token))
    assert expired.status_code == 403 and expired.json()["code"] == "not_on_care_team"


def test_break_the_glass_needs_membership_of_the_emergency_group(client, world: World, session):
    outsider = world.a.outsider
    outsider.break_glass_allowed = False
    token = make_token(session, outsider)
    session.commit()
    response = client.post(f"/api/v1/patients/{world.a.patient.id}/break-glass",
                           json={"reason": "Unconscious in the emergency department"}, headers=auth(token))
    assert response.status_code == 403 and response.json()["code"] == "break_glass_denied"
    assert client.get(f"/api/v1/patients/{world.a.patient.id}", headers=auth(token)).status_code == 403


def test_break_the_glass_never_crosses_organisations(client, world: World, session):
    token = make_token(session, world.a.outsider)
    session.commit()
    response = client.post(f"/api/v1/patients/{world.b.patient.id}/break-glass",
                           json={"reason": "Unconscious in the emergency department"}, headers=auth(token))
    assert response.status_code == 404
    assert client.get(f"/api/v1/patients/{world.b.patient.id}", headers=auth(token)).status_code == 404


def test_roles_without_break_the_glass_cannot_use_it(client, world: World):
    response = client.post(f"/api/v1/patients/{world.a.patient.id}/break-glass",
                           json={"reason": "Unconscious in the emergency department"},
                           headers=auth(world.a.token(StaffRole.SCHEDULER)))
    assert response.status_code == 403


# --- portal-style patient scope (service level: the mechanism the portal will use) ------------------------------

@pytest.fixture
def portal_actor(world: World):
    """An actor limited to the seeded patient of A, as a portal user (or a patient-scoped token) will be."""
    base = actor_of(world.a.staff[StaffRole.CARE_COORDINATOR])
    return dataclasses.replace(base, staff_id=None, role="patient", org_wide=False,
                               permissions=frozenset({Permission.PATIENT_READ, Permission.CLINICAL_READ}),
                               patient_scope=frozenset({world.a.patient.id}))


def test_portal_scope_sees_only_its_own_patient(session, world: World, portal_actor):
    assert patients_service.get_patient(session, portal_actor, world.a.patient.id).id == world.a.patient.id
    for other in (world.a.duplicate.id, world.b.patient.id, uuid.uuid4()):
        with pytest.raises(NotFound):
            patients_service.get_patient(session, portal_actor, other)
    hits, _ = queries.search_patients(session, portal_actor, queries.PatientQuery(limit=200))
    assert [h.patient.id for h in hits] == [world.a.patient.id]


def test_an_empty_portal_scope_sees_nothing(session, world: World, portal_actor):
    nobody = dataclasses.replace(portal_actor, patient_scope=frozenset())
    with pytest.raises(NotFound):
        patients_service.get_patient(session, nobody, world.a.patient.id)
    assert queries.search_patients(session, nobody, queries.PatientQuery(limit=200))[0] == []


def test_portal_scope_cannot_widen_search_to_the_organisation(session, world: World, portal_actor):
    dup = world.a.duplicate
    hits, _ = queries.search_patients(session, portal_actor, queries.PatientQuery(
        scope="organization", name=dup.family_name, birth_date=dup.birth_date))
    assert hits == []
