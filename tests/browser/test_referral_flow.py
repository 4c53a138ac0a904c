"""A specialist referral in Chromium: the coordinator starts it from the chart, sends it, schedules the visit and
finds it on the referral tracker."""

from __future__ import annotations

import datetime as dt

import pytest
from browser_helpers import COORDINATOR, assert_accessible, patient_path, sign_in
from playwright.sync_api import Page, expect

from careloop import clock

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def test_start_send_schedule_and_track_a_referral(page: Page, site):
    patient = site.my_patient
    sign_in(page, COORDINATOR)
    page.goto(patient_path(patient))
    page.get_by_role("link", name="Referrals", exact=True).last.click()
    expect(page.get_by_role("heading", level=1, name="Referrals")).to_be_visible()
    assert_accessible(page, "patient-referrals")
    form = page.get_by_role("form", name="New referral")
    form.get_by_label("Refer to").select_option(label=form.get_by_label("Refer to").locator("option").first
                                                .inner_text())
    form.get_by_label("Urgency").select_option("urgent")
    form.get_by_label("Reason").fill("Exertional chest pain, abnormal ECG")
    form.get_by_label("Clinical question").fill("Stress test or angiography?")
    form.get_by_role("button", name="Save as draft").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("referral")
    expect(page.locator("#referral-history")).to_contain_text("Draft")
    assert_accessible(page, "referral")

    move = page.get_by_role("form", name="Move the referral on")
    move.get_by_label("New status").select_option("sent")
    move.get_by_role("button", name="Save").click()
    expect(page.get_by_label("Referral status")).to_contain_text("Sent")
    expect(page.get_by_text("Appointment by")).to_be_visible()

    when = (clock.now() + dt.timedelta(days=2)).strftime("%Y-%m-%dT10:30")
    move = page.get_by_role("form", name="Move the referral on")
    move.get_by_label("New status").select_option("scheduled")
    move.get_by_label("Appointment (for scheduled)").fill(when)
    move.get_by_role("button", name="Save").click()
    expect(page.get_by_label("Referral status")).to_contain_text("Scheduled")
    expect(page.locator("#referral-history li")).to_have_count(3)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Referrals").click()
    row = page.locator("#referrals tbody tr", has_text=f"{patient.family_name}, {patient.given_name}")
    expect(row.first).to_contain_text("Scheduled")
    assert_accessible(page, "referral-tracker")
