"""FHIR resources accepted through create and update -> CareLoop clinical records.

Every accepted resource is validated in full with `fhir.resources` (R4B) first; then what CareLoop stores
is read from it (codes with systems, the subject reference, dates) and checked by the clinical record
schemas. Problems come back as OperationOutcome issues naming the element, never echoing its value.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from careloop.clinical import service as clinical
from careloop.clinical.models import RXNORM
from careloop.errors import InvalidInput

_SOURCE_SYSTEM = "https://careloop.dev/fhir/CodeSystem/medication-list-source"
_CLASS = {"AMB": "ambulatory", "EMER": "emergency", "IMP": "inpatient", "ACUTE": "inpatient", "NONAC": "inpatient",
          "OBSENC": "observation", "HH": "home", "VR": "virtual"}


class FhirInputError(InvalidInput):
    """A resource that is not valid FHIR, or that CareLoop cannot store; `issues` are (element, message)."""

    def __init__(self, message: str, issues: list[tuple[str, str]]) -> None:
        super().__init__(message, field=issues[0][0] if issues else None,
                         extra={"errors": [{"field": f, "message": m} for f, m in issues]})


def validate(resource_type: str, body: Any) -> dict[str, Any]:
    """The body as a valid resource of the type (FhirInputError otherwise)."""
    if not isinstance(body, dict) or body.get("resourceType") != resource_type:
        raise FhirInputError(f"The body must be a {resource_type} resource", [("resourceType", "wrong type")])
    try:
        get_fhir_model_class(resource_type).model_validate(body)
    except ValidationError as err:
        issues = [(".".join(str(p) for p in e["loc"]) or resource_type, e["type"]) for e in err.errors()[:10]]
        raise FhirInputError(f"Not a valid {resource_type} resource", issues) from None
    return body


def _patient_id(reference: dict[str, Any] | None, element: str) -> uuid.UUID:
    ref = (reference or {}).get("reference", "")
    kind, _, rid = ref.partition("/")
    try:
        if kind == "Patient":
            return uuid.UUID(rid)
    except ValueError:
        pass
    raise FhirInputError(f"{element} must reference a Patient by id", [(element, "Patient/{id} required")])


def _coding(concept: dict[str, Any] | None, element: str, *, required: bool = True) -> dict[str, Any]:
    codings = [c for c in (concept or {}).get("coding", []) if c.get("code")]
    if not codings:
        if required:
            raise FhirInputError(f"{element} needs a coding with a code", [(element, "coding required")])
        return {"code": None, "system": None, "display": (concept or {}).get("text")}
    first = codings[0]
    return {"code": first["code"], "system": first.get("system"),
            "display": first.get("display") or (concept or {}).get("text") or first["code"]}


def concept_name(concept: dict[str, Any] | None) -> str | None:
    """What a CodeableConcept is called: its text, else its first coding's display or code."""
    return _coding(concept, "", required=False)["display"] or None


def _status(concept: dict[str, Any] | None, default: str) -> str:
    codings = (concept or {}).get("coding", [])
    return codings[0]["code"].replace("-", "_") if codings and codings[0].get("code") else default


def _date(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text[:10]) if text and len(text) >= 10 else None


def _instant(text: str | None, element: str) -> dt.datetime:
    """A FHIR dateTime; a date without a time (1999, 1999-07, 1999-07-02) is its first instant in UTC."""
    if not text:
        raise FhirInputError(f"{element} is required", [(element, "dateTime required")])
    if "T" not in text:
        parts = [int(p) for p in text.split("-")]
        return dt.datetime(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1,
                           tzinfo=dt.UTC)
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise FhirInputError(f"{element} needs a time zone", [(element, "offset required")])
    return moment


def condition(r: dict[str, Any]) -> tuple[uuid.UUID, dict[str, Any]]:
    code = _coding(r.get("code"), "Condition.code")
    values = {"code": code["code"], "display": code["display"], "clinical_status": _status(
        r.get("clinicalStatus"), "active"), "onset_date": _date(r.get("onsetDateTime")),
        "abatement_date": _date(r.get("abatementDateTime"))}
    if code["system"]:
        values["code_system"] = code["system"]
    return _patient_id(r.get("subject"), "Condition.subject"), values


