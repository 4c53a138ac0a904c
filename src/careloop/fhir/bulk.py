"""Bulk import of FHIR R4 data (Synthea transaction/collection Bundles, NDJSON) into CareLoop's model.

- Mapped: Patient, Encounter, Condition, Observation (a panel's components become one observation each),
  AllergyIntolerance, MedicationRequest and MedicationStatement (a medication list entry; a contained or
  bundled Medication is read through), Procedure and Immunization. Everything else is counted by type and
  reported, never dropped silently.
- Checked strictly where mapped (codes with systems, references, dates, values) through the same readers
  and record schemas as the REST API, without full-model validation of every resource (too slow in bulk);
  a resource that fails is counted under its reason and the rest goes on.
- Idempotent: every record keeps the id of the resource it came from (`source_ref`, unique per
  organisation), so importing a file again adds nothing. Resumable: a file fully imported is remembered by
  its SHA-256 and skipped next time; each file (or NDJSON chunk) is one transaction.
- Streaming: files one at a time, NDJSON line by line in chunks; memory does not grow with the input.
- Fast: records go in with one multi-row INSERT per type and chunk; one audit entry per patient and file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session, sessionmaker

from careloop import clock
from careloop.audit import service as audit
from careloop.auth.actor import Actor
from careloop.care_teams import service as care_teams
from careloop.care_teams.models import CareTeamRole
from careloop.clinical import service as clinical
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
from careloop.db import session_scope
from careloop.errors import CareLoopError, InvalidInput
from careloop.fhir import writes
from careloop.fhir.models import ImportedFile
from careloop.medications.models import Medication
from careloop.patients import service as patients
from careloop.patients.models import Patient
from careloop.patients.schemas import PatientCreate

CHUNK = 2000  # NDJSON resources per transaction
MODELS = {"Encounter": Encounter, "Condition": Condition, "Observation": Observation,
          "AllergyIntolerance": Allergy, "MedicationRequest": Medication, "MedicationStatement": Medication,
          "Procedure": Procedure, "Immunization": Immunization, "CarePlan": OutsideCarePlan,
          "CareTeam": OutsideCareTeam}
KINDS = {"Encounter": "encounters", "Condition": "conditions", "Observation": "observations",
         "AllergyIntolerance": "allergies", "MedicationRequest": "medications", "MedicationStatement": "medications",
         "Procedure": "procedures", "Immunization": "immunizations", "CarePlan": "outside_care_plans",
         "CareTeam": "outside_care_teams"}
ORDER = ("Patient", "Encounter", "Medication", "Condition", "Observation", "AllergyIntolerance",
         "MedicationRequest", "MedicationStatement", "Procedure", "Immunization", "CareTeam", "CarePlan")
_MR = "http://terminology.hl7.org/CodeSystem/v2-0203"
_CATEGORIES = {"vital-signs": "vital-signs", "laboratory": "laboratory"}  # others are recorded as survey


@dataclass
class Summary:
    imported: Counter = field(default_factory=Counter)
    already: Counter = field(default_factory=Counter)  # present from an earlier import: nothing changed
    not_modeled: Counter = field(default_factory=Counter)
    read_through: Counter = field(default_factory=Counter)  # Medication resources a request or statement names
    rejected: Counter = field(default_factory=Counter)  # "Type: reason" (no values, no PHI)
    files: int = 0
    files_skipped: int = 0

    @property
    def resources(self) -> int:
        return sum(sum(c.values()) for c in (self.imported, self.already, self.not_modeled, self.read_through,
                                              self.rejected))

    def as_dict(self) -> dict[str, Any]:
        return {"imported": dict(self.imported), "already_present": dict(self.already),
                "not_modeled": dict(self.not_modeled), "read_through": dict(self.read_through),
                "rejected": dict(self.rejected), "files": self.files,
                "files_skipped": self.files_skipped, "resources": self.resources}


def coordinator(session: Session, actor: Actor, staff_id: uuid.UUID) -> uuid.UUID:
    """The care coordinator new patients of an import get: checked before anything is read (an active member
    of the actor's organisation whose role may hold the role), whichever surface started the import."""
    try:
        return care_teams.eligible_staff(session, actor, CareTeamRole.PRIMARY_CARE_COORDINATOR, staff_id).id
    except InvalidInput as err:
        raise InvalidInput(err.message, field="coordinator") from err


class Importer:
    """Imports for one organisation as `actor`; new patients get `coordinator_id` as primary care coordinator."""

    def __init__(self, factory: sessionmaker[Session] | None, actor: Actor, coordinator_id: uuid.UUID) -> None:
        self.factory, self.actor, self.coordinator_id = factory, actor, coordinator_id
        self.summary = Summary()
        self._added: Counter = Counter()  # rows added per table since its statistics were last refreshed
        self._analyzed: Counter = Counter()  # rows it had then (as far as this import knows)

    # --- entry points ------------------------------------------------------------------------------

    def import_path(self, path: Path, progress: Callable[[int], None] | None = None) -> Summary:
        """A file (.json Bundle or .ndjson) or a directory of them (Patient data before the rest)."""
        for file in files_of(path):
            self.import_file(file)
            if progress:
                progress(file.stat().st_size)
        return self.summary

    def import_file(self, file: Path) -> None:
        digest = _digest(file)
        with session_scope(self.factory) as session:
            if session.scalar(select(ImportedFile.id).where(ImportedFile.organization_id == self.actor.organization_id,
                                                            ImportedFile.digest == digest)):
                self.summary.files_skipped += 1
                return
        before = Counter(self.summary.imported)
        if file.suffix == ".ndjson":
            with file.open("rb") as stream:  # line by line: memory does not grow with the file
                for chunk in chunks(lines(stream), CHUNK):
                    with session_scope(self.factory) as session:
                        self.import_resources(session, chunk)
        else:
            with session_scope(self.factory) as session:
                self.import_bundle(session, parse_json(file.read_bytes()))
        with session_scope(self.factory) as session:
            session.add(ImportedFile(organization_id=self.actor.organization_id, digest=digest, name=file.name[:255],
                                     counts=dict(self.summary.imported - before)))
        self.summary.files += 1

    def import_bytes(self, session: Session, body: bytes, *, ndjson: bool) -> None:
        """A request body or an uploaded file, in the caller's transaction: NDJSON lines in chunks, or a Bundle."""
        if ndjson:
            for chunk in chunks(lines(body.splitlines()), CHUNK):
                self.import_resources(session, chunk)
        else:
            self.import_bundle(session, parse_json(body))

    def import_bundle(self, session: Session, bundle: Any) -> None:
        """A transaction, batch or collection Bundle: its resources, local references resolved."""
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
            raise CareLoopError("Not a FHIR Bundle", code="not_a_bundle")
        entries = [e for e in bundle.get("entry", []) if isinstance(e.get("resource"), dict)]
        self.import_resources(session, [e["resource"] for e in entries],
                              full_urls=[e.get("fullUrl") for e in entries])

    def import_resources(self, session: Session, resources: list[dict[str, Any]],
                         full_urls: list[str | None] | None = None) -> None:
        """Resources of any types, in one transaction: patients first, then what refers to them."""
        refs: dict[str, tuple[str, uuid.UUID]] = {}  # "urn:uuid:..." or "Type/id" -> (type, CareLoop id)
        medications: dict[str, dict[str, Any]] = {}
        by_type: dict[str, list[tuple[dict[str, Any], str | None]]] = defaultdict(list)
        for i, resource in enumerate(resources):
            rtype = resource.get("resourceType", "?")
            url = full_urls[i] if full_urls else None
            if rtype == "Medication":
                for key in (url, f"Medication/{resource.get('id')}"):
                    if key:
                        medications[key] = resource
                self.summary.read_through["Medication"] += 1
                continue
            if rtype not in ORDER:
                self.summary.not_modeled[rtype[:40]] += 1
                continue
            by_type[rtype].append((resource, url))
        patients_seen: set[uuid.UUID] = set()
        names: dict[str, str] = {}  # Condition reference -> its name (what a care plan addresses)
        for rtype in ORDER:
            batch = by_type.get(rtype, [])
            if not batch:
                continue
            if rtype == "Patient":
                self._patients(session, batch, refs, patients_seen)
            else:
                if rtype == "CarePlan":
                    self._condition_names(session, batch, by_type.get("Condition", []), names)
                self._records(session, rtype, batch, refs, medications, patients_seen, names)
        if patients_seen:
            audit.record_many(session, self.actor, [audit.Entry(action="import", patient_id=pid,
                                                                record_type="FhirImport") for pid in patients_seen])

    # --- patients ---------------------------------------------------------------------------------

    def _patients(self, session: Session, batch: list[tuple[dict[str, Any], str | None]], refs: dict,
                  seen: set) -> None:
        """Patients matched by source id, then by MRN (authority and value); the rest registered together."""
        org = self.actor.organization_id
        sources = [str(r.get("id") or "")[:100] for r, _ in batch]
        wanted = {s for s in sources if s}
        known = dict(session.execute(select(Patient.source_ref, Patient.id).where(
            Patient.organization_id == org, Patient.source_ref.in_(wanted))).all()) if wanted else {}
        fresh: list[tuple[str, str | None, PatientCreate, dict[str, Any]]] = []
        for (r, url), source in zip(batch, sources, strict=True):
            if source in known:
                self.summary.already["Patient"] += 1
                self._remember_patient(refs, seen, url, source, known[source])
                continue
            try:
                data = _patient_values(r, self.coordinator_id)
                deceased = dt.date.fromisoformat(r["deceasedDateTime"][:10]) if r.get("deceasedDateTime") else None
            except (ValidationError, KeyError, ValueError, TypeError) as err:
                self.summary.rejected[f"Patient: {_reason(err)}"] += 1
                continue
            fresh.append((source, url, data, {"source_ref": source or None, "deceased_date": deceased}))
        mrns = {data.mrn for _, _, data, _ in fresh}
        by_mrn = {(authority, mrn): pid for pid, mrn, authority in session.execute(
            select(Patient.id, Patient.mrn, Patient.mrn_authority).where(
                Patient.organization_id == org, Patient.mrn.in_(mrns)))} if mrns else {}
        new: list[tuple[PatientCreate, dict[str, Any]]] = []
        pending = []
        for source, url, data, extra in fresh:
            key = (data.mrn_authority, data.mrn)
            if key in by_mrn:
                self.summary.already["Patient"] += 1
            else:
                new.append((data, extra))
                by_mrn[key] = None  # a second resource with the same MRN in this batch is the same patient
                self.summary.imported["Patient"] += 1
            pending.append((key, url, source))
        if new:
            made = patients.create_patients(session, self.actor, new)
            self._refresh_statistics(session, Patient.__tablename__, len(made))
            for patient in made:
                by_mrn[(patient.mrn_authority, patient.mrn)] = patient.id
        for key, url, source in pending:
            self._remember_patient(refs, seen, url, source, by_mrn[key])

    @staticmethod
    def _remember_patient(refs: dict, seen: set, url: str | None, source: str, patient_id: uuid.UUID) -> None:
        seen.add(patient_id)
        for key in (url, f"Patient/{source}" if source else None):
            if key:
                refs[key] = ("Patient", patient_id)

    # --- clinical records -------------------------------------------------------------------------

    def _records(self, session: Session, rtype: str, batch: list[tuple[dict[str, Any], str | None]], refs: dict,
                 medications: dict, seen: set, names: dict[str, str]) -> None:
        model = MODELS[rtype]
        kind = clinical.KINDS[KINDS[rtype]]
        sources = [str(r.get("id") or "")[:90] for r, _ in batch]
        keys = {s for s in sources if s} | {f"{s}#0" for (r, _), s in zip(batch, sources, strict=True)
                                          if s and r.get("component")}
        known = dict(session.execute(select(model.source_ref, model.id).where(
            model.organization_id == self.actor.organization_id, model.source_ref.in_(keys))).all()) if keys else {}
        self._resolve_missing(session, batch, refs)
        rows, now = [], clock.now()
        for (resource, url), source in zip(batch, sources, strict=True):
            if source and (source in known or f"{source}#0" in known):
                self.summary.already[rtype] += 1
                if source in known:
                    self._remember(refs, rtype, url, source, known[source])
                continue
            try:
                for part, values in _record_values(rtype, resource, refs, medications, names):
                    ref = f"{source}#{part}" if part else source
                    if ref in known:
                        continue
                    data = kind.create.model_validate({k: v for k, v in values.items()
                                                       if v is not None and k != "patient_id"})
                    row_id = uuid.uuid4()
                    rows.append({"id": row_id, "organization_id": self.actor.organization_id,
                                 "patient_id": values["patient_id"], "source_ref": ref or None, "version": 1,
                                 "created_at": now, "updated_at": now, **data.model_dump()})
                    seen.add(values["patient_id"])
                    if not part:
                        self._remember(refs, rtype, url, source, row_id)
                self.summary.imported[rtype] += 1
            except (CareLoopError, ValidationError, KeyError, ValueError, TypeError) as err:
                self.summary.rejected[f"{rtype}: {_reason(err)}"] += 1
        if rows:
            session.execute(insert(model.__table__), rows)
            self._refresh_statistics(session, model.__tablename__, len(rows))

    def _condition_names(self, session: Session, plans: list, conditions: list, names: dict[str, str]) -> None:
        """Names of the conditions care plans address: from this batch, else from conditions imported before."""
        for resource, url in conditions:
            display = writes.concept_name(resource.get("code"))
            for key in (url, f"Condition/{resource.get('id')}"):
                if key and display:
                    names[key] = display
        missing = {ref["reference"].split("/", 1)[1][:100] for plan, _ in plans for ref in plan.get("addresses", [])
                   if ref.get("reference", "").startswith("Condition/") and ref["reference"] not in names}
        if missing:
            for source, display in session.execute(select(Condition.source_ref, Condition.display).where(
                    Condition.organization_id == self.actor.organization_id, Condition.source_ref.in_(missing))):
                names[f"Condition/{source}"] = display

    def _refresh_statistics(self, session: Session, table: str, added: int) -> None:
        """On PostgreSQL, ANALYZE a table each time this import has doubled it (at least 5,000 rows): the
        planner, and the plans psycopg prepared while the table was small, otherwise keep treating it as
        nearly empty and look rows up by sequential scan, so a large import slows down as it grows."""
        if session.get_bind().dialect.name != "postgresql":
            return
        self._added[table] += added
        if self._added[table] >= max(5000, self._analyzed[table]):
            session.execute(text(f"ANALYZE {table}"))  # table names come from the models, never from input
            self._analyzed[table] += self._added[table]
            self._added[table] = 0

    @staticmethod
    def _remember(refs: dict, rtype: str, url: str | None, source: str, row_id: uuid.UUID) -> None:
        for key in (url, f"{rtype}/{source}"):
            if key:
                refs[key] = (rtype, row_id)

    def _resolve_missing(self, session: Session, batch: list, refs: dict) -> None:
        """Patients and encounters named as Type/id by resources of an NDJSON chunk but imported earlier."""
        wanted: dict[str, set[str]] = defaultdict(set)
        for resource, _ in batch:
            for key in ("subject", "patient", "encounter"):
                ref = (resource.get(key) or {}).get("reference", "")
                if "/" in ref and not ref.startswith("urn:") and ref not in refs:
                    kind, _, rid = ref.partition("/")
                    if kind in ("Patient", "Encounter"):
                        wanted[kind].add(rid[:100])
        for kind, ids in wanted.items():
            model = Patient if kind == "Patient" else Encounter
            for source, row_id in session.execute(select(model.source_ref, model.id).where(
                    model.organization_id == self.actor.organization_id, model.source_ref.in_(ids))):
                refs[f"{kind}/{source}"] = (kind, row_id)


def _patient_values(r: dict[str, Any], coordinator_id: uuid.UUID) -> PatientCreate:
    identifiers = r.get("identifier", [])
    mr = next((i for i in identifiers if any(c.get("code") == "MR" for c in (i.get("type") or {}).get("coding", []))),
              identifiers[0] if identifiers else {"value": r["id"], "system": "urn:fhir:patient-id"})
    name = next((n for n in r.get("name", []) if n.get("use") == "official"), (r.get("name") or [{}])[0])
    given = name.get("given") or []
    address = (r.get("address") or [{}])[0]
    phone = next((t.get("value") for t in r.get("telecom", []) if t.get("system") == "phone"), None)
    language = next((c.get("code") for comm in r.get("communication", [])
                     for c in (comm.get("language") or {}).get("coding", [])), "en")
    return PatientCreate(
        mrn=str(mr["value"])[:64], mrn_authority=(mr.get("system") or "urn:fhir:patient-id")[:200],
        family_name=name["family"], given_name=given[0], middle_name=given[1] if len(given) > 1 else None,
        birth_date=dt.date.fromisoformat(r["birthDate"]), sex=r.get("gender", "unknown"),
        address_line=(address.get("line") or [None])[0], city=address.get("city"), state=address.get("state"),
        postal_code=address.get("postalCode"), phone=phone, primary_care_coordinator_id=coordinator_id,
        preferred_language=language.split("-")[0] if language else "en")


def _resolved(resource: dict[str, Any], refs: dict) -> dict[str, Any]:
    """A shallow copy with subject/patient/encounter references pointing at CareLoop ids."""
    out = dict(resource)
    for key in ("subject", "patient", "encounter"):
        ref = (out.get(key) or {}).get("reference")
        if ref:
            if ref not in refs:
                if key == "encounter":
                    out.pop(key)  # an encounter not imported: the record stands without the link
                    continue
                raise writes.FhirInputError("unresolved reference", [(key, "unresolved")])
            kind, row_id = refs[ref]
            out[key] = {"reference": f"{kind}/{row_id}"}
    return out


def _record_values(rtype: str, r: dict[str, Any], refs: dict, medications: dict,
                   names: dict[str, str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(part, values) for each record a resource becomes (part is "" but for an Observation's components)."""
    r = _resolved(r, refs)
    if rtype == "Observation":
        r["category"] = [{"coding": [{"code": _CATEGORIES.get(c.get("code"), "survey")}]}
                         for cat in r.get("category", [])[:1] for c in cat.get("coding", [])[:1]]
        if not any(k.startswith("value") for k in r) and r.get("component"):
            for i, component in enumerate(r["component"]):
                part = {**r, **{k: v for k, v in component.items() if k == "code" or k.startswith("value")}}
                part.pop("component")
                patient_id, values = writes.observation(part)
                yield str(i), {**values, "patient_id": patient_id}
            return
        patient_id, values = writes.observation(r)
    elif rtype == "MedicationRequest":
        patient_id, values = writes.medication_request(r, medications)
    elif rtype == "CarePlan":
        patient_id, values = writes.outside_care_plan(r, [names[ref["reference"]] for ref in r.get("addresses", [])
                                                          if ref.get("reference") in names])
    elif rtype == "CareTeam":
        patient_id, values = writes.outside_care_team(r)
    else:
        reader = {"Encounter": writes.encounter, "Condition": writes.condition, "Procedure": writes.procedure,
                  "AllergyIntolerance": writes.allergy, "MedicationStatement": writes.medication_statement,
                  "Immunization": writes.immunization}[rtype]
        patient_id, values = reader(r)
    yield "", {**values, "patient_id": patient_id}


def _reason(err: Exception) -> str:
    """Why a resource was rejected, without values: the error type and the element or check."""
    if isinstance(err, writes.FhirInputError):
        return (err.field or err.code)[:60]
    if isinstance(err, ValidationError):
        first = err.errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])} {first['type']}"[:60]
    if isinstance(err, CareLoopError):
        return err.code
    return type(err).__name__


def files_of(path: Path) -> list[Path]:
    """The files to import: .json and .ndjson under a directory (hospital and practitioner bundles and
    Patient files first), or the file itself."""
    if path.is_file():
        return [path]
    found = sorted(p for p in path.rglob("*") if p.suffix in (".json", ".ndjson") and p.is_file())

    def rank(p: Path) -> tuple[int, str]:
        name = p.name.lower()
        first = name.startswith(("hospitalinformation", "practitionerinformation")) or name.startswith("patient")
        return (0 if first else 1, str(p))
    return sorted(found, key=rank)


def parse_json(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as err:
        raise CareLoopError("The file is not JSON", code="invalid_json") from err


def _digest(file: Path) -> str:
    sha = hashlib.sha256()
    with file.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def lines(stream: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(stream, 1):
        if line.strip():
            try:
                yield orjson.loads(line)
            except orjson.JSONDecodeError as err:
                raise CareLoopError(f"Line {number} is not JSON", code="invalid_ndjson") from err


def chunks(items: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
