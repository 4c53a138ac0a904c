"""Real flows in Chromium: sign in, search, chart, sign out; break-the-glass; admin; shortcuts; accessibility."""

from __future__ import annotations

import re

import pytest
from browser_helpers import COORDINATOR, SUPERVISOR, assert_accessible, patient_path, screenshot, sign_in
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def test_sign_in_search_open_chart_and_sign_out(page: Page, site):
    sign_in(page, COORDINATOR, check=True)
    assert_accessible(page, "patients")
    patient = site.my_patient
    page.get_by_label("Name", exact=True).fill(patient.family_name[:4])
    row_link = page.locator("#results").get_by_role("link", name=f"{patient.family_name}, {patient.given_name}")
    expect(row_link).to_be_visible()
    page.get_by_label("Status").select_option("active")
    expect(page).to_have_url(re.compile(r"status=active"))  # live search keeps the filters in the address...
    assert patient.family_name[:4] not in page.url and "name=" not in page.url  # ...but never the search terms
    row_link.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(patient.family_name)
    expect(page.get_by_role("heading", name="Care team")).to_be_visible()
    expect(page.locator(".timeline .timeline__item").first).to_be_visible()
    assert_accessible(page, "chart")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You have signed out.")).to_be_visible()
    page.goto(patient_path(patient))
    expect(page).to_have_url(re.compile(r"/login\?next="))


def test_coordinator_needs_break_the_glass_outside_their_care_team(page: Page, site):
    sign_in(page, COORDINATOR)
    page.goto(patient_path(site.other_patient))
    expect(page.get_by_role("heading", name="You are not on this patient's care team")).to_be_visible()
    assert site.other_patient.family_name not in page.content()
    assert_accessible(page, "break-the-glass")
    page.get_by_label("Reason for emergency access").fill("Patient in the ED, coordinator unreachable")
    page.get_by_role("button", name="Open with emergency access").click()
    expect(page.get_by_role("status")).to_contain_text("Emergency access until")
    expect(page.get_by_role("heading", level=1)).to_contain_text(site.other_patient.family_name)


def test_slash_focuses_the_global_search(page: Page, site):
    sign_in(page, COORDINATOR)
    page.locator("main").click(position={"x": 5, "y": 5})
    page.keyboard.press("/")
    expect(page.locator("#global-search")).to_be_focused()
    page.keyboard.type(site.my_patient.family_name)
    page.keyboard.press("Enter")
    expect(page.locator("#results")).to_contain_text(site.my_patient.family_name)
    assert page.url.endswith("/patients")  # posted: the search terms never reach the address bar or history


def test_organisation_wide_search_and_keyboard_only_navigation(page: Page, site):
    sign_in(page, COORDINATOR)
    page.get_by_role("link", name="Whole organisation").click()
    page.get_by_label("MRN", exact=True).fill(site.stranger.mrn)
    page.get_by_role("form", name="Search and filter patients").get_by_role("button", name="Search").click()
    expect(page.get_by_text("Outside your care teams", exact=True)).to_be_visible()
    assert_accessible(page, "organisation-search")
    page.goto("/patients")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()


def test_admin_pages(page: Page, site):
    sign_in(page, SUPERVISOR)
    page.get_by_role("link", name="Admin").click()
    expect(page.get_by_role("heading", name="Audit report")).to_be_visible()
    assert_accessible(page, "admin-audit")
    page.get_by_role("link", name="Audit integrity").click()
    expect(page.get_by_text("The audit trail is intact")).to_be_visible()
    assert_accessible(page, "admin-audit-verify")
    page.get_by_role("link", name="Emergency access review").click()
    expect(page.get_by_role("heading", name="Emergency access review")).to_be_visible()
    assert_accessible(page, "admin-break-glass")


def test_coordinator_has_no_admin(page: Page):
    sign_in(page, COORDINATOR)
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin")).to_have_count(0)
    page.goto("/admin/audit")
    expect(page.get_by_role("heading", name="You do not have permission for this action")).to_be_visible()
    assert_accessible(page, "error-403")


def test_error_and_security_pages_are_accessible(page: Page):
    sign_in(page, COORDINATOR)
    page.goto("/patients/00000000-0000-4000-8000-000000000000")
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    assert_accessible(page, "error-404")
    page.goto("/account/mfa")
    expect(page.get_by_role("heading", name="Two-step verification")).to_be_visible()
    assert_accessible(page, "account-security")


def test_chart_fits_a_tablet(page: Page, site):
    page.set_viewport_size({"width": 768, "height": 1024})
    sign_in(page, COORDINATOR)
    page.goto(patient_path(site.my_patient))
    expect(page.get_by_role("heading", name="Care team")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "chart-tablet")


def test_idle_warning_then_sign_in_page(page: Page):
    page.clock.install()
    sign_in(page, COORDINATOR)
    page.clock.fast_forward("14:05")
    stay = page.get_by_role("button", name="Stay signed in")
    expect(stay).to_be_visible()
    stay.click()
    expect(stay).to_be_hidden()
    page.clock.fast_forward("15:01")
    page.wait_for_url(re.compile(r"/login\?expired=1&next="))
    expect(page.get_by_text("Your session ended because it was idle")).to_be_visible()


def test_no_content_security_policy_violations(strict_page: Page, site):
    page, violations = strict_page, []
    page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
    sign_in(page, COORDINATOR)
    page.goto(patient_path(site.my_patient))
    expect(page.locator("svg.chart").first).to_be_visible()
    page.goto("/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("CareLoop")
    screenshot(page, "api-docs")
    assert violations == []
