"""A specialist referral in Chromium: the coordinator starts it from the chart, sends it, schedules the visit,
attaches the consult report once the patient was seen, and finds it on the referral tracker."""

from __future__ import annotations

import datetime as dt
import pathlib
from urllib.parse import urlsplit

import pytest
from browser_helpers import COORDINATOR, assert_accessible, patient_path, sign_in
from playwright.sync_api import Page, expect

from careloop import clock

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def test_start_send_schedule_and_track_a_referral(page: Page, site, tmp_path):
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

    move = page.get_by_role("form", name="Move the referral on")
    move.get_by_label("New status").select_option("seen")
    move.get_by_role("button", name="Save").click()
    expect(page.get_by_label("Referral status")).to_contain_text("Seen")
    report = tmp_path / "consult-note.pdf"
    report.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
    attach = page.get_by_role("form", name="Attach a document")
    expect(attach.get_by_label("Kind")).to_have_value("consult_report")  # what a seen referral waits for
    attach.get_by_label("File").set_input_files(report)
    attach.get_by_role("button", name="Attach").click()
    expect(page.locator("#referral-documents")).to_contain_text("consult-note.pdf")
    expect(page.get_by_label("Referral status")).to_contain_text("Report received")
    referral_path = urlsplit(page.url).path
    with page.expect_download() as download:
        page.get_by_role("link", name="consult-note.pdf").click()
    assert pathlib.Path(download.value.path()).read_bytes() == report.read_bytes()
    assert_accessible(page, "referral-with-documents")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Referrals").click()
    row = page.locator("#referrals tbody tr", has=page.locator(f'a[href="{referral_path}"]'))
    expect(row).to_contain_text(f"{patient.family_name}, {patient.given_name}")
    expect(row).to_contain_text("Report received")
    assert_accessible(page, "referral-tracker")
