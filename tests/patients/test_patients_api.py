"""Patient registry API: create, duplicates, read, update with versions, status rules."""

from __future__ import annotations

from careloop.staff.models import StaffRole
from factories import PASSWORD, auth, make_org, make_patient, make_staff, make_token  # noqa: F401


def _setup(session):
    org = make_org(session)
    coordinator = make_staff(session, org)
    supervisor = make_staff(session, org, StaffRole.SUPERVISOR)
    session.commit()
    return org, coordinator, supervisor, make_token(session, supervisor)


def _body(coordinator, **overrides):
    body = {"mrn": "A-1001", "given_name": "José", "family_name": "Núñez", "birth_date": "1948-03-02",
            "sex": "male", "primary_care_coordinator_id": str(coordinator.id), "email": "jn@example.org"}
    body.update(overrides)
    return body


def test_create_read_and_etag(session, client):
    org, coordinator, _supervisor, token = _setup(session)
    response = client.post("/api/v1/patients", json=_body(coordinator), headers=auth(token))
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["location"] == f"/api/v1/patients/{created['id']}"
    assert response.headers["etag"] == 'W/"1"'
    assert created["primary_care_coordinator"]["id"] == str(coordinator.id)
    assert created["mrn_authority"] == org.mrn_authority
    read = client.get(f"/api/v1/patients/{created['id']}", headers=auth(token))
    assert read.status_code == 200 and read.json()["family_name"] == "Núñez"


def test_validation_names_the_field_without_echoing_values(session, client):
    _, coordinator, _, token = _setup(session)
    cases = {"birth_date": "2999-01-01", "email": "not-an-email", "mrn": "bad mrn!", "sex": "xyzzy"}
    for field, value in cases.items():
        response = client.post("/api/v1/patients", json=_body(coordinator, **{field: value}), headers=auth(token))
        assert response.status_code == 422, field
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert problem["code"] == "invalid_input"
        assert any(e["field"].startswith(field) or field in e["message"] for e in problem["errors"]), problem
        assert value not in response.text
    unknown = client.post("/api/v1/patients", json=_body(coordinator, ssn="123-45-6789"), headers=auth(token))
    assert unknown.status_code == 422 and "123-45-6789" not in unknown.text


def test_coordinator_must_be_eligible_staff_of_the_organisation(session, client):
    org, coordinator, _, token = _setup(session)
    billing = make_staff(session, org, StaffRole.BILLING)
    stranger = make_staff(session, make_org(session))
    session.commit()
    for staff in (billing, stranger):
        response = client.post("/api/v1/patients", json=_body(coordinator, primary_care_coordinator_id=str(staff.id)),
                               headers=auth(token))
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] in ("staff_id", "role")


def test_duplicates_by_mrn_and_by_normalised_name_and_birth_date(session, client):
    _, coordinator, _, token = _setup(session)
    first = client.post("/api/v1/patients", json=_body(coordinator), headers=auth(token)).json()
    same_mrn = client.post("/api/v1/patients", json=_body(coordinator, given_name="Other", family_name="Person"),
                           headers=auth(token))
    assert same_mrn.status_code == 409
    assert same_mrn.json()["candidate"] == {"id": first["id"], "mrn": "A-1001", "match": "mrn"}
    same_person = client.post("/api/v1/patients", json=_body(coordinator, mrn="A-2002", given_name="jose",
                                                             family_name="NUNEZ"), headers=auth(token))
    assert same_person.status_code == 409
    assert same_person.json()["candidate"]["match"] == "name_and_birth_date"
    confirmed = client.post("/api/v1/patients?confirm_distinct=true",
                            json=_body(coordinator, mrn="A-2002", given_name="jose", family_name="NUNEZ"),
                            headers=auth(token))
    assert confirmed.status_code == 201
    still_mrn = client.post("/api/v1/patients?confirm_distinct=true", json=_body(coordinator), headers=auth(token))
    assert still_mrn.status_code == 409


def test_update_requires_current_version(session, client):
    org, coordinator, _, token = _setup(session)
    patient = make_patient(session, org, coordinator)
    session.commit()
    url = f"/api/v1/patients/{patient.id}"
    missing = client.patch(url, json={"phone": "555-010-0199"}, headers=auth(token))
    assert missing.status_code == 428
    ok = client.patch(url, json={"phone": "555-010-0199"}, headers={**auth(token), "If-Match": 'W/"1"'})
    assert ok.status_code == 200 and ok.json()["version"] == 2 and ok.headers["etag"] == 'W/"2"'
    stale = client.patch(url, json={"phone": "555-010-0100"}, headers={**auth(token), "If-Match": 'W/"1"'})
    assert stale.status_code == 412 and stale.json()["code"] == "stale_version"
    garbage = client.patch(url, json={"phone": "555-010-0100"}, headers={**auth(token), "If-Match": "nope"})
    assert garbage.status_code == 400
    assert client.get(url, headers=auth(token)).json()["phone"] == "555-010-0199"


def test_deceased_needs_a_date_and_renaming_refreshes_search_keys(session, client):
    org, coordinator, _, token = _setup(session)
    patient = make_patient(session, org, coordinator)
    session.commit()
    url = f"/api/v1/patients/{patient.id}"
    headers = {**auth(token), "If-Match": 'W/"1"'}
    assert client.patch(url, json={"status": "deceased"}, headers=headers).status_code == 422
    done = client.patch(url, json={"status": "deceased", "deceased_date": "2026-01-02", "family_name": "Zyx"},
                        headers=headers)
    assert done.status_code == 200
    found = client.post("/api/v1/patients/_search", json={"name": "zyx"}, headers=auth(token)).json()["items"]
    assert [p["id"] for p in found] == [str(patient.id)]
