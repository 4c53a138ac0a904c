"""Medication management: lists by source, pharmacy fills, reconciliation, adherence, checks, instructions."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from careloop import clock, csv_import
from careloop.audit import service as audit
from careloop.auth import access
from careloop.auth.actor import Actor
from careloop.auth.permissions import Permission
from careloop.care_plans import content as care_plan_content
from careloop.care_plans import service as care_plans
from careloop.care_plans.models import CarePlan, CarePlanStatus, EducationItem
from careloop.care_plans.schemas import EducationCreate
from careloop.care_teams import service as care_teams
from careloop.clinical.models import Allergy, AllergyCategory, AllergyStatus
from careloop.errors import Conflict, InvalidInput, InvalidTransition, NotFound, StaleVersion
from careloop.events import service as events
from careloop.medications import rules
from careloop.medications.models import (
    Adherence,
    Decision,
    Medication,
    MedicationFill,
    MedicationInstruction,
    MedicationSource,
    MedicationStatus,
    Reconciliation,
    ReconciliationLine,
    ReconciliationStatus,
)
from careloop.medications.schemas import (
    FillImportResult,
    FillIn,
    FillRow,
    InstructionIn,
    LineDecision,
    ReconciliationStart,
)
from careloop.medications.vocabulary import lookup
from careloop.organizations.models import Organization
from careloop.patients.models import Patient
from careloop.tasks import service as tasks
from careloop.tasks.models import OPEN_STATUSES, Task, TaskFocus, TaskPriority, TaskStatus

LISTED = (MedicationStatus.ACTIVE, MedicationStatus.ON_HOLD)
RECONCILIATION_STEP = "medication_reconciliation"  # the hospital-discharge protocol's step it completes
INTERACTIONS_UNAVAILABLE = ("No maintained, licensed drug-drug interaction source can be installed from PyPI or npm "
                            "here, so CareLoop does not check interactions (it never invents interaction data). "
                            "Check interactions in the prescribing system or a licensed reference.")


# --- lists by source ---------------------------------------------------------------------------------------

def lists(session: Session, actor: Actor, patient_id: uuid.UUID) -> dict[MedicationSource, list[Medication]]:
    """The patient's current medicines on each list (active or on hold), audited as one read."""
    patient = access.load_patient(session, actor, patient_id, Permission.CLINICAL_READ)
    found: dict[MedicationSource, list[Medication]] = {s: [] for s in MedicationSource}
    for med in session.scalars(select(Medication).where(Medication.patient_id == patient.id,
                                                        Medication.status.in_(LISTED))
                               .order_by(Medication.display, Medication.id)):
        found[med.source].append(med)
    audit.record(session, actor, "read", patient_id=patient.id, record_type="MedicationLists",
                 detail={s.value: len(v) for s, v in found.items()})
    return found


def _entry(med: Medication) -> rules.Entry:
    return rules.Entry(id=str(med.id), source=med.source.value, display=med.display, code=med.code,
                       dose=med.dose, route=med.route, frequency=med.frequency)


# --- pharmacy fills ------------------------------------------------------------------------------------------

def add_fills(session: Session, actor: Actor, patient_id: uuid.UUID, fills: list[FillIn]) -> tuple[int, int]:
    """Record dispenses for a patient (a resent pharmacy + fill number updates); adherence is recomputed."""
    patient = access.load_patient(session, actor, patient_id, Permission.CLINICAL_WRITE)
    created, updated = _upsert_fills(session, patient, fills)
    audit.record(session, actor, "create", patient_id=patient.id, record_type="MedicationFill",
                 detail={"created": created, "updated": updated})
    refresh_adherence(session, patient)
    return created, updated


