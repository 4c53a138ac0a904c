"""Admin pages: the audit report with CSV, chain verification and the break-the-glass review."""

from __future__ import annotations

from sqlalchemy import func, select

from careloop import clock
from careloop.audit.models import AuditEvent
from careloop.auth import service as auth_service
from careloop.auth.models import BreakGlassGrant
from factories import actor_of
from web_helpers import post_form, sign_in


def test_coordinators_cannot_open_admin_pages(client, world):
    sign_in(client, world.coordinator.email)
    for path in ("/admin/audit", "/admin/audit/verify", "/admin/audit/export.csv", "/admin/break-glass"):
        page = client.get(path)
        assert page.status_code == 403, path
        assert "You do not have permission" in page.text
    assert 'href="/admin/audit"' not in client.get("/patients").text


def test_audit_report_filters_and_sorts(client, world):
    sign_in(client, world.coordinator.email)
    client.get(f"/patients/{world.mine.id}")
    sign_in(client, world.supervisor.email)
    page = client.get(f"/admin/audit?patient={world.mine.id}&action=read")
    assert page.status_code == 200
    assert world.coordinator.email in page.text and "PatientChart" in page.text
    assert 'aria-sort="descending"' in page.text  # default: newest first
    assert client.get("/admin/audit?sort=actor_label").status_code == 200
    assert "Enter a patient id" in client.get("/admin/audit?patient=nope").text
    assert "Enter dates as YYYY-MM-DD" in client.get("/admin/audit?from=yesterday").text


def test_audit_csv_download(client, world):
    sign_in(client, world.supervisor.email)
    response = client.get("/admin/audit/export.csv?action=login")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    lines = response.text.splitlines()
    assert lines[0].startswith("id,occurred_at,actor_id") and any(world.supervisor.email in line for line in lines)


def test_audit_verify_reports_intact_then_the_first_break(client, session, world):
    sign_in(client, world.supervisor.email)
    assert "The audit trail is intact" in client.get("/admin/audit/verify").text
    last = session.scalar(select(func.max(AuditEvent.seq)).where(AuditEvent.chain == str(world.org.id)))
    session.add(AuditEvent(chain=str(world.org.id), seq=last + 1, occurred_at=clock.now(), action="read",
                           outcome="success", organization_id=world.org.id, detail={}, prev_hash="0" * 64,
                           hash="f" * 64))  # a forged event slipped in at the end of the chain
    session.commit()
    page = client.get("/admin/audit/verify").text
    assert "The audit trail has been altered" in page and "content or link altered" in page


def test_break_glass_review(client, session, world):
    grant = auth_service.break_glass(session, actor_of(world.coordinator), world.theirs.id,
                                     "Patient in the ED, coordinator unreachable")
    session.commit()
    sign_in(client, world.supervisor.email)
    page = client.get("/admin/break-glass").text
    assert "Casey Coordinator" in page and "Patient in the ED" in page and "Awaiting review" in page
    response = post_form(client, f"/admin/break-glass/{grant.id}/review", {"note": "Appropriate: ED visit"},
                         page="/admin/break-glass")
    assert response.status_code == 303
    session.refresh(grant)
    assert grant.reviewed_by_id == world.supervisor.id
    assert "Nothing to review" in client.get("/admin/break-glass").text
    assert "Appropriate: ED visit" in client.get("/admin/break-glass?all=1").text
    assert session.get(BreakGlassGrant, grant.id).review_note == "Appropriate: ED visit"
