"""Patient list, search, pagination, chart, escaping, break-the-glass and audit of chart views."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from careloop import clock
from careloop.audit.models import AuditEvent
from careloop.clinical.models import Allergy, Condition, Encounter, Observation
from careloop.medications.models import Medication
from factories import make_patient
from web_helpers import post_form, sign_in


def test_coordinator_sees_only_their_care_team_patients(client, world):
    sign_in(client, world.coordinator.email)
    page = client.get("/patients")
    assert page.status_code == 200
    assert "Lovelace, Ada" in page.text and "Hopper" not in page.text
    assert 'href="/patients" aria-current="page"' in page.text


def test_supervisor_sees_the_whole_organisation(client, world):
    sign_in(client, world.supervisor.email)
    page = client.get("/patients").text
    assert "Lovelace, Ada" in page and "Hopper, Grace" in page
    assert 'href="/admin/audit"' in page  # the Admin navigation item


def _search(client, **terms):
    return post_form(client, "/patients", terms).text


def test_search_by_name_prefix_mrn_and_birth_date(client, world):
    sign_in(client, world.supervisor.email)
    assert "Hopper, Grace" in _search(client, name="hop")
    assert "Hopper" not in _search(client, name="lov")
    assert "Lovelace, Ada" in _search(client, q="MINE001")  # the global search box
    by_date = _search(client, q="12/09/1946")
    assert "Hopper, Grace" in by_date and "Lovelace" not in by_date
    assert "Hopper, Grace" in _search(client, q="grace 1946-12-09")
    assert "Enter the birth date as" in _search(client, birth_date="31/31/1999")


def test_search_terms_never_travel_in_the_address(client, world):
    """Names, MRNs and birth dates are posted: refused in a URL, and no link on a results page carries them."""
    sign_in(client, world.supervisor.email)
    for term in ("name=hop", "mrn=MINE001", "birth_date=1946-12-09", "q=grace"):
        refused = client.get(f"/patients?{term}")
        assert refused.status_code == 400 and "not sent in the address" in refused.text
        assert term.split("=")[1] not in refused.text
    page = _search(client, name="hop", sort="name")
    hrefs = [h.split('"', 1)[0] for h in page.split('href="')[1:]]
    assert hrefs and not [h for h in hrefs if "hop" in h.lower() or "name=" in h]
    assert 'method="get"' not in page.split('id="patient-search"', 1)[0][-200:]
    assert "Hopper, Grace" in page


def test_pagination_follows_the_cursor(client, session, world):
    for n in range(27):
        make_patient(session, world.org, world.coordinator, family_name=f"Page{n:02d}", given_name="Pat")
    session.commit()
    sign_in(client, world.coordinator.email)
    first = client.get("/patients?sort=name").text
    assert first.count('class="patient-name"') == 25
    assert 'rel="next"' in first
    next_url = first.split('rel="next" href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    assert "Page" not in next_url and "pat" not in next_url.lower().split("?", 1)[1]  # the cursor is sealed
    second = client.get(next_url).text
    assert second.count('class="patient-name"') == 3  # 28 patients on this coordinator's team
    assert "First page" in second and 'rel="next"' not in second
    # a search's further pages are posted with the terms as hidden fields, never linked
    searched = _search(client, name="page", sort="name")
    assert searched.count('class="patient-name"') == 25 and 'rel="next"' in searched
    form = searched.split('<form method="post" action="/patients" class="pagination__form">', 1)[1].split("</form>")[0]
    fields = dict(f.split('" value="') for f in (part.split('name="', 1)[1].split('">', 1)[0]
                                                  for part in form.split("<input")[1:]))
    assert fields["name"] == "page" and fields["cursor"]
    assert _search(client, **{k: v for k, v in fields.items() if k != "csrf_token"}).count(
        'class="patient-name"') == 2  # Page25, Page26


def test_results_fragment_for_live_search(client, world):
    sign_in(client, world.coordinator.email)
    fragment = post_form(client, "/patients/results", {"name": "lov"})
    assert fragment.status_code == 200
    assert "Lovelace, Ada" in fragment.text and "<html" not in fragment.text


def test_status_filter(client, session, world):
    make_patient(session, world.org, world.coordinator, family_name="Dormant", given_name="Dana")
    session.commit()
    sign_in(client, world.coordinator.email)
    assert "Dormant" in client.get("/patients?status=active").text
    assert "Dormant" not in client.get("/patients?status=inactive").text


def test_organisation_wide_search_lists_restricted_hits_with_break_the_glass(client, world):
    sign_in(client, world.coordinator.email)
    page = client.get("/patients?scope=organization").text
    assert "Enter an MRN, or a name and a birth date" in page
    assert "needs an MRN" in _search(client, scope="organization", name="hop")
    hit = _search(client, scope="organization", mrn="THEIRS01")
    assert "Hopper, Grace" in hit and "Outside your care teams" in hit and "Break the glass" in hit
    assert f'href="/patients/{world.theirs.id}"' in hit


def _clinical_record(session, world) -> None:
    org, pid, now = world.org.id, world.mine.id, clock.now()
    session.add_all([
        Condition(organization_id=org, patient_id=pid, code="E11.9", display="Type 2 diabetes mellitus",
                  onset_date=dt.date(2015, 5, 1), chronic=True),
        Medication(organization_id=org, patient_id=pid, code="860975", display="Metformin 500 MG Oral Tablet",
                   dose="500 mg", frequency="twice daily"),
        Allergy(organization_id=org, patient_id=pid, substance="Penicillin", category="medication",
                criticality="high", reaction="Hives"),
        Encounter(organization_id=org, patient_id=pid, encounter_class="inpatient", status="in_progress",
                  start_at=now - dt.timedelta(days=2), facility_name="Riverside General Hospital"),
        Encounter(organization_id=org, patient_id=pid, encounter_class="ambulatory",
                  start_at=now - dt.timedelta(days=90), end_at=now - dt.timedelta(days=90),
                  facility_name="Main Street Clinic"),
    ])
    for months, (a1c, systolic) in enumerate([(8.9, 150), (8.1, 142), (7.4, 135)]):
        moment = now - dt.timedelta(days=30 * (3 - months))
        for code, display, value, unit in (("4548-4", "Hemoglobin A1c", a1c, "%"),
                                           ("8480-6", "Systolic blood pressure", systolic, "mm[Hg]"),
                                           ("8462-4", "Diastolic blood pressure", systolic * 0.6, "mm[Hg]")):
            session.add(Observation(organization_id=org, patient_id=pid, category="laboratory", code=code,
                                    display=display, value_quantity=value, unit=unit, effective_at=moment))
    session.commit()


def test_chart_shows_header_sections_and_trends(client, session, world):
    _clinical_record(session, world)
    sign_in(client, world.coordinator.email)
    page = client.get(f"/patients/{world.mine.id}")
    assert page.status_code == 200
    html = page.text
    for text in ("Lovelace, Ada", "MINE001", "Casey Coordinator", "Currently admitted", "Riverside General Hospital",
                 "Type 2 diabetes mellitus", "Metformin 500 MG Oral Tablet", "Penicillin", "High criticality",
                 "Main Street Clinic", "Hemoglobin A1c trend", "Blood pressure", "Care plan", "Referrals",
                 "Messages", "Tasks"):
        assert text in html, text
    assert 'role="img"' in html and "<desc id=\"trend-a1c-desc\">A1c: 3 values" in html
    assert "latest 7.4 %" in html


def test_every_chart_view_is_audited(client, session, world):
    sign_in(client, world.coordinator.email)
    for _ in range(2):
        assert client.get(f"/patients/{world.mine.id}").status_code == 200
    views = session.scalars(select(AuditEvent).where(AuditEvent.patient_id == world.mine.id,
                                                     AuditEvent.record_type == "PatientChart")).all()
    assert len(views) == 2 and views[0].actor_id == world.coordinator.id and views[0].action == "read"


def test_care_team_history_toggle(client, world):
    sign_in(client, world.coordinator.email)
    page = client.get(f"/patients/{world.mine.id}?team_history=1").text
    assert "Hide history" in page and "Until" in page


def test_patient_names_are_escaped(client, session, world):
    evil = make_patient(session, world.org, world.coordinator, given_name="<img src=x onerror=alert(1)>",
                        family_name="<script>alert(2)</script>")
    session.commit()
    sign_in(client, world.coordinator.email)
    for html in (client.get("/patients").text, client.get(f"/patients/{evil.id}").text):
        assert "<img src=x" not in html and "<script>alert" not in html
        assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_patient_outside_care_team_gets_break_the_glass_page(client, session, world):
    sign_in(client, world.coordinator.email)
    page = client.get(f"/patients/{world.theirs.id}")
    assert page.status_code == 403
    assert "not on this patient's care team" in page.text and 'name="reason"' in page.text
    assert "Hopper" not in page.text and "THEIRS01" not in page.text  # no PHI on the refusal
    short = post_form(client, f"/patients/{world.theirs.id}/break-glass", {"reason": "urgent"})
    assert short.status_code == 422 and "at least 10 characters" in short.text
    granted = post_form(client, f"/patients/{world.theirs.id}/break-glass",
                        {"reason": "Patient in the ED, coordinator unreachable"})
    assert granted.status_code == 303 and granted.headers["location"] == f"/patients/{world.theirs.id}"
    chart = client.get(f"/patients/{world.theirs.id}")
    assert chart.status_code == 200
    assert "Emergency access until" in chart.text and "this access is logged and reviewed" in chart.text
    view = session.scalars(select(AuditEvent).where(AuditEvent.patient_id == world.theirs.id,
                                                    AuditEvent.record_type == "PatientChart")).one()
    assert view.detail.get("break_glass") is True


def test_error_pages_do_not_leak_data(client, world):
    sign_in(client, world.coordinator.email)
    missing = client.get("/patients/00000000-0000-4000-8000-000000000000")
    assert missing.status_code == 404 and "What you can do" in missing.text
    invalid = client.get("/patients/not-a-uuid")
    assert invalid.status_code == 422 and "not-a-uuid" not in invalid.text
    assert client.get("/no/such/page").status_code == 404


def _main_nav(html: str) -> list[str]:
    import re

    nav = html.split('aria-label="Main"', 1)[1].split("</nav>", 1)[0]
    return re.findall(r'class="mainnav__link" href="([^"]+)"', nav)


def test_main_navigation_shows_what_the_role_may_open(client, world):
    sign_in(client, world.coordinator.email)
    assert _main_nav(client.get("/patients").text) == ["/worklist", "/patients", "/transitions", "/referrals",
                                                       "/protocols"]
    client.cookies.clear()
    sign_in(client, world.supervisor.email)
    page = client.get("/admin/audit").text
    assert _main_nav(page) == ["/worklist", "/patients", "/transitions", "/referrals", "/protocols", "/admin/audit"]
    assert 'href="/admin/hl7/review"' in page  # the HL7 feed tab of Admin, for those who manage the feed
