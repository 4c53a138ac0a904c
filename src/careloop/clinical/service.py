"""Clinical record services, one generic set for every patient-owned record kind."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.audit import service as audit
from careloop.auth import access
from careloop.auth.actor import Actor
from careloop.auth.permissions import Permission
from careloop.clinical import schemas
from careloop.clinical.models import (
    Allergy,
    Condition,
    Encounter,
    Immunization,
    Observation,
    OutsideCarePlan,
    OutsideCareTeam,
    Procedure,
)
from careloop.errors import InvalidInput, NotFound
from careloop.medications.models import Medication
from careloop.patients.service import check_version


@dataclass(frozen=True)
class RecordKind:
    """How one kind of clinical record is stored, validated, shown and ordered."""

    path: str
    model: type
    create: type[BaseModel]
    update: type[BaseModel]
    read: type[BaseModel]
    order_by: str

    @property
    def record_type(self) -> str:
        return self.model.__name__


KINDS: dict[str, RecordKind] = {k.path: k for k in (
    RecordKind("conditions", Condition, schemas.ConditionCreate, schemas.ConditionUpdate,
               schemas.ConditionRead, "onset_date"),
    RecordKind("encounters", Encounter, schemas.EncounterCreate, schemas.EncounterUpdate,
               schemas.EncounterRead, "start_at"),
    RecordKind("observations", Observation, schemas.ObservationCreate, schemas.ObservationUpdate,
               schemas.ObservationRead, "effective_at"),
    RecordKind("medications", Medication, schemas.MedicationCreate, schemas.MedicationUpdate,
               schemas.MedicationRead, "start_date"),
    RecordKind("allergies", Allergy, schemas.AllergyCreate, schemas.AllergyUpdate,
               schemas.AllergyRead, "recorded_date"),
    RecordKind("procedures", Procedure, schemas.ProcedureCreate, schemas.ProcedureUpdate,
               schemas.ProcedureRead, "performed_at"),
    RecordKind("immunizations", Immunization, schemas.ImmunizationCreate, schemas.ImmunizationUpdate,
               schemas.ImmunizationRead, "occurred_at"),
    RecordKind("outside_care_plans", OutsideCarePlan, schemas.OutsideCarePlanCreate, schemas.OutsideCarePlanUpdate,
               schemas.OutsideCarePlanRead, "period_start"),
    RecordKind("outside_care_teams", OutsideCareTeam, schemas.OutsideCareTeamCreate, schemas.OutsideCareTeamUpdate,
               schemas.OutsideCareTeamRead, "period_start"),
)}


def list_records(session: Session, actor: Actor, kind: RecordKind, patient_id: uuid.UUID,
                 *, code: str | None = None, limit: int = 500) -> list:
    """A patient's records of one kind, newest first (optionally one code only)."""
    patient = access.load_patient(session, actor, patient_id, Permission.CLINICAL_READ)
    model = kind.model
    stmt = select(model).where(model.patient_id == patient.id)
    if code:
        stmt = stmt.where(model.code == code)
    order = getattr(model, kind.order_by)
    rows = session.scalars(stmt.order_by(order.desc().nulls_last(), model.id).limit(limit)).all()
    audit.record(session, actor, "read", patient_id=patient.id, record_type=kind.record_type,
                 detail={"count": len(rows)})
    return list(rows)


def get_record(session: Session, actor: Actor, kind: RecordKind, patient_id: uuid.UUID,
               record_id: uuid.UUID, *, permission: Permission = Permission.CLINICAL_READ,
               audit_it: bool = True):
    """One record of the patient; NotFound when it belongs to someone else."""
    patient = access.load_patient(session, actor, patient_id, permission, for_update=not audit_it)
    record = session.get(kind.model, record_id)
    if record is None or record.patient_id != patient.id:
        raise NotFound(f"{kind.record_type} not found")
    if audit_it:
        audit.record(session, actor, "read", patient_id=patient.id, record_type=kind.record_type,
                     record_id=str(record.id))
    return record


def create_record(session: Session, actor: Actor, kind: RecordKind, patient_id: uuid.UUID, data: BaseModel,
                  *, record_id: uuid.UUID | None = None):
    """Add a record to the patient's chart (with the id given, when a caller assigned it beforehand)."""
    patient = access.load_patient(session, actor, patient_id, Permission.CLINICAL_WRITE)
    values = data.model_dump()
    _check_encounter_link(session, patient.id, values.get("encounter_id"))
    record = kind.model(id=record_id or uuid.uuid4(), organization_id=patient.organization_id, patient_id=patient.id,
                        **values)
    session.add(record)
    session.flush()
    audit.record(session, actor, "create", patient_id=patient.id, record_type=kind.record_type,
                 record_id=str(record.id))
    return record


def update_record(session: Session, actor: Actor, kind: RecordKind, patient_id: uuid.UUID,
                  record_id: uuid.UUID, data: BaseModel, *, expected_version: int | None):
    """Change the sent fields of a record, re-validating the whole record."""
    record = get_record(session, actor, kind, patient_id, record_id, permission=Permission.CLINICAL_WRITE,
                        audit_it=False)
    check_version(record.version, expected_version)
    changes = data.model_dump(exclude_unset=True)
    merged = {name: getattr(record, name) for name in kind.create.model_fields} | changes
    try:
        kind.create.model_validate(merged)
    except ValueError as err:
        raise InvalidInput(str(err).splitlines()[-1].strip() or "Invalid record") from err
    _check_encounter_link(session, record.patient_id, changes.get("encounter_id"))
    for name, value in changes.items():
        setattr(record, name, value)
    session.flush()
    audit.record(session, actor, "update", patient_id=record.patient_id, record_type=kind.record_type,
                 record_id=str(record.id), detail={"fields": sorted(changes)})
    return record


def _check_encounter_link(session: Session, patient_id: uuid.UUID, encounter_id: uuid.UUID | None) -> None:
    if encounter_id is None:
        return
    encounter = session.get(Encounter, encounter_id)
    if encounter is None or encounter.patient_id != patient_id:
        raise InvalidInput("encounter_id does not name an encounter of this patient", field="encounter_id")
