"""A community referral in Chromium: the coordinator finds a food bank in the directory, refers the patient with
their consent and records the outcome."""

from __future__ import annotations

import pytest
from browser_helpers import COORDINATOR, assert_accessible, patient_path, sign_in
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def test_refer_to_a_food_bank_with_consent_and_record_the_outcome(page: Page, site):
    patient = site.my_patient
    sign_in(page, COORDINATOR)
    page.goto("/community?need=food")
    expect(page.get_by_role("heading", level=1, name="Community directory")).to_be_visible()
    expect(page.locator("#community-services")).to_contain_text("Food")
    assert_accessible(page, "community-directory")

    page.goto(patient_path(patient))
    page.get_by_role("link", name="Community referrals").click()
    form = page.get_by_role("form", name="New community referral")
    form.get_by_label("Need", exact=True).select_option("food")
    service = form.get_by_label("Service", exact=True).locator("option", has_text="Food").first.get_attribute("value")
    form.get_by_label("Service", exact=True).select_option(service)
    form.get_by_role("button", name="Send referral").click()
    expect(page.locator("main")).to_contain_text("consent")  # refused without the patient's consent

    page.goto(f"/patients/{patient.id}/community-referrals")
    form = page.get_by_role("form", name="New community referral")
    form.get_by_label("Need", exact=True).select_option("food")
    form.get_by_label("Service", exact=True).select_option(service)
    form.get_by_label("The patient agrees").check()
    form.get_by_label("Note for the service").fill("Two adults, no car")
    form.get_by_role("button", name="Send referral").click()
    row = page.locator("#community-referrals tbody tr").first
    expect(row).to_contain_text("Sent")
    assert_accessible(page, "community-referrals")

    outcome = page.get_by_role("form", name="Record the outcome of the Food referral").first
    outcome.get_by_label("Outcome").select_option("service_provided")
    outcome.get_by_label("Note", exact=True).fill("Weekly boxes started")
    outcome.get_by_role("button", name="Record").click()
    expect(page.locator("#community-referrals tbody tr").first).to_contain_text("Service provided")
