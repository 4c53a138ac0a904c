"""A small care team for task tests: coordinators with a supervisor and backups, patients, an outsider."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy.orm import Session

from careloop.auth.actor import Actor
from careloop.organizations.models import Organization
from careloop.patients.models import Patient
from careloop.staff.models import Staff, StaffRole
from careloop.tasks import escalation
from factories import actor_of, make_org, make_patient, make_staff


@dataclass
class Team:
    org: Organization
    supervisor: Staff
    coordinator: Staff  # supervised, backup = backup
    backup: Staff
    nurse: Staff
    outsider: Staff  # a coordinator on no care team
    patient: Patient  # coordinator's
    other_patient: Patient  # backup's
    stranger_org: Organization
    stranger: Staff  # a coordinator of the other organisation
    stranger_patient: Patient

    def actor(self, staff: Staff) -> Actor:
        return actor_of(staff)


@pytest.fixture
def team(session: Session) -> Team:
    org = make_org(session)
    supervisor = make_staff(session, org, StaffRole.SUPERVISOR, given_name="Sam", family_name="Supervisor")
    backup = make_staff(session, org, StaffRole.CARE_COORDINATOR, given_name="Bea", family_name="Backup",
                        supervisor_id=supervisor.id)
    coordinator = make_staff(session, org, StaffRole.CARE_COORDINATOR, given_name="Cory", family_name="Coordinator",
                             supervisor_id=supervisor.id, backup_id=backup.id)
    nurse = make_staff(session, org, StaffRole.RN_CARE_MANAGER, given_name="Nia", family_name="Nurse")
    outsider = make_staff(session, org, StaffRole.CARE_COORDINATOR, family_name="Outsider")
    patient = make_patient(session, org, coordinator)
    other_patient = make_patient(session, org, backup)
    stranger_org = make_org(session)
    stranger = make_staff(session, stranger_org, StaffRole.CARE_COORDINATOR)
    stranger_patient = make_patient(session, stranger_org, stranger)
    session.commit()
    return Team(org, supervisor, coordinator, backup, nurse, outsider, patient, other_patient, stranger_org,
                stranger, stranger_patient)


@pytest.fixture(autouse=True)
def _fresh_escalation_check():
    """Each test starts with the escalation sweep's "last looked at" time forgotten."""
    escalation._reset_check()
    yield
    escalation._reset_check()
