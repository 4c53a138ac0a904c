"""The access matrix: every registered route of create_app() is public by name, or refuses strangers, other
organisations, and roles or token scopes without its permission, and lets the right role through.

A new route fails here until it is given access control (auth/deps.py `require` / `require_page`) and, when it
has path parameters or a body, a line in PATH_IDS or BODIES below so the matrix can call it for real.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import pyotp
import pytest
from fastapi import Depends
from fastapi.routing import APIRoute
from security_seed import ADT, PDF, RECORD_BODIES, Tenant, World
from sqlalchemy.orm import object_session
from starlette.routing import Mount

from careloop.auth import secrets_box
from careloop.auth import service as auth_service
from careloop.auth.deps import api_actor
from careloop.auth.permissions import ROLE_PERMISSIONS, Permission
from careloop.care_plans.models import CarePlan
from careloop.main import create_app
from careloop.staff.models import StaffRole
from factories import PASSWORD, auth, make_token

API_PREFIXES = ("/api/", "/oauth/", "/fhir")
# Everything a stranger may call. Nothing else is public: each other route must answer 401 (API) or send the
# browser to the sign-in page.
PUBLIC = {
    ("GET", "/healthz"), ("GET", "/openapi.json"), ("POST", "/oauth/token"),
    ("GET", "/docs"), ("GET", "/login"), ("POST", "/login"), ("GET", "/"),  # "/" only redirects to /patients
    ("GET", "/fhir/metadata"),  # the FHIR CapabilityStatement (no data)
}
PUBLIC_MOUNTS = ("/static",)
# Routes that need a signed-in caller but no particular permission (every other route names one).
AUTHENTICATED_ONLY = {
    ("POST", "/oauth/revoke"), ("GET", "/session/ping"), ("POST", "/logout"),
    ("GET", "/login/mfa"), ("POST", "/login/mfa"), ("GET", "/account/mfa"), ("POST", "/account/mfa"),
}
# Roles tried, in order, as the caller that is allowed (the coordinator is on the seeded patient's care team).
ALLOWED_ROLES = (StaffRole.CARE_COORDINATOR, StaffRole.SUPERVISOR, StaffRole.ADMINISTRATOR)


# --- the routes --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RouteCase:
    method: str
    path: str
    permissions: tuple[Permission, ...] | None  # None: no `require` marker on the route
    has_body: bool

    @property
    def is_api(self) -> bool:
        return self.path.startswith(API_PREFIXES)

    @property
    def public(self) -> bool:
        return (self.method, self.path) in PUBLIC or self.path.startswith(PUBLIC_MOUNTS)


def _markers(dependant: Any) -> Iterator[tuple[Permission, ...]]:
    for dep in getattr(dependant, "dependencies", []):
        marker = getattr(dep.call, "__careloop_permissions__", None)
        if marker is not None:
            yield tuple(marker)
        yield from _markers(dep)


def _route_contexts(app: Any) -> Iterator[Any]:
    """Every effective route with its full path (routers included in routers are flattened)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: included routes are plain routes already
        yield from app.router.routes
        return
    yield from iter_route_contexts(app.routes)


def collect_routes(app: Any = None) -> list[RouteCase]:
    """The routes of the application (by default as it is assembled for production)."""
    app = app or create_app(session_factory=object())  # type: ignore[arg-type]  (never called while collecting)
    cases = []
    for ctx in _route_contexts(app):
        route = getattr(ctx, "original_route", ctx)
        if isinstance(route, Mount):
            cases.append(RouteCase("GET", ctx.path, None, False))
            continue
        markers = list(_markers(getattr(ctx, "dependant", None)))
        permissions = tuple(dict.fromkeys(p for m in markers for p in m)) if markers else None
        has_body = isinstance(route, APIRoute) and getattr(ctx, "body_field", None) is not None
        for method in sorted((ctx.methods or {"GET"}) - {"HEAD"}):
            cases.append(RouteCase(method, ctx.path, permissions, has_body))
    return cases


ROUTES = collect_routes()


def test_the_matrix_sees_every_router() -> None:
    paths = {r.path for r in ROUTES}
    for expected in ("/api/v1/patients/{patient_id}", "/api/v1/patients/{patient_id}/conditions/{record_id}",
                     "/api/v1/staff/{staff_id}/role", "/api/v1/audit/verify", "/oauth/token", "/healthz"):
        assert expected in paths
    assert len(ROUTES) >= 40


