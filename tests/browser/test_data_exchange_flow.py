"""Data exchange in Chromium: the supervisor exports Patient and Condition resources, downloads the NDJSON
once the worker has written it, and imports a real Synthea bundle twice (the second time changes nothing)."""

from __future__ import annotations

import orjson
import pytest
from browser_helpers import SUPERVISOR, assert_accessible, patient_path, sign_in
from fhir.resources.R4B.patient import Patient as FhirPatient
from playwright.sync_api import Page, expect
from sqlalchemy import select

from careloop.db import session_scope
from careloop.fhir import export
from careloop.patients.models import Patient
from careloop.staff.models import Staff
from shared_data import SHARED_DATA

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
BUNDLE = next((SHARED_DATA / "synthea" / "standard-synthea-3x").glob("Ardath*.json"))


def test_export_then_download_then_import(page: Page, site):
    sign_in(page, SUPERVISOR)
    page.get_by_role("link", name="Admin").click()
    page.get_by_role("link", name="Data exchange").click()
    expect(page.get_by_role("heading", level=1, name="Data exchange")).to_be_visible()
    form = page.get_by_role("form", name="Start an export")
    for box in form.get_by_role("checkbox").all():
        if box.get_attribute("value") not in ("Patient", "Condition"):
            box.uncheck()
    form.get_by_role("button", name="Start export").click()
    row = page.locator("#exports tbody tr").first
    expect(row).to_contain_text("Being written")
    assert export.run_pending(site.factory) == 1  # what the worker's fhir_export sweep does
    page.reload()
    expect(row).to_contain_text("Ready")
    link = row.get_by_role("link", name="Patient (")
    with page.expect_download() as download:
        link.click()
    lines = download.value.path().read_bytes().splitlines()
    assert lines and all(FhirPatient.model_validate(orjson.loads(line)) for line in lines)
    assert f"({len(lines)})" in link.inner_text()
    assert_accessible(page, "data-exchange")

    upload = page.get_by_role("form", name="Import a FHIR file")
    upload.get_by_label("FHIR file").set_input_files(str(BUNDLE))
    with session_scope(site.factory) as session:  # new patients go to the supervisor's own panel
        supervisor = str(session.scalar(select(Staff.id).where(Staff.email == SUPERVISOR)))
    upload.get_by_label("Care coordinator of new patients").select_option(value=supervisor)
    upload.get_by_role("button", name="Import").click()
    summary = page.locator("#import-summary")
    expect(summary.locator("tr", has_text="Patient")).to_contain_text("1")
    expect(summary.locator("tr", has_text="Claim")).to_be_visible()  # counted, not dropped
    encounters = summary.locator("tr", has=page.locator("th", has_text="Encounter")).locator("td").first
    assert int(encounters.inner_text()) > 0

    upload = page.get_by_role("form", name="Import a FHIR file")
    upload.get_by_label("FHIR file").set_input_files(str(BUNDLE))
    upload.get_by_role("button", name="Import").click()
    again = page.locator("#import-summary tr", has=page.locator("th", has_text="Patient")).locator("td")
    expect(again.nth(0)).to_have_text("0")
    expect(again.nth(1)).to_have_text("1")  # already here: nothing changed

    # The imported patient's chart shows what came in, procedures and immunizations included.
    source = next(e["resource"]["id"] for e in orjson.loads(BUNDLE.read_bytes())["entry"]
                  if e["resource"]["resourceType"] == "Patient")
    with session_scope(site.factory) as session:
        imported = session.scalar(select(Patient).where(Patient.source_ref == source))
    page.goto(patient_path(imported))
    expect(page.locator("#chart-procedures li").first).to_be_visible()
    expect(page.locator("#chart-immunizations li").first).to_be_visible()
    expect(page.locator("#chart-outside-teams li").first).to_be_visible()  # Synthea's care team, by name
    expect(page.locator("#chart-outside-plans li").first).to_be_visible()
    assert_accessible(page, "chart-imported")
