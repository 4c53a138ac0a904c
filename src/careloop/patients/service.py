"""Patient registry services: create with duplicate detection, read, update, merge."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import Table, or_, select, update
from sqlalchemy.orm import Session

from careloop import clock
from careloop.audit import service as audit
from careloop.auth import access
from careloop.auth.actor import Actor
from careloop.auth.permissions import Permission
from careloop.care_teams import service as care_teams
from careloop.care_teams.models import SINGLE_ACTIVE_ROLES, CareTeamMember, CareTeamRole
from careloop.db import Base
from careloop.errors import DuplicatePatient, InvalidInput, InvalidTransition, StaleVersion
from careloop.events import service as events
from careloop.organizations.models import Organization
from careloop.patients import rules
from careloop.patients.models import Patient, PatientMerge, PatientStatus
from careloop.patients.schemas import PatientCreate, PatientUpdate

# Tables whose patient_id is history, not an owned record: never moved by a merge.
# Domains that keep "one active X per patient" register here to settle the clash before a merge moves rows.
MergeHook = Callable[[Session, Actor, uuid.UUID, uuid.UUID], None]
_BEFORE_MERGE: list[MergeHook] = []


def before_merge(hook: MergeHook) -> MergeHook:
    """Register hook(session, actor, survivor_id, duplicate_id), run inside the merge before rows move."""
    _BEFORE_MERGE.append(hook)
    return hook


_NOT_MOVED = {"patient_merge", "audit_event", "break_glass_grant", "patient"}


def create_patient(session: Session, data: PatientCreate, *, actor: Actor,
                   confirm_distinct: bool = False) -> Patient:
    """Register a patient with their primary care coordinator (and PCP); DuplicatePatient on a match."""
    actor.require(Permission.PATIENT_WRITE)
    authority = data.mrn_authority or session.get(Organization, actor.organization_id).mrn_authority
    _refuse_duplicates(session, actor, data, authority, confirm_distinct)
    [patient] = create_patients(session, actor, [(data, {})])
    return patient


_TEAM_ON_REGISTRATION = ((CareTeamRole.PRIMARY_CARE_COORDINATOR, "primary_care_coordinator_id"),
                         (CareTeamRole.PRIMARY_CARE_PHYSICIAN, "primary_care_physician_id"))


def create_patients(session: Session, actor: Actor, items: list[tuple[PatientCreate, dict[str, Any]]]
                    ) -> list[Patient]:
    """Register patients the caller has already matched against existing ones (`create_patient` refuses
    duplicates first; imports match by source id and MRN): each with their primary care coordinator (and PCP),
    audited and announced (`patient.enrolled`), with one flush per table. `extra` sets further columns (e.g.
    `source_ref`, `deceased_date`)."""
    actor.require(Permission.PATIENT_WRITE)
    org = session.get(Organization, actor.organization_id)
    for role, attribute in _TEAM_ON_REGISTRATION:
        for staff_id in {getattr(data, attribute) for data, _ in items} - {None}:
            care_teams.eligible_staff(session, actor, role, staff_id)
    made = []
    for data, extra in items:
        fields = data.model_dump(exclude={"mrn_authority", "primary_care_coordinator_id",
                                          "primary_care_physician_id"})
        patient = Patient(id=uuid.uuid4(), organization_id=actor.organization_id,
                          mrn_authority=data.mrn_authority or org.mrn_authority, **fields, **extra)
        _refresh_keys(patient)
        made.append(patient)
    session.add_all(made)
    session.flush()
    now = clock.now()
    session.add_all([CareTeamMember(organization_id=actor.organization_id, patient_id=p.id,
                                    staff_id=getattr(data, attribute), role=role, started_at=now)
                     for p, (data, _) in zip(made, items, strict=True)
                     for role, attribute in _TEAM_ON_REGISTRATION if getattr(data, attribute)])
    session.flush()
    audit.record_many(session, actor, [audit.Entry(action="create", patient_id=p.id, record_type="Patient",
                                                   record_id=str(p.id)) for p in made])
    events.publish_many(session, "patient.enrolled", organization_id=actor.organization_id,
                        patient_ids=[p.id for p in made])
    return made


def _refuse_duplicates(session: Session, actor: Actor, data: PatientCreate, authority: str,
                       confirm_distinct: bool) -> None:
    key = rules.dedupe_key(data.family_name, data.given_name, data.birth_date)
    same_mrn = (Patient.mrn_authority == authority) & (Patient.mrn == data.mrn)
    stmt = select(Patient).where(Patient.organization_id == actor.organization_id,
                                 or_(same_mrn, Patient.dedupe_key == key)).limit(5)
    for candidate in session.scalars(stmt):
        by_mrn = candidate.mrn == data.mrn and candidate.mrn_authority == authority
        if by_mrn or not confirm_distinct:
            raise DuplicatePatient(
                "A patient with the same MRN already exists" if by_mrn
                else "A patient with the same name and birth date already exists",
                extra={"candidate": {"id": str(candidate.id), "mrn": candidate.mrn,
                                     "match": "mrn" if by_mrn else "name_and_birth_date"}})


def _refresh_keys(patient: Patient) -> None:
    patient.name_key = rules.name_key(patient.family_name, patient.given_name)
    patient.alt_name_key = rules.alt_name_key(patient.family_name, patient.given_name)
    patient.dedupe_key = rules.dedupe_key(patient.family_name, patient.given_name, patient.birth_date)


def get_patient(session: Session, actor: Actor, patient_id: uuid.UUID) -> Patient:
    """A patient the actor may read; the read is audited."""
    patient = access.load_patient(session, actor, patient_id, Permission.PATIENT_READ)
    audit.record(session, actor, "read", patient_id=patient.id, record_type="Patient", record_id=str(patient.id),
                 detail=_glass_detail(session, actor, patient.id))
    return patient


def _glass_detail(session: Session, actor: Actor, patient_id: uuid.UUID) -> dict[str, Any] | None:
    if actor.org_wide or actor.patient_scope is not None:
        return None
    on_team = session.scalar(select(CareTeamMember.id).where(
        CareTeamMember.patient_id == patient_id, CareTeamMember.staff_id == actor.staff_id,
        CareTeamMember.ended_at.is_(None)).limit(1))
    return None if on_team else {"break_glass": True, "purpose_of_use": "ETREAT"}


def check_version(current: int, expected: int | None) -> None:
    """StaleVersion unless the client's If-Match version is the current one (None: not sent)."""
    if expected is not None and expected != current:
        raise StaleVersion(extra={"current_version": current})