def test_public_allow_list_is_small_and_real() -> None:
    public = [r for r in ROUTES if r.public]
    assert all(r.method == "GET" or (r.method, r.path) in PUBLIC for r in public)
    api_public = {(r.method, r.path) for r in public if r.is_api or r.path in ("/healthz", "/openapi.json")}
    assert api_public == {("GET", "/healthz"), ("GET", "/openapi.json"), ("POST", "/oauth/token"),
                          ("GET", "/fhir/metadata")}


# --- building real requests --------------------------------------------------------------------------------

def _record_id(t: Tenant, path: str) -> uuid.UUID:
    kind = re.search(r"/([a-z_]+)/\{record_id\}", path).group(1)
    return t.records[kind]


# Care plan routes that act on the active plan (the others edit the draft, which belongs to `duplicate`).
_ON_ACTIVE_PLAN = ("/revise", "/complete", "/done")
_NEW_PLAN = ("/api/v1/patients/{patient_id}/care-plans", "/patients/{patient_id}/care-plan")


def _plan(t: Tenant, path: str, part: str = "") -> uuid.UUID:
    which = "active" if path.endswith(_ON_ACTIVE_PLAN) else "draft"
    return t.plans[f"{which}_{part}" if part else which]


def _patient_id(t: Tenant, path: str) -> uuid.UUID:
    if path.endswith("/medication-education"):
        return t.duplicate.id  # the draft plan's patient
    if path in _NEW_PLAN:
        return t.fresh.id  # a patient without a plan, so one can be started
    if path.startswith("/patients/{patient_id}/care-plan"):
        return t.patient.id
    return t.patient.id


PATH_IDS: dict[str, Callable[[Tenant, str], Any]] = {
    "patient_id": _patient_id,
    "care_plan_id": _plan,
    "problem_id": lambda t, path: _plan(t, path, "problem"),
    "goal_id": lambda t, path: _plan(t, path, "goal"),
    "activity_id": lambda t, path: _plan(t, path, "activity"),
    "item_id": lambda t, path: _plan(t, path, "education"),
    "run_id": lambda t, _: t.run,
    "order_id": lambda t, _: t.result_order,
    "document_id": lambda t, _: t.referral_document,
    "reconciliation_id": lambda t, _: t.reconciliation,
    "resource_type": lambda t, _: "Observation",
    "resource_id": lambda t, _: t.records["observations"],
    "line_id": lambda t, _: t.reconciliation_line,
    "referral_id": lambda t, path: t.community_referral if "community-referrals" in path else t.referral,
    "message_id": lambda t, path: t.messages["dead" if path.endswith("/replay") else "review"],
    "record_id": _record_id,
    "member_id": lambda t, _: t.member.id,
    "staff_id": lambda t, _: t.target.id,
    "grant_id": lambda t, _: t.grant.id,
    "task_id": lambda t, path: t.queued_task if path.endswith("/claim") else t.task,
    "group_id": lambda t, _: t.staff[StaffRole.CARE_COORDINATOR].id,  # a coordinator's panel
    "job_id": lambda t, _: t.export_job,
    "file_name": lambda t, _: "Patient.ndjson",
}
# Query strings and headers some routes need to succeed.
QUERIES: dict[tuple[str, str], Callable[[Tenant], dict]] = {
    ("POST", "/fhir/$import"): lambda t: {"coordinator": str(t.staff[StaffRole.CARE_COORDINATOR].id)},
}
HEADERS: dict[tuple[str, str], dict[str, str]] = {
    ("GET", path): {"Prefer": "respond-async"}
    for path in ("/fhir/$export", "/fhir/Patient/$export", "/fhir/Group/{group_id}/$export")
}


def url_for(path: str, t: Tenant, *, placeholders: bool = False) -> str:
    def fill(match: re.Match) -> str:
        name = match.group(1)
        if placeholders and name not in PATH_IDS:
            return "1"  # never reached: the refusal comes before the record is looked up
        assert name in PATH_IDS, f"teach the access matrix which seeded id fills {{{name}}} in {path}"
        return str(PATH_IDS[name](t, path))

    return re.sub(r"\{([a-z_]+)(?::[a-z]+)?\}", fill, path)


def _patient_body(t: Tenant) -> dict:
    return {"mrn": f"NEW{uuid.uuid4().hex[:10]}", "given_name": "Noor", "family_name": "Haddad",
            "birth_date": "1961-07-04", "sex": "female",
            "primary_care_coordinator_id": str(t.staff[StaffRole.CARE_COORDINATOR].id)}


