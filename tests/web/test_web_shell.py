"""The web package itself: API docs page, CSP, static files, CSRF on every form route, pure helpers."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from fastapi.routing import APIRoute

from careloop.patients.pages import parse_date, parse_quick
from careloop.web import csrf, routes
from careloop.web.charts import Series, line_chart
from careloop.web.formatting import day, when
from careloop.web.render import STATIC, safe_next
from web_helpers import sign_in

TEMPLATES = Path(__file__).resolve().parents[2] / "src/careloop/web/templates"


def test_docs_page_uses_local_swagger_ui_under_a_strict_csp(client):
    page = client.get("/docs")
    assert page.status_code == 200
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in page.text and "<script>" not in page.text
    csp = page.headers["content-security-policy"]
    assert "jsdelivr" not in csp and "script-src 'self';" in csp and "unsafe-eval" not in csp
    assert client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200
    assert client.get("/openapi.json").status_code == 200


def test_docs_page_says_run_make_when_swagger_ui_is_missing(client, monkeypatch, tmp_path):
    monkeypatch.setattr(routes, "SWAGGER_UI", tmp_path / "missing")
    page = client.get("/docs")
    assert page.status_code == 200 and "Run <code>make</code>" in page.text


def test_pages_get_the_strict_csp_and_no_store(client, world):
    sign_in(client, world.coordinator.email)
    page = client.get("/patients")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp
    assert page.headers["cache-control"] == "no-store"
    assert client.get("/static/css/tokens.css").status_code == 200


def test_templates_have_no_inline_script_or_style():
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), path
        assert " style=" not in text and "<style" not in text, path
        assert "|safe" not in text, path
    for path in (STATIC / "js").glob("*.js"):
        assert "eval(" not in path.read_text(), path


def test_every_page_form_route_checks_csrf(app):
    checked = {"/login": csrf.verify_login_csrf}
    for route in app.routes:
        if not isinstance(route, APIRoute) or route.path.startswith(("/api/", "/oauth/", "/fhir")):
            continue
        if not route.methods & {"POST", "PUT", "PATCH", "DELETE"}:
            continue
        wanted = checked.get(route.path, csrf.verify_csrf)
        calls = {d.call for d in route.dependant.dependencies}
        # /login/mfa checks the pending session's token inside the handler (no full session yet)
        assert wanted in calls or route.path == "/login/mfa", route.path


def test_home_redirects_to_patients_then_sign_in(client):
    response = client.get("/", follow_redirects=False)
    assert response.headers["location"] == "/patients"
    response = client.get("/patients?status=active", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login?next=%2Fpatients%3Fstatus%3Dactive"


@pytest.mark.parametrize(("value", "expected"), [
    ("/patients?x=1", "/patients?x=1"), ("", "/"), (None, "/"), ("https://evil.example", "/"),
    ("//evil.example", "/"), ("/\\evil.example", "/"), ("patients", "/"), ("/ok\r\nSet-Cookie: x", "/"),
])
def test_safe_next(value, expected):
    assert safe_next(value) == expected


def test_quick_search_parsing():
    assert parse_quick("smith 3/4/1950") == {"name": "smith", "mrn": "", "birth_date": "3/4/1950"}
    assert parse_quick("MRN0042") == {"name": "", "mrn": "MRN0042", "birth_date": ""}
    assert parse_quick("jo sm") == {"name": "jo sm", "mrn": "", "birth_date": ""}
    assert parse_date("25 Nov 2026") == parse_date("2026-11-25") == parse_date("11/25/2026") == dt.date(2026, 11, 25)
    assert parse_date("1950-13-01") is None


def test_dates_are_unambiguous_and_in_the_organisation_time_zone():
    moment = dt.datetime(2026, 11, 25, 19, 5, tzinfo=dt.UTC)
    assert when(moment, "America/New_York") == "25 Nov 2026 14:05 EST"
    assert day(dt.date(2026, 7, 4)) == "4 Jul 2026"
    assert day(dt.datetime(2026, 11, 26, 2, 0, tzinfo=dt.UTC), "America/Los_Angeles") == "25 Nov 2026"


def test_line_chart_is_accessible_and_escaped():
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    svg = line_chart([Series("A1c <b>", ((t0, 8.0), (t0 + dt.timedelta(days=90), 7.1))), Series("empty", ())],
                     chart_id="c1", title="Trend & <i>title</i>", unit="%")
    assert svg.startswith('<svg class="chart"') and 'role="img"' in svg and 'aria-labelledby="c1-title c1-desc"' in svg
    assert "Trend &amp; &lt;i&gt;title&lt;/i&gt;" in svg and "<b>" not in svg
    assert "A1c &lt;b&gt;: 2 values from 1 Jan 2026 to 1 Apr 2026, latest 7.1 %" in svg
    assert svg.count("<polyline") == 1 and svg.count("<circle") == 2
    assert line_chart([Series("none", ())], chart_id="c2", title="t", unit="%") == ""
    single = line_chart([Series("one", ((t0, 5.0),))], chart_id="c3", title="t", unit="%")
    assert single.count("<circle") == 1
