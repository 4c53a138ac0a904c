"""Medication management JSON API: lists by source, fills, adherence, checks, reconciliation, instructions."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import Depends, Query, Request, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from careloop.auth.actor import Actor
from careloop.auth.deps import require
from careloop.auth.permissions import Permission
from careloop.care_plans.schemas import EducationRead
from careloop.clinical.schemas import MedicationRead
from careloop.etags import if_match, set_etag
from careloop.medications import service
from careloop.medications.models import Medication, Reconciliation, ReconciliationLine
from careloop.medications.schemas import (
    AdherenceRead,
    AllergyConflict,
    ChecksRead,
    EducationFromMedication,
    EntryRead,
    FillImportResult,
    FillIn,
    FillRead,
    Gap,
    InstructionIn,
    InstructionRead,
    InteractionsStatus,
    LineDecision,
    LineRead,
    ReconciliationRead,
    ReconciliationStart,
)
from careloop.medications.vocabulary import search
from careloop.routing import csv_body, db, router

api = router(prefix="/api/v1", tags=["medications"])
Db = Annotated[Session, Depends(db)]
Reader = Annotated[Actor, Depends(require(Permission.CLINICAL_READ))]
Writer = Annotated[Actor, Depends(require(Permission.CLINICAL_WRITE))]
Reconciler = Annotated[Actor, Depends(require(Permission.CLINICAL_WRITE, Permission.MEDICATION_RECONCILE))]
PlanReader = Annotated[Actor, Depends(require(Permission.CARE_PLAN_READ))]
PlanWriter = Annotated[Actor, Depends(require(Permission.CARE_PLAN_WRITE))]


class DrugRead(BaseModel):
    rxcui: str
    name: str
    ingredients: list[str]
    drug_classes: list[str]
    high_risk: bool


class FillsCreated(BaseModel):
    created: int
    updated: int


@api.get("/drugs", response_model=list[DrugRead], summary="Search the local drug vocabulary (RxNorm codes)")
def drugs(actor: Reader, q: Annotated[str, Query(max_length=60)] = "",
          limit: Annotated[int, Query(ge=1, le=200)] = 20) -> list[DrugRead]:
    return [DrugRead(rxcui=d.rxcui, name=d.name, ingredients=[i.name for i in d.ingredients],
                     drug_classes=sorted(d.classes), high_risk=d.high_risk) for d in search(q, limit)]


@api.get("/patients/{patient_id}/medication-lists", response_model=dict[str, list[MedicationRead]],
         summary="The patient's current medicines by source (practice, hospital discharge, pharmacy, patient)")
def medication_lists(patient_id: uuid.UUID, session: Db, actor: Reader) -> dict[str, list[MedicationRead]]:
    return {source.value: [MedicationRead.model_validate(m) for m in meds]
            for source, meds in service.lists(session, actor, patient_id).items()}


@api.get("/patients/{patient_id}/fills", response_model=list[FillRead], summary="Pharmacy fills, newest first")
def fills(patient_id: uuid.UUID, session: Db, actor: Reader) -> list[FillRead]:
    return [FillRead.model_validate(f) for f in service.patient_fills(session, actor, patient_id)]


@api.post("/patients/{patient_id}/fills", response_model=FillsCreated, status_code=201,
          summary="Record pharmacy fills (the same pharmacy and fill number again updates)")
def add_fills(patient_id: uuid.UUID, data: Annotated[list[FillIn], ...], session: Db, actor: Writer) -> FillsCreated:
    created, updated = service.add_fills(session, actor, patient_id, data)
    return FillsCreated(created=created, updated=updated)


@api.post("/medication-fills/import", response_model=FillImportResult,
          summary="Pharmacy fills from CSV (mrn, code, display, filled_on, days_supply, pharmacy, fill_number, "
                  "quantity); all rows or none")
async def import_fills(request: Request, session: Db, actor: Writer) -> FillImportResult:
    return service.import_fills(session, actor, await csv_body(request))


@api.get("/patients/{patient_id}/adherence", response_model=list[AdherenceRead],
         summary="Proportion of days covered per medicine and class, lowest first, with refill gaps")
def adherence(patient_id: uuid.UUID, session: Db, actor: Reader, start: dt.date | None = None,
              end: dt.date | None = None) -> list[AdherenceRead]:
    return [to_adherence(key, label, pdc)
            for key, label, pdc in service.adherence(session, actor, patient_id, start=start, end=end)]


def to_adherence(key: str, label: str, pdc) -> AdherenceRead:
    return AdherenceRead(group=key, label=label, pdc=round(pdc.ratio, 4), adherent=pdc.adherent,
                         index_date=pdc.index_date, period_end=pdc.period_end, fills=pdc.fills,
                         gaps=[Gap(start=a, end=b, days=(b - a).days + 1) for a, b in pdc.gaps])


@api.get("/patients/{patient_id}/medication-checks", response_model=ChecksRead,
         summary="Allergy conflicts and high-risk medicines across the lists; interaction checking status")
def medication_checks(patient_id: uuid.UUID, session: Db, actor: Reader) -> ChecksRead:
    conflicts, high_risk = service.checks(session, actor, patient_id)
    return ChecksRead(
        allergy_conflicts=[AllergyConflict(medication_id=m.id, medication=m.display, source=m.source.value,
                                           allergy_id=uuid.UUID(a.id), substance=a.substance) for m, a in conflicts],
        high_risk=high_risk, interactions=InteractionsStatus(available=False, reason=service.INTERACTIONS_UNAVAILABLE))


@api.get("/patients/{patient_id}/reconciliations", response_model=list[ReconciliationRead],
         summary="The patient's medication reconciliations, newest first")
def patient_reconciliations(patient_id: uuid.UUID, session: Db, actor: Reader) -> list[ReconciliationRead]:
    return [to_read(session, r) for r in service.reconciliations(session, actor, patient_id)]


@api.post("/patients/{patient_id}/reconciliations", response_model=ReconciliationRead, status_code=201,
          summary="Compare two or more medication lists (the first is the baseline)")
def start_reconciliation(patient_id: uuid.UUID, data: ReconciliationStart, response: Response, session: Db,
                         actor: Writer) -> ReconciliationRead:
    rec = service.start_reconciliation(session, actor, patient_id, data)
    response.headers["Location"] = f"/api/v1/reconciliations/{rec.id}"
    return to_read(session, rec, response)


@api.get("/reconciliations/{reconciliation_id}", response_model=ReconciliationRead,
         summary="A reconciliation: lines with entries per list, discrepancies and decisions")
def read_reconciliation(reconciliation_id: uuid.UUID, response: Response, session: Db,
                        actor: Reader) -> ReconciliationRead:
    rec = service.get_reconciliation(session, actor, reconciliation_id, Permission.CLINICAL_READ)
    return to_read(session, rec, response)


@api.post("/reconciliations/{reconciliation_id}/lines/{line_id}/decision", response_model=ReconciliationRead,
          summary="Decide one line: continue, stop or modify (licensed clinicians)")
def decide(reconciliation_id: uuid.UUID, line_id: uuid.UUID, data: LineDecision, response: Response, session: Db,
           actor: Reconciler) -> ReconciliationRead:
    service.decide(session, actor, reconciliation_id, line_id, data)
    rec = service.get_reconciliation(session, actor, reconciliation_id, Permission.CLINICAL_READ)
    return to_read(session, rec, response)


@api.post("/reconciliations/{reconciliation_id}/sign", response_model=ReconciliationRead,
          summary="Sign: the decisions become the active list (If-Match checked when sent)")
def sign(reconciliation_id: uuid.UUID, request: Request, response: Response, session: Db,
         actor: Reconciler) -> ReconciliationRead:
    rec = service.sign(session, actor, reconciliation_id, expected_version=if_match(request))
    return to_read(session, rec, response)


def to_read(session: Session, rec: Reconciliation, response: Response | None = None) -> ReconciliationRead:
    if response is not None:
        set_etag(response, rec.version)
    lines = service.lines_of(session, rec)
    meds = service.medications_of(session, lines)
    return ReconciliationRead(
        id=rec.id, patient_id=rec.patient_id, sources=rec.sources, status=rec.status, started_by_id=rec.started_by_id,
        started_at=rec.started_at, signed_by_id=rec.signed_by_id, signed_at=rec.signed_at, version=rec.version,
        lines=[_line(line, meds) for line in lines])


def _line(line: ReconciliationLine, meds: dict[str, Medication]) -> LineRead:
    entries = {source: [EntryRead(medication_id=m.id, display=m.display, code=m.code, dose=m.dose, route=m.route,
                                  frequency=m.frequency) for m in (meds.get(i) for i in ids) if m is not None]
               for source, ids in line.entries.items()}
    return LineRead(id=line.id, label=line.label, classes=line.classes, details=line.details,
                    high_risk=line.high_risk, allergy_ids=[uuid.UUID(a) for a in line.allergy_ids], entries=entries,
                    decision=line.decision, decided_from=line.decided_from, dose=line.dose, route=line.route,
                    frequency=line.frequency, reason=line.reason, decided_by_id=line.decided_by_id,
                    decided_at=line.decided_at, result_medication_id=line.result_medication_id)


@api.get("/medication-instructions", response_model=list[InstructionRead],
         summary="The organisation's patient instructions per medicine and language")
def list_instructions(session: Db, actor: PlanReader) -> list[InstructionRead]:
    return [InstructionRead.model_validate(i) for i in service.instructions(session, actor)]


@api.put("/medication-instructions", response_model=InstructionRead,
         summary="Write (or replace) the instructions for an ingredient in a language")
def save_instruction(data: InstructionIn, session: Db, actor: PlanWriter) -> InstructionRead:
    return InstructionRead.model_validate(service.save_instruction(session, actor, data))


@api.post("/care-plans/{care_plan_id}/medication-education", response_model=EducationRead, status_code=201,
          summary="Attach a medicine's instructions (in the patient's language when written) to a draft plan")
def attach_education(care_plan_id: uuid.UUID, data: EducationFromMedication, session: Db,
                     actor: PlanWriter) -> EducationRead:
    return EducationRead.model_validate(service.attach_education(session, actor, care_plan_id, data.medication_id))
