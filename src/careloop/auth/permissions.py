"""Permissions and the role -> permission table: the data behind every access decision."""

from __future__ import annotations

import enum

from careloop.staff.models import StaffRole


class Permission(enum.StrEnum):
    PATIENT_READ = "patient:read"
    PATIENT_WRITE = "patient:write"
    PATIENT_MERGE = "patient:merge"
    CARE_TEAM_WRITE = "care_team:write"
    CLINICAL_READ = "clinical:read"
    CLINICAL_WRITE = "clinical:write"
    STAFF_READ = "staff:read"
    STAFF_ADMIN = "staff:admin"
    AUDIT_READ = "audit:read"
    BREAK_GLASS = "break_glass:use"
    BREAK_GLASS_REVIEW = "break_glass:review"
    TOKEN_ADMIN = "token:admin"
    CARE_PLAN_READ = "care_plan:read"
    CARE_PLAN_WRITE = "care_plan:write"
    CARE_PLAN_SIGN = "care_plan:sign"
    PROTOCOL_READ = "protocol:read"
    PROTOCOL_ADMIN = "protocol:admin"
    TRANSITIONS_READ = "transitions:read"
    HL7_ADMIN = "hl7:admin"
    TASK_READ = "task:read"
    TASK_WRITE = "task:write"
    TASK_ASSIGN = "task:assign"
    TEAM_VIEW = "team:view"
    REFERRAL_READ = "referral:read"
    REFERRAL_WRITE = "referral:write"
    DIRECTORY_ADMIN = "directory:admin"
    MEDICATION_RECONCILE = "medication:reconcile"
    BULK_EXPORT = "fhir:export"  # FHIR Bulk Data $export of many patients at once


P = Permission
_CLINICAL = {P.PATIENT_READ, P.PATIENT_WRITE, P.CLINICAL_READ, P.CLINICAL_WRITE, P.CARE_TEAM_WRITE,
             P.STAFF_READ, P.BREAK_GLASS, P.TRANSITIONS_READ, P.CARE_PLAN_READ, P.CARE_PLAN_WRITE, P.PROTOCOL_READ,
             P.TASK_READ, P.TASK_WRITE, P.REFERRAL_READ, P.REFERRAL_WRITE}
_CLINICAL_READONLY = {P.PATIENT_READ, P.CLINICAL_READ, P.STAFF_READ, P.BREAK_GLASS, P.TRANSITIONS_READ,
                      P.CARE_PLAN_READ, P.PROTOCOL_READ, P.TASK_READ, P.REFERRAL_READ}
_ASSIGNS = {P.TASK_ASSIGN, P.TEAM_VIEW}  # who may move other people's tasks and see the team's workload
_SIGNS = {P.CARE_PLAN_SIGN}  # who may sign a care plan off
_RECONCILES = {P.MEDICATION_RECONCILE}  # licensed clinicians decide and sign medication reconciliations

ROLE_PERMISSIONS: dict[StaffRole, frozenset[Permission]] = {
    StaffRole.CARE_COORDINATOR: frozenset(_CLINICAL),
    StaffRole.RN_CARE_MANAGER: frozenset(_CLINICAL | _SIGNS | _RECONCILES),
    StaffRole.PRIMARY_CARE_PHYSICIAN: frozenset(_CLINICAL | _SIGNS | _RECONCILES),
    StaffRole.SPECIALIST: frozenset(_CLINICAL_READONLY | {P.CLINICAL_WRITE, P.TASK_WRITE}),
    StaffRole.SOCIAL_WORKER: frozenset(_CLINICAL),
    StaffRole.PHARMACIST: frozenset(_CLINICAL | _RECONCILES),
    StaffRole.COMMUNITY_HEALTH_WORKER: frozenset({P.PATIENT_READ, P.PATIENT_WRITE, P.STAFF_READ, P.CARE_PLAN_READ,
                                                  P.PROTOCOL_READ, P.TASK_READ, P.TASK_WRITE}),
    StaffRole.SCHEDULER: frozenset({P.PATIENT_READ, P.STAFF_READ, P.TASK_READ}),
    StaffRole.BILLING: frozenset({P.PATIENT_READ, P.STAFF_READ, P.TASK_READ}),
    StaffRole.SUPERVISOR: frozenset(_CLINICAL | _SIGNS | _RECONCILES | _ASSIGNS | {P.PATIENT_MERGE, P.AUDIT_READ,
                                                                     P.BREAK_GLASS_REVIEW, P.HL7_ADMIN,
                                                                     P.PROTOCOL_ADMIN, P.DIRECTORY_ADMIN,
                                                                     P.BULK_EXPORT}),
    StaffRole.ADMINISTRATOR: frozenset({P.PATIENT_READ, P.PATIENT_WRITE, P.PATIENT_MERGE, P.STAFF_READ,
                                        P.STAFF_ADMIN, P.AUDIT_READ, P.BREAK_GLASS_REVIEW, P.TOKEN_ADMIN,
                                        P.HL7_ADMIN, P.PROTOCOL_READ, P.PROTOCOL_ADMIN, P.TASK_READ,
                                        P.REFERRAL_READ, P.DIRECTORY_ADMIN, P.BULK_EXPORT} | _ASSIGNS),
}

# Roles that see every patient of their organisation rather than only their care-team patients.
ORG_WIDE_ROLES: frozenset[StaffRole] = frozenset(
    {StaffRole.SUPERVISOR, StaffRole.ADMINISTRATOR, StaffRole.SCHEDULER, StaffRole.BILLING})


def permissions_for(role: StaffRole) -> frozenset[Permission]:
    """Permissions a role grants."""
    return ROLE_PERMISSIONS[role]


# Token scopes: "<domain>:<read|write|...>" exactly as Permission values, or "*" for all the user may do.
def scopes_to_permissions(scopes: str) -> frozenset[Permission] | None:
    """Permissions named by a token's scopes (None means no restriction beyond the role)."""
    names = {n for n in scopes.split() if "/" not in n}  # SMART scopes (auth/smart.py) are read separately
    if "*" in names:
        return None
    valid = {p.value: p for p in Permission}
    unknown = names - set(valid)
    if unknown:
        from careloop.errors import InvalidInput

        raise InvalidInput(f"Unknown scope(s): {', '.join(sorted(unknown))}", field="scopes")
    return frozenset(valid[n] for n in names)
