"""Medication pages: a patient's lists side by side with checks and adherence, and the reconciliation screen."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session

from careloop.auth import access
from careloop.auth.actor import Actor
from careloop.auth.deps import require_page
from careloop.auth.permissions import Permission
from careloop.clinical import service as clinical
from careloop.clinical.schemas import MedicationCreate
from careloop.errors import InvalidInput
from careloop.medications import service
from careloop.medications.models import Decision, MedicationSource
from careloop.medications.rules import Discrepancy
from careloop.medications.schemas import InstructionIn, LineDecision, ReconciliationStart
from careloop.medications.vocabulary import drugs, ingredients, lookup
from careloop.routing import db, router
from careloop.web.csrf import verify_csrf
from careloop.web.forms import validated
from careloop.web.render import render_page
from careloop.web.shell import workspace

pages = router(include_in_schema=False, dependencies=[Depends(workspace)])
Db = Annotated[Session, Depends(db)]
Reader = Annotated[Actor, Depends(require_page(Permission.CLINICAL_READ))]
Writer = Annotated[Actor, Depends(require_page(Permission.CLINICAL_WRITE))]
Reconciler = Annotated[Actor, Depends(require_page(Permission.CLINICAL_WRITE, Permission.MEDICATION_RECONCILE))]
PlanReader = Annotated[Actor, Depends(require_page(Permission.CARE_PLAN_READ))]
PlanWriter = Annotated[Actor, Depends(require_page(Permission.CARE_PLAN_WRITE))]
Long = Annotated[str, Form(max_length=4000)]
Csrf = [Depends(verify_csrf)]
Short = Annotated[str, Form(max_length=300)]
# Discrepancy classes as the screen shows them (tone for the badge).
TONES = {Discrepancy.UNCHANGED: "success", Discrepancy.NEW: "info", Discrepancy.OMITTED: "warning",
         Discrepancy.DOSE: "warning", Discrepancy.FREQUENCY: "warning", Discrepancy.ROUTE: "warning",
         Discrepancy.DUPLICATION: "danger", Discrepancy.UNVERIFIABLE: "neutral"}


@pages.get("/patients/{patient_id}/medications", response_class=HTMLResponse)
def medications_page(patient_id: uuid.UUID, request: Request, session: Db, actor: Reader) -> HTMLResponse:
    patient = access.load_patient(session, actor, patient_id, Permission.CLINICAL_READ)
    conflicts, high_risk = service.checks(session, actor, patient_id)
    return render_page(request, "medications/patient.html", {
        "patient": patient, "lists": service.lists(session, actor, patient_id), "conflicts": conflicts,
        "high_risk": set(high_risk), "adherence": service.adherence(session, actor, patient_id),
        "reconciliations": service.reconciliations(session, actor, patient_id),
        "interactions": service.INTERACTIONS_UNAVAILABLE, "sources": list(MedicationSource),
        "vocabulary": sorted((d for d in drugs().values() if d.strength), key=lambda d: d.name.lower()),
        "draft_plan": service.draft_plan(session, patient_id),
        "can_write": Permission.CLINICAL_WRITE in actor.permissions,
        "can_plan": Permission.CARE_PLAN_WRITE in actor.permissions})


@pages.post("/patients/{patient_id}/medications", dependencies=Csrf)
def add_medication(patient_id: uuid.UUID, session: Db, actor: Writer, source: Short = "", code: Short = "",
                   display: Short = "", dose: Short = "", route: Short = "", frequency: Short = "") -> RedirectResponse:
    drug = lookup(code) if code else None
    if code and drug is None:
        raise InvalidInput("Choose a medicine from the list, or type its name", field="code")
    data = validated(MedicationCreate, {"source": source, "code": code or None,
                                        "display": drug.name if drug else display.strip(), "dose": dose.strip(),
                                        "route": route.strip(), "frequency": frequency.strip()})
    clinical.create_record(session, actor, clinical.KINDS["medications"], patient_id, data)
    return RedirectResponse(f"/patients/{patient_id}/medications", status_code=303)


@pages.post("/patients/{patient_id}/reconciliations", dependencies=Csrf)
async def start_reconciliation(patient_id: uuid.UUID, request: Request, session: Db,
                               actor: Writer) -> RedirectResponse:
    chosen = (await request.form()).getlist("sources")
    rec = service.start_reconciliation(session, actor, patient_id, validated(ReconciliationStart,
                                                                             {"sources": chosen}))
    return RedirectResponse(f"/reconciliations/{rec.id}", status_code=303)


@pages.get("/reconciliations/{reconciliation_id}", response_class=HTMLResponse)
def reconciliation_page(reconciliation_id: uuid.UUID, request: Request, session: Db, actor: Reader) -> HTMLResponse:
    rec = service.get_reconciliation(session, actor, reconciliation_id, Permission.CLINICAL_READ)
    patient = access.load_patient(session, actor, rec.patient_id, Permission.CLINICAL_READ)
    lines = service.lines_of(session, rec)
    return render_page(request, "medications/reconciliation.html", {
        "rec": rec, "patient": patient, "lines": lines, "meds": service.medications_of(session, lines),
        "tones": {k.value: v for k, v in TONES.items()}, "decisions": list(Decision),
        "allergies": {a.id: a.substance for a in service.active_allergies(session, rec.patient_id)},
        "undecided": sum(1 for ln in lines if ln.decision is None),
        "can_decide": {Permission.CLINICAL_WRITE, Permission.MEDICATION_RECONCILE} <= actor.permissions})


@pages.post("/reconciliations/{reconciliation_id}/lines/{line_id}/decision", dependencies=Csrf)
def decide(reconciliation_id: uuid.UUID, line_id: uuid.UUID, session: Db, actor: Reconciler, decision: Short = "",
           from_source: Short = "", dose: Short = "", route: Short = "", frequency: Short = "",
           reason: Short = "") -> RedirectResponse:
    service.decide(session, actor, reconciliation_id, line_id, validated(LineDecision, {
        "decision": decision, "from_source": from_source, "dose": dose.strip(), "route": route.strip(),
        "frequency": frequency.strip(), "reason": reason.strip()}))
    return RedirectResponse(f"/reconciliations/{reconciliation_id}#line-{line_id}", status_code=303)


@pages.post("/reconciliations/{reconciliation_id}/sign", dependencies=Csrf)
def sign(reconciliation_id: uuid.UUID, session: Db, actor: Reconciler) -> RedirectResponse:
    rec = service.sign(session, actor, reconciliation_id)
    return RedirectResponse(f"/reconciliations/{rec.id}", status_code=303)


@pages.post("/patients/{patient_id}/medication-education", dependencies=Csrf)
def attach_education(patient_id: uuid.UUID, session: Db, actor: PlanWriter,
                     medication_id: Short = "") -> RedirectResponse:
    plan = service.draft_plan(session, patient_id)
    if plan is None:
        raise InvalidInput("Start a draft care plan first (or revise the active one)", field="medication_id")
    try:
        chosen = uuid.UUID(medication_id)
    except ValueError as err:
        raise InvalidInput("Choose a medicine", field="medication_id") from err
    service.attach_education(session, actor, plan.id, chosen)
    return RedirectResponse(f"/patients/{patient_id}/care-plan", status_code=303)


@pages.get("/medication-instructions", response_class=HTMLResponse)
def instructions_page(request: Request, session: Db, actor: PlanReader) -> HTMLResponse:
    return render_page(request, "medications/instructions.html", {
        "instructions": service.instructions(session, actor),
        "ingredients": sorted(ingredients().values(), key=lambda i: i.name),
        "names": {i.rxcui: i.name for i in ingredients().values()},
        "can_write": Permission.CARE_PLAN_WRITE in actor.permissions})


@pages.post("/medication-instructions", dependencies=Csrf)
def save_instruction(session: Db, actor: PlanWriter, ingredient_rxcui: Short = "", language: Short = "en",
                     title: Short = "", purpose: Long = "", how_to_take: Long = "",
                     watch_for: Long = "") -> RedirectResponse:
    service.save_instruction(session, actor, validated(InstructionIn, {
        "ingredient_rxcui": ingredient_rxcui, "language": language.strip().lower(), "title": title,
        "purpose": purpose, "how_to_take": how_to_take, "watch_for": watch_for}))
    return RedirectResponse("/medication-instructions", status_code=303)
