"""Apply one ADT event inside the caller's transaction: match the patient, update demographics and the visit.

The hot path uses Core statements (a handful per message); the rare paths (merge) call domain services.
Event time decides, not arrival order: an event older than the newest one applied to a visit (or to a
patient's demographics) only fills gaps and is kept as history in the raw store.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from pydantic import ValidationError
from sqlalchemy import and_, bindparam, false, func, insert, null, or_, select, true, union_all, update
from sqlalchemy.orm import Session

from careloop import clock
from careloop.audit import service as audit
from careloop.errors import CareLoopError
from careloop.integrations.hl7v2.adt import AdtError, AdtEvent, PatientData
from careloop.integrations.hl7v2.batch import BatchCache
from careloop.integrations.hl7v2.fastsql import Prepared, list_param, one_of
from careloop.integrations.hl7v2.models import Hl7PatientIdentifier, MessageStatus, param
from careloop.integrations.hl7v2.visits import Applied, apply_visit
from careloop.patients import rules as patient_rules
from careloop.patients.models import Patient
from careloop.patients.schemas import PatientUpdate

X = Hl7PatientIdentifier.__table__
X2 = X.alias("newest_x")
P = Patient.__table__
DEMOGRAPHIC_FIELDS = ("family_name", "given_name", "middle_name", "birth_date", "sex", "address_line", "city",
                      "state", "postal_code", "phone")
_NO_DEMOGRAPHICS = {"A11", "A12", "A13"}



def apply_event(session: Session, org_id: uuid.UUID, event: AdtEvent, message_id: int,
                cache: BatchCache | None = None) -> Applied:
    """Apply an event, or leave it for review when the patient is unknown or ambiguous."""
    if event.event == "A40":
        if cache is not None:
            cache.enabled = False  # the patient service rewrites who holds what
        return _merge(session, org_id, event, message_id)
    patient_id, why, found = match_patient(session, org_id, event.patient, cache)
    if patient_id is None:
        return Applied(MessageStatus.NEEDS_REVIEW, note=why)
    return apply_to_patient(session, org_id, event, patient_id, message_id, found, cache)


def apply_to_patient(session: Session, org_id: uuid.UUID, event: AdtEvent, patient_id: uuid.UUID,
                     message_id: int, found: Found | None = None, cache: BatchCache | None = None) -> Applied:
    """Apply an event to a known patient (the review queue calls this after a person links it)."""
    applied = Applied(MessageStatus.APPLIED, patient_id=patient_id)
    remember_identifiers(session, org_id, patient_id, event.patient.identifiers, found.known if found else None,
                         cache)
    if event.event not in _NO_DEMOGRAPHICS:
        current = found.current.get(patient_id) if found else None
        _update_demographics(session, org_id, patient_id, event, applied, message_id, current, cache)
    if event.visit is not None:
        apply_visit(session, org_id, patient_id, event, applied, message_id, cache)
    return applied


@lru_cache(maxsize=32)
def _find_statement(count: int) -> Any:
    """Patients holding any of `count` identifiers: own MRNs and cross-references (xref rows say which)."""
    def match(authority: Any, value: Any) -> Any:
        return or_(*[and_(authority == param(f"a{i}", authority), value == param(f"v{i}", value))
                     for i in range(count)])
    current = _current_columns()[1:]
    own = select(P.c.id, P.c.merged_into_id, null().label("authority"), null().label("value"), *current).where(
        P.c.organization_id == param("org", P.c.organization_id), match(P.c.mrn_authority, P.c.mrn))
    xref = select(P.c.id, P.c.merged_into_id, X.c.authority, X.c.value, *current).select_from(
        X.join(P, P.c.id == X.c.patient_id)).where(X.c.organization_id == param("org", X.c.organization_id),
                                                   match(X.c.authority, X.c.value))
    return Prepared(union_all(own, xref), plan_each_time=True)


def _current_columns() -> tuple[Any, ...]:
    """merged_into_id, the demographic fields, when the newest demographics applied were sent, and the risk
    tier (a discharge's complexity depends on it)."""
    newest = select(func.max(X2.c.demographics_at)).where(X2.c.patient_id == P.c.id).scalar_subquery()
    return (P.c.merged_into_id, *[P.c[n] for n in DEMOGRAPHIC_FIELDS], newest.label("newest"), P.c.risk_tier)


def _id_params(org_id: uuid.UUID, ids: list[tuple[str, str]]) -> dict[str, Any]:
    params: dict[str, Any] = {"org": org_id}
    for i, (authority, value) in enumerate(ids):
        params[f"a{i}"], params[f"v{i}"] = authority, value
    return params


@dataclass
class Found:
    """Patients holding a message's identifiers: merge-resolved ids, the identifiers already cross-referenced,
    and the demographics read on the way (patients not merged away only)."""

    patients: set[uuid.UUID] = field(default_factory=set)
    known: set[tuple[str, str]] = field(default_factory=set)
    current: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)


