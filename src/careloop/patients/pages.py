"""Patient pages: the searchable patient list (with a results fragment) and the chart with break-the-glass."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Annotated, Any

from fastapi import Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from careloop import clock
from careloop.auth import service as auth_service
from careloop.auth.actor import Actor
from careloop.auth.deps import require_page
from careloop.auth.permissions import Permission
from careloop.care_teams import service as care_teams
from careloop.care_teams.models import CareTeamRole
from careloop.errors import BadRequest, InvalidInput
from careloop.patients import chart as chart_service
from careloop.patients import queries, rules
from careloop.patients.models import PatientStatus
from careloop.routing import db, router
from careloop.staff import service as staff_service
from careloop.web.charts import Series, line_chart
from careloop.web.csrf import verify_csrf
from careloop.web.formatting import label
from careloop.web.render import render_page
from careloop.web.shell import workspace

pages = router(include_in_schema=False, dependencies=[Depends(workspace)])
Db = Annotated[Session, Depends(db)]
Reader = Annotated[Actor, Depends(require_page(Permission.PATIENT_READ))]
Text = Annotated[str, Query(max_length=100)]

RISK_TIERS = ("low", "moderate", "high", "very_high")
SORT_OPTIONS = (("name", "Name (A to Z)"), ("-name", "Name (Z to A)"), ("mrn", "MRN"), ("birth_date", "Oldest first"),
                ("-birth_date", "Youngest first"), ("-updated_at", "Recently updated"))
PAGE_SIZE = 25
COORDINATORS_TTL = 300.0
_coordinators: dict[uuid.UUID, tuple[float, list[tuple[str, str]]]] = {}
_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%d %b %Y", "%d %B %Y")


@dataclass(frozen=True)
class ListParams:
    """The patient list's query string, kept as typed so the form shows it back."""

    name: str = ""
    mrn: str = ""
    birth_date: str = ""
    coordinator: str = ""
    status: str = ""
    risk_tier: str = ""
    sort: str = "name"
    cursor: str = ""
    scope: str = "care_team"


# Search terms that identify a patient: accepted in a POSTed form only, never in the address (browser history,
# proxies and server logs keep URLs).
SEARCH_TERMS = ("q", "name", "mrn", "birth_date")
FormText = Annotated[str, Form(max_length=100)]


def _url_params(request: Request, coordinator: Text = "", status: Text = "", risk_tier: Text = "",
                sort: Text = "name", cursor: Annotated[str, Query(max_length=500)] = "",
                scope: Text = "care_team") -> ListParams:
    """The list's filters from the address (no identifiers)."""
    if any(term in request.query_params for term in SEARCH_TERMS):
        raise BadRequest("Search with the form: names, MRNs and birth dates are not sent in the address",
                         code="search_terms_in_url")
    return ListParams(coordinator=coordinator, status=status, risk_tier=risk_tier, sort=sort, cursor=cursor,
                      scope=scope)


def _form_params(q: FormText = "", name: FormText = "", mrn: FormText = "", birth_date: FormText = "",
                 coordinator: FormText = "", status: FormText = "", risk_tier: FormText = "", sort: FormText = "name",
                 cursor: Annotated[str, Form(max_length=500)] = "", scope: FormText = "care_team") -> ListParams:
    """The search form (or the global search box, `q`: one field split into name, MRN and birth date)."""
    typed = {"name": name.strip(), "mrn": mrn.strip(), "birth_date": birth_date.strip()}
    if q.strip():
        typed = parse_quick(q)
    return ListParams(**typed, coordinator=coordinator, status=status, risk_tier=risk_tier, sort=sort,
                      cursor=cursor, scope=scope)


Params = Annotated[ListParams, Depends(_url_params)]
SearchParams = Annotated[ListParams, Depends(_form_params)]


