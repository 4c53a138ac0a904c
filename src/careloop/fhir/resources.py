"""CareLoop rows -> FHIR R4 resources, one mapping per resource type (the registry `TYPES`).

Adding a resource type is one `ResourceType` here: its model, the permission that reads it, the function
that builds the JSON, and its search parameters (`search.py` turns them into SQL). Every resource built
here validates against the R4B models of `fhir.resources` (tests check each type on real rows).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import object_session

from careloop.audit.models import AuditEvent
from careloop.auth.permissions import Permission
from careloop.care_plans.models import CarePlan, Goal
from careloop.care_teams.models import CareTeamMember
from careloop.clinical.models import SNOMED, Allergy, Condition, Encounter, Immunization, Observation, Procedure
from careloop.medications.models import Medication, MedicationSource
from careloop.organizations.models import Organization
from careloop.patients.models import Patient
from careloop.referrals.models import Provider, Referral
from careloop.staff.models import Staff
from careloop.tasks.models import Task

MRN_SYSTEM_DEFAULT = "urn:careloop:mrn"
_TERMINOLOGY = "http://terminology.hl7.org/CodeSystem"


@dataclass(frozen=True)
class SearchParam:
    """A search parameter: `kind` is token, date, reference, string or identifier; `columns` are the model
    attributes it reads (for token: code column then system column); `identifying` ones are PHI and may only be
    sent in a POST body (`_search`), never in a URL."""

    kind: str
    columns: tuple[str, ...]
    identifying: bool = False
    values: Callable[[str], Any] | None = None  # FHIR code -> stored value (tokens without a system)


@dataclass(frozen=True)
class ResourceType:
    name: str
    model: type
    permission: Permission
    build: Callable[[Any], dict[str, Any]]
    params: dict[str, SearchParam] = field(default_factory=dict)
    date_column: str | None = None  # for `date` and `_sort=date`
    patient_column: str | None = "patient_id"  # None: not about a patient (visible within the organisation)
    org_column: str | None = "organization_id"  # None: the organisation comes through the patient
    updated_column: str = "updated_at"  # `_lastUpdated`, `meta.lastUpdated`, Last-Modified
    where: tuple[Any, ...] = ()  # SQL conditions: the rows of the model this type covers (default all)
    parse_id: Callable[[str], Any] = uuid.UUID  # the logical id as stored (ValueError when it cannot be one)


def _meta(row: Any) -> dict[str, Any]:
    """versionId only for rows that keep a version (the others are read-only here)."""
    updated = row.updated_at if row.updated_at.tzinfo else row.updated_at.replace(tzinfo=dt.UTC)
    version = getattr(row, "version", None)
    return {"versionId": str(version), "lastUpdated": updated.isoformat()} if version else {
        "lastUpdated": updated.isoformat()}


def _instant(value: dt.datetime) -> str:
    return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).isoformat()


def _subject(row: Any) -> dict[str, str]:
    return {"reference": f"Patient/{row.patient_id}"}


def _coding(system: str | None, code: str | None, display: str | None) -> dict[str, Any]:
    concept: dict[str, Any] = {"text": display} if display else {}
    if code:
        concept["coding"] = [{k: v for k, v in (("system", system), ("code", code), ("display", display)) if v}]
    return concept


def patient(row: Patient) -> dict[str, Any]:
    name = {"use": "official", "family": row.family_name,
            "given": [n for n in (row.given_name, row.middle_name) if n]}
    resource: dict[str, Any] = {
        "resourceType": "Patient", "id": str(row.id), "meta": _meta(row),
        "identifier": [{"use": "usual", "type": {"coding": [{"system": f"{_TERMINOLOGY}/v2-0203", "code": "MR"}]},
                        "system": row.mrn_authority or MRN_SYSTEM_DEFAULT, "value": row.mrn}],
        "active": row.status.value != "inactive" and row.merged_into_id is None,
        "name": [name], "gender": row.sex.value, "birthDate": row.birth_date.isoformat(),
        "communication": [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": row.preferred_language}]},
                           "preferred": True}],
    }
    telecom = [{"system": "phone", "value": row.phone}] if row.phone else []
    telecom += [{"system": "email", "value": row.email}] if row.email else []
    if telecom:
        resource["telecom"] = telecom
    address = {k: v for k, v in (("city", row.city), ("state", row.state), ("postalCode", row.postal_code)) if v}
    if row.address_line:
        address["line"] = [row.address_line]
    if address:
        resource["address"] = [address]
    if row.deceased_date:
        resource["deceasedDateTime"] = row.deceased_date.isoformat()
    if row.merged_into_id:
        resource["link"] = [{"other": {"reference": f"Patient/{row.merged_into_id}"}, "type": "replaced-by"}]
    return resource


def condition(row: Condition) -> dict[str, Any]:
    status = row.clinical_status.value
    resource = {
        "resourceType": "Condition", "id": str(row.id), "meta": _meta(row),
        "clinicalStatus": {"coding": [{"system": f"{_TERMINOLOGY}/condition-clinical", "code": status}]},
        "category": [{"coding": [{"system": f"{_TERMINOLOGY}/condition-category", "code": "problem-list-item"}]}],
        "code": _coding(row.code_system, row.code, row.display), "subject": _subject(row),
    }
    if row.onset_date:
        resource["onsetDateTime"] = row.onset_date.isoformat()
    if row.abatement_date:
        resource["abatementDateTime"] = row.abatement_date.isoformat()
    return resource


_ENCOUNTER_CLASS = {"ambulatory": "AMB", "emergency": "EMER", "inpatient": "IMP", "observation": "OBSENC",
                    "home": "HH", "virtual": "VR"}
_ENCOUNTER_STATUS = {"planned": "planned", "in_progress": "in-progress", "finished": "finished",
                     "cancelled": "cancelled"}


def encounter(row: Encounter) -> dict[str, Any]:
    period = {"start": _instant(row.start_at)}
    if row.end_at:
        period["end"] = _instant(row.end_at)
    resource: dict[str, Any] = {
        "resourceType": "Encounter", "id": str(row.id), "meta": _meta(row),
        "status": _ENCOUNTER_STATUS[row.status.value],
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                  "code": _ENCOUNTER_CLASS[row.encounter_class.value]},
        "subject": _subject(row), "period": period,
    }
    if row.visit_number:
        resource["identifier"] = [{"use": "usual", "value": row.visit_number}]
    if row.reason:
        resource["reasonCode"] = [{"text": row.reason}]
    if row.facility_name:
        resource["serviceProvider"] = {"display": row.facility_name}
    if row.discharge_disposition:
        resource["hospitalization"] = {"dischargeDisposition": {"text": row.discharge_disposition}}
    return resource


_OBSERVATION_CATEGORY = {"vital_signs": "vital-signs", "laboratory": "laboratory", "survey": "survey"}


def observation(row: Observation) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Observation", "id": str(row.id), "meta": _meta(row), "status": "final",
        "category": [{"coding": [{"system": f"{_TERMINOLOGY}/observation-category",
                                  "code": _OBSERVATION_CATEGORY[row.category.value]}]}],
        "code": _coding(row.code_system, row.code, row.display), "subject": _subject(row),
        "effectiveDateTime": _instant(row.effective_at),
    }
    if row.value_quantity is not None:
        quantity: dict[str, Any] = {"value": row.value_quantity}
        if row.unit:
            quantity.update(unit=row.unit, system="http://unitsofmeasure.org", code=row.unit)
        resource["valueQuantity"] = quantity
    elif row.value_text:
        resource["valueString"] = row.value_text
    if row.encounter_id:
        resource["encounter"] = {"reference": f"Encounter/{row.encounter_id}"}
    return resource


_ALLERGY_STATUS = {"active": "active", "inactive": "inactive", "resolved": "resolved"}
_CRITICALITY = {"low": "low", "high": "high", "unable_to_assess": "unable-to-assess"}


def allergy(row: Allergy) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "AllergyIntolerance", "id": str(row.id), "meta": _meta(row),
        "clinicalStatus": {"coding": [{"system": f"{_TERMINOLOGY}/allergyintolerance-clinical",
                                       "code": _ALLERGY_STATUS[row.clinical_status.value]}]},
        "category": [row.category.value], "criticality": _CRITICALITY[row.criticality.value],
        "code": _coding(row.code_system, row.code, row.substance), "patient": _subject(row),
    }
    if row.recorded_date:
        resource["recordedDate"] = row.recorded_date.isoformat()
    if row.reaction:
        resource["reaction"] = [{"manifestation": [{"text": row.reaction}]}]
    return resource


_MEDICATION_STATUS = {"active": "active", "on_hold": "on-hold", "completed": "completed", "stopped": "stopped",
                      "entered_in_error": "entered-in-error"}
_MEDICATION_SOURCE = "https://careloop.dev/fhir/CodeSystem/medication-list-source"


def medication_statement(row: Medication) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "MedicationStatement", "id": str(row.id), "meta": _meta(row),
        "status": _MEDICATION_STATUS[row.status.value],
        "category": {"coding": [{"system": _MEDICATION_SOURCE, "code": row.source.value}]},
        "medicationCodeableConcept": _coding(row.code_system, row.code, row.display), "subject": _subject(row),
    }
    dosage = " ".join(p for p in (row.dose, row.route, row.frequency) if p)
    if dosage:
        resource["dosage"] = [{"text": dosage}]
    if row.start_date or row.end_date:
        resource["effectivePeriod"] = {k: v.isoformat() for k, v in (("start", row.start_date),
                                                                      ("end", row.end_date)) if v}
    return resource


_REQUEST_STATUS = {"active": "active", "on_hold": "on-hold", "completed": "completed", "stopped": "stopped",
                   "entered_in_error": "entered-in-error"}


def medication_request(row: Medication) -> dict[str, Any]:
    """An entry of the practice's medication list as the practice's plan for the medicine (intent `plan`:
    CareLoop records what is prescribed; it does not send prescriptions)."""
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest", "id": str(row.id), "meta": _meta(row),
        "status": _REQUEST_STATUS[row.status.value], "intent": "plan",
        "medicationCodeableConcept": _coding(row.code_system, row.code, row.display), "subject": _subject(row),
    }
    if row.start_date:
        resource["authoredOn"] = row.start_date.isoformat()
    dosage = " ".join(p for p in (row.dose, row.route, row.frequency) if p)
    if dosage:
        resource["dosageInstruction"] = [{"text": dosage}]
    return resource

def practitioner(row: Staff) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Practitioner", "id": str(row.id), "meta": _meta(row), "active": row.is_active,
        "name": [{"family": row.family_name, "given": [row.given_name]}],
        "telecom": [{"system": "email", "value": row.email, "use": "work"}],
        "qualification": [{"code": {"text": row.role.value.replace("_", " ")}}],
    }
    if row.npi:
        resource["identifier"] = [{"system": "http://hl7.org/fhir/sid/us-npi", "value": row.npi}]
    return resource


_PLAN_STATUS = {"draft": "draft", "active": "active", "revised": "revoked", "completed": "completed",
                "revoked": "revoked"}


def care_plan(row: CarePlan) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "CarePlan", "id": str(row.id), "meta": _meta(row), "status": _PLAN_STATUS[row.status.value],
        "intent": "plan", "title": row.title, "subject": _subject(row), "created": _instant(row.created_at),
        "category": [{"coding": [{"system": "http://hl7.org/fhir/us/core/CodeSystem/careplan-category",
                                  "code": "assess-plan"}]}],
    }
    if row.author_id:
        resource["author"] = {"reference": f"Practitioner/{row.author_id}"}
    if row.supersedes_id:
        resource["replaces"] = [{"reference": f"CarePlan/{row.supersedes_id}"}]
    if row.instructions or row.patient_goals:
        resource["description"] = row.instructions or row.patient_goals
    return resource


_GOAL_STATUS = {"proposed": ("proposed", None), "active": ("active", "in-progress"),
                "achieved": ("completed", "achieved"), "not_achieved": ("completed", "not-achieved"),
                "cancelled": ("cancelled", None)}
_COMPARATORS = {"lt": "<", "le": "<=", "gt": ">", "ge": ">="}


def goal(row: Goal) -> dict[str, Any]:
    lifecycle, achievement = _GOAL_STATUS[row.status.value]
    resource: dict[str, Any] = {
        "resourceType": "Goal", "id": str(row.id), "meta": _meta(row), "lifecycleStatus": lifecycle,
        "description": {"text": row.description}, "subject": _subject(row),
    }
    if achievement:
        resource["achievementStatus"] = {"coding": [{"system": f"{_TERMINOLOGY}/goal-achievement",
                                                     "code": achievement}]}
    target: dict[str, Any] = {}
    if row.measure_code:
        target["measure"] = _coding(row.measure_system, row.measure_code, None)
    if row.target_value is not None:
        quantity: dict[str, Any] = {"value": row.target_value}
        if row.comparator and row.comparator.value in _COMPARATORS:
            quantity["comparator"] = _COMPARATORS[row.comparator.value]
        if row.target_unit:
            quantity["unit"] = row.target_unit
        target["detailQuantity"] = quantity
    if row.due_date:
        target["dueDate"] = row.due_date.isoformat()
    if target:
        resource["target"] = [target]
    return resource


def task(row: Task) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Task", "id": str(row.id), "meta": _meta(row), "status": row.status.value.replace("_", "-"),
        "intent": "order", "priority": row.priority.value, "description": row.title, "for": _subject(row),
        "authoredOn": _instant(row.created_at),
    }
    if row.owner_id:
        resource["owner"] = {"reference": f"Practitioner/{row.owner_id}"}
    if row.due_at:
        resource["restriction"] = {"period": {"end": _instant(row.due_at)}}
    if row.outcome:
        resource["note"] = [{"text": row.outcome}]
    return resource


_REFERRAL_STATUS = {"draft": "draft", "sent": "active", "accepted": "active", "declined": "revoked",
                    "scheduled": "active", "seen": "active", "report_received": "active", "reviewed": "active",
                    "closed": "completed", "cancelled": "revoked", "expired": "revoked"}


def service_request(row: Referral) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest", "id": str(row.id), "meta": _meta(row),
        "status": _REFERRAL_STATUS[row.status.value], "intent": "order",
        "priority": {"routine": "routine", "urgent": "urgent", "stat": "stat"}[row.urgency.value],
        "category": [{"coding": [{"system": SNOMED, "code": "3457005", "display": "Patient referral"}]}],
        "code": {"coding": [{"system": "http://nucc.org/provider-taxonomy", "code": row.specialty_code,
                             "display": row.specialty_display}], "text": f"Referral to {row.specialty_display}"},
        "subject": _subject(row), "requester": {"reference": f"Practitioner/{row.referring_staff_id}"},
        "reasonCode": [{"text": row.reason}], "authoredOn": _instant(row.created_at),
    }
    if row.clinical_question:
        resource["note"] = [{"text": row.clinical_question}]
    if row.target_appointment_date:
        resource["occurrencePeriod"] = {"end": row.target_appointment_date.isoformat()}
    return resource


def _hyphen_to_underscore(code: str) -> str:
    return code.replace("-", "_")


def _encounter_ref(row: Any, resource: dict[str, Any]) -> None:
    if row.encounter_id:
        resource["encounter"] = {"reference": f"Encounter/{row.encounter_id}"}


def procedure(row: Procedure) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Procedure", "id": str(row.id), "meta": _meta(row),
        "status": row.status.value.replace("_", "-"), "code": _coding(row.code_system, row.code, row.display),
        "subject": _subject(row),
    }
    if row.performed_at and row.performed_end_at:
        resource["performedPeriod"] = {"start": _instant(row.performed_at), "end": _instant(row.performed_end_at)}
    elif row.performed_at:
        resource["performedDateTime"] = _instant(row.performed_at)
    if row.reason:
        resource["reasonCode"] = [{"text": row.reason}]
    _encounter_ref(row, resource)
    return resource


def immunization(row: Immunization) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Immunization", "id": str(row.id), "meta": _meta(row),
        "status": row.status.value.replace("_", "-"), "vaccineCode": _coding(row.code_system, row.code, row.display),
        "patient": _subject(row), "occurrenceDateTime": _instant(row.occurred_at), "primarySource": False,
    }
    if row.lot_number:
        resource["lotNumber"] = row.lot_number
    _encounter_ref(row, resource)
    return resource


def care_team(row: Patient) -> dict[str, Any]:
    """The patient's care team as it stands (active members with their roles), one CareTeam per patient with
    the patient's id; lastUpdated is the latest change to the patient or the team."""
    members = object_session(row).execute(
        select(CareTeamMember, Staff).join(Staff, Staff.id == CareTeamMember.staff_id)
        .where(CareTeamMember.patient_id == row.id, CareTeamMember.ended_at.is_(None))
        .order_by(CareTeamMember.role, CareTeamMember.started_at)).all()
    updated = max([row.updated_at, *(m.updated_at for m, _ in members)], key=_as_utc)
    resource: dict[str, Any] = {
        "resourceType": "CareTeam", "id": str(row.id), "meta": {"lastUpdated": _instant(updated)},
        "status": "active" if row.status.value == "active" and row.merged_into_id is None else "inactive",
        "name": "Care coordination team", "subject": {"reference": f"Patient/{row.id}"},
        "managingOrganization": [{"reference": f"Organization/{row.organization_id}"}],
    }
    if members:
        resource["participant"] = [{
            "role": [{"coding": [{"system": "https://careloop.dev/fhir/CodeSystem/care-team-role",
                                  "code": m.role.value, "display": m.role.value.replace("_", " ").capitalize()}]}],
            "member": {"reference": f"Practitioner/{m.staff_id}", "display": staff.display_name},
            "period": {"start": _instant(m.started_at)}} for m, staff in members]
    return resource


