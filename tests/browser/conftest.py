"""Browser-test harness: a seeded SQLite file database served by uvicorn on a free loopback port, Debian's
Chromium driven by Playwright, axe-core accessibility checks and screenshots (on failure, or on request)."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from browser_helpers import COORDINATOR, SCREENSHOTS
from playwright.sync_api import Browser, Page, sync_playwright
from sqlalchemy import select

from careloop.care_teams.models import CareTeamMember
from careloop.clinical.models import Encounter
from careloop.db import make_engine, make_session_factory, session_scope
from careloop.events import service as events
from careloop.migrate import upgrade
from careloop.patients.models import Patient
from careloop.staff.models import Staff
from careloop.synthetic.load import load_demo
from live_server import serve

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-quic", "--no-first-run"]


@dataclass(frozen=True)
class Site:
    """The running app and the demo records the flows use."""

    url: str
    my_patient: Patient  # on the demo coordinator's care team, with encounters
    other_patient: Patient  # not on the coordinator's care team (the break-the-glass test opens it)
    stranger: Patient  # another one, never opened by the coordinator
    factory: Any = None  # sessions on the served database (to run a background job as the worker would)


def _pick_patients(factory) -> tuple[Patient, Patient, Patient]:
    with session_scope(factory) as session:
        coordinator = session.scalar(select(Staff).where(Staff.email == COORDINATOR))
        on_team = select(CareTeamMember.patient_id).where(CareTeamMember.staff_id == coordinator.id,
                                                          CareTeamMember.ended_at.is_(None))
        mine = session.scalar(select(Patient).where(Patient.id.in_(on_team), Patient.id.in_(
            select(Encounter.patient_id))).order_by(Patient.name_key).limit(1))
        others = session.scalars(select(Patient).where(Patient.id.not_in(on_team)).order_by(Patient.name_key).limit(2))
        return mine, *others


def _dispatch_events(factory, stop: threading.Event) -> None:
    while not stop.wait(0.2):
        events.dispatch_pending(factory)


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Migrate and seed a fresh database, then serve the app in a thread until the session ends."""
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('browser') / 'careloop.db'}")
    upgrade(engine)
    load_demo(engine, patients=60, seed=7)
    factory = make_session_factory(engine)
    # The worker's event dispatch, as `careloop serve` runs it (e.g. task.completed reaching the care plan).
    # Not the sweeps: they keep process-wide state (the escalation check time) that other tests on this
    # test worker set and read.
    stop_worker = threading.Event()
    worker = threading.Thread(target=_dispatch_events, name="careloop-test-dispatch", daemon=True,
                              args=(factory, stop_worker))
    worker.start()
    with serve(factory) as url:
        yield Site(url, *_pick_patients(factory), factory=factory)
    stop_worker.set()
    worker.join(timeout=10)
    engine.dispose()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def _new_page(browser: Browser, site: Site, **options) -> Page:
    context = browser.new_context(base_url=site.url, viewport={"width": 1280, "height": 860}, **options)
    context.set_default_timeout(10_000)
    return context.new_page()


@pytest.fixture
def page(browser: Browser, site: Site, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser context; the page's CSP is bypassed only so that axe can be injected."""
    page = _new_page(browser, site, bypass_csp=True)
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / f"FAILED-{re.sub(r'[^A-Za-z0-9_.-]', '_', request.node.name)}.png",
                        full_page=True)
    page.context.close()


@pytest.fixture
def strict_page(browser: Browser, site: Site) -> Iterator[Page]:
    """A browser context that enforces the app's Content-Security-Policy."""
    page = _new_page(browser, site)
    yield page
    page.context.close()