RECORDS = "/api/v1/patients/{patient_id}/"
BODIES: dict[tuple[str, str], Callable[[Tenant], dict]] = {
    ("POST", "/api/v1/patients"): _patient_body,
    ("PATCH", "/api/v1/patients/{patient_id}"): lambda t: {"city": "Springfield"},
    ("POST", "/api/v1/patients/{patient_id}/merge"): lambda t: {"duplicate_id": str(t.duplicate.id),
                                                                 "reason": "Registered twice"},
    ("POST", "/api/v1/patients/{patient_id}/care-team"): lambda t: {"staff_id": str(t.spare.id),
                                                                     "role": "pharmacist"},
    ("POST", "/api/v1/patients/{patient_id}/break-glass"): lambda t: {
        "reason": "Unconscious in the emergency department"},
    ("POST", "/api/v1/break-glass/{grant_id}/review"): lambda t: {"note": "Appropriate emergency access"},
    ("POST", "/api/v1/staff"): lambda t: {"email": f"new-{uuid.uuid4().hex[:8]}@careloop-test.org",
                                          "given_name": "Robin", "family_name": "Okafor", "role": "scheduler"},
    ("PUT", "/api/v1/staff/{staff_id}/role"): lambda t: {"role": "billing"},
    ("PUT", "/api/v1/staff/{staff_id}/active"): lambda t: {"is_active": False},
    # Pages post forms (the CSRF token is added by the matrix).
    ("POST", "/patients/{patient_id}/break-glass"): lambda t: {"reason": "Unconscious in the emergency department"},
    ("POST", "/admin/break-glass/{grant_id}/review"): lambda t: {"note": "Appropriate emergency access"},
    ("PUT", "/api/v1/worklist/team/{staff_id}/away"): lambda t: {
        "away": True, "backup_id": str(t.staff[StaffRole.CARE_COORDINATOR].id)},
    ("POST", "/api/v1/tasks"): lambda t: {"patient_id": str(t.patient.id), "title": "Arrange transport",
                                          "owner_id": str(t.staff[StaffRole.CARE_COORDINATOR].id)},
    ("POST", "/api/v1/tasks/reassign"): lambda t: {"task_ids": [str(t.task)],
                                                   "owner_id": str(t.staff[StaffRole.RN_CARE_MANAGER].id)},
    ("PATCH", "/api/v1/tasks/{task_id}"): lambda t: {"title": "Call about medications today"},
    ("POST", "/api/v1/tasks/{task_id}/transition"): lambda t: {"status": "in_progress"},
    ("POST", "/api/v1/tasks/{task_id}/comments"): lambda t: {"body": "Left a voicemail"},
    ("POST", "/api/v1/tasks/{task_id}/time"): lambda t: {"minutes": 15},
    ("POST", "/worklist/team/{staff_id}/away"): lambda t: {
        "away": "true", "backup_id": str(t.staff[StaffRole.CARE_COORDINATOR].id)},
    ("POST", "/worklist/reassign"): lambda t: {"task_ids": [str(t.task)],
                                               "owner_id": str(t.staff[StaffRole.RN_CARE_MANAGER].id)},
    ("POST", "/tasks/{task_id}/status"): lambda t: {"status": "in_progress"},
    ("POST", "/tasks/{task_id}/comments"): lambda t: {"body": "Left a voicemail"},
    ("POST", "/tasks/{task_id}/time"): lambda t: {"minutes": "15"},
    ("POST", "/patients/{patient_id}/tasks"): lambda t: {
        "title": "Arrange transport", "assign": f"staff:{t.staff[StaffRole.CARE_COORDINATOR].id}"},
    # Care plans (API), protocol runs and the HL7 review queue.
    ("POST", "/api/v1/patients/{patient_id}/care-plans"): lambda t: {"title": "Heart failure plan"},
    ("PATCH", "/api/v1/care-plans/{care_plan_id}"): lambda t: {"title": "First plan, revised"},
    ("POST", "/api/v1/care-plans/{care_plan_id}/complete"): lambda t: {"reason": "Goals met"},
    ("POST", "/api/v1/care-plans/{care_plan_id}/revoke"): lambda t: {"reason": "Started for the wrong episode"},
    ("POST", "/api/v1/care-plans/{care_plan_id}/problems"): lambda t: {
        "condition_id": str(t.plans["spare_condition"])},
    ("POST", "/api/v1/care-plans/{care_plan_id}/goals"): lambda t: {"description": "Sleep seven hours"},
    ("PATCH", "/api/v1/care-plans/{care_plan_id}/goals/{goal_id}"): lambda t: {"description": "Walk 30 minutes"},
    ("POST", "/api/v1/care-plans/{care_plan_id}/goals/{goal_id}/status"): lambda t: {"status": "cancelled"},
    ("POST", "/api/v1/care-plans/{care_plan_id}/goals/{goal_id}/notes"): lambda t: {"body": "Walked 4 days"},
    ("POST", "/api/v1/care-plans/{care_plan_id}/activities"): lambda t: {"description": "Call every month"},
    ("PATCH", "/api/v1/care-plans/{care_plan_id}/activities/{activity_id}"): lambda t: {
        "description": "Call every two weeks"},
    ("POST", "/api/v1/care-plans/{care_plan_id}/education"): lambda t: {"title": "Salt", "body": "Less salt."},
    ("POST", "/api/v1/protocol-runs/{run_id}/cancel"): lambda t: {"reason": "Patient moved away"},
    ("POST", "/api/v1/hl7/messages/{message_id}/link"): lambda t: {"patient_id": str(t.patient.id)},
    ("POST", "/api/v1/hl7/messages/{message_id}/dismiss"): lambda t: {"reason": "Test message from the hospital"},
    # ... and their pages' forms.
    ("POST", "/patients/{patient_id}/care-plan"): lambda t: {"title": "Heart failure plan"},
    ("POST", "/care-plans/{care_plan_id}/sign"): lambda t: {},
    ("POST", "/care-plans/{care_plan_id}/end"): lambda t: {"status": "revoked",
                                                           "reason": "Started for the wrong episode"},
    ("POST", "/care-plans/{care_plan_id}/details"): lambda t: {"title": "First plan, revised"},
    ("POST", "/care-plans/{care_plan_id}/problems"): lambda t: {"condition_id": str(t.plans["spare_condition"])},
    ("POST", "/care-plans/{care_plan_id}/goals"): lambda t: {"description": "Sleep seven hours"},
    ("POST", "/care-plans/{care_plan_id}/goals/{goal_id}/status"): lambda t: {"status": "cancelled"},
    ("POST", "/care-plans/{care_plan_id}/goals/{goal_id}/notes"): lambda t: {"body": "Walked 4 days"},
    ("POST", "/care-plans/{care_plan_id}/activities"): lambda t: {"description": "Call every month"},
    ("POST", "/care-plans/{care_plan_id}/education"): lambda t: {"title": "Salt", "body": "Less salt."},
    ("POST", "/protocols/runs/{run_id}/cancel"): lambda t: {"reason": "Patient moved away"},
    ("POST", "/admin/hl7/messages/{message_id}/link"): lambda t: {"mrn": t.patient.mrn},
    ("POST", "/admin/hl7/messages/{message_id}/create-patient"): lambda t: {
        "coordinator_id": str(t.staff[StaffRole.CARE_COORDINATOR].id)},
    ("POST", "/admin/hl7/messages/{message_id}/dismiss"): lambda t: {"reason": "Test message from the hospital"},
    ("POST", "/patients"): lambda t: {"name": t.patient.family_name[:3], "status": "active"},
    ("POST", "/patients/results"): lambda t: {"mrn": t.patient.mrn},
    ("POST", "/api/v1/patients/_search"): lambda t: {"name": t.patient.family_name[:3]},
    ("POST", "/api/v1/patients/{patient_id}/referrals"): lambda t: {
        "provider_id": str(t.provider), "reason": "Chest pain on exertion"},
    ("POST", "/api/v1/referrals/{referral_id}/status"): lambda t: {"status": "sent"},
    ("POST", "/api/v1/patients/{patient_id}/community-referrals"): lambda t: {
        "service_id": str(t.community_service), "need": "food", "consent": True, "consent_method": "verbal"},
    ("POST", "/api/v1/community-referrals/{referral_id}/status"): lambda t: {"status": "accepted"},
    ("POST", "/patients/{patient_id}/community-referrals"): lambda t: {
        "service_id": str(t.community_service), "need": "food", "consent": "yes", "consent_method": "verbal"},
    ("POST", "/community-referrals/{referral_id}/status"): lambda t: {"status": "accepted"},
    ("POST", "/api/v1/patients/{patient_id}/result-orders"): lambda t: {"code": "4548-4", "display": "HbA1c"},
    ("POST", "/api/v1/result-orders/{order_id}/results"): lambda t: {
        "values": [{"code": "2345-7", "display": "Glucose", "value": "101", "interpretation": "H"}]},
    ("POST", "/api/v1/result-orders/{order_id}/status"): lambda t: {"status": "performed"},
    ("POST", "/patients/{patient_id}/results"): lambda t: {"kind": "lab", "code": "4548-4", "display": "HbA1c"},
    ("POST", "/result-orders/{order_id}/status"): lambda t: {"status": "performed"},
    ("POST", "/patients/{patient_id}/referrals"): lambda t: {"provider_id": str(t.provider),
                                                            "reason": "Chest pain on exertion"},
    ("POST", "/referrals/{referral_id}/status"): lambda t: {"status": "sent"},
    ("PUT", "/api/v1/referrals/targets"): lambda t: {"routine_days": 28, "urgent_days": 3, "stat_days": 1},
    ("POST", "/referrals/targets"): lambda t: {"routine_days": "28", "urgent_days": "3", "stat_days": "1"},
    ("POST", "/referrals/{referral_id}/documents"): lambda t: {"kind": "clinical_summary"},
    ("POST", "/api/v1/patients/{patient_id}/fills"): lambda t: [{
        "code": "314076", "display": "lisinopril 10 MG Oral Tablet", "filled_on": "2026-10-01", "days_supply": 30,
        "pharmacy": "Main St Pharmacy", "fill_number": uuid.uuid4().hex[:12]}],
    ("POST", "/api/v1/patients/{patient_id}/reconciliations"): lambda t: {},
    ("POST", "/api/v1/reconciliations/{reconciliation_id}/lines/{line_id}/decision"): lambda t: {
        "decision": "continue"},
    ("PUT", "/api/v1/medication-instructions"): lambda t: {
        "ingredient_rxcui": "6809", "title": "Metformin", "purpose": "Lowers blood sugar.",
        "how_to_take": "With meals.", "watch_for": "Stomach upset."},
    ("POST", "/api/v1/care-plans/{care_plan_id}/medication-education"): lambda t: {
        "medication_id": str(t.education_medication)},
    ("POST", "/patients/{patient_id}/medications"): lambda t: {
        "source": "patient_reported", "code": "", "display": "Vitamin D 1000 unit", "dose": "1 capsule"},
    ("POST", "/patients/{patient_id}/reconciliations"): lambda t: {"sources": ["practice", "hospital_discharge"]},
    ("POST", "/reconciliations/{reconciliation_id}/lines/{line_id}/decision"): lambda t: {"decision": "continue"},
    ("POST", "/reconciliations/{reconciliation_id}/sign"): lambda t: {},
    ("POST", "/patients/{patient_id}/medication-education"): lambda t: {"medication_id": str(t.education_medication)},
    ("POST", "/medication-instructions"): lambda t: {
        "ingredient_rxcui": "6809", "language": "es", "title": "Metformina", "purpose": "Baja el azúcar.",
        "how_to_take": "Con las comidas.", "watch_for": "Malestar de estómago."},
    ("POST", "/admin/data-exchange/exports"): lambda t: {"level": "system", "type": "Patient"},
    ("POST", "/admin/data-exchange/import"): lambda t: {"coordinator": str(t.staff[StaffRole.CARE_COORDINATOR].id)},
    ("POST", "/login/mfa"): lambda t: {"code": _current_totp(t)},
    ("POST", "/account/mfa"): lambda t: {"code": _current_totp(t)},
}
# Bodies that are not JSON or a form: (content type, bytes).
RAW_BODIES: dict[tuple[str, str], Callable[[Tenant], tuple[str, bytes]]] = {
    ("POST", "/api/v1/community/services/import"): lambda t: ("text/csv", (
        f"external_id,name,needs\n{uuid.uuid4().hex[:10]},Eastside Food Bank,food\n").encode()),
    ("POST", "/api/v1/directory/import"): lambda t: ("text/csv", (
        "external_id,name,specialty_code,specialty_display\n"
        f"{uuid.uuid4().hex[:10]},Lakeside Kidney Center,207RX0202X,Nephrology\n").encode()),
    ("POST", "/api/v1/referrals/{referral_id}/documents"): lambda t: ("application/pdf", PDF),
    ("POST", "/fhir/{resource_type}/_search"): lambda t: ("application/x-www-form-urlencoded",
                                                          f"patient={t.patient.id}".encode()),
    ("POST", "/fhir/{resource_type}"): lambda t: ("application/fhir+json", _fhir_observation(t)),
    ("POST", "/fhir"): lambda t: ("application/fhir+json", orjson.dumps({
        "resourceType": "Bundle", "type": "transaction", "entry": [{
            "resource": orjson.loads(_fhir_observation(t)), "request": {"method": "POST", "url": "Observation"}}]})),
    ("PUT", "/fhir/{resource_type}/{resource_id}"): lambda t: ("application/fhir+json", _fhir_observation(t)),
    ("POST", "/fhir/$import"): lambda t: ("application/fhir+json", orjson.dumps({
        "resourceType": "Bundle", "type": "collection", "entry": [{"resource": {
            "resourceType": "Patient", "id": uuid.uuid4().hex, "name": [{"family": "Imported", "given": ["Ida"]}],
            "gender": "female", "birthDate": "1950-02-03"}}]})),
    ("POST", "/api/v1/medication-fills/import"): lambda t: ("text/csv", (
        "mrn,code,display,filled_on,days_supply,pharmacy,fill_number\n"
        f"{t.patient.mrn},314076,lisinopril 10 MG Oral Tablet,2026-10-01,30,Main St,{uuid.uuid4().hex[:10]}\n"
    ).encode()),
    ("POST", "/api/v1/hl7/messages"): lambda t: ("x-application/hl7-v2+er7", ADT.format(
        facility=t.hl7_facility, control=uuid.uuid4().hex[:20], mrn=t.patient.mrn, visit="V1").encode()),
}
# Files a page form uploads (multipart): field -> (name, bytes, type).
FILES: dict[tuple[str, str], Callable[[Tenant], dict[str, tuple[str, bytes, str]]]] = {
    ("POST", "/referrals/{referral_id}/documents"): lambda t: {"file": ("summary.pdf", PDF, "application/pdf")},
    ("POST", "/admin/data-exchange/import"): lambda t: {"file": ("patients.ndjson", orjson.dumps({
        "resourceType": "Patient", "id": uuid.uuid4().hex, "name": [{"family": "Imported", "given": ["Ida"]}],
        "gender": "female", "birthDate": "1950-02-03"}), "application/fhir+ndjson")},
}
def _fhir_observation(t: Tenant) -> bytes:
    return orjson.dumps({"resourceType": "Observation", "status": "final", "code": {"coding": [
        {"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
        "subject": {"reference": f"Patient/{t.patient.id}"}, "effectiveDateTime": "2026-11-01T08:00:00Z",
        "valueQuantity": {"value": 72, "unit": "/min"}})


# The version a PATCH must name in If-Match (default 1).
VERSIONS: dict[tuple[str, str], Callable[[Tenant, Any], int]] = {
    ("PATCH", "/api/v1/care-plans/{care_plan_id}"): lambda t, session: session.get(CarePlan, t.plans["draft"]).version,
}
for _kind, (_create, _update) in RECORD_BODIES.items():
    BODIES[("POST", RECORDS + _kind)] = lambda t, body=_create: body
    BODIES[("PATCH", RECORDS + _kind + "/{record_id}")] = lambda t, body=_update: body


@dataclass
class Caller:
    """Sends one route's request as a given principal (bearer token or browser session)."""

    client: Any
    world: World
    case: RouteCase

    def send(self, tenant: Tenant, *, token: str | None = None, cookie: tuple[str, str] | None = None):
        key = (self.case.method, self.case.path)
        headers = dict(HEADERS.get(key, {}))
        if self.case.method == "PATCH":
            self.world.session.expire_all()
            headers["If-Match"] = f'W/"{VERSIONS[key](tenant, self.world.session) if key in VERSIONS else 1}"'
        kwargs: dict[str, Any] = {"params": QUERIES[key](tenant)} if key in QUERIES else {}
        body = BODIES.get(key)
        if key in RAW_BODIES:
            content_type, kwargs["content"] = RAW_BODIES[key](tenant)
            headers["Content-Type"] = content_type
        if self.case.has_body and not refusals_only(self.case):
            assert body is not None, f"add a minimal valid body for {self.case.method} {self.case.path} to BODIES"
        if token is not None:
            headers.update(auth(token))
        if self.case.is_api:
            if body is not None:
                kwargs["json"] = body(tenant)
        else:
            form = body(tenant) if body is not None else {}
            if cookie is not None:
                self.client.cookies.set("careloop_session", cookie[0])
                form["csrf_token"] = cookie[1]
            if self.case.method != "GET":
                kwargs["data"] = form
            if key in FILES:
                kwargs["files"] = FILES[key](tenant)
        try:
            url = url_for(self.case.path, tenant, placeholders=refusals_only(self.case))
            return self.client.request(self.case.method, url, headers=headers,
                                       follow_redirects=False, **kwargs)
        finally:
            self.client.cookies.clear()


def _signed_in(world: World, staff) -> tuple[str, str]:
    raw, web = auth_service.start_session(world.session, staff, None, mfa_pending=False)
    world.session.commit()
    return raw, web.csrf_token


def _allowed_role(case: RouteCase) -> StaffRole:
    needed = set(case.permissions or ())
    role = next((r for r in ALLOWED_ROLES if needed <= ROLE_PERMISSIONS[r]), None)
    assert role is not None, f"no seeded role may call {case.method} {case.path}; extend ALLOWED_ROLES"
    return role


def _assert_refused_stranger(case: RouteCase, response) -> None:
    if case.is_api:
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"].startswith("Bearer")
        errors = "application/fhir+json" if case.path.startswith("/fhir") else "application/problem+json"
        assert response.headers["content-type"].startswith(errors)  # FHIR errors are OperationOutcomes
    elif case.method == "GET":
        assert response.status_code == 303, response.text
        assert response.headers["location"].startswith("/login")
    else:  # a form post without a session: sent to sign in, or refused by the CSRF check
        assert response.status_code in (303, 401, 403), response.text
        if response.status_code == 303:
            assert response.headers["location"].startswith("/login")


def _assert_no_phi(response, tenant: Tenant) -> None:
    for value in (tenant.patient.family_name, tenant.patient.mrn, tenant.patient.birth_date.isoformat()):
        assert value not in response.text


# --- the matrix ----------------------------------------------------------------------------------------------

# FHIR type-level searches: `{resource_type}` names a type, not a record (the search is scoped, never 404).
TYPE_SEARCHES = {("GET", "/fhir/{resource_type}"), ("POST", "/fhir/{resource_type}/_search")}
# Known defects outside the access layer, each failing this matrix until fixed (strict: a fix must remove it).
KNOWN_BROKEN: dict[tuple[str, str], str] = {}
# Route families added while their seeded records were still being built: only the refusals (stranger, role,
# token scope) are checked, with placeholder ids. Each owner should add seeded ids to PATH_IDS and bodies to
# BODIES, then drop the family here so other-organisation (404) and allowed (2xx) are checked too.
REFUSALS_ONLY: tuple[tuple[str, str], ...] = ()


def refusals_only(case: RouteCase) -> bool:
    return any(case.path.startswith(prefix) for prefix, _ in REFUSALS_ONLY)


def _params(routes: list[RouteCase]) -> list:
    return [pytest.param(r, id=f"{r.method} {r.path}",
                         marks=[pytest.mark.xfail(strict=True, reason=KNOWN_BROKEN[(r.method, r.path)])]
                         if (r.method, r.path) in KNOWN_BROKEN else [])
            for r in routes]


@pytest.mark.parametrize("case", _params(ROUTES))
def test_route_access(case: RouteCase, world: World, client) -> None:
    check_route(case, world, client)


def check_route(case: RouteCase, world: World, client) -> None:
    """Stranger, wrong role, narrow token, other organisation, allowed: each answered as it must be."""
    caller = Caller(client, world, case)
    a, b = world.a, world.b
    if case.public:
        _check_public(case, world, client)
        return

    _assert_refused_stranger(case, caller.send(a))
    _assert_refused_stranger(case, caller.send(a, token="clt_not-a-real-token"))
    if not case.permissions:
        assert (case.method, case.path) in AUTHENTICATED_ONLY, (
            f"{case.method} {case.path} declares no permission: use Depends(require(Permission.X)) "
            "(or require_page), or list it in AUTHENTICATED_ONLY if any signed-in user may call it")
        _check_authenticated_only(case, caller, world)
        return

    role = _allowed_role(case)
    staff = a.staff[role]

    # A role without the permission: 403, whatever the record.
    lacking = next((r for r in StaffRole if not set(case.permissions) <= ROLE_PERMISSIONS[r]), None)
    if lacking is not None:
        response = _as(caller, world, a, lacking)
        assert response.status_code == 403, response.text
    # The right role, but a token whose scopes leave the permission out: 403.
    if case.is_api:
        narrow = " ".join(p.value for p in Permission if p not in case.permissions)
        response = caller.send(a, token=make_token(world.session, staff, scopes=narrow))
        assert response.status_code == 403, response.text
    if refusals_only(case):
        return

    # A search whose only path parameter is a resource type: another organisation's ids in it find nothing.
    if (case.method, case.path) in TYPE_SEARCHES:
        response = _as(caller, world, b, role, staff=staff)
        assert response.status_code == 200, response.text
        _assert_no_phi(response, b)
    # Another organisation's record: 404, and nothing of that record in the body.
    elif "{" in case.path:
        response = _as(caller, world, b, role, staff=staff)
        assert response.status_code == 404, response.text
        _assert_no_phi(response, b)

    # Another organisation's ids in the body of a route without path ids: refused, nothing of theirs shown.
    body = BODIES.get((case.method, case.path))
    if "{" not in case.path and body is not None and _mentions(body(b), b):
        response = _as(caller, world, b, role, staff=staff)
        assert response.status_code in (404, 422), response.text
        _assert_no_phi(response, b)

    # Allowed.
    response = _as(caller, world, a, role)
    assert 200 <= response.status_code < 300 or (not case.is_api and response.status_code == 303
                                                 and not response.headers["location"].startswith("/login")), \
        f"{role.value}: {response.status_code} {response.text[:300]}"


def _mentions(body: dict, tenant: Tenant) -> bool:
    ids = {str(tenant.patient.id), str(tenant.duplicate.id), str(tenant.task),
           *(str(s.id) for s in tenant.staff.values())}
    return any(i in str(body) for i in ids)


def _as(caller: Caller, world: World, tenant: Tenant, role: StaffRole, *, staff=None):
    """Send as a role of organisation A (ids from `tenant`, which may be the other organisation)."""
    staff = staff or world.a.staff[role]
    if caller.case.is_api:
        return caller.send(tenant, token=world.a.token(role) if staff is world.a.staff[role] else
                           make_token(world.session, staff))
    return caller.send(tenant, cookie=_signed_in(world, staff))


def _current_totp(t: Tenant) -> str:
    """Enrol the tenant's biller in TOTP (once) and return the current code."""
    staff = t.staff[StaffRole.BILLING]
    if staff.mfa_secret_encrypted is None:
        auth_service.begin_mfa_enrolment(staff)
        object_session(staff).commit()
    return pyotp.TOTP(secrets_box.decrypt(staff.mfa_secret_encrypted)).now()


def _check_authenticated_only(case: RouteCase, caller: Caller, world: World) -> None:
    """Any signed-in user (here a biller, with a token scoped to almost nothing) gets through."""
    if case.is_api:
        token = make_token(world.session, world.a.staff[StaffRole.BILLING], scopes="staff:read")
        world.session.commit()
        response = caller.send(world.a, token=token)
    else:
        response = caller.send(world.a, cookie=_signed_in(world, world.a.staff[StaffRole.BILLING]))
    assert response.status_code < 400, response.text


def _check_public(case: RouteCase, world: World, client) -> None:
    if case.path.startswith(PUBLIC_MOUNTS):
        return
    if (case.method, case.path) == ("POST", "/oauth/token"):
        secret, registered = auth_service.register_client(world.session, world.a.org.id,
                                                          f"hie-{uuid.uuid4().hex[:8]}", "patient:read")
        world.session.commit()
        response = client.post("/oauth/token", data={"grant_type": "client_credentials",
                                                     "client_id": registered.name, "client_secret": secret})
        assert response.status_code == 200, response.text
        return
    if (case.method, case.path) == ("POST", "/login"):
        page = client.get("/login")
        token = client.cookies.get("careloop_login_csrf")
        response = client.post("/login", data={"email": world.a.staff[StaffRole.BILLING].email,
                                               "password": PASSWORD, "csrf_token": token},
                               follow_redirects=False)
        assert page.status_code == 200 and response.status_code == 303, response.text
        return
    response = client.request(case.method, case.path, follow_redirects=False)
    assert response.status_code in (200, 303), response.text


# --- the matrix itself fails for unprotected routes -------------------------------------------------------------

def _leaky_router():
    from careloop.auth.deps import require
    from careloop.patients.models import Patient
    from careloop.routing import db, router

    leaks = router(prefix="/api/v1/leaks")

    @leaks.get("/open/{patient_id}")
    def open_read(patient_id: uuid.UUID) -> dict:  # no access control at all
        return {"id": str(patient_id)}

    @leaks.get("/unscoped/{patient_id}")
    def unscoped_read(patient_id: uuid.UUID, session=Depends(db),
                      actor=Depends(require(Permission.PATIENT_READ))) -> dict:  # ignores the organisation
        return {"id": str(session.get(Patient, patient_id).id)}

    @leaks.get("/signed-in")
    def any_user(actor=Depends(api_actor)) -> dict:  # authenticated, but declares no permission
        return {}

    return leaks


@pytest.mark.parametrize("path, caught_by", [
    ("/api/v1/leaks/open/{patient_id}", lambda w: str(w.a.patient.id)),  # a stranger got A's record
    ("/api/v1/leaks/unscoped/{patient_id}", lambda w: str(w.b.patient.id)),  # A's user got B's record
    ("/api/v1/leaks/signed-in", lambda w: "declares no permission"),
])
def test_the_matrix_fails_for_a_route_without_access_control(app, client, world: World, path, caught_by):
    app.include_router(_leaky_router())
    [case] = [c for c in collect_routes(app) if c.path == path]
    with pytest.raises(AssertionError, match=re.escape(caught_by(world))):
        check_route(case, world, client)