def import_fills(session: Session, actor: Actor, text: str) -> FillImportResult:
    """Fills from CSV (columns of FillRow; the patient by MRN): all rows or none, the bad row named."""
    actor.require(Permission.CLINICAL_WRITE)
    rows = csv_import.read_rows(text, FillRow)
    by_mrn: dict[str, list[FillRow]] = defaultdict(list)
    for row in rows:
        by_mrn[row.mrn].append(row)
    patients = dict(session.execute(select(Patient.mrn, Patient.id).where(
        Patient.organization_id == actor.organization_id, Patient.mrn.in_(list(by_mrn)))).all())
    missing = [n for n, row in enumerate(rows, 2) if row.mrn not in patients]
    if missing:
        raise InvalidInput(f"Row {missing[0]}: mrn is not a patient of this organisation", field="mrn")
    created = updated = 0
    for mrn, fills in by_mrn.items():
        patient = access.load_patient(session, actor, patients[mrn], Permission.CLINICAL_WRITE)
        c, u = _upsert_fills(session, patient, [FillIn(**f.model_dump(exclude={"mrn"})) for f in fills])
        created, updated = created + c, updated + u
        audit.record(session, actor, "import", patient_id=patient.id, record_type="MedicationFill",
                     detail={"created": c, "updated": u})
        refresh_adherence(session, patient)
    return FillImportResult(created=created, updated=updated, patients=len(by_mrn))


def _upsert_fills(session: Session, patient: Patient, fills: list[FillIn]) -> tuple[int, int]:
    keys = {(f.pharmacy, f.fill_number) for f in fills}
    if len(keys) != len(fills):
        raise InvalidInput("The same pharmacy and fill number appear twice", field="fill_number")
    existing = {(f.pharmacy, f.fill_number): f for f in session.scalars(select(MedicationFill).where(
        MedicationFill.organization_id == patient.organization_id,
        MedicationFill.fill_number.in_([f.fill_number for f in fills])))}
    created = 0
    for data in fills:
        row = existing.get((data.pharmacy, data.fill_number))
        if row is not None and row.patient_id != patient.id:
            raise Conflict("This fill number is recorded for another patient", code="fill_of_another_patient")
        if row is None:
            row = MedicationFill(organization_id=patient.organization_id, patient_id=patient.id)
            session.add(row)
            created += 1
        for name, value in data.model_dump().items():
            setattr(row, name, value)
        row.recorded_at = clock.now()
    session.flush()
    return created, len(fills) - created


def patient_fills(session: Session, actor: Actor, patient_id: uuid.UUID) -> list[MedicationFill]:
    patient = access.load_patient(session, actor, patient_id, Permission.CLINICAL_READ)
    rows = list(session.scalars(select(MedicationFill).where(MedicationFill.patient_id == patient.id)
                                .order_by(MedicationFill.filled_on.desc(), MedicationFill.id)))
    audit.record(session, actor, "read", patient_id=patient.id, record_type="MedicationFill",
                 detail={"count": len(rows)})
    return rows


# --- adherence -----------------------------------------------------------------------------------------------

def adherence(session: Session, actor: Actor, patient_id: uuid.UUID, *, start: dt.date | None = None,
              end: dt.date | None = None) -> list[tuple[str, str, rules.Pdc]]:
    """PDC per medicine and per class over [start, end] (default: the last 180 days)."""
    patient = access.load_patient(session, actor, patient_id, Permission.CLINICAL_READ)
    end = end or clock.today(_zone(session, patient))
    start = start or end - dt.timedelta(days=rules.PERIOD_DAYS - 1)
    if start > end:
        raise InvalidInput("The period starts after it ends", field="start")
    return _measure(session, patient, start, end)


def _measure(session: Session, patient: Patient, start: dt.date, end: dt.date) -> list[tuple[str, str, rules.Pdc]]:
    fills = session.scalars(select(MedicationFill).where(MedicationFill.patient_id == patient.id,
                                                         MedicationFill.filled_on <= end))
    groups = rules.adherence_groups((f.code, f.display, rules.Fill(f.filled_on, f.days_supply)) for f in fills)
    measured = []
    for key, (label, fill_groups) in groups.items():
        result = rules.pdc(fill_groups, start, end)
        if result is not None:
            measured.append((key, label, result))
    return sorted(measured, key=lambda m: (m[2].ratio, m[1]))


