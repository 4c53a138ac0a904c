"""The patient chart in a few indexed queries; one audited read of the chart."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from careloop.audit import service as audit
from careloop.auth import access
from careloop.auth.actor import Actor
from careloop.auth.permissions import Permission
from careloop.care_teams.models import CareTeamMember, CareTeamRole
from careloop.clinical.models import (
    Allergy,
    AllergyCriticality,
    AllergyStatus,
    Condition,
    ConditionClinicalStatus,
    Encounter,
    EncounterClass,
    EncounterStatus,
    Immunization,
    ImmunizationStatus,
    Observation,
    OutsideCarePlan,
    OutsideCareTeam,
    OutsideStatus,
    Procedure,
)
from careloop.medications.models import Adherence, Medication, MedicationStatus
from careloop.medications.rules import ADHERENCE_THRESHOLD
from careloop.patients.models import Patient
from careloop.staff.models import Staff

A1C, SYSTOLIC, DIASTOLIC = "4548-4", "8480-6", "8462-4"
TREND_CODES = (A1C, SYSTOLIC, DIASTOLIC)
TREND_POINTS = 12
RECENT_ENCOUNTERS = 15
RECENT_PROCEDURES = 10
_ACTIVE_CONDITIONS = (ConditionClinicalStatus.ACTIVE, ConditionClinicalStatus.RECURRENCE,
                      ConditionClinicalStatus.RELAPSE)


@dataclass(frozen=True)
class Clinical:
    """The clinical sections (only for actors who may read the clinical record)."""

    conditions: list[Condition]
    medications: list[Medication]
    allergies: list[Allergy]
    encounters: list[Encounter]
    latest: list[Observation]
    trends: dict[str, list[Observation]]
    admission: Encounter | None
    low_adherence: list[str]  # medicines or classes under 80% of days covered (medications/rules.py)
    procedures: list[Procedure]  # the most recent
    immunizations: list[Immunization]  # the most recent
    outside_plans: list[OutsideCarePlan]  # other providers' active care plans
    outside_teams: list[OutsideCareTeam]  # other providers' active care teams


@dataclass(frozen=True)
class Chart:
    patient: Patient
    care_team: list[tuple[CareTeamMember, Staff]]
    clinical: Clinical | None
    emergency_until: dt.datetime | None

    def holder(self, role: CareTeamRole) -> Staff | None:
        """The active member holding a care-team role (coordinator, PCP)."""
        return next((s for m, s in self.care_team if m.role == role and m.ended_at is None), None)


def load_chart(session: Session, actor: Actor, patient_id: uuid.UUID, *, team_history: bool = False) -> Chart:
    """Everything the chart page shows; access is decided by `auth.access` and the view is audited once."""
    patient = access.load_patient(session, actor, patient_id, Permission.PATIENT_READ)
    team = _care_team(session, patient.id, team_history)
    on_team = any(m.staff_id == actor.staff_id and m.ended_at is None for m, _ in team)
    grant = None if actor.org_wide or on_team else access.active_break_glass(session, actor, patient.id)
    clinical = _clinical(session, patient.id) if actor.can(Permission.CLINICAL_READ) else None
    detail: dict = {"view": "chart"}
    if grant is not None:
        detail |= {"break_glass": True, "purpose_of_use": "ETREAT"}
    audit.record(session, actor, "read", patient_id=patient.id, record_type="PatientChart",
                 record_id=str(patient.id), detail=detail)
    return Chart(patient=patient, care_team=team, clinical=clinical,
                 emergency_until=grant.expires_at if grant else None)


def _care_team(session: Session, patient_id: uuid.UUID, history: bool) -> list[tuple[CareTeamMember, Staff]]:
    stmt = (select(CareTeamMember, Staff).join(Staff, Staff.id == CareTeamMember.staff_id)
            .where(CareTeamMember.patient_id == patient_id)
            .order_by(CareTeamMember.ended_at.is_not(None), CareTeamMember.role, CareTeamMember.started_at))
    if not history:
        stmt = stmt.where(CareTeamMember.ended_at.is_(None))
    return [(m, s) for m, s in session.execute(stmt).all()]


def _clinical(session: Session, patient_id: uuid.UUID) -> Clinical:
    conditions = session.scalars(select(Condition).where(
        Condition.patient_id == patient_id, Condition.clinical_status.in_(_ACTIVE_CONDITIONS))
        .order_by(Condition.onset_date.desc().nulls_last(), Condition.display)).all()
    medications = session.scalars(select(Medication).where(
        Medication.patient_id == patient_id,
        Medication.status.in_((MedicationStatus.ACTIVE, MedicationStatus.ON_HOLD))).order_by(Medication.display)).all()
    allergies = sorted(session.scalars(select(Allergy).where(
        Allergy.patient_id == patient_id, Allergy.clinical_status == AllergyStatus.ACTIVE)
        .order_by(Allergy.substance)), key=lambda a: a.criticality != AllergyCriticality.HIGH)
    encounters = session.scalars(select(Encounter).where(Encounter.patient_id == patient_id)
                                 .order_by(Encounter.start_at.desc()).limit(RECENT_ENCOUNTERS)).all()
    trends: dict[str, list[Observation]] = {}
    for obs in reversed(_ranked_observations(session, patient_id, TREND_CODES, TREND_POINTS)):
        trends.setdefault(obs.code, []).append(obs)
    latest = sorted(_ranked_observations(session, patient_id, None, 1), key=lambda o: (o.category, o.display))
    procedures = session.scalars(select(Procedure).where(Procedure.patient_id == patient_id).order_by(
        Procedure.performed_at.desc().nulls_last()).limit(RECENT_PROCEDURES)).all()
    immunizations = session.scalars(select(Immunization).where(
        Immunization.patient_id == patient_id, Immunization.status == ImmunizationStatus.COMPLETED)
        .order_by(Immunization.occurred_at.desc()).limit(RECENT_PROCEDURES)).all()
    return Clinical(conditions=list(conditions), medications=list(medications), allergies=allergies,
                    procedures=list(procedures), immunizations=list(immunizations),
                    outside_plans=list(session.scalars(select(OutsideCarePlan).where(
                        OutsideCarePlan.patient_id == patient_id, OutsideCarePlan.status == OutsideStatus.ACTIVE)
                        .order_by(OutsideCarePlan.period_start.desc().nulls_last()))),
                    outside_teams=list(session.scalars(select(OutsideCareTeam).where(
                        OutsideCareTeam.patient_id == patient_id, OutsideCareTeam.status == OutsideStatus.ACTIVE)
                        .order_by(OutsideCareTeam.period_start.desc().nulls_last()))),
                    encounters=list(encounters), latest=latest, trends=trends,
                    admission=_current_admission(session, patient_id),
                    low_adherence=list(session.scalars(select(Adherence.label).where(
                        Adherence.patient_id == patient_id, Adherence.pdc < ADHERENCE_THRESHOLD)
                        .order_by(Adherence.label))))


def _ranked_observations(session: Session, patient_id: uuid.UUID, codes: tuple[str, ...] | None,
                         per_code: int) -> list[Observation]:
    """The newest `per_code` observations of each code (all codes when None), newest first."""
    rank = func.row_number().over(partition_by=Observation.code, order_by=Observation.effective_at.desc())
    ranked = select(Observation.id, rank.label("rank")).where(Observation.patient_id == patient_id)
    if codes:
        ranked = ranked.where(Observation.code.in_(codes))
    sub = ranked.subquery()
    stmt = (select(Observation).join(sub, sub.c.id == Observation.id).where(sub.c.rank <= per_code)
            .order_by(Observation.effective_at.desc()))
    return list(session.scalars(stmt))


def _current_admission(session: Session, patient_id: uuid.UUID) -> Encounter | None:
    """An inpatient or observation stay in progress or without an end: the patient is in hospital."""
    return session.scalars(select(Encounter).where(
        Encounter.patient_id == patient_id,
        Encounter.encounter_class.in_((EncounterClass.INPATIENT, EncounterClass.OBSERVATION)),
        Encounter.status.not_in((EncounterStatus.PLANNED, EncounterStatus.CANCELLED)),
        or_(Encounter.status == EncounterStatus.IN_PROGRESS, Encounter.end_at.is_(None)))
        .order_by(Encounter.start_at.desc()).limit(1)).first()
