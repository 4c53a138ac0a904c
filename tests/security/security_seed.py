"""The seeded world of the security suites: two organisations, one staff member per role, patients with records."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from careloop.auth import service as auth_service
from careloop.auth.actor import system_actor
from careloop.auth.models import BreakGlassGrant
from careloop.care_teams import service as care_teams
from careloop.care_teams.models import CareTeamMember, CareTeamRole
from careloop.clinical import service as clinical
from careloop.organizations.models import Organization
from careloop.patients.models import Patient
from careloop.staff.models import Staff, StaffRole
from careloop.tasks import service as tasks_service
from careloop.tasks.schemas import TaskCreate
from factories import make_org, make_patient, make_staff, make_token

# A minimal valid body for creating (and, second, for updating) each kind of clinical record.
RECORD_BODIES: dict[str, tuple[dict, dict]] = {
    "conditions": ({"code": "E11.9", "display": "Type 2 diabetes mellitus"}, {"chronic": True}),
    "encounters": ({"encounter_class": "ambulatory", "start_at": "2025-03-01T10:00:00Z"},
                   {"facility_name": "Main Street Clinic"}),
    "observations": ({"category": "vital_signs", "code": "8480-6", "display": "Systolic blood pressure",
                      "value_quantity": 128, "unit": "mm[Hg]", "effective_at": "2025-03-01T10:05:00Z"},
                     {"unit": "mm[Hg]"}),
    "medications": ({"display": "Metformin 500 mg tablet"}, {"dose": "500 mg"}),
    "allergies": ({"substance": "Penicillin", "category": "medication"}, {"reaction": "Rash"}),
}


@dataclass
class Tenant:
    """One organisation's seeded records."""

    org: Organization
    staff: dict[StaffRole, Staff]
    patient: Patient  # the coordinator (staff[CARE_COORDINATOR]) is on its care team
    duplicate: Patient  # a second patient, e.g. to merge into the first
    records: dict[str, uuid.UUID]  # clinical record kind -> id of a record of `patient`
    member: CareTeamMember  # a non-coordinator member of `patient`'s team (can be ended)
    grant: BreakGlassGrant  # an emergency access (by another coordinator) awaiting review
    target: Staff  # a staff member whose role and status the administrator may change
    spare: Staff  # an eligible clinician who is not yet on `patient`'s team
    outsider: Staff  # a care coordinator who is on no care team
    task: uuid.UUID  # a task for `patient`, owned by the coordinator
    queued_task: uuid.UUID  # a task for `patient` waiting, unowned, in the care coordinators' queue
    tokens: dict[StaffRole, str] = field(default_factory=dict)

    def token(self, role: StaffRole) -> str:
        return self.tokens[role]


@dataclass
class World:
    a: Tenant
    b: Tenant
    session: Session


def build_tenant(session: Session, *, tokens: bool = True) -> Tenant:
    """An organisation with one staff member per role, two patients, one record of each kind and a grant."""
    org = make_org(session)
    staff = {role: make_staff(session, org, role) for role in StaffRole}
    coordinator = staff[StaffRole.CARE_COORDINATOR]
    patient = make_patient(session, org, coordinator, pcp=staff[StaffRole.PRIMARY_CARE_PHYSICIAN])
    duplicate = make_patient(session, org, coordinator)
    system = system_actor(org.id)
    records = {kind: clinical.create_record(session, system, clinical.KINDS[kind], patient.id,
                                            clinical.KINDS[kind].create(**bodies[0])).id
               for kind, bodies in RECORD_BODIES.items()}
    member = care_teams.assign(session, system, patient, CareTeamRole.SOCIAL_WORKER, staff[StaffRole.SOCIAL_WORKER].id)
    outsider = make_staff(session, org, StaffRole.CARE_COORDINATOR)
    responder = make_staff(session, org, StaffRole.CARE_COORDINATOR)
    grant = auth_service.break_glass(session, auth_service.actor_for_staff(responder), patient.id,
                                     "Seeded emergency access for review")
    tasks = [tasks_service.create(session, system, TaskCreate(patient_id=patient.id, title=title, **owner))
             for title, owner in (("Call about medications", {"owner_id": coordinator.id}),
                                  ("Schedule follow-up", {"queue_role": StaffRole.CARE_COORDINATOR}))]
    tenant = Tenant(org=org, staff=staff, patient=patient, duplicate=duplicate, records=records, member=member,
                    grant=grant, target=make_staff(session, org, StaffRole.SCHEDULER),
                    spare=make_staff(session, org, StaffRole.PHARMACIST), outsider=outsider,
                    task=tasks[0].id, queued_task=tasks[1].id)
    if tokens:
        tenant.tokens = {role: make_token(session, s) for role, s in staff.items()}
    return tenant
