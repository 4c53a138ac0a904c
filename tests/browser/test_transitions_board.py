"""Transitions board and HL7 review queue in Chromium: ADT messages in, board and queue out."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from browser_helpers import COORDINATOR, SUPERVISOR, assert_accessible, sign_in
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from careloop.care_teams.models import CareTeamMember
from careloop.db import make_engine, make_session_factory, session_scope
from careloop.integrations.hl7v2.models import Hl7Route
from careloop.integrations.hl7v2.service import Frame, Ingest
from careloop.jobs.worker import run_once
from careloop.migrate import upgrade
from careloop.patients.models import Patient
from careloop.staff.models import Staff
from careloop.synthetic.load import load_demo
from live_server import serve

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def _adt(event: str, patient: Patient, control: str, when: dt.datetime, visit: str, *, discharge: bool = False,
         mrn: str | None = None) -> bytes:
    stamp = when.strftime("%Y%m%d%H%M%S+0000")
    pv1 = ["PV1", "1", "I", "4E^401^B^GENERAL HOSPITAL"] + [""] * 42
    pv1[7], pv1[19], pv1[44] = "1234^House^Greg", visit, (when - dt.timedelta(days=3)).strftime("%Y%m%d%H%M+0000")
    if discharge:
        pv1[36], pv1[45] = "01", stamp
    return "\r".join([
        f"MSH|^~\\&|HIS|GENHOSP|CL|CARELOOP|{stamp}||ADT^{event}|{control}|P|2.5.1", f"EVN|{event}|{stamp}",
        f"PID|1||{mrn or patient.mrn}^^^{patient.mrn_authority}^MR||{patient.family_name}^{patient.given_name}||"
        f"{patient.birth_date:%Y%m%d}|F", "|".join(pv1)]).encode()


@pytest.fixture(scope="module")
def feed_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A demo database fed two ADT stays and one message for an unknown patient, served by uvicorn."""
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('feed') / 'careloop.db'}")
    upgrade(engine)
    load_demo(engine, patients=30, seed=11)
    factory = make_session_factory(engine)
    with session_scope(factory) as session:
        coordinator = session.scalar(select(Staff).where(Staff.email == COORDINATOR))
        mine = session.scalars(select(Patient).join(CareTeamMember, CareTeamMember.patient_id == Patient.id).where(
            CareTeamMember.staff_id == coordinator.id, CareTeamMember.ended_at.is_(None))
            .order_by(Patient.name_key).limit(3)).all()
        session.add(Hl7Route(organization_id=coordinator.organization_id, receiving_facility="CARELOOP"))
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    admitted, discharged, unknown = mine
    Ingest(factory).handle([Frame(m) for m in (
        _adt("A01", admitted, "B1", now - dt.timedelta(hours=2), "VA"),
        _adt("A01", discharged, "B2", now - dt.timedelta(days=4), "VB"),
        _adt("A03", discharged, "B3", now - dt.timedelta(days=1), "VB", discharge=True),
        _adt("A01", unknown, "B4", now - dt.timedelta(hours=1), "VC", mrn="HOSP-ONLY-7"))])
    run_once(factory)  # notifications and the discharge protocol's tasks
    with serve(factory) as url:
        yield {"url": url, "admitted": admitted, "discharged": discharged, "unknown": unknown}
    engine.dispose()


@pytest.fixture
def feed_page(browser: Browser, feed_site: dict) -> Iterator[Page]:
    context = browser.new_context(base_url=feed_site["url"], viewport={"width": 1280, "height": 860},
                                  bypass_csp=True)
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def test_board_shows_admitted_and_discharged_with_deadlines(feed_page: Page, feed_site: dict):
    sign_in(feed_page, COORDINATOR)
    feed_page.goto("/transitions")
    expect(feed_page.get_by_role("heading", name="Transitions of care", level=1)).to_be_visible()
    admitted, discharged = feed_site["admitted"], feed_site["discharged"]
    expect(feed_page.locator("#admitted")).to_contain_text(f"{admitted.family_name}, {admitted.given_name}")
    row = feed_page.locator("#discharged tr", has_text=discharged.family_name)
    expect(row).to_contain_text("Interactive contact after discharge")
    expect(row.locator(".badge").first).to_have_text("Due")
    assert_accessible(feed_page, "transitions")


def test_review_queue_link_puts_the_stay_on_the_board(feed_page: Page, feed_site: dict):
    sign_in(feed_page, SUPERVISOR)
    feed_page.goto("/admin/hl7/review")
    expect(feed_page.get_by_role("heading", name="HL7 review queue")).to_be_visible()
    assert_accessible(feed_page, "hl7-review")
    unknown = feed_site["unknown"]
    feed_page.get_by_label("Link to the patient with CareLoop MRN").first.fill(unknown.mrn)
    feed_page.get_by_role("button", name="Link").first.click()
    expect(feed_page.get_by_text("Nothing to review")).to_be_visible()
    feed_page.goto("/transitions")
    expect(feed_page.locator("#admitted")).to_contain_text(unknown.family_name)
    feed_page.goto("/admin/hl7/dead-letters")
    expect(feed_page.get_by_text("No dead letters")).to_be_visible()