def find_by_identifiers(session: Session, org_id: uuid.UUID, ids: list[tuple[str, str]],
                        cache: BatchCache | None = None) -> Found:
    """Current (merge-resolved) patients holding any of these identifiers."""
    found = Found()
    if not ids:
        return found
    if cache is not None and cache.covers(org_id, ids):
        rows = cache.rows(org_id, ids)
    else:
        rows = [row._asdict() for row in _find_statement(len(ids)).execute(session.connection(),
                                                                          _id_params(org_id, ids))]
    for values in rows:
        pid, authority, value = values.pop("id"), values.pop("authority"), values.pop("value")
        found.patients.add(_survivor(session, pid, values["merged_into_id"]))
        if values["merged_into_id"] is None:
            found.current[pid] = values
        if authority is not None:
            found.known.add((authority, value))
    return found


@lru_cache(maxsize=4)
def _holders_statement(dialect: str) -> Prepared:
    """Patients holding any of a list of identifiers of one authority (own MRN or cross-reference)."""
    current = _current_columns()
    own = select(P.c.id, P.c.mrn.label("value"), false().label("via_xref"), *current).where(
        P.c.organization_id == param("org", P.c.organization_id),
        P.c.mrn_authority == param("authority", P.c.mrn_authority), one_of(P.c.mrn, "values", dialect))
    xref = select(P.c.id, X.c.value, true().label("via_xref"), *current).select_from(
        X.join(P, P.c.id == X.c.patient_id)).where(
        X.c.organization_id == param("org", X.c.organization_id),
        X.c.authority == param("authority", X.c.authority), one_of(X.c.value, "values", dialect))
    return Prepared(union_all(own, xref), plan_each_time=True)


def prefetch_patients(session: Session, cache: BatchCache, wanted: dict[uuid.UUID, set[tuple[str, str]]],
                      chunk: int = 500) -> None:
    """Load who holds each identifier of a batch, with their demographics: one prepared query per assigning
    authority (a feed rarely has more than one or two), each using the (organisation, authority, value)
    indexes."""
    conn = session.connection()
    dialect = conn.dialect.name
    statement = _holders_statement(dialect)
    for org_id, ids in wanted.items():
        by_authority: dict[str, list[str]] = defaultdict(list)
        for authority, value in sorted(ids):
            by_authority[authority].append(value)
            cache.holders[(org_id, authority, value)] = []
        for authority, values in by_authority.items():
            for start in range(0, len(values), chunk):
                part = values[start:start + chunk]
                for row in statement.execute(conn, {"org": org_id, "authority": authority,
                                                    "values": list_param(part, dialect)}):
                    values_ = row._asdict()
                    pid, value, via_xref = values_.pop("id"), values_.pop("value"), values_.pop("via_xref")
                    cache.holders[(org_id, authority, value)].append((pid, bool(via_xref)))
                    cache.patients[pid] = values_


_MERGED_INTO = Prepared(select(P.c.merged_into_id).where(P.c.id == param("pid", P.c.id)))


