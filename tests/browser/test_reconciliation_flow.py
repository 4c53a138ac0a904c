"""A discharge medication reconciliation in Chromium: the discharge list is entered beside the home list, the
screen shows the discrepancies, every line is decided, and the signed result is the practice's active list."""

from __future__ import annotations

import pytest
from browser_helpers import SUPERVISOR, assert_accessible, patient_path, sign_in
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def _add(page: Page, source: str, medicine: str, dose: str, frequency: str) -> None:
    form = page.get_by_role("form", name="Add a medicine")
    form.get_by_label("List").select_option(source)
    form.get_by_label("Medicine (RxNorm)").select_option(label=medicine)
    form.get_by_label("Dose").fill(dose)
    form.get_by_label("Frequency").fill(frequency)
    form.get_by_role("button", name="Add").click()


def test_reconcile_a_discharge_list_and_sign_it(page: Page, site):
    sign_in(page, SUPERVISOR)
    page.goto(patient_path(site.stranger))
    page.get_by_role("link", name="Medications", exact=True).click()
    expect(page.get_by_role("heading", level=1, name="Medications")).to_be_visible()
    _add(page, "practice", "lisinopril 10 MG Oral Tablet", "10 mg", "daily")
    _add(page, "practice", "Warfarin Sodium 5 MG Oral Tablet", "5 mg", "daily")
    _add(page, "hospital_discharge", "lisinopril 20 MG Oral Tablet", "20 mg", "once daily")
    _add(page, "hospital_discharge", "Warfarin Sodium 5 MG Oral Tablet", "5 mg", "qd")
    _add(page, "hospital_discharge", "atorvastatin 20 MG Oral Tablet", "20 mg", "at bedtime")
    lists = page.locator("#medication-lists")
    expect(lists).to_contain_text("lisinopril 20 MG Oral Tablet")
    expect(lists.get_by_text("High risk").first).to_be_visible()  # warfarin
    assert_accessible(page, "medications")

    page.get_by_role("form", name="Start a reconciliation").get_by_role("button", name="Start reconciliation").click()
    expect(page.get_by_role("heading", level=1, name="Medication reconciliation")).to_be_visible()
    table = page.locator("#reconciliation-lines")
    expect(table.locator("tr", has_text="lisinopril")).to_contain_text("Dose changed")
    expect(table.locator("tr", has_text="atorvastatin")).to_contain_text("New")
    expect(table.locator("tr", has_text="warfarin")).to_contain_text("High risk")
    assert_accessible(page, "reconciliation")

    sign = page.get_by_role("button", name="Sign: make this the active list")
    expect(sign).to_be_disabled()
    while page.locator("#undecided").count():
        form = page.locator("#reconciliation-lines tbody tr").filter(has_not=page.locator(".decision")).first
        form.get_by_role("button", name="Save decision").click()  # continue, the newest version
        page.wait_for_load_state()
    expect(sign).to_be_enabled()
    sign.click()
    expect(page.locator("#signed-note")).to_be_visible()

    page.get_by_role("link", name="Medications").first.click()
    practice = page.locator("#medication-lists > div").first
    expect(practice).to_contain_text("lisinopril 20 MG Oral Tablet")
    expect(practice).not_to_contain_text("lisinopril 10 MG Oral Tablet")
    expect(practice).to_contain_text("atorvastatin 20 MG Oral Tablet")
    expect(page.locator("#reconciliations")).to_contain_text("Signed")


def test_write_medication_instructions(page: Page, site):
    sign_in(page, SUPERVISOR)
    page.goto(f"{site.url}/medication-instructions")
    form = page.get_by_role("form", name="Write instructions")
    form.get_by_label("Medicine").select_option(label="warfarin")
    form.get_by_label("Language (e.g. en, es)").fill("es")
    form.get_by_label("Title").fill("Warfarina")
    form.get_by_label("What it is for").fill("Evita coágulos de sangre.")
    form.get_by_label("How to take it").fill("Una vez al día, a la misma hora.")
    form.get_by_label("What to watch for").fill("Sangrado o moretones: llame a su equipo.")
    form.get_by_role("button", name="Save instructions").click()
    row = page.locator("#instructions tbody tr", has_text="warfarin")
    expect(row).to_contain_text("es")
    expect(row).to_contain_text("Evita coágulos")
    assert_accessible(page, "medication-instructions")
