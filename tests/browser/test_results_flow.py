"""Tracked results in Chromium: the coordinator tracks an order from the chart and sees it waiting."""

from __future__ import annotations

import pytest
from browser_helpers import COORDINATOR, assert_accessible, patient_path, sign_in
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def test_track_an_order_from_the_chart(page: Page, site):
    sign_in(page, COORDINATOR)
    page.goto(patient_path(site.my_patient))
    page.get_by_role("link", name="Results", exact=True).click()
    expect(page.get_by_role("heading", level=1, name="Results")).to_be_visible()
    form = page.get_by_role("form", name="Track an order")
    form.get_by_label("Kind").select_option("lab")
    form.get_by_label("Code (LOINC)").fill("4548-4")
    form.get_by_label("Test", exact=True).fill("Hemoglobin A1c")
    form.get_by_role("button", name="Track order").click()
    row = page.locator("#result-orders tbody tr", has_text="Hemoglobin A1c").first
    expect(row).to_contain_text("Ordered")
    expect(row).to_contain_text("Waiting for the result")
    assert_accessible(page, "results")