def update_patient(session: Session, actor: Actor, patient_id: uuid.UUID, data: PatientUpdate,
                   *, expected_version: int | None) -> Patient:
    """Apply the sent fields if the version matches; the change is audited with field names only."""
    patient = access.load_patient(session, actor, patient_id, Permission.PATIENT_WRITE, for_update=True)
    check_version(patient.version, expected_version)
    changes = data.model_dump(exclude_unset=True)
    if changes.get("status") == PatientStatus.DECEASED and not (changes.get("deceased_date")
                                                                 or patient.deceased_date):
        raise InvalidInput("deceased_date is required when status is deceased", field="deceased_date")
    if patient.merged_into_id is not None:
        raise InvalidTransition("This record was merged into another patient and is read-only")
    for name, value in changes.items():
        setattr(patient, name, value)
    _refresh_keys(patient)
    session.flush()
    audit.record(session, actor, "update", patient_id=patient.id, record_type="Patient",
                 record_id=str(patient.id), detail={"fields": sorted(changes)})
    return patient


def merge_patients(session: Session, actor: Actor, survivor_id: uuid.UUID, duplicate_id: uuid.UUID,
                   reason: str) -> PatientMerge:
    """Move every record of the duplicate to the survivor, retire the duplicate and keep a trace."""
    actor.require(Permission.PATIENT_MERGE)
    if survivor_id == duplicate_id:
        raise InvalidInput("A patient cannot be merged into itself", field="duplicate_id")
    survivor = access.load_patient(session, actor, survivor_id, Permission.PATIENT_WRITE, for_update=True)
    duplicate = access.load_patient(session, actor, duplicate_id, Permission.PATIENT_WRITE, for_update=True)
    if duplicate.merged_into_id is not None or survivor.merged_into_id is not None:
        raise InvalidTransition("One of these patients was already merged")
    _end_conflicting_roles(session, survivor.id, duplicate.id)
    for hook in _BEFORE_MERGE:
        hook(session, actor, survivor.id, duplicate.id)
    moved = {table.name: _move_rows(session, table, duplicate.id, survivor.id) for table in _patient_tables()}
    duplicate.status, duplicate.merged_into_id = PatientStatus.INACTIVE, survivor.id
    merge = PatientMerge(organization_id=actor.organization_id, survivor_id=survivor.id,
                         duplicate_id=duplicate.id, merged_by_id=actor.staff_id,
                         moved_counts={k: v for k, v in moved.items() if v}, reason=reason)
    session.add(merge)
    session.flush()
    for pid in (survivor.id, duplicate.id):
        audit.record(session, actor, "merge", patient_id=pid, record_type="PatientMerge",
                     record_id=str(merge.id), detail={"survivor_id": str(survivor.id),
                                                      "duplicate_id": str(duplicate.id)})
    return merge


def _patient_tables() -> list[Table]:
    """Every table with a patient_id foreign key: new domains are merged without code changes."""
    return [t for t in Base.metadata.sorted_tables
            if "patient_id" in t.c and t.name not in _NOT_MOVED
            and any(fk.column.table.name == "patient" for fk in t.c.patient_id.foreign_keys)]


def _move_rows(session: Session, table: Table, from_id: uuid.UUID, to_id: uuid.UUID) -> int:
    values: dict[str, Any] = {"patient_id": to_id}
    if "version" in table.c:
        values["version"] = table.c.version + 1
    if "updated_at" in table.c:
        values["updated_at"] = clock.now()
    return session.execute(update(table).where(table.c.patient_id == from_id).values(**values)).rowcount


def _end_conflicting_roles(session: Session, survivor_id: uuid.UUID, duplicate_id: uuid.UUID) -> None:
    """The survivor keeps its coordinator and PCP; the duplicate's become history."""
    for role in SINGLE_ACTIVE_ROLES:
        if care_teams.active_member(session, survivor_id, role) is not None:
            session.execute(update(CareTeamMember).where(
                CareTeamMember.patient_id == duplicate_id, CareTeamMember.role == role,
                CareTeamMember.ended_at.is_(None)).values(ended_at=clock.now(), note="ended by merge"))
