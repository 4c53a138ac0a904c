"""Imports every domain's models so metadata (Alembic, tests) sees all tables."""

from careloop.audit.models import AuditChainHead, AuditEvent
from careloop.auth.models import ApiToken, BreakGlassGrant, LoginThrottle, SystemClient, WebSession
from careloop.care_plans.models import Activity, CarePlan, CarePlanProblem, EducationItem, Goal, GoalNote
from careloop.care_teams.models import CareTeamMember
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
from careloop.community.models import CommunityReferral, CommunityService
from careloop.db import Base
from careloop.events.models import DomainEvent
from careloop.fhir.models import ExportJob, ImportedFile
from careloop.integrations.hl7v2.models import Hl7Message, Hl7PatientIdentifier, Hl7Route, Hl7Visit
from careloop.medications.models import (
    Adherence,
    Medication,
    MedicationFill,
    MedicationInstruction,
    Reconciliation,
    ReconciliationLine,
)
from careloop.organizations.models import Organization
from careloop.patients.models import Patient, PatientMerge
from careloop.protocols.models import ProtocolRun
from careloop.referrals.models import Provider, Referral, ReferralDocument, ReferralEvent, ReferralTargets
from careloop.results.models import ResultOrder, ResultValue
from careloop.staff.models import Staff
from careloop.tasks.models import Notification, Task, TaskComment, TaskTimeEntry

__all__ = [
    "Activity",
    "Adherence",
    "Allergy",
    "ApiToken",
    "AuditChainHead",
    "AuditEvent",
    "Base",
    "BreakGlassGrant",
    "CarePlan",
    "CarePlanProblem",
    "CareTeamMember",
    "CommunityReferral",
    "CommunityService",
    "Condition",
    "DomainEvent",
    "EducationItem",
    "Encounter",
    "ExportJob",
    "Goal",
    "GoalNote",
    "Hl7Message",
    "Hl7PatientIdentifier",
    "Hl7Route",
    "Hl7Visit",
    "Immunization",
    "ImportedFile",
    "LoginThrottle",
    "Medication",
    "MedicationFill",
    "MedicationInstruction",
    "Notification",
    "Observation",
    "Organization",
    "OutsideCarePlan",
    "OutsideCareTeam",
    "Patient",
    "PatientMerge",
    "Procedure",
    "ProtocolRun",
    "Provider",
    "Reconciliation",
    "ReconciliationLine",
    "Referral",
    "ReferralDocument",
    "ReferralEvent",
    "ReferralTargets",
    "ResultOrder",
    "ResultValue",
    "Staff",
    "SystemClient",
    "Task",
    "TaskComment",
    "TaskTimeEntry",
    "WebSession",
]
