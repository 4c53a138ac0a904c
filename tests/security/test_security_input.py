"""Bad input and attacks: injection, oversized and deep bodies, cursors, preconditions, headers, proxies."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from security_seed import World
from sqlalchemy import select
from starlette.requests import Request

from careloop.audit.models import AuditEvent
from careloop.auth.deps import client_address
from careloop.config import get_settings
from careloop.pagination import encode_cursor
from careloop.staff.models import StaffRole
from factories import auth

DB_WORDS = ("select ", "sqlite", "psycopg", "sqlalchemy", "syntax error", "traceback", "from patient", "operator")
SQL_INJECTIONS = ["a' OR '1'='1", "'; DROP TABLE patient; --", "1,extractvalue(0x0a,version())--",
                  "x' UNION SELECT mrn FROM patient--", '"||(SELECT 1)||"', "\\'", "%' AND 1=1 --", "\x00abc"]
SEARCH_TEXT_PARAMS = ["name", "mrn", "risk_tier", "sort", "cursor", "scope", "birth_date", "coordinator_id", "status"]


def _assert_clean_error(response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/problem+json")
        assert not any(word in response.text.lower() for word in DB_WORDS), response.text


@pytest.mark.parametrize("param", SEARCH_TEXT_PARAMS)
def test_sql_injection_in_every_search_parameter_is_inert(client, world: World, param):
    headers = auth(world.a.token(StaffRole.CARE_COORDINATOR))
    for attack in SQL_INJECTIONS:
        response = client.post("/api/v1/patients/_search", json={param: attack}, headers=headers)
        _assert_clean_error(response)
        if response.status_code == 200:
            ids = {item["id"] for item in response.json()["items"]}
            assert ids <= {str(world.a.patient.id), str(world.a.duplicate.id)}, (param, attack)
            assert param in ("name", "mrn", "risk_tier") and ids == set(), (param, attack)


def test_sort_injection_is_a_4xx_problem(client, world: World):
    response = client.get("/api/v1/patients", params={"sort": "1,extractvalue(0x0a,version())--"},
                          headers=auth(world.a.token(StaffRole.CARE_COORDINATOR)))
    assert 400 <= response.status_code < 500
    _assert_clean_error(response)
    assert "extractvalue" not in response.text  # 422 never echoes the input


def test_nul_characters_never_cause_a_500(client, world: World, engine):
    headers = auth(world.a.token(StaffRole.CARE_COORDINATOR))
    response = client.patch(f"/api/v1/patients/{world.a.patient.id}", json={"city": "Spring\x00field"},
                            headers={**headers, "If-Match": 'W/"1"'})
    _assert_clean_error(response)
    if engine.dialect.name == "postgresql":  # PostgreSQL text cannot hold NUL: bad input, not a fault
        assert response.status_code == 400 and response.json()["code"] == "invalid_value"
    search = client.post("/api/v1/patients/_search", json={"name": "Pat\x00ient"}, headers=headers)
    _assert_clean_error(search)


def test_script_is_stored_and_returned_as_plain_data(client, world: World):
    headers = auth(world.a.token(StaffRole.CARE_COORDINATOR))
    script = "<img src=x onerror=alert(1)><script>alert('x')</script>"
    response = client.patch(f"/api/v1/patients/{world.a.patient.id}", json={"address_line": script},
                            headers={**headers, "If-Match": 'W/"1"'})
    assert response.status_code == 200, response.text
    read = client.get(f"/api/v1/patients/{world.a.patient.id}", headers=headers)
    assert read.headers["content-type"] == "application/json"
    assert read.json()["address_line"] == script
    assert read.headers["x-content-type-options"] == "nosniff"


# --- sizes and shapes ------------------------------------------------------------------------------------------

def test_body_over_the_limit_by_content_length_is_413(client, world: World):
    limit = get_settings().max_body_bytes
    response = client.post("/api/v1/patients", content=b"{" + b" " * limit + b"}",
                           headers={**auth(world.a.token(StaffRole.CARE_COORDINATOR)),
                                    "content-type": "application/json"})
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "payload_too_large"


def test_chunked_body_over_the_limit_is_413(client, world: World):
    limit = get_settings().max_body_bytes

    def chunks():
        for _ in range(limit // 65536 + 2):
            yield b" " * 65536

    response = client.post("/api/v1/patients", content=chunks(),
                           headers={**auth(world.a.token(StaffRole.CARE_COORDINATOR)),
                                    "content-type": "application/json"})
    assert "content-length" not in response.request.headers
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "payload_too_large"


@pytest.mark.parametrize("body", ["[" * 10_000 + "]" * 10_000, '{"a":' * 10_000 + "1" + "}" * 10_000,
                                  "{", '{"given_name": NaN}', "\xff\xfe", '{"a": 1e400}'])
def test_malformed_and_deeply_nested_json_is_4xx(client, world: World, body):
    response = client.post("/api/v1/patients", content=body.encode("utf-8", "surrogatepass"),
                           headers={**auth(world.a.token(StaffRole.CARE_COORDINATOR)),
                                    "content-type": "application/json"})
    assert 400 <= response.status_code < 500, response.text
    _assert_clean_error(response)


# --- cursors and preconditions ---------------------------------------------------------------------------------

@pytest.mark.parametrize("cursor", ["not-a-cursor", "!!!", "W10", base64.urlsafe_b64encode(b'{"a":1}').decode(),
                                    base64.urlsafe_b64encode(b"[1,2,3,4,5]").decode(), "e30", "=" * 10])
def test_invalid_cursor_is_400(client, world: World, cursor):
    response = client.get("/api/v1/patients", params={"cursor": cursor},
                          headers=auth(world.a.token(StaffRole.CARE_COORDINATOR)))
    assert response.status_code == 400 and response.json()["code"] == "invalid_cursor"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cursor=st.text(min_size=1, max_size=120))
def test_cursor_decoding_never_fails_with_a_500(client, world: World, cursor):
    response = client.get("/api/v1/patients", params={"cursor": cursor},
                          headers=auth(world.a.token(StaffRole.CARE_COORDINATOR)))
    _assert_clean_error(response)


def _cursor(values) -> str:
    """A genuine (sealed) cursor holding the given values: well formed, so only their types can be wrong."""
    return encode_cursor(values)


@pytest.mark.parametrize("values, sort", [([1, "00000000-0000-0000-0000-000000000000"], "name"),
                                          ([{"a": 1}, "00000000-0000-0000-0000-000000000000"], "name"),
                                          (["2020-01-01T00:00:00", "00000000-0000-0000-0000-000000000000"],
                                           "updated_at")])
def test_well_formed_cursor_with_wrong_types_is_400(client, world: World, values, sort):
    response = client.get("/api/v1/patients", params={"cursor": _cursor(values), "sort": sort},
                          headers=auth(world.a.token(StaffRole.CARE_COORDINATOR)))
    assert (response.status_code, response.json()["code"]) == (400, "invalid_cursor")


@pytest.mark.parametrize("values", [
    [True, 0, "2026-11-25T10:00:00+00:00", "00000000-0000-0000-0000-000000000000"],  # a boolean for a rank
    [0, 0, "2026-11-25T10:00:00", "00000000-0000-0000-0000-000000000000"],  # a naive time
    [0, 0, 20261125, "00000000-0000-0000-0000-000000000000"],  # a number for a time
    [0, 0, "2026-11-25T10:00:00+00:00", "not-a-uuid"],
])
def test_worklist_cursor_with_wrong_types_is_400(client, world: World, values):
    response = client.get("/api/v1/worklist", params={"cursor": _cursor(values)},
                          headers=auth(world.a.token(StaffRole.CARE_COORDINATOR)))
    assert (response.status_code, response.json()["code"]) == (400, "invalid_cursor")


@pytest.mark.parametrize("if_match, status, code", [
    ("garbage", 400, "invalid_if_match"), ('W/"abc"', 400, "invalid_if_match"), ("W/\"1\", W/\"2\"", 400,
                                                                                  "invalid_if_match"),
    ('W/"7"', 412, "stale_version"), (None, 428, "precondition_required"), ("*", 428, "precondition_required"),
])
def test_if_match_is_required_and_checked(client, world: World, if_match, status, code):
    headers = auth(world.a.token(StaffRole.CARE_COORDINATOR))
    if if_match is not None:
        headers["If-Match"] = if_match
    response = client.patch(f"/api/v1/patients/{world.a.patient.id}", json={"city": "Springfield"}, headers=headers)
    assert (response.status_code, response.json()["code"]) == (status, code)
    current = client.get(f"/api/v1/patients/{world.a.patient.id}", headers=headers).json()
    assert current["city"] is None and current["version"] == 1


# --- error bodies ---------------------------------------------------------------------------------------------

def test_validation_errors_do_not_echo_the_values_sent(client, world: World):
    values = {"given_name": "Z" * 101, "family_name": "Quintrell", "birth_date": "Zebedee-Quintrell",
              "sex": "Zebedee", "mrn": "PHI MRN 12345", "postal_code": "Quintrell!!", "phone": "call Zebedee",
              "email": "zebedee.quintrell", "primary_care_coordinator_id": "Zebedee"}
    response = client.post("/api/v1/patients", json=values, headers=auth(world.a.token(StaffRole.CARE_COORDINATOR)))
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid_input" and len(body["errors"]) >= 6
    for secret in ("Zebedee", "Quintrell", "PHI MRN", "ZZZZ"):
        assert secret not in response.text


def test_errors_carry_no_phi(client, world: World, session):
    """Every 4xx on the seeded patient, from every direction, is free of the patient's name, MRN and birth date."""
    p = world.a.patient
    phi = (p.family_name, p.mrn, p.birth_date.isoformat())
    scheduler = auth(world.a.token(StaffRole.SCHEDULER))
    attempts = [
        client.get(f"/api/v1/patients/{p.id}"),
        client.get(f"/api/v1/patients/{p.id}/conditions", headers=scheduler),
        client.patch(f"/api/v1/patients/{p.id}", json={"city": "x"}, headers=auth(world.a.token(StaffRole.SUPERVISOR))),
        client.post("/api/v1/patients", json={"mrn": "NEW-1", "given_name": p.given_name, "family_name": p.family_name,
                                              "birth_date": p.birth_date.isoformat(), "sex": "male",
                                              "primary_care_coordinator_id": str(world.b.outsider.id)},
                    headers=auth(world.a.token(StaffRole.SUPERVISOR)), params={"confirm_distinct": True}),
        client.get(f"/api/v1/patients/{p.id}/break-glass", headers=auth(world.a.token(StaffRole.SUPERVISOR))),
    ]
    for response in attempts:
        assert 400 <= response.status_code < 500
        assert not any(value in response.text for value in phi), response.text