def _survivor(session: Session, patient_id: uuid.UUID, merged_into: uuid.UUID | None) -> uuid.UUID:
    """Follow merged_into links (bounded: a→b→a chains cannot loop forever)."""
    for _ in range(10):
        if merged_into is None:
            return patient_id
        patient_id = merged_into
        row = _MERGED_INTO.first(session.connection(), {"pid": patient_id})
        merged_into = row[0] if row else None
    return patient_id


_DEDUPE = Prepared(select(P.c.id, P.c.sex).where(
    P.c.organization_id == param("org", P.c.organization_id), P.c.dedupe_key == param("key", P.c.dedupe_key),
    P.c.merged_into_id.is_(None)).limit(5))


def match_patient(session: Session, org_id: uuid.UUID, data: PatientData,
                  cache: BatchCache | None = None) -> tuple[uuid.UUID | None, str, Found]:
    """Identifier with assigning authority first, then name + birth date + sex; (None, why, _) otherwise."""
    found = find_by_identifiers(session, org_id, data.identifiers, cache)
    if len(found.patients) == 1:
        return next(iter(found.patients)), "identifier", found
    if len(found.patients) > 1:
        return None, "ambiguous: the identifiers belong to different patients", found
    if not (data.family_name and data.given_name and data.birth_date):
        return None, "unknown patient (no name and birth date to match on)", found
    key = patient_rules.dedupe_key(data.family_name, data.given_name, data.birth_date)
    rows = [pid for pid, sex in _DEDUPE.execute(session.connection(), {"org": org_id, "key": key})
            if data.sex is None or sex == data.sex]
    if len(rows) == 1:
        return rows[0], "demographics", found
    if rows:
        return None, f"ambiguous: {len(rows)} patients share this name, birth date and sex", found
    return None, "unknown patient", found


_INSERT_XREF = Prepared(insert(X), keyed=True)
_KNOWN = Prepared(select(X.c.authority, X.c.value).where(
    X.c.organization_id == param("org", X.c.organization_id), X.c.authority == param("a", X.c.authority),
    X.c.value == param("v", X.c.value)))


def remember_identifiers(session: Session, org_id: uuid.UUID, patient_id: uuid.UUID,
                         ids: list[tuple[str, str]], known: set[tuple[str, str]] | None = None,
                         cache: BatchCache | None = None) -> None:
    """Record hospital identifiers for the patient (those already cross-referenced are left alone)."""
    conn = session.connection()
    for authority, value in dict.fromkeys(ids):
        if known is not None and (authority, value) in known:
            continue
        if known is None and _KNOWN.first(conn, {"org": org_id, "a": authority, "v": value}):
            continue
        _INSERT_XREF.execute(conn, {"id": uuid.uuid4(), "organization_id": org_id, "authority": authority,
                                 "value": value, "patient_id": patient_id, "created_at": clock.now()})
        if cache is not None:
            cache.add_xref(org_id, authority, value, patient_id)


_NEWEST = select(func.max(X.c.demographics_at)).where(X.c.patient_id == param("pid", X.c.patient_id)).scalar_subquery()
_CURRENT = Prepared(select(*[P.c[n] for n in DEMOGRAPHIC_FIELDS], P.c.merged_into_id, _NEWEST.label("newest")).where(
    P.c.id == param("pid", P.c.id)))
_STAMP = Prepared(update(X).where(
    X.c.organization_id == param("org", X.c.organization_id), X.c.authority == param("a", X.c.authority),
    X.c.value == param("v", X.c.value)).values(demographics_at=bindparam("at")))