def parse_date(text: str) -> dt.date | None:
    """A birth date typed as 2026-11-25, 11/25/2026 or 25 Nov 2026; None when it is not a date."""
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text.strip(), fmt).date()
        except ValueError:
            continue
    return None


def parse_quick(text: str) -> dict[str, str]:
    """Split the global search box into name, MRN and birth date ("smith 3/4/1950", "MRN0042", "jo sm")."""
    words, found = text.split(), {"name": "", "mrn": "", "birth_date": ""}
    rest = []
    for word in words:
        if not found["birth_date"] and parse_date(word):
            found["birth_date"] = word
        else:
            rest.append(word)
    if len(rest) == 1 and any(ch.isdigit() for ch in rest[0]):
        found["mrn"] = rest[0]
    else:
        found["name"] = " ".join(rest)
    return found


def to_query(actor: Actor, p: ListParams) -> queries.PatientQuery:
    """The service query for the list's parameters; InvalidInput names the field that is wrong."""
    born = parse_date(p.birth_date) if p.birth_date else None
    if p.birth_date and born is None:
        raise InvalidInput("Enter the birth date as YYYY-MM-DD or MM/DD/YYYY", field="birth_date")
    if p.status and p.status not in {s.value for s in PatientStatus}:
        raise InvalidInput("Choose a status from the list", field="status")
    coordinator = actor.staff_id if p.coordinator == "me" else None
    if p.coordinator and p.coordinator != "me":
        try:
            coordinator = uuid.UUID(p.coordinator)
        except ValueError as err:
            raise InvalidInput("Choose a coordinator from the list", field="coordinator") from err
    return queries.PatientQuery(
        name=p.name or None, mrn=p.mrn or None, birth_date=born, coordinator_id=coordinator,
        status=PatientStatus(p.status) if p.status else None, risk_tier=p.risk_tier or None, sort=p.sort,
        cursor=p.cursor or None, limit=PAGE_SIZE, scope=p.scope)


def _results(session: Session, actor: Actor, p: ListParams, tz: str) -> dict[str, Any]:
    context: dict[str, Any] = {"params": asdict(p), "rows": [], "next_cursor": None, "error": None,
                               "organization_scope": p.scope == "organization"}
    if context["organization_scope"] and not (p.name or p.mrn or p.birth_date):
        return context  # nothing typed yet: the page explains what an organisation-wide search needs
    try:
        hits, context["next_cursor"] = queries.search_patients(session, actor, to_query(actor, p))
    except (BadRequest, InvalidInput) as err:  # raised before anything is written: nothing to roll back
        context["error"] = err.message
        return context
    primary = care_teams.primary_staff(session, [h.patient.id for h in hits if not h.restricted])
    today = clock.today(tz)
    for hit in hits:
        patient, coordinator = hit.patient, primary.get((hit.patient.id, CareTeamRole.PRIMARY_CARE_COORDINATOR))
        context["rows"].append({"patient": patient, "restricted": hit.restricted,
                                "age": rules.age_on(patient.birth_date, today),
                                "coordinator": coordinator.display_name if coordinator else None})
    return context


def coordinator_options(session: Session, actor: Actor) -> list[tuple[str, str]]:
    """(id, name) of the staff who can coordinate care, for the filter.

    Kept for a few minutes per organisation: listing hundreds of staff was most of the list page's time.
    """
    now = time.monotonic()
    cached = _coordinators.get(actor.organization_id)
    if cached and now - cached[0] < COORDINATORS_TTL:
        return cached[1]
    roles = care_teams.ELIGIBLE[CareTeamRole.PRIMARY_CARE_COORDINATOR]
    options = [(str(s.id), s.display_name) for s in staff_service.list_staff(session, actor) if s.role in roles]
    _coordinators[actor.organization_id] = (now, options)
    return options