def refresh_adherence(session: Session, patient: Patient, today: dt.date | None = None) -> int:
    """Store the patient's current PDCs; a medicine or class under 80% is a task for the coordinator (one open
    task per medicine). Returns how many tasks were created."""
    today = today or clock.today(_zone(session, patient))
    start = today - dt.timedelta(days=rules.PERIOD_DAYS - 1)
    stored = {a.group_key: a for a in session.scalars(select(Adherence).where(Adherence.patient_id == patient.id))}
    created = 0
    for key, label, result in _measure(session, patient, start, today):
        key = key[:80]
        row = stored.get(key)
        if row is None:
            row = Adherence(organization_id=patient.organization_id, patient_id=patient.id, group_key=key)
            session.add(row)
        row.label, row.period_start, row.period_end = label[:200], result.index_date, result.period_end
        row.pdc, row.fills, row.computed_at = round(result.ratio, 4), result.fills, clock.now()
        session.flush()
        if not result.adherent and not _open_task(session, row.id):
            tasks.create_task(
                session, organization_id=patient.organization_id, patient_id=patient.id,
                title=f"Low adherence: {label[:120]} ({result.ratio:.0%} of days covered)",
                focus_type=TaskFocus.GAP, focus_id=row.id, **care_teams.coordinator_assignment(session, patient.id),
                priority=TaskPriority.ROUTINE, due_at=clock.now() + dt.timedelta(days=7),
                description="Proportion of days covered under 80% in the last 180 days: ask about cost, side "
                            "effects and routine; look at the refill gaps on the medication page.")
            created += 1
    return created


def _open_task(session: Session, focus_id: uuid.UUID) -> bool:
    return session.scalar(select(Task.id).where(Task.focus_type == TaskFocus.GAP, Task.focus_id == focus_id,
                                                Task.status.in_(OPEN_STATUSES)).limit(1)) is not None


def sweep_adherence(session: Session, limit: int = 500) -> int:
    """Recompute adherence, once a day, for patients with two or more fill dates in the period (the worker's
    sweep); returns how many tasks it created."""
    since = clock.now().date() - dt.timedelta(days=rules.PERIOD_DAYS)
    fresh = select(Adherence.patient_id).where(Adherence.computed_at >= clock.now() - dt.timedelta(days=1))
    ids = list(session.scalars(
        select(MedicationFill.patient_id).where(MedicationFill.filled_on >= since,
                                                MedicationFill.patient_id.not_in(fresh))
        .group_by(MedicationFill.patient_id).having(func.count(func.distinct(MedicationFill.filled_on)) >= 2)
        .limit(limit)))
    return sum(refresh_adherence(session, patient) for patient in session.scalars(
        select(Patient).where(Patient.id.in_(ids))))


def _zone(session: Session, patient: Patient) -> str:
    return session.get(Organization, patient.organization_id).timezone


def active_allergies(session: Session, patient_id: uuid.UUID) -> list[rules.AllergyRef]:
    """The patient's active medication (and unclassified biologic) allergies, as the rules read them."""
    rows = session.scalars(select(Allergy).where(
        Allergy.patient_id == patient_id, Allergy.clinical_status == AllergyStatus.ACTIVE,
        Allergy.category.in_((AllergyCategory.MEDICATION, AllergyCategory.BIOLOGIC))))
    return [rules.AllergyRef(id=str(a.id), substance=a.substance, code=a.code) for a in rows]


# --- checks --------------------------------------------------------------------------------------------------

def checks(session: Session, actor: Actor, patient_id: uuid.UUID) -> tuple[list[tuple], list[uuid.UUID]]:
    """Allergy conflicts (medicine, allergy) and high-risk medicines across all of the patient's lists."""
    by_source = lists(session, actor, patient_id)
    allergies = active_allergies(session, patient_id)
    conflicts, high_risk = [], []
    for meds in by_source.values():
        for med in meds:
            drug = lookup(med.code)
            if drug is not None and drug.high_risk:
                high_risk.append(med.id)
            conflicts += [(med, a) for a in rules.allergy_conflicts(drug, allergies)]
    return conflicts, high_risk


# --- reconciliation ------------------------------------------------------------------------------------------