def _update_demographics(session: Session, org_id: uuid.UUID, patient_id: uuid.UUID, event: AdtEvent,
                         applied: Applied, message_id: int, current: dict[str, Any] | None,
                         cache: BatchCache | None = None) -> None:
    conn = session.connection()
    current = dict(current or _CURRENT.first(conn, {"pid": patient_id})._asdict())
    newest = current.pop("newest")
    if newest is not None and event.event_at < clock.ensure_utc(newest):
        applied.add_note("demographics older than the newest applied: kept as history only")
        return
    incoming = {n: getattr(event.patient, n) for n in DEMOGRAPHIC_FIELDS}
    changes = _valid({n: v for n, v in incoming.items() if v not in (None, "") and v != current[n]})
    if changes and current["merged_into_id"] is None:
        merged = {**current, **changes}
        changes.update(name_key=patient_rules.name_key(merged["family_name"], merged["given_name"]),
                       alt_name_key=patient_rules.alt_name_key(merged["family_name"], merged["given_name"]),
                       dedupe_key=patient_rules.dedupe_key(merged["family_name"], merged["given_name"],
                                                           merged["birth_date"]))
        _patient_update(tuple(sorted(changes))).execute(conn, {"pid": patient_id, "now": clock.now(),
                                                               **{f"set_{k}": v for k, v in changes.items()}})
        if cache is not None:
            cache.update_patient(patient_id, changes)
        applied.entries.append(audit.Entry(
            action="update", patient_id=patient_id, record_type="Patient", record_id=str(patient_id),
            detail={"source": "hl7", "message_id": message_id,
                    "fields": sorted(k for k in changes if k in DEMOGRAPHIC_FIELDS)}))
    _STAMP.many(conn, [{"org": org_id, "a": a, "v": v, "at": event.event_at} for a, v in event.patient.identifiers])
    if cache is not None:
        cache.stamp(org_id, event.patient.identifiers, event.event_at)


@lru_cache(maxsize=256)
def _patient_update(columns: tuple[str, ...]) -> Prepared:
    return Prepared(update(P).where(P.c.id == param("pid", P.c.id)).values(
        version=P.c.version + 1, updated_at=bindparam("now"), **{c: bindparam(f"set_{c}") for c in columns}))


def _valid(changes: dict[str, Any]) -> dict[str, Any]:
    """Drop values the registry would refuse (e.g. a malformed phone) rather than failing the message."""
    for _ in range(len(changes) + 1):
        try:
            PatientUpdate.model_validate(changes)
            return changes
        except ValidationError as err:
            bad = {str(e["loc"][0]) for e in err.errors() if e.get("loc")}
            if not bad & set(changes):
                return {}
            changes = {k: v for k, v in changes.items() if k not in bad}
    return changes


def _merge(session: Session, org_id: uuid.UUID, event: AdtEvent, message_id: int) -> Applied:
    """A40: merge the prior patient (MRG-1) into the survivor (PID-3) with the patient service."""
    from careloop.auth.actor import system_actor
    from careloop.patients import service as patients_service

    ids, prior_ids = event.patient.identifiers, event.prior_identifiers
    if set(ids) & set(prior_ids):
        raise AdtError("MRG-1 names the same identifier as PID-3 (self-merge)", "205", "MRG^1^1")
    survivors = find_by_identifiers(session, org_id, ids).patients
    olds = find_by_identifiers(session, org_id, prior_ids).patients
    if len(survivors) > 1 or len(olds) > 1:
        return Applied(MessageStatus.NEEDS_REVIEW, note="ambiguous: identifiers belong to different patients")
    survivor, old = next(iter(survivors), None), next(iter(olds), None)
    if survivor is None and old is None:
        return Applied(MessageStatus.APPLIED, note="neither patient is known here: nothing to merge")
    if survivor is None:  # only the prior record is known: it simply gets the new identifier
        remember_identifiers(session, org_id, old, ids)
        return Applied(MessageStatus.APPLIED, patient_id=old, note="patient re-identified")
    applied = Applied(MessageStatus.APPLIED, patient_id=survivor)
    if old is not None and old != survivor:
        try:
            merge = patients_service.merge_patients(session, system_actor(org_id, "hl7-feed"), survivor, old,
                                                    reason=f"HL7 A40 (message {message_id})")
        except CareLoopError as err:
            raise AdtError(f"merge refused: {err.message}", "207", "MRG^1^1") from err
        applied.note = f"merged into survivor (merge {merge.id})"
    else:
        applied.note = "already merged" if old == survivor else "prior identifier now points to the survivor"
    remember_identifiers(session, org_id, survivor, prior_ids)
    return applied