def _list_page(request: Request, session: Session, actor: Actor, p: ListParams) -> HTMLResponse:
    context = _results(session, actor, p, request.state.shell.timezone)
    context.update(org_wide=actor.org_wide, coordinator_options=[("me", "Me"), *coordinator_options(session, actor)],
                   status_options=[(s.value, label(s)) for s in PatientStatus],
                   risk_options=[(t, label(t)) for t in RISK_TIERS],
                   sort_options=SORT_OPTIONS)
    return render_page(request, "patients/list.html", context)


@pages.get("/patients", response_class=HTMLResponse)
def patient_list(request: Request, session: Db, actor: Reader, p: Params) -> HTMLResponse:
    """The list with filters from the address; searching by name, MRN or birth date posts the form."""
    return _list_page(request, session, actor, p)


@pages.post("/patients", response_class=HTMLResponse, dependencies=[Depends(verify_csrf)])
def patient_search(request: Request, session: Db, actor: Reader, p: SearchParams) -> HTMLResponse:
    """The list for a search posted from the form or the global search box (the terms stay out of URLs)."""
    return _list_page(request, session, actor, p)


@pages.post("/patients/results", response_class=HTMLResponse, dependencies=[Depends(verify_csrf)])
def patient_results(request: Request, session: Db, actor: Reader, p: SearchParams) -> HTMLResponse:
    """The results table alone, for the list's live search (progressive enhancement)."""
    return render_page(request, "patients/_results.html", _results(session, actor, p, request.state.shell.timezone))


def trend_charts(chart: chart_service.Chart, tz: str) -> list[dict[str, Any]]:
    """The chart's trend graphs (A1c, blood pressure) for the patients whose record has them."""
    trends = chart.clinical.trends if chart.clinical else {}

    def series(code: str, name: str, tone: str) -> Series:
        return Series(name, tuple((o.effective_at, o.value_quantity) for o in trends.get(code, [])
                                  if o.value_quantity is not None), tone)

    graphs = [("a1c", "Hemoglobin A1c", "%", [series(chart_service.A1C, "A1c", "primary")]),
              ("bp", "Blood pressure", "mm[Hg]", [series(chart_service.SYSTOLIC, "Systolic", "primary"),
                                                  series(chart_service.DIASTOLIC, "Diastolic", "secondary")])]
    out = []
    for key, title, unit, lines in graphs:
        svg = line_chart(lines, chart_id=f"trend-{key}", title=f"{title} trend", unit=unit, tz=tz)
        if svg:
            out.append({"title": title, "unit": unit, "svg": svg, "series": [s for s in lines if s.points]})
    return out


@pages.get("/patients/{patient_id}", response_class=HTMLResponse)
def patient_chart(patient_id: uuid.UUID, request: Request, session: Db, actor: Reader,
                  team_history: bool = False) -> HTMLResponse:
    chart = chart_service.load_chart(session, actor, patient_id, team_history=team_history)
    tz = request.state.shell.timezone
    return render_page(request, "patients/chart.html", {
        "chart": chart, "patient": chart.patient, "age": rules.age_on(chart.patient.birth_date, clock.today(tz)),
        "coordinator": chart.holder(CareTeamRole.PRIMARY_CARE_COORDINATOR),
        "pcp": chart.holder(CareTeamRole.PRIMARY_CARE_PHYSICIAN), "trends": trend_charts(chart, tz),
        "team_history": team_history})


@pages.post("/patients/{patient_id}/break-glass", dependencies=[Depends(verify_csrf)])
def break_glass(patient_id: uuid.UUID, request: Request, session: Db,
                actor: Annotated[Actor, Depends(require_page(Permission.BREAK_GLASS))],
                reason: Annotated[str, Form(max_length=500)] = "") -> Response:
    try:
        auth_service.break_glass(session, actor, patient_id, reason)
    except InvalidInput as err:  # the reason is checked before anything is written
        return render_page(request, "patients/break_glass.html",
                           {"patient_id": patient_id, "error": err.message, "reason": reason}, status=422)
    return RedirectResponse(f"/patients/{patient_id}", status_code=303)