def _as_utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def organization(row: Organization) -> dict[str, Any]:
    return {"resourceType": "Organization", "id": str(row.id), "meta": _meta(row), "active": True,
            "type": [{"coding": [{"system": f"{_TERMINOLOGY}/organization-type", "code": "prov",
                                  "display": "Healthcare Provider"}]}],
            "name": row.name}


def practitioner_role(row: Provider) -> dict[str, Any]:
    """A directory entry (a specialist or a specialist organisation) as the role it is referred to in."""
    resource: dict[str, Any] = {
        "resourceType": "PractitionerRole", "id": str(row.id), "meta": _meta(row), "active": row.is_active,
        "identifier": [{"system": "urn:careloop:provider-directory", "value": row.external_id}],
        "specialty": [_coding(row.specialty_system, row.specialty_code, row.specialty_display)],
        "availabilityExceptions": ("Accepting new patients" if row.accepting_new_patients
                                   else "Not accepting new patients")
                                  + ("; in network" if row.in_network else "; out of network"),
    }
    resource["practitioner" if row.kind.value == "practitioner" else "organization"] = {"display": row.name}
    telecom = [{"system": "phone", "value": row.phone, "use": "work"}] if row.phone else []
    telecom += [{"system": "email", "value": row.direct_address, "use": "work"}] if row.direct_address else []
    if telecom:
        resource["telecom"] = telecom
    place = ", ".join(p for p in (row.address_line, row.city, " ".join(x for x in (row.state, row.postal_code)
                                                                         if x)) if p)
    if place:
        resource["location"] = [{"display": place}]
    return resource