# --- headers --------------------------------------------------------------------------------------------------

def test_security_headers_on_api_responses(client, world: World):
    for response in (client.get(f"/api/v1/patients/{world.a.patient.id}",
                                headers=auth(world.a.token(StaffRole.CARE_COORDINATOR))),
                     client.get("/api/v1/patients/not-a-uuid", headers=auth(world.a.token(StaffRole.CARE_COORDINATOR))),
                     client.get("/healthz")):
        csp = response.headers["content-security-policy"]
        for directive in ("object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'", "default-src 'self'"):
            assert directive in csp
        assert "unsafe-inline" not in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["cache-control"] == "no-store"
    assert "access-control-allow-origin" not in response.headers


def test_hsts_is_sent_when_served_over_tls(session_factory, monkeypatch):
    from fastapi.testclient import TestClient

    from careloop.main import create_app

    monkeypatch.setattr(get_settings(), "secure_cookies", True)
    with TestClient(create_app(session_factory=session_factory)) as tls_client:
        response = tls_client.get("/healthz")
    assert response.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"


def _request(peer: str, forwarded: str | None) -> Request:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers, "client": (peer, 5000)})


def test_x_forwarded_for_is_believed_only_from_a_trusted_proxy(monkeypatch):
    assert client_address(_request("203.0.113.5", "198.51.100.1")) == "203.0.113.5"
    monkeypatch.setattr(get_settings(), "trusted_proxies", ["10.0.0.2"])
    assert client_address(_request("10.0.0.2", "6.6.6.6, 198.51.100.1")) == "198.51.100.1"
    assert client_address(_request("203.0.113.5", "198.51.100.1")) == "203.0.113.5"


def test_spoofed_x_forwarded_for_does_not_reach_the_audit_trail(client, world: World, session):
    response = client.get(f"/api/v1/patients/{world.a.patient.id}",
                          headers={**auth(world.a.token(StaffRole.CARE_COORDINATOR)), "X-Forwarded-For": "6.6.6.6"})
    assert response.status_code == 200
    event = session.scalars(select(AuditEvent).where(AuditEvent.patient_id == world.a.patient.id,
                                                     AuditEvent.action == "read")).one()
    assert event.source_address == "testclient"


def test_problem_details_are_json(client):
    response = client.get("/api/v1/no-such-route")
    assert response.status_code == 404
    assert json.loads(response.text)["status"] == 404
