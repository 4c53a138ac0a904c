"""Helpers for browser tests: demo sign-ins, accessibility check with axe-core, screenshots."""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

from playwright.sync_api import Page, expect

from careloop.patients.models import Patient
from careloop.synthetic.load import DEMO_DOMAIN, DEMO_PASSWORD

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
COORDINATOR = f"coordinator@{DEMO_DOMAIN}"
SUPERVISOR = f"supervisor@{DEMO_DOMAIN}"


def screenshot(page: Page, name: str) -> None:
    """Keep a screenshot of a main page when CARELOOP_SCREENSHOTS=1 (for people to look at)."""
    if os.environ.get("CARELOOP_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def assert_accessible(page: Page, name: str) -> None:
    """Run axe-core on the page: no serious or critical WCAG violations; also takes the page's screenshot."""
    screenshot(page, name)
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate("""async () => {
        const result = await axe.run(document, {runOnly: {type: "tag",
            values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]}});
        return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                            nodes: v.nodes.slice(0, 3).map(n => n.target.join(" "))}));
    }""")
    bad = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert not bad, f"{name}: {bad}"


def sign_in(page: Page, email: str, *, check: bool = False) -> None:
    """Sign in through the form and wait for the patient list."""
    page.goto("/login")
    if check:
        assert_accessible(page, "login")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/patients"))
    expect(page.get_by_role("heading", name="Patients", level=1)).to_be_visible()


def patient_path(patient: Patient) -> str:
    return f"/patients/{uuid.UUID(str(patient.id))}"
