"""Admin pages: the audit report (with CSV), the audit chain check and the break-the-glass review."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import asdict, dataclass
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from careloop.audit import queries
from careloop.audit import service as audit
from careloop.auth import service as auth_service
from careloop.auth.actor import Actor
from careloop.auth.deps import require_page
from careloop.auth.permissions import Permission
from careloop.errors import InvalidInput
from careloop.routing import db, router
from careloop.staff import service as staff_service
from careloop.web.csrf import verify_csrf
from careloop.web.formatting import label
from careloop.web.render import render_page
from careloop.web.shell import workspace

pages = router(prefix="/admin", include_in_schema=False, dependencies=[Depends(workspace)])
Db = Annotated[Session, Depends(db)]
Auditor = Annotated[Actor, Depends(require_page(Permission.AUDIT_READ))]
Reviewer = Annotated[Actor, Depends(require_page(Permission.BREAK_GLASS_REVIEW))]
Text = Annotated[str, Query(max_length=60)]

ACTIONS = ("read", "search", "create", "update", "delete", "merge", "export", "login", "logout",
           "access_denied", "break_glass", "privilege_change")
COLUMNS = (("occurred_at", "When"), ("actor_label", "User"), ("actor_role", "Role"), ("action", "Action"),
           ("outcome", "Outcome"), ("patient_id", "Patient"), ("record_type", "Record"),
           ("source_address", "Source"), ("purpose_of_use", "Purpose"))
PAGE_SIZE = 100


@dataclass(frozen=True)
class AuditParams:
    """The report's filters as typed, shown back in the form."""

    patient: str = ""
    user: str = ""
    action: str = ""
    start: str = ""
    end: str = ""
    sort: str = "-occurred_at"
    offset: int = 0


def _params(patient: Text = "", user: Text = "", action: Text = "",
            start: Annotated[str, Query(alias="from", max_length=10)] = "",
            end: Annotated[str, Query(alias="to", max_length=10)] = "", sort: Text = "-occurred_at",
            offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> AuditParams:
    return AuditParams(patient.strip(), user, action, start, end, sort, offset)


Params = Annotated[AuditParams, Depends(_params)]


def _uuid(value: str, field: str, message: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError as err:
        raise InvalidInput(message, field=field) from err


def _midnight(value: str, field: str, tz: str, *, next_day: bool = False) -> dt.datetime | None:
    """Start of a day (YYYY-MM-DD) in the organisation's time zone, as an aware datetime."""
    if not value:
        return None
    try:
        day = dt.date.fromisoformat(value) + dt.timedelta(days=1 if next_day else 0)
    except ValueError as err:
        raise InvalidInput("Enter dates as YYYY-MM-DD", field=field) from err
    return dt.datetime.combine(day, dt.time(), tzinfo=ZoneInfo(tz))


def to_query(p: AuditParams, tz: str, *, limit: int = PAGE_SIZE) -> queries.AuditQuery:
    """The report query for the form's filters; the end date is included whole."""
    return queries.AuditQuery(
        patient_id=_uuid(p.patient, "patient", "Enter a patient id as shown on the chart or leave it empty"),
        actor_id=_uuid(p.user, "user", "Choose a user from the list"), action=p.action or None,
        start=_midnight(p.start, "from", tz), end=_midnight(p.end, "to", tz, next_day=True), sort=p.sort,
        limit=limit, offset=p.offset)


def _filter_params(p: AuditParams) -> dict[str, Any]:
    values = asdict(p)
    values["from"], values["to"] = values.pop("start"), values.pop("end")
    return values


@pages.get("/audit", response_class=HTMLResponse)
def audit_report(request: Request, session: Db, actor: Auditor, p: Params) -> HTMLResponse:
    context: dict[str, Any] = {"params": _filter_params(p), "events": [], "error": None, "columns": COLUMNS,
                               "action_options": [(a, label(a)) for a in ACTIONS], "page_size": PAGE_SIZE,
                               "user_options": [(str(s.id), f"{s.display_name} ({s.email})")
                                                for s in staff_service.list_staff(session, actor)]}
    try:
        context["events"] = queries.search(session, actor, to_query(p, request.state.shell.timezone))
    except InvalidInput as err:  # raised before anything is written
        context["error"] = err.message
    return render_page(request, "audit/report.html", context)


@pages.get("/audit/export.csv")
def audit_export(request: Request, session: Db, actor: Auditor, p: Params) -> Response:
    """The report as CSV, built inside the request so the export and its audit entry commit together."""
    body = "".join(queries.export_csv(session, actor, to_query(p, request.state.shell.timezone)))
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="careloop-audit.csv"'})


@pages.get("/audit/verify", response_class=HTMLResponse)
def audit_verify(request: Request, session: Db, actor: Auditor) -> HTMLResponse:
    # Only this organisation's chain and the shared system chain, as the API does.
    checked, breaks = audit.verify(session, chains=(str(actor.organization_id), "system"))
    return render_page(request, "audit/verify.html", {"checked": checked, "breaks": breaks})


@pages.get("/break-glass", response_class=HTMLResponse)
def break_glass_review(request: Request, session: Db, actor: Reviewer, all: bool = False) -> HTMLResponse:
    grants = auth_service.list_break_glass(session, actor, include_reviewed=all)
    names = {s.id: s.display_name for s in staff_service.list_staff(session, actor)}
    return render_page(request, "audit/break_glass.html", {"grants": grants, "names": names, "show_all": all})


@pages.post("/break-glass/{grant_id}/review", dependencies=[Depends(verify_csrf)])
def review_break_glass(grant_id: uuid.UUID, session: Db, actor: Reviewer,
                       note: Annotated[str, Form(min_length=1, max_length=500)]) -> RedirectResponse:
    auth_service.review_break_glass(session, actor, grant_id, note)
    return RedirectResponse("/admin/break-glass", status_code=303)