def start_reconciliation(session: Session, actor: Actor, patient_id: uuid.UUID,
                         data: ReconciliationStart) -> Reconciliation:
    """Compare the chosen lists and keep the comparison as lines waiting for decisions."""
    patient = access.load_patient(session, actor, patient_id, Permission.CLINICAL_WRITE)
    sources = [s.value for s in data.sources]
    meds = session.scalars(select(Medication).where(Medication.patient_id == patient.id,
                                                    Medication.status.in_(LISTED),
                                                    Medication.source.in_(data.sources)))
    entries: dict[str, list[rules.Entry]] = defaultdict(list)
    for med in meds:
        entries[med.source.value].append(_entry(med))
    if not any(entries.values()):
        raise InvalidInput("None of these lists has a medicine to reconcile", field="sources")
    rec = Reconciliation(organization_id=patient.organization_id, patient_id=patient.id, sources=sources,
                         started_by_id=actor.staff_id, started_at=clock.now())
    session.add(rec)
    session.flush()
    allergies = active_allergies(session, patient.id)
    for position, line in enumerate(rules.compare(entries, sources)):
        session.add(ReconciliationLine(
            reconciliation_id=rec.id, organization_id=rec.organization_id, position=position, label=line.label[:300],
            entries={s: [e.id for e in es] for s, es in line.entries.items()},
            classes=[c.value for c in line.classes], details=line.details, high_risk=line.high_risk,
            allergy_ids=[a.id for a in rules.allergy_conflicts(line.drug, allergies)]))
    session.flush()
    audit.record(session, actor, "create", patient_id=patient.id, record_type="MedicationReconciliation",
                 record_id=str(rec.id), detail={"sources": sources})
    return rec


def get_reconciliation(session: Session, actor: Actor, reconciliation_id: uuid.UUID, permission: Permission,
                       *, for_update: bool = False) -> Reconciliation:
    return access.load_patient_record(session, actor, Reconciliation, reconciliation_id, permission,
                                      what="reconciliation", for_update=for_update)


def reconciliations(session: Session, actor: Actor, patient_id: uuid.UUID) -> list[Reconciliation]:
    access.load_patient(session, actor, patient_id, Permission.CLINICAL_READ)
    return list(session.scalars(select(Reconciliation).where(Reconciliation.patient_id == patient_id)
                                .order_by(Reconciliation.started_at.desc(), Reconciliation.id)))


def lines_of(session: Session, rec: Reconciliation) -> list[ReconciliationLine]:
    return list(session.scalars(select(ReconciliationLine).where(ReconciliationLine.reconciliation_id == rec.id)
                                .order_by(ReconciliationLine.position)))


def medications_of(session: Session, lines: list[ReconciliationLine]) -> dict[str, Medication]:
    ids = {uuid.UUID(i) for line in lines for es in line.entries.values() for i in es}
    return {str(m.id): m for m in session.scalars(select(Medication).where(Medication.id.in_(ids)))} if ids else {}


def decide(session: Session, actor: Actor, reconciliation_id: uuid.UUID, line_id: uuid.UUID,
           data: LineDecision) -> ReconciliationLine:
    """Record the clinician's decision on one line (it may be changed until the reconciliation is signed)."""
    actor.require(Permission.MEDICATION_RECONCILE)
    rec = get_reconciliation(session, actor, reconciliation_id, Permission.CLINICAL_WRITE, for_update=True)
    if rec.status != ReconciliationStatus.IN_PROGRESS:
        raise InvalidTransition("This reconciliation is signed or cancelled")
    line = session.get(ReconciliationLine, line_id)
    if line is None or line.reconciliation_id != rec.id:
        raise NotFound("No such line")
    source = data.from_source.value if data.from_source else _default_source(rec, line)
    if data.decision != Decision.STOP and source not in line.entries:
        raise InvalidInput("Continue a version that is on one of the lists", field="from_source")
    if data.decision == Decision.MODIFY and not (data.dose or data.route or data.frequency):
        raise InvalidInput("Give the new dose, route or frequency", field="dose")
    if data.decision == Decision.STOP and "new" not in line.classes and not data.reason:
        raise InvalidInput("Say why it is stopped", field="reason")
    line.decision, line.decided_from = data.decision, None if data.decision == Decision.STOP else source
    line.dose, line.route, line.frequency = data.dose, data.route, data.frequency
    line.reason, line.decided_by_id, line.decided_at = data.reason, actor.staff_id, clock.now()
    rec.version += 1
    session.flush()
    audit.record(session, actor, "update", patient_id=rec.patient_id, record_type="MedicationReconciliationLine",
                 record_id=str(line.id), detail={"decision": data.decision.value, "from": line.decided_from})
    return line