def observation(r: dict[str, Any]) -> tuple[uuid.UUID, dict[str, Any]]:
    code = _coding(r.get("code"), "Observation.code")
    category = next((c["code"] for cat in r.get("category", []) for c in cat.get("coding", [])
                     if c.get("code") in ("vital-signs", "laboratory", "survey")), "laboratory")
    values: dict[str, Any] = {"category": category.replace("-", "_"), "code": code["code"],
                              "display": code["display"][:200],
                              "effective_at": _instant(r.get("effectiveDateTime"), "Observation.effectiveDateTime")}
    if code["system"]:
        values["code_system"] = code["system"]
    if "valueQuantity" in r:
        values["value_quantity"] = r["valueQuantity"].get("value")
        values["unit"] = r["valueQuantity"].get("unit") or r["valueQuantity"].get("code")
    elif "valueString" in r:
        values["value_text"] = r["valueString"]
    elif "valueCodeableConcept" in r:
        values["value_text"] = _coding(r["valueCodeableConcept"], "Observation.valueCodeableConcept")["display"]
    values["encounter_id"] = _encounter_id(r, "Observation.encounter")
    return _patient_id(r.get("subject"), "Observation.subject"), values


def _encounter_id(r: dict[str, Any], element: str) -> uuid.UUID | None:
    if not r.get("encounter"):
        return None
    try:
        return uuid.UUID(r["encounter"].get("reference", "").removeprefix("Encounter/"))
    except ValueError as err:
        raise FhirInputError("encounter must reference an Encounter by id", [(element, "Encounter/{id} required")]
                             ) from err


def procedure(r: dict[str, Any]) -> tuple[uuid.UUID, dict[str, Any]]:
    code = _coding(r.get("code"), "Procedure.code")
    period = r.get("performedPeriod") or {}
    start = r.get("performedDateTime") or period.get("start")
    values = {"code": code["code"], "display": code["display"][:300], "status": r["status"].replace("-", "_"),
              "performed_at": _instant(start, "Procedure.performed") if start else None,
              "performed_end_at": _instant(period["end"], "Procedure.performedPeriod.end") if period.get("end")
              else None,
              "reason": next((name[:300] for name in (*map(concept_name, r.get("reasonCode", [])),
                                                      *(ref.get("display") for ref in r.get("reasonReference", [])))
                              if name), None),
              "encounter_id": _encounter_id(r, "Procedure.encounter")}
    if code["system"]:
        values["code_system"] = code["system"]
    return _patient_id(r.get("subject"), "Procedure.subject"), values


def immunization(r: dict[str, Any]) -> tuple[uuid.UUID, dict[str, Any]]:
    code = _coding(r.get("vaccineCode"), "Immunization.vaccineCode")
    values = {"code": code["code"], "display": code["display"][:300], "status": r["status"].replace("-", "_"),
              "occurred_at": _instant(r.get("occurrenceDateTime"), "Immunization.occurrenceDateTime"),
              "lot_number": r.get("lotNumber"), "encounter_id": _encounter_id(r, "Immunization.encounter")}
    if code["system"]:
        values["code_system"] = code["system"]
    return _patient_id(r.get("patient"), "Immunization.patient"), values


def allergy(r: dict[str, Any]) -> tuple[uuid.UUID, dict[str, Any]]:
    code = _coding(r.get("code"), "AllergyIntolerance.code", required=False)
    if not code["display"]:
        raise FhirInputError("code needs a coding or text", [("AllergyIntolerance.code", "substance required")])
    reaction = next((m.get("text") for rx in r.get("reaction", []) for m in rx.get("manifestation", [])
                     if m.get("text")), None)
    values = {"substance": code["display"], "code": code["code"], "code_system": code["system"],
              "category": (r.get("category") or ["medication"])[0],
              "criticality": (r.get("criticality") or "low").replace("-", "_"),
              "clinical_status": _status(r.get("clinicalStatus"), "active"), "reaction": reaction,
              "recorded_date": _date(r.get("recordedDate"))}
    return _patient_id(r.get("patient"), "AllergyIntolerance.patient"), values


def _contained(r: dict[str, Any], reference: dict[str, Any] | None) -> dict[str, Any] | None:
    """The contained resource a local reference (#id) points at."""
    ref = (reference or {}).get("reference", "")
    return next((c for c in r.get("contained", []) if ref.startswith("#") and c.get("id") == ref[1:]), None)