_AUDIT_ACTION = {"create": "C", "read": "R", "search": "R", "export": "R", "export_download": "R",
                 "update": "U", "delete": "D"}


def audit_event(row: AuditEvent) -> dict[str, Any]:
    """An audit log entry about a patient (who did what to which record, when, from where, why)."""
    agent: dict[str, Any] = {"requestor": True, "type": {"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/extra-security-role-type", "code": "humanuser"
        if row.actor_id else "dataprocessor"}]}}
    if row.actor_id:
        agent["who"] = {"reference": f"Practitioner/{row.actor_id}"}
    elif row.client_name:
        agent["who"] = {"display": row.client_name}
    if row.source_address:
        agent["network"] = {"address": row.source_address, "type": "2"}
    entity = [{"what": {"reference": f"Patient/{row.patient_id}"},
               "type": {"system": f"{_TERMINOLOGY}/audit-entity-type", "code": "1", "display": "Person"}}]
    if row.record_type and row.record_id:
        entity.append({"what": {"identifier": {"value": row.record_id}},
                       "type": {"system": "urn:careloop:record-type", "code": row.record_type}})
    resource: dict[str, Any] = {
        "resourceType": "AuditEvent", "id": str(row.id), "meta": {"lastUpdated": _instant(row.occurred_at)},
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest",
                 "display": "RESTful Operation"},
        "subtype": [{"system": "urn:careloop:audit-action", "code": row.action}],
        "action": _AUDIT_ACTION.get(row.action, "E"), "recorded": _instant(row.occurred_at),
        "outcome": "0" if row.outcome == "success" else "4", "agent": [agent],
        "source": {"observer": {"display": "CareLoop"}}, "entity": entity,
    }
    if row.purpose_of_use:
        resource["purposeOfEvent"] = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                                                   "code": row.purpose_of_use}]}]
    return resource