def _default_source(rec: Reconciliation, line: ReconciliationLine) -> str:
    """The newest information: the first list after the baseline that has the medicine, else the baseline."""
    return next((s for s in rec.sources[1:] if s in line.entries), rec.sources[0])


def sign(session: Session, actor: Actor, reconciliation_id: uuid.UUID, *,
         expected_version: int | None = None) -> Reconciliation:
    """Every line decided: the decisions become the practice's active list, the trace is kept, and the
    discharge protocol's reconciliation step is completed."""
    actor.require(Permission.MEDICATION_RECONCILE)
    rec = get_reconciliation(session, actor, reconciliation_id, Permission.CLINICAL_WRITE, for_update=True)
    if expected_version is not None and expected_version != rec.version:
        raise StaleVersion(extra={"current_version": rec.version})
    if rec.status != ReconciliationStatus.IN_PROGRESS:
        raise InvalidTransition("This reconciliation is signed or cancelled")
    lines = lines_of(session, rec)
    undecided = [ln.label for ln in lines if ln.decision is None]
    if undecided:
        raise InvalidInput(f"Decide every line first ({len(undecided)} left, e.g. {undecided[0][:60]})",
                           field="decision")
    meds = medications_of(session, lines)
    today = clock.today(_zone(session, session.get(Patient, rec.patient_id)))
    for line in lines:
        _apply(session, rec, line, meds, today)
    now = clock.now()
    rec.status, rec.signed_by_id, rec.signed_at, rec.version = ReconciliationStatus.SIGNED, actor.staff_id, now, \
        rec.version + 1
    session.flush()
    done = _complete_step(session, actor, rec.patient_id)
    audit.record(session, actor, "sign", patient_id=rec.patient_id, record_type="MedicationReconciliation",
                 record_id=str(rec.id), detail={"lines": len(lines), "protocol_tasks_completed": done})
    events.publish(session, "medication.reconciled", organization_id=rec.organization_id, patient_id=rec.patient_id,
                   payload={"reconciliation_id": str(rec.id), "sources": rec.sources})
    return rec


def _apply(session: Session, rec: Reconciliation, line: ReconciliationLine, meds: dict[str, Medication],
           today: dt.date) -> None:
    """One decision onto the practice list: keep or update the practice entry, add one, or stop it."""
    practice = [meds[i] for i in line.entries.get(MedicationSource.PRACTICE.value, []) if i in meds]
    if line.decision == Decision.STOP:
        for med in practice:
            med.status, med.end_date = MedicationStatus.STOPPED, today
        return
    chosen = meds[line.entries[line.decided_from][0]]
    kept = practice[0] if practice else None
    if kept is None:
        kept = Medication(organization_id=rec.organization_id, patient_id=rec.patient_id,
                          source=MedicationSource.PRACTICE, status=MedicationStatus.ACTIVE, start_date=today)
        session.add(kept)
    if chosen is not kept:
        kept.code_system, kept.code, kept.display = chosen.code_system, chosen.code, chosen.display
        kept.dose, kept.route, kept.frequency = chosen.dose, chosen.route, chosen.frequency
        kept.prescriber = chosen.prescriber or kept.prescriber
    if line.decision == Decision.MODIFY:
        kept.dose = line.dose or kept.dose
        kept.route = line.route or kept.route
        kept.frequency = line.frequency or kept.frequency
    kept.status = MedicationStatus.ACTIVE
    for duplicate in practice[1:]:  # the same medicine listed twice: one stays
        duplicate.status, duplicate.end_date = MedicationStatus.STOPPED, today
    session.flush()
    line.result_medication_id = kept.id


