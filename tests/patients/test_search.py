"""Patient search: accent- and case-insensitive prefixes, filters, sorting and stable cursor paging."""

from __future__ import annotations

import base64
import datetime as dt
from urllib.parse import parse_qsl

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from careloop.auth.actor import system_actor
from careloop.errors import BadRequest
from careloop.patients.queries import PatientQuery, search_patients
from careloop.staff.models import StaffRole
from factories import auth, make_org, make_patient, make_staff, make_token

NAMES = [("Zoë", "Müller"), ("John", "Smith"), ("Johanna", "Smithers"), ("José", "Núñez"), ("Ana", "O'Brien"),
         ("Mary", "Smith"), ("Zoe", "Mueller")]


def _population(session):
    org = make_org(session)
    coordinator, other = make_staff(session, org), make_staff(session, org)
    patients = [make_patient(session, org, coordinator if i % 2 == 0 else other, given_name=g, family_name=f,
                             birth_date=dt.date(1950 + i, 1, 1)) for i, (g, f) in enumerate(NAMES)]
    supervisor = make_staff(session, org, StaffRole.SUPERVISOR)
    session.commit()
    return org, coordinator, other, patients, make_token(session, supervisor)


def _names(client, token, query):
    """Search with the criteria in the body (POST _search), written here as a query string for brevity."""
    response = client.post("/api/v1/patients/_search", json=dict(parse_qsl(query)), headers=auth(token))
    assert response.status_code == 200, response.text
    return [f"{p['given_name']} {p['family_name']}" for p in response.json()["items"]]


def test_prefix_search_on_family_or_given_name_ignores_case_and_accents(session, client):
    *_, token = _population(session)
    assert _names(client, token, "name=mul") == ["Zoë Müller"]
    assert sorted(_names(client, token, "name=zoe")) == ["Zoe Mueller", "Zoë Müller"]
    assert _names(client, token, "name=smith%20jo") == ["John Smith"]
    assert _names(client, token, "name=john%20sm") == ["John Smith"]
    assert _names(client, token, "name=Smith,%20Mary") == ["Mary Smith"]
    assert _names(client, token, "name=NUNEZ") == ["José Núñez"]
    assert _names(client, token, "name=o'b") == ["Ana O'Brien"]


def test_filters_by_birth_date_mrn_coordinator_and_status(session, client):
    _, coordinator, _, patients, token = _population(session)
    assert _names(client, token, "birth_date=1951-01-01") == ["John Smith"]
    assert _names(client, token, f"mrn={patients[3].mrn}") == ["José Núñez"]
    mine = _names(client, token, f"coordinator_id={coordinator.id}")
    assert sorted(mine) == sorted(f"{g} {f}" for i, (g, f) in enumerate(NAMES) if i % 2 == 0)
    assert _names(client, token, "status=deceased") == []


def test_sorting_and_bad_parameters(session, client):
    *_, token = _population(session)
    by_name = _names(client, token, "sort=name&limit=50")
    assert by_name == ["Zoe Mueller", "Zoë Müller", "José Núñez", "Ana O'Brien", "John Smith", "Mary Smith",
                       "Johanna Smithers"]
    assert _names(client, token, "sort=-name&limit=50") == list(reversed(by_name))
    by_birth = client.get("/api/v1/patients?sort=-birth_date", headers=auth(token)).json()["items"]
    assert [p["birth_date"] for p in by_birth] == sorted((p["birth_date"] for p in by_birth), reverse=True)
    assert client.get("/api/v1/patients?sort=ssn", headers=auth(token)).status_code == 400
    assert client.get("/api/v1/patients?cursor=!!!", headers=auth(token)).status_code == 400
    assert client.get("/api/v1/patients?limit=0", headers=auth(token)).status_code == 422
    assert client.get("/api/v1/patients?limit=1000", headers=auth(token)).status_code == 422


def test_identifying_terms_are_refused_in_the_url_and_cursors_are_sealed(session, client):
    *_, token = _population(session)
    for term in ("name=smith", "mrn=X1", "birth_date=1951-01-01", "identifier=X1"):
        response = client.get(f"/api/v1/patients?{term}", headers=auth(token))
        assert response.status_code == 400 and response.json()["code"] == "search_terms_in_url"
        assert term.split("=")[1] not in response.text
    page = client.post("/api/v1/patients/_search", json={"name": "smith", "limit": 1}, headers=auth(token)).json()
    cursor = page["next_cursor"]
    assert cursor and "smith" not in base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).lower().decode(
        "latin-1")
    tampered = cursor[:-2] + ("AA" if cursor[-2:] != "AA" else "BB")
    again = client.post("/api/v1/patients/_search", json={"name": "smith", "limit": 1, "cursor": tampered},
                        headers=auth(token))
    assert again.status_code == 400 and again.json()["code"] == "invalid_cursor"
    extra = client.post("/api/v1/patients/_search", json={"name": "smith", "ssn": "1"}, headers=auth(token))
    assert extra.status_code == 422


def test_care_team_scope_for_a_coordinator(session, client):
    _org, coordinator, _, _patients, _ = _population(session)
    token = make_token(session, coordinator)
    session.commit()
    mine = _names(client, token, "limit=50")
    assert len(mine) == 4 and "John Smith" not in mine  # John is the other coordinator's patient
    restricted = client.post("/api/v1/patients/_search", json={
        "scope": "organization", "name": "smith", "birth_date": "1951-01-01"}, headers=auth(token)).json()["items"]
    assert len(restricted) == 1 and restricted[0]["access"] == "restricted" and restricted[0]["sex"] is None
    too_broad = client.post("/api/v1/patients/_search", json={"scope": "organization", "name": "smith"},
                            headers=auth(token))
    assert too_broad.status_code == 400 and too_broad.json()["code"] == "search_too_broad"


def _twins(session, count: int):
    org = make_org(session)
    coordinator = make_staff(session, org)
    for _ in range(count):  # identical names and birth dates: only the id breaks the ties
        make_patient(session, org, coordinator, given_name="Sam", family_name="Lee", birth_date=dt.date(1960, 5, 5))
    session.flush()
    return org


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(page_size=st.integers(min_value=1, max_value=9), sort=st.sampled_from(["name", "-name", "birth_date", "mrn",
                                                                             "-updated_at"]))
def test_paging_walks_every_row_once_in_a_stable_order(session, page_size, sort):
    org = getattr(session, "_twins_org", None)
    if org is None:
        org = session._twins_org = _twins(session, 13)
    actor = system_actor(org.id)
    seen, cursor = [], None
    while True:
        hits, cursor = search_patients(session, actor, PatientQuery(sort=sort, limit=page_size, cursor=cursor))
        seen += [h.patient.id for h in hits]
        if cursor is None:
            break
    everything, _ = search_patients(session, actor, PatientQuery(sort=sort, limit=200))
    assert seen == [h.patient.id for h in everything]
    assert len(seen) == len(set(seen)) == 13


def test_cursor_garbage_is_a_bad_request(session):
    org = make_org(session)
    for cursor in ("", "e30", "WzEsMiwzXQ", "%%%"):
        try:
            search_patients(session, system_actor(org.id), PatientQuery(cursor=cursor or "x"))
        except BadRequest as err:
            assert err.code == "invalid_cursor"