_COMMON = {"_id": SearchParam("token", ("id",)), "_lastUpdated": SearchParam("date", ("updated_at",))}
_PATIENT_REF = SearchParam("reference", ("patient_id",))

TYPES: dict[str, ResourceType] = {t.name: t for t in (
    ResourceType("Patient", Patient, Permission.PATIENT_READ, patient, {
        **_COMMON, "identifier": SearchParam("identifier", ("mrn", "mrn_authority"), identifying=True),
        "name": SearchParam("string", ("family_name", "given_name"), identifying=True),
        "family": SearchParam("string", ("family_name",), identifying=True),
        "given": SearchParam("string", ("given_name",), identifying=True),
        "birthdate": SearchParam("date", ("birth_date",), identifying=True),
        "gender": SearchParam("token", ("sex",)),
    }, date_column="birth_date", patient_column="id"),
    ResourceType("Condition", Condition, Permission.CLINICAL_READ, condition, {
        **_COMMON, "patient": _PATIENT_REF, "subject": _PATIENT_REF,
        "code": SearchParam("token", ("code", "code_system")),
        "clinical-status": SearchParam("token", ("clinical_status",)),
        "onset-date": SearchParam("date", ("onset_date",)),
    }, date_column="onset_date"),
    ResourceType("Encounter", Encounter, Permission.CLINICAL_READ, encounter, {
        **_COMMON, "patient": _PATIENT_REF, "subject": _PATIENT_REF,
        "status": SearchParam("token", ("status",), values=_hyphen_to_underscore),
        "date": SearchParam("date", ("start_at",)),
    }, date_column="start_at"),
    ResourceType("Observation", Observation, Permission.CLINICAL_READ, observation, {
        **_COMMON, "patient": _PATIENT_REF, "subject": _PATIENT_REF,
        "code": SearchParam("token", ("code", "code_system")),
        "category": SearchParam("token", ("category",), values=_hyphen_to_underscore),
        "date": SearchParam("date", ("effective_at",)),
    }, date_column="effective_at"),
    ResourceType("AllergyIntolerance", Allergy, Permission.CLINICAL_READ, allergy, {
        **_COMMON, "patient": _PATIENT_REF,
        "clinical-status": SearchParam("token", ("clinical_status",)),
        "code": SearchParam("token", ("code", "code_system")),
    }, date_column="recorded_date"),
    ResourceType("MedicationStatement", Medication, Permission.CLINICAL_READ, medication_statement, {
        **_COMMON, "patient": _PATIENT_REF, "subject": _PATIENT_REF,
        "code": SearchParam("token", ("code", "code_system")),
        "status": SearchParam("token", ("status",), values=_hyphen_to_underscore),
        "category": SearchParam("token", ("source",)),
    }, date_column="start_date"),
    ResourceType("MedicationRequest", Medication, Permission.CLINICAL_READ, medication_request, {
        **_COMMON, "patient": _PATIENT_REF, "subject": _PATIENT_REF,
        "code": SearchParam("token", ("code", "code_system")),
        "status": SearchParam("token", ("status",), values=_hyphen_to_underscore),
        "authoredon": SearchParam("date", ("start_date",)),
    }, date_column="start_date", where=(Medication.source == MedicationSource.PRACTICE,)),
    ResourceType("Practitioner", Staff, Permission.STAFF_READ, practitioner, {
        **_COMMON, "identifier": SearchParam("identifier", ("npi",)),
        "active": SearchParam("token", ("is_active",), values=lambda v: v == "true"),
    }, patient_column=None),
    ResourceType("CarePlan", CarePlan, Permission.CARE_PLAN_READ, care_plan, {
        **_COMMON, "patient": _PATIENT_REF, "subject": _PATIENT_REF,
        "status": SearchParam("token", ("status",)),
    }, date_column="created_at"),
    ResourceType("Goal", Goal, Permission.CARE_PLAN_READ, goal, {
        **_COMMON, "patient": _PATIENT_REF, "subject": _PATIENT_REF,
    }, date_column="due_date", org_column=None),
    ResourceType("Task", Task, Permission.TASK_READ, task, {
        **_COMMON, "patient": _PATIENT_REF, "subject": _PATIENT_REF,
        "status": SearchParam("token", ("status",), values=_hyphen_to_underscore),
        "owner": SearchParam("reference", ("owner_id",)),
    }, date_column="due_at"),
    ResourceType("ServiceRequest", Referral, Permission.REFERRAL_READ, service_request, {
        **_COMMON, "patient": _PATIENT_REF, "subject": _PATIENT_REF,
        "code": SearchParam("token", ("specialty_code",)),
    }, date_column="created_at"),
    ResourceType("Procedure", Procedure, Permission.CLINICAL_READ, procedure, {
        **_COMMON, "patient": _PATIENT_REF, "subject": _PATIENT_REF,
        "code": SearchParam("token", ("code", "code_system")),
        "status": SearchParam("token", ("status",), values=_hyphen_to_underscore),
        "date": SearchParam("date", ("performed_at",)),
    }, date_column="performed_at"),
    ResourceType("Immunization", Immunization, Permission.CLINICAL_READ, immunization, {
        **_COMMON, "patient": _PATIENT_REF,
        "vaccine-code": SearchParam("token", ("code", "code_system")),
        "status": SearchParam("token", ("status",), values=_hyphen_to_underscore),
        "date": SearchParam("date", ("occurred_at",)),
    }, date_column="occurred_at"),
    ResourceType("CareTeam", Patient, Permission.PATIENT_READ, care_team, {
        **_COMMON, "patient": SearchParam("reference", ("id",)), "subject": SearchParam("reference", ("id",)),
    }, patient_column="id"),
    ResourceType("Organization", Organization, Permission.PATIENT_READ, organization, {
        **_COMMON, "name": SearchParam("string", ("name",)),
    }, patient_column=None, org_column="id"),
    ResourceType("PractitionerRole", Provider, Permission.REFERRAL_READ, practitioner_role, {
        **_COMMON, "specialty": SearchParam("token", ("specialty_code", "specialty_system")),
        "active": SearchParam("token", ("is_active",), values=lambda v: v == "true"),
        "identifier": SearchParam("identifier", ("external_id",)),
    }, patient_column=None),
    ResourceType("AuditEvent", AuditEvent, Permission.AUDIT_READ, audit_event, {
        "_id": SearchParam("token", ("id",)), "_lastUpdated": SearchParam("date", ("occurred_at",)),
        "patient": _PATIENT_REF, "date": SearchParam("date", ("occurred_at",)),
        "subtype": SearchParam("token", ("action",)), "outcome": SearchParam("token", ("outcome",), values=lambda v: {
            "0": "success"}.get(v, v)),
    }, date_column="occurred_at", updated_column="occurred_at", parse_id=int),
)}