def _complete_step(session: Session, actor: Actor, patient_id: uuid.UUID) -> int:
    open_steps = session.scalars(select(Task).where(Task.patient_id == patient_id,
                                                    Task.step_key == RECONCILIATION_STEP,
                                                    Task.status.in_(OPEN_STATUSES)))
    done = 0
    for task in open_steps:
        tasks.apply_transition(session, actor, task, TaskStatus.COMPLETED,
                               outcome="Medication reconciliation signed")
        done += 1
    return done


# --- patient instructions ------------------------------------------------------------------------------------

def save_instruction(session: Session, actor: Actor, data: InstructionIn) -> MedicationInstruction:
    """Create or replace the organisation's instructions for an ingredient in a language."""
    actor.require(Permission.CARE_PLAN_WRITE)
    if lookup(data.ingredient_rxcui) is None:
        raise InvalidInput("Choose a medicine from the drug vocabulary", field="ingredient_rxcui")
    row = session.scalar(select(MedicationInstruction).where(
        MedicationInstruction.organization_id == actor.organization_id,
        MedicationInstruction.ingredient_rxcui == data.ingredient_rxcui,
        MedicationInstruction.language == data.language))
    if row is None:
        row = MedicationInstruction(organization_id=actor.organization_id)
        session.add(row)
    for name, value in data.model_dump().items():
        setattr(row, name, value)
    row.author_id = actor.staff_id
    session.flush()
    audit.record(session, actor, "update", record_type="MedicationInstruction", record_id=str(row.id),
                 detail={"ingredient": data.ingredient_rxcui, "language": data.language})
    return row


def instructions(session: Session, actor: Actor) -> list[MedicationInstruction]:
    actor.require(Permission.CARE_PLAN_READ)
    return list(session.scalars(select(MedicationInstruction).where(
        MedicationInstruction.organization_id == actor.organization_id)
        .order_by(MedicationInstruction.title, MedicationInstruction.language)))


def instruction_for(session: Session, organization_id: uuid.UUID, medication: Medication,
                    language: str) -> MedicationInstruction | None:
    """The organisation's instructions for the medicine's ingredients in the language (else English)."""
    drug = lookup(medication.code)
    if drug is None:
        return None
    found = {(i.ingredient_rxcui, i.language): i for i in session.scalars(select(MedicationInstruction).where(
        MedicationInstruction.organization_id == organization_id,
        MedicationInstruction.ingredient_rxcui.in_([*drug.ingredient_ids, drug.rxcui])))}
    for rxcui in (drug.rxcui, *sorted(drug.ingredient_ids)):
        for lang in (language, language.split("-")[0], "en"):
            if (rxcui, lang) in found:
                return found[(rxcui, lang)]
    return None


def draft_plan(session: Session, patient_id: uuid.UUID) -> CarePlan | None:
    """The patient's draft care plan, if one is being written (callers have checked access)."""
    return session.scalar(select(CarePlan).where(CarePlan.patient_id == patient_id,
                                                 CarePlan.status == CarePlanStatus.DRAFT)
                          .order_by(CarePlan.created_at.desc()).limit(1))


def attach_education(session: Session, actor: Actor, care_plan_id: uuid.UUID, medication_id: uuid.UUID
                     ) -> EducationItem:
    """Add a medicine's instructions, in the patient's language when written, to a draft care plan."""
    plan = care_plans.load_draft(session, actor, care_plan_id)
    med = session.get(Medication, medication_id)
    if med is None or med.patient_id != plan.patient_id:
        raise NotFound("No such medication for this patient")
    patient = session.get(Patient, plan.patient_id)
    instruction = instruction_for(session, plan.organization_id, med, patient.preferred_language or "en")
    if instruction is None:
        raise InvalidInput("No instructions are written for this medicine yet", field="medication_id")
    body = (f"What it is for: {instruction.purpose}\n\nHow to take it: {instruction.how_to_take}\n\n"
            f"What to watch for: {instruction.watch_for}")
    return care_plan_content.add_education(session, actor, plan.id, EducationCreate(
        title=instruction.title, body=body, language=instruction.language))
