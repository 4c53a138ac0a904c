"""A care plan in Chromium: the coordinator drafts it, a supervisor signs it, the coordinator completes the
activity's task from the worklist with time spent and sees the plan update (activity done on time, next due date,
adherence); the protocol runs page."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from browser_helpers import COORDINATOR, SUPERVISOR, assert_accessible, patient_path, sign_in
from playwright.sync_api import Page, expect

from careloop import clock
from careloop.web.formatting import day

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
TZ = "America/New_York"  # the demo organisation's time zone


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You have signed out.")).to_be_visible()


def test_draft_sign_and_complete_an_activity(page: Page, site):
    sign_in(page, COORDINATOR)
    page.goto(patient_path(site.my_patient))
    page.get_by_role("link", name="Care plan", exact=True).click()
    page.get_by_label("Plan title").fill("Heart failure and diabetes")
    page.get_by_role("button", name="Start a care plan").click()
    expect(page.get_by_role("heading", level=1, name="Heart failure and diabetes")).to_be_visible()
    plan_url = page.url

    if page.get_by_label("Address a condition").count():
        page.get_by_role("button", name="Add problem").click()
        expect(page.locator("#problems .list__item").first).to_be_visible()
    page.locator("#f-goal-description").fill("Walk to the mailbox without stopping")
    page.get_by_role("button", name="Add goal").click()
    expect(page.get_by_role("row", name=re.compile("Walk to the mailbox"))).to_be_visible()
    page.locator("#f-activity-description").fill("Weekly check-in call")
    page.get_by_label("Every how many days").fill("7")
    page.get_by_label("First due").fill(clock.today(TZ).isoformat())
    page.get_by_role("button", name="Add activity").click()
    expect(page.get_by_role("row", name=re.compile("Weekly check-in call"))).to_be_visible()
    assert_accessible(page, "care-plan-draft")
    sign_out(page)

    sign_in(page, SUPERVISOR)
    page.goto(plan_url)
    page.get_by_role("button", name="Sign and activate").click()
    expect(page.locator(".chart-header__badges")).to_contain_text("Active")
    sign_out(page)

    # The coordinator works from the worklist: opens the activity's task, logs time and completes it.
    sign_in(page, COORDINATOR)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Worklist").click()
    expect(page.get_by_role("heading", level=1, name="Worklist")).to_be_visible()
    page.get_by_label("Type").select_option(label="Care plan activity")
    page.get_by_role("button", name="Apply filters").click()
    page.get_by_role("link", name="Weekly check-in call").first.click()
    expect(page.get_by_role("heading", level=1, name="Weekly check-in call")).to_be_visible()
    page.get_by_label("Minutes").fill("20")
    page.get_by_role("button", name="Log time").click()
    expect(page.locator("#time")).to_contain_text("20")
    page.get_by_label("Outcome").fill("Spoke with the patient; no new symptoms")
    page.get_by_role("button", name="Complete task").click()
    expect(page.locator(".chart-header__badges")).to_contain_text("Completed")
    assert_accessible(page, "task-completed")

    # The plan shows the activity done on time and its next occurrence (the worker applies task.completed).
    page.goto(plan_url)
    row = page.get_by_role("row", name=re.compile("Weekly check-in call"))
    for _ in range(50):
        if row.locator("[data-done]").inner_text() == "1 on time · 0 late":
            break
        page.wait_for_timeout(200)
        page.reload()
        row = page.get_by_role("row", name=re.compile("Weekly check-in call"))
    expect(row.locator("[data-done]")).to_have_text("1 on time · 0 late")
    expect(row.locator("[data-next-due]")).to_have_text(day(clock.today(TZ) + dt.timedelta(days=7)))
    expect(page.locator("#adherence-on-time")).to_contain_text("100 %")
    assert_accessible(page, "care-plan")

    page.get_by_role("link", name="All revisions").click()
    expect(page.get_by_role("heading", name="Care plan history")).to_be_visible()
    assert_accessible(page, "care-plan-history")


def test_protocol_runs_page(page: Page, site):
    sign_in(page, SUPERVISOR)
    page.get_by_role("link", name="Protocols").click()
    expect(page.get_by_role("heading", name="Protocols", level=1)).to_be_visible()
    assert_accessible(page, "protocols")
    page.get_by_role("link", name="Steps of Hospital discharge transition").click()
    expect(page.get_by_text("2 business days after the trigger").first).to_be_visible()
    assert_accessible(page, "protocol-definition")