def medication_statement(r: dict[str, Any]) -> tuple[uuid.UUID, dict[str, Any]]:
    concept = r.get("medicationCodeableConcept") or (_contained(r, r.get("medicationReference")) or {}).get("code")
    rxnorm = [c for c in (concept or {}).get("coding", []) if c.get("system") == RXNORM and c.get("code")]
    code = _coding({**(concept or {}), "coding": rxnorm} if rxnorm else concept,
                   "MedicationStatement.medicationCodeableConcept", required=False)
    if not rxnorm:  # CareLoop codes medicines with RxNorm: another code system is kept as the name only
        code = {"code": None, "system": None, "display": code["display"]}
    if not code["display"]:
        raise FhirInputError("medicationCodeableConcept needs a coding or text",
                             [("MedicationStatement.medicationCodeableConcept", "medicine required")])
    source = next((c["code"] for c in (r.get("category") or {}).get("coding", []) if c.get("system") == _SOURCE_SYSTEM),
                  "patient_reported")
    dosage = next((d.get("text") for d in r.get("dosage", []) if d.get("text")), None)
    period = r.get("effectivePeriod") or {}
    values = {"code": code["code"], "display": code["display"][:300], "dose": dosage[:100] if dosage else None,
              "status": r["status"].replace("-", "_"), "source": source, "start_date": _date(period.get("start")),
              "end_date": _date(period.get("end"))}
    if code["system"]:
        values["code_system"] = code["system"]
    return _patient_id(r.get("subject"), "MedicationStatement.subject"), values


_REQUEST_STATUS = {"active": "active", "on-hold": "on_hold", "completed": "completed", "stopped": "stopped",
                   "cancelled": "stopped", "entered-in-error": "entered_in_error"}


def medication_request(r: dict[str, Any], medications: dict[str, dict[str, Any]] | None = None
                       ) -> tuple[uuid.UUID, dict[str, Any]]:
    """A prescription as an entry of the practice's medication list (the medicine given inline, contained, or
    as a Medication resource of the same bundle in `medications`)."""
    reference = (r.get("medicationReference") or {}).get("reference")
    concept = (r.get("medicationCodeableConcept") or ((medications or {}).get(reference) or {}).get("code")
               or (_contained(r, r.get("medicationReference")) or {}).get("code"))
    statement = {"resourceType": "MedicationStatement", "status": _REQUEST_STATUS.get(r.get("status"), "completed"),
                 "medicationCodeableConcept": concept, "subject": r.get("subject"),
                 "category": {"coding": [{"system": _SOURCE_SYSTEM, "code": "practice"}]},
                 "effectivePeriod": {"start": r["authoredOn"]} if r.get("authoredOn") else None}
    dosage = (r.get("dosageInstruction") or [{}])[0]
    timing = ((dosage.get("timing") or {}).get("repeat") or {})
    if dosage.get("text"):
        statement["dosage"] = [{"text": dosage["text"]}]
    elif timing.get("frequency"):
        statement["dosage"] = [{"text": f"{timing['frequency']} per {timing.get('period', 1)} "
                                        f"{timing.get('periodUnit', 'd')}"}]
    return medication_statement({k: v for k, v in statement.items() if v is not None})

def encounter(r: dict[str, Any]) -> tuple[uuid.UUID, dict[str, Any]]:
    period = r.get("period") or {}
    klass = (r.get("class") or {}).get("code", "AMB")
    if klass not in _CLASS:
        raise FhirInputError("class is not one CareLoop records", [("Encounter.class", "unsupported code")])
    status = {"in-progress": "in_progress", "arrived": "in_progress", "triaged": "in_progress",
              "onleave": "in_progress"}.get(r["status"], r["status"])
    if status not in ("planned", "in_progress", "finished", "cancelled"):
        raise FhirInputError("status is not one CareLoop records", [("Encounter.status", "unsupported code")])
    values = {"encounter_class": _CLASS[klass], "status": status,
              "start_at": _instant(period.get("start"), "Encounter.period.start"),
              "end_at": _instant(period["end"], "Encounter.period.end") if period.get("end") else None,
              "reason": next((c.get("text") for c in r.get("reasonCode", []) if c.get("text")), None),
              "facility_name": (r.get("serviceProvider") or {}).get("display")}
    return _patient_id(r.get("subject"), "Encounter.subject"), values


def _period(r: dict[str, Any], element: str) -> dict[str, dt.datetime | None]:
    period = r.get("period") or {}
    return {"period_start": _instant(period["start"], f"{element}.period.start") if period.get("start") else None,
            "period_end": _instant(period["end"], f"{element}.period.end") if period.get("end") else None}


