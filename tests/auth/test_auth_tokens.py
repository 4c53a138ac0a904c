"""Bearer tokens on the API: wrong, expired and revoked tokens, scopes, role changes, client credentials."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from sqlalchemy import select

from careloop import clock
from careloop.auth import service as auth_service
from careloop.auth.models import ApiToken
from careloop.errors import InvalidInput
from factories import StaffRole, auth, make_org, make_patient, make_staff, make_token


@pytest.fixture
def org_setup(session):
    org = make_org(session)
    coordinator = make_staff(session, org)
    patient = make_patient(session, org, coordinator)
    admin = make_staff(session, org, StaffRole.ADMINISTRATOR)
    session.commit()
    return org, coordinator, patient, admin


def _new_patient(coordinator) -> dict:
    return {"mrn": f"T{coordinator.id.hex[:12]}", "given_name": "Ada", "family_name": "Byron",
            "birth_date": "1970-01-02", "sex": "female", "primary_care_coordinator_id": str(coordinator.id)}


def _assert_invalid_token(response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "invalid_token"


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer clt_wrong", "Token x"])
def test_missing_or_wrong_token_is_401_with_bearer_challenge(client, org_setup, header):
    _, _, patient, _ = org_setup
    response = client.get(f"/api/v1/patients/{patient.id}", headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert patient.family_name not in response.text


def test_expired_token_is_refused(session, client, org_setup):
    _, coordinator, patient, _ = org_setup
    token = make_token(session, coordinator, ttl=dt.timedelta(minutes=5))
    session.commit()
    assert client.get(f"/api/v1/patients/{patient.id}", headers=auth(token)).status_code == 200
    clock.advance(dt.timedelta(minutes=5, seconds=1))
    _assert_invalid_token(client.get(f"/api/v1/patients/{patient.id}", headers=auth(token)))


def test_revoked_token_is_refused_on_the_next_request(session, client, org_setup):
    _, coordinator, patient, _ = org_setup
    token = make_token(session, coordinator)
    session.commit()
    assert client.get(f"/api/v1/patients/{patient.id}", headers=auth(token)).status_code == 200
    auth_service.revoke_token(session, raw=token)
    session.commit()
    _assert_invalid_token(client.get(f"/api/v1/patients/{patient.id}", headers=auth(token)))


def test_oauth_revoke_ends_the_presented_token_only(session, client, org_setup):
    _, coordinator, patient, _ = org_setup
    doomed, kept = make_token(session, coordinator), make_token(session, coordinator)
    session.commit()
    response = client.post("/oauth/revoke", headers=auth(doomed))
    assert response.status_code == 200 and response.json() == {"status": "revoked"}
    _assert_invalid_token(client.get(f"/api/v1/patients/{patient.id}", headers=auth(doomed)))
    assert client.get(f"/api/v1/patients/{patient.id}", headers=auth(kept)).status_code == 200


def test_only_a_digest_of_the_token_is_stored(session, org_setup):
    _, coordinator, _, _ = org_setup
    raw, token = auth_service.create_token(session, organization_id=coordinator.organization_id, scopes="*",
                                           ttl=dt.timedelta(hours=1), staff=coordinator)
    stored = session.scalar(select(ApiToken.token_hash).where(ApiToken.id == token.id))
    assert stored == hashlib.sha256(raw.encode()).hexdigest() and raw not in stored


def test_scopes_narrow_what_a_token_may_do(session, client, org_setup):
    _, coordinator, patient, _ = org_setup
    read_only = make_token(session, coordinator, scopes="patient:read")
    session.commit()
    assert client.get(f"/api/v1/patients/{patient.id}", headers=auth(read_only)).status_code == 200
    response = client.post("/api/v1/patients", json=_new_patient(coordinator), headers=auth(read_only))
    assert response.status_code == 403 and response.json()["code"] == "forbidden"
    assert client.get(f"/api/v1/patients/{patient.id}/conditions", headers=auth(read_only)).status_code == 403


@pytest.mark.parametrize("scopes", ["*", "patient:read patient:write clinical:read staff:admin audit:read"])
def test_a_users_token_never_exceeds_the_users_role(session, client, org_setup, scopes):
    org, coordinator, patient, _ = org_setup
    scheduler = make_staff(session, org, StaffRole.SCHEDULER)
    token = make_token(session, scheduler, scopes=scopes)
    session.commit()
    headers = auth(token)
    assert client.post("/api/v1/patients", json=_new_patient(coordinator), headers=headers).status_code == 403
    assert client.get(f"/api/v1/patients/{patient.id}/conditions", headers=headers).status_code == 403
    assert client.get("/api/v1/audit", headers=headers).status_code == 403
    assert client.get(f"/api/v1/patients/{patient.id}", headers=headers).status_code == 200  # org-wide reader


def test_unknown_scopes_are_refused_when_minting(session, org_setup):
    _, coordinator, _, _ = org_setup
    with pytest.raises(InvalidInput):
        make_token(session, coordinator, scopes="patient:read patient:everything")


def test_disabling_a_user_ends_their_tokens_at_once(session, client, org_setup):
    _, coordinator, patient, admin = org_setup
    user_token, admin_token = make_token(session, coordinator), make_token(session, admin)
    session.commit()
    assert client.get(f"/api/v1/patients/{patient.id}", headers=auth(user_token)).status_code == 200
    response = client.put(f"/api/v1/staff/{coordinator.id}/active", json={"is_active": False},
                          headers=auth(admin_token))
    assert response.status_code == 200 and response.json()["is_active"] is False
    _assert_invalid_token(client.get(f"/api/v1/patients/{patient.id}", headers=auth(user_token)))
    # Enabling the account again does not bring old tokens back.
    client.put(f"/api/v1/staff/{coordinator.id}/active", json={"is_active": True}, headers=auth(admin_token))
    _assert_invalid_token(client.get(f"/api/v1/patients/{patient.id}", headers=auth(user_token)))


def test_a_role_change_applies_to_the_next_request(session, client, org_setup):
    _, coordinator, patient, admin = org_setup
    user_token, admin_token = make_token(session, coordinator), make_token(session, admin)
    session.commit()
    assert client.get(f"/api/v1/patients/{patient.id}/conditions", headers=auth(user_token)).status_code == 200
    response = client.put(f"/api/v1/staff/{coordinator.id}/role", json={"role": "billing"}, headers=auth(admin_token))
    assert response.status_code == 200
    assert client.get(f"/api/v1/patients/{patient.id}/conditions", headers=auth(user_token)).status_code == 403
    assert client.post("/api/v1/patients", json=_new_patient(coordinator), headers=auth(user_token)).status_code == 403


# --- client credentials -----------------------------------------------------------------------------------------

@pytest.fixture
def hie(session, org_setup):
    org = org_setup[0]
    secret, registered = auth_service.register_client(session, org.id, f"hie-{org.id.hex[:8]}", "patient:read")
    session.commit()
    return registered, secret


def _grant(client, name, secret, scope=None):
    data = {"grant_type": "client_credentials", "client_id": name, "client_secret": secret}
    if scope is not None:
        data["scope"] = scope
    return client.post("/oauth/token", data=data)


def test_client_credentials_grant_issues_a_scoped_one_hour_token(client, org_setup, hie):
    _, coordinator, patient, _ = org_setup
    registered, secret = hie
    response = _grant(client, registered.name, secret)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and body["scope"] == "patient:read"
    assert 3500 <= body["expires_in"] <= 3600
    headers = auth(body["access_token"])
    assert client.get(f"/api/v1/patients/{patient.id}", headers=headers).status_code == 200
    assert client.post("/api/v1/patients", json=_new_patient(coordinator), headers=headers).status_code == 403
    assert client.get("/api/v1/staff", headers=headers).status_code == 403


def test_bad_client_credentials_get_one_answer(session, client, hie):
    registered, secret = hie
    wrong_secret = _grant(client, registered.name, secret + "x")
    unknown_client = _grant(client, "no-such-client", secret)
    for response in (wrong_secret, unknown_client):
        assert response.status_code == 401
        assert response.json()["code"] == response.json()["error"] == "invalid_client"  # RFC 6749 5.2 as well
    assert wrong_secret.json() == unknown_client.json()
    registered.is_active = False
    session.commit()
    assert _grant(client, registered.name, secret).status_code == 401


def test_client_cannot_ask_for_more_than_its_scopes(client, hie):
    registered, secret = hie
    response = _grant(client, registered.name, secret, scope="patient:read patient:write")
    assert response.status_code == 400 and response.json()["error"] == "invalid_scope"  # RFC 6749 5.2
    assert _grant(client, registered.name, secret, scope="*").status_code == 400


def test_only_the_client_credentials_grant_is_supported(client, hie):
    registered, secret = hie
    response = client.post("/oauth/token", data={"grant_type": "password", "client_id": registered.name,
                                                 "client_secret": secret})
    assert response.status_code == 400
    assert response.json()["code"] == response.json()["error"] == "unsupported_grant_type"


def test_a_client_token_with_no_scopes_grants_nothing(session, client, org_setup):
    org, _, patient, _ = org_setup
    secret, registered = auth_service.register_client(session, org.id, f"empty-{org.id.hex[:8]}", "")
    session.commit()
    response = _grant(client, registered.name, secret)
    assert response.status_code == 200
    headers = auth(response.json()["access_token"])
    assert client.get(f"/api/v1/patients/{patient.id}", headers=headers).status_code == 403
    assert client.get("/api/v1/audit", headers=headers).status_code == 403


def test_client_tokens_stay_in_their_organisation(session, client, hie):
    registered, secret = hie
    other = make_org(session)
    other_patient = make_patient(session, other, make_staff(session, other))
    session.commit()
    token = _grant(client, registered.name, secret).json()["access_token"]
    response = client.get(f"/api/v1/patients/{other_patient.id}", headers=auth(token))
    assert response.status_code == 404 and other_patient.family_name not in response.text