def outside_care_plan(r: dict[str, Any], addresses: list[str]) -> tuple[uuid.UUID, dict[str, Any]]:
    """Another provider's care plan: named by its first category that is not the generic assess-plan one
    (Synthea: "Diabetes self management plan"), with its activities; `addresses` are the problems' names."""
    categories = [c for c in r.get("category", []) if not any(
        k.get("code") == "assess-plan" for k in c.get("coding", []))] or r.get("category", [])
    concept = _coding(categories[0], "CarePlan.category", required=False) if categories else {
        "code": None, "system": None, "display": None}
    title = r.get("title") or concept["display"]
    if not title:
        raise FhirInputError("CarePlan needs a title or a category", [("CarePlan.category", "name required")])
    activities = []
    for activity in r.get("activity", []):
        detail = activity.get("detail") or {}
        code = _coding(detail.get("code"), "CarePlan.activity.detail.code", required=False)
        if code["display"]:
            activities.append({"code": code["code"], "code_system": code["system"], "display": code["display"][:300],
                               "status": (detail.get("status") or "").replace("-", "_") or None})
    values = {"title": title[:300], "code": concept["code"], "code_system": concept["system"],
              "status": r["status"].replace("-", "_"), **_period(r, "CarePlan"),
              "provider": next((a.get("display") for a in r.get("author", []) if a.get("display")), None),
              "addresses": [a[:300] for a in addresses], "activities": activities}
    return _patient_id(r.get("subject"), "CarePlan.subject"), values


_PATIENT_ROLE = "116154003"  # SNOMED CT: Patient (the role Synthea gives the patient's own entry)
_MEMBER_KIND = {"Practitioner": "practitioner", "PractitionerRole": "practitioner", "Organization": "organization",
                "RelatedPerson": "related_person"}


def outside_care_team(r: dict[str, Any]) -> tuple[uuid.UUID, dict[str, Any]]:
    """Another provider's care team: its clinicians and organisations (the patient's own entry is left out);
    a member named by a conditional reference (Practitioner?identifier=system|NPI) keeps that identifier."""
    members = []
    for participant in r.get("participant", []):
        member = participant.get("member") or {}
        ref = member.get("reference", "")
        kind = ref.split("?")[0].split("/")[0]
        roles = {c.get("code") for concept in participant.get("role", []) for c in concept.get("coding", [])}
        if kind == "Patient" or _PATIENT_ROLE in roles or ref == (r.get("subject") or {}).get("reference"):
            continue  # the patient is not a member of their own outside team here
        role = next((_coding(c, "CareTeam.participant.role", required=False)["display"]
                     for c in participant.get("role", [])), None)
        identifier = ref.split("|", 1)[1] if "?identifier=" in ref and "|" in ref else None
        if member.get("display"):
            members.append({"name": member["display"][:200], "role": role[:200] if role else None,
                            "kind": _MEMBER_KIND.get(kind, "other"), "identifier": identifier})
    values = {"name": r.get("name"), "status": r["status"].replace("-", "_"), **_period(r, "CareTeam"),
              "organization": next((o.get("display") for o in r.get("managingOrganization", []) if o.get("display")),
                                   None), "members": members}
    return _patient_id(r.get("subject"), "CareTeam.subject"), values

# FHIR type -> (clinical record kind, reader). Types here accept create and update.
WRITABLE: dict[str, tuple[str, Callable[[dict[str, Any]], tuple[uuid.UUID, dict[str, Any]]]]] = {
    "Condition": ("conditions", condition), "Observation": ("observations", observation),
    "AllergyIntolerance": ("allergies", allergy), "MedicationStatement": ("medications", medication_statement),
    "Encounter": ("encounters", encounter), "Procedure": ("procedures", procedure),
    "Immunization": ("immunizations", immunization), "MedicationRequest": ("medications", medication_request),
}


def to_record(resource_type: str, body: Any) -> tuple[clinical.RecordKind, uuid.UUID, Any]:
    """(record kind, patient id, validated create payload) for a FHIR resource."""
    kind_name, read = WRITABLE[resource_type]
    kind = clinical.KINDS[kind_name]
    patient_id, values = read(validate(resource_type, body))
    try:
        return kind, patient_id, kind.create.model_validate({k: v for k, v in values.items() if v is not None})
    except ValidationError as err:
        issues = [(f"{resource_type}.{'.'.join(str(p) for p in e['loc'])}", e["type"]) for e in err.errors()[:10]]
        raise FhirInputError(f"CareLoop cannot store this {resource_type}", issues) from None
