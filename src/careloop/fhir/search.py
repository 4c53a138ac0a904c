"""FHIR search -> SQL: parameters of a resource type's registry entry, date prefixes, keyset paging.

Supported: `_id`, `_lastUpdated`, `patient`/`subject`, `identifier` (system|value), `name`/`family`/`given`
(prefix, case-insensitive), `birthdate`, token parameters (`code` as system|code, `status`...), `date`
ranges with the prefixes eq (the whole day or second given), ge, le, gt, lt; `_count`, `_sort`
(`_lastUpdated`, `date`, with `-` for descending), `_summary=count`, `_total` (a count of all matches; also
with `_count=0`). Unknown parameters follow the `Prefer: handling` header: strict -> 400, lenient (the
default) -> ignored and reported in an OperationOutcome entry of the Bundle.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement, Select

from careloop.auth import access
from careloop.auth.actor import Actor
from careloop.errors import BadRequest, NotFound
from careloop.fhir.resources import TYPES, ResourceType, SearchParam
from careloop.patients.models import Patient

DEFAULT_COUNT, MAX_COUNT = 50, 500
CONTROL = frozenset({"_count", "_sort", "_summary", "_cursor", "_format", "_pretty", "_total", "_totalMethod",
                     "_include", "_revinclude"})
MAX_INCLUDED = 500
_PREFIX = re.compile(r"^(eq|ge|le|gt|lt)?(\d{4}(?:-\d{2}(?:-\d{2}(?:T\d{2}:\d{2}(?::\d{2})?(?:\.\d+)?"
                     r"(?:Z|[+-]\d{2}:\d{2})?)?)?)?)$")


@dataclass
class Query:
    """A parsed search: conditions, order, page size, and what was ignored."""

    where: list[ColumnElement[bool]] = field(default_factory=list)
    sort: str = "_lastUpdated"
    descending: bool = False
    count: int = DEFAULT_COUNT
    summary_count: bool = False
    total: bool = False  # `_total=accurate`, `_count=0` or `_summary=count`: the Bundle says how many match
    ignored: list[str] = field(default_factory=list)
    identifying: bool = False  # PHI among the parameters: only in a POST body
    include: list[tuple[str, str]] = field(default_factory=list)  # (source type, reference parameter)
    revinclude: list[tuple[str, str]] = field(default_factory=list)


def parse(rtype: ResourceType, params: list[tuple[str, str]], *, strict: bool) -> Query:
    query = Query()
    for name, value in params:
        base = name.split(":")[0]
        if base in CONTROL:
            _control(rtype, query, base, value)
            continue
        param = rtype.params.get(base)
        if param is None or (":" in name and name.split(":", 1)[1] not in ("exact", "missing")):
            if strict:
                raise BadRequest(f"Unknown or unsupported search parameter: {name[:40]}", code="unknown_parameter")
            query.ignored.append(name[:40])
            continue
        query.identifying |= param.identifying
        query.where.append(_condition(rtype, param, name, value))
    return query


def _control(rtype: ResourceType, query: Query, name: str, value: str) -> None:
    if name == "_count":
        if not value.isdigit():
            raise BadRequest("_count must be a whole number", code="invalid_count")
        query.count = max(0, min(int(value), MAX_COUNT))
        query.total |= query.count == 0
    elif name == "_total":
        if value not in ("none", "estimate", "accurate"):
            raise BadRequest("_total is none, estimate or accurate", code="invalid_total")
        query.total = value != "none"
    elif name == "_sort":
        key = value.lstrip("-")
        if key not in ("_lastUpdated", "date") or (key == "date" and not rtype.date_column):
            raise BadRequest("_sort supports _lastUpdated and date (with - for descending)", code="invalid_sort")
        query.sort, query.descending = key, value.startswith("-")
    elif name in ("_include", "_revinclude"):
        source, _, param = value.partition(":")
        holder = TYPES.get(source)
        spec = holder.params.get(param.split(":")[0]) if holder else None
        if spec is None or spec.kind != "reference":
            raise BadRequest(f"{name} supports Type:reference-parameter (e.g. Observation:patient)",
                             code="invalid_include")
        if name == "_include" and source != rtype.name:
            raise BadRequest("_include names a parameter of the type searched", code="invalid_include")
        (query.include if name == "_include" else query.revinclude).append((source, param.split(":")[0]))
    elif name == "_summary":
        if value not in ("count", "false"):
            raise BadRequest("_summary supports count", code="invalid_summary")
        query.summary_count = value == "count"


def _column(rtype: ResourceType, name: str) -> Any:
    return getattr(rtype.model, name)


def _condition(rtype: ResourceType, param: SearchParam, name: str, raw: str) -> ColumnElement[bool]:
    """One parameter; a comma means OR between its values."""
    parts = [v for v in raw.split(",") if v]
    if not parts:
        raise BadRequest(f"{name[:40]} has no value", code="invalid_parameter")
    return or_(*[_one(rtype, param, name, v) for v in parts])


def _one(rtype: ResourceType, param: SearchParam, name: str, value: str) -> ColumnElement[bool]:
    columns = [_column(rtype, c) for c in param.columns]
    if param.kind == "reference":
        return columns[0] == _uuid(value.rsplit("/", 1)[-1], name)
    if param.kind == "token" and param.columns == ("id",):
        return columns[0] == _id(rtype, value, name)
    if param.kind in ("token", "identifier"):
        system, _, code = value.rpartition("|") if "|" in value else ("", "", value)
        code = param.values(code) if param.values else code
        condition = columns[0] == code
        if system and len(columns) > 1:
            condition = and_(condition, columns[1] == system)
        return condition
    if param.kind == "string":
        needle = value.strip().lower()
        if name.endswith(":exact"):
            return or_(*[c == value for c in columns])
        return or_(*[func.lower(c).startswith(needle, autoescape=True) for c in columns])
    return _date(columns[0], value, name)


def _id(rtype: ResourceType, value: str, name: str) -> Any:
    try:
        return rtype.parse_id(value)
    except ValueError as err:
        raise BadRequest(f"{name[:40]} must be a resource id", code="invalid_parameter") from err


def _uuid(value: str, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as err:
        raise BadRequest(f"{name[:40]} must be a resource id", code="invalid_parameter") from err


def _date(column: Any, value: str, name: str) -> ColumnElement[bool]:
    match = _PREFIX.match(value)
    if not match:
        raise BadRequest(f"{name[:40]} must be a date, optionally with ge, le, gt, lt or eq", code="invalid_date")
    prefix, text = match.group(1) or "eq", match.group(2)
    start, end = _range(text)
    is_date = column.type.python_type is dt.date if hasattr(column.type, "python_type") else False
    if is_date:
        start, end = start.date(), (end - dt.timedelta(microseconds=1)).date() + dt.timedelta(days=1)
    return {"eq": and_(column >= start, column < end), "ge": column >= start, "gt": column >= end,
            "le": column < end, "lt": column < start}[prefix]


def _range(text: str) -> tuple[dt.datetime, dt.datetime]:
    """The instant range a FHIR date of any precision covers (UTC when it has no offset)."""
    if "T" in text:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        moment = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
        step = dt.timedelta(seconds=1) if text.count(":") >= 2 else dt.timedelta(minutes=1)
        return moment.astimezone(dt.UTC), (moment + step).astimezone(dt.UTC)
    parts = [int(p) for p in text.split("-")]
    year, month, day = parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1
    start = dt.datetime(year, month, day, tzinfo=dt.UTC)
    if len(parts) == 3:
        return start, start + dt.timedelta(days=1)
    if len(parts) == 2:
        return start, dt.datetime(year + month // 12, month % 12 + 1, 1, tzinfo=dt.UTC)
    return start, dt.datetime(year + 1, 1, 1, tzinfo=dt.UTC)


def visible(rtype: ResourceType, actor: Actor) -> list[ColumnElement[bool]]:
    """Rows of the actor's organisation whose patient the actor may open (care team, break-glass, scope)."""
    model = rtype.model
    if model is Patient:
        return [access.visible_patients(actor), *rtype.where]
    found = [getattr(model, rtype.org_column) == actor.organization_id] if rtype.org_column else []
    found += rtype.where
    if rtype.patient_column is not None:
        patient_ids = select(Patient.id).where(access.visible_patients(actor))
        found.append(getattr(model, rtype.patient_column).in_(patient_ids))
    return found


def statement(rtype: ResourceType, actor: Actor, query: Query, after: tuple[Any, str] | None) -> Select:
    """The page query: conditions, visibility, keyset after the last row of the previous page."""
    model = rtype.model
    key = _column(rtype, rtype.updated_column if query.sort == "_lastUpdated" else rtype.date_column)
    stmt = select(model).where(*visible(rtype, actor), *query.where)
    if after is not None:
        value, last_id = after
        same = model.id > rtype.parse_id(last_id)
        if value is None:  # nulls sort last: only the rest of the null run
            stmt = stmt.where(key.is_(None), same)
        else:
            beyond = key < value if query.descending else key > value
            stmt = stmt.where(or_(beyond, and_(key == value, same), key.is_(None)))
    order = key.desc() if query.descending else key.asc()
    return stmt.order_by(order.nulls_last(), model.id).limit(query.count + 1)


def load(session: Session, actor: Actor, rtype: ResourceType, record_id: Any) -> Any:
    """One resource the actor may read: NotFound across organisations, the patient's access rules otherwise
    (403 off the care team, audited as a denial)."""
    if rtype.model is Patient:
        return access.load_patient(session, actor, record_id, rtype.permission)
    row = session.get(rtype.model, record_id)
    if row is not None and rtype.where and session.scalar(
            select(rtype.model.id).where(rtype.model.id == record_id, *rtype.where)) is None:
        row = None  # a row of the model this type does not cover (e.g. a discharge list entry)
    org = getattr(row, rtype.org_column) if row is not None and rtype.org_column else None
    if row is not None and rtype.org_column is None and rtype.patient_column is not None:
        org = session.scalar(select(Patient.organization_id).where(Patient.id == getattr(row, rtype.patient_column)))
    if row is None or org != actor.organization_id:
        raise NotFound(f"{rtype.name} not found")
    if rtype.patient_column is not None:
        access.load_patient(session, actor, getattr(row, rtype.patient_column), rtype.permission)
    return row


def count_statement(rtype: ResourceType, actor: Actor, query: Query) -> Select:
    return select(func.count()).select_from(rtype.model).where(*visible(rtype, actor), *query.where)


def sort_value(rtype: ResourceType, query: Query, row: Any) -> Any:
    return getattr(row, rtype.updated_column if query.sort == "_lastUpdated" else rtype.date_column)


def included(session: Session, actor: Actor, rtype: ResourceType, query: Query, rows: list[Any]) -> list[tuple]:
    """(type, row) of what _include and _revinclude add to a page: the resources the page's rows point at, and
    those pointing at them; the caller's access rules apply to them as to any search."""
    found: dict[tuple[str, Any], tuple[ResourceType, Any]] = {}
    for _source, param in query.include:
        column = rtype.params[param].columns[0]
        ids = {getattr(row, column) for row in rows} - {None}
        target = _target_of(rtype, param)
        if ids and target is not None:
            actor.require(target.permission)
            for row in session.scalars(select(target.model).where(*visible(target, actor),
                                                                  target.model.id.in_(ids)).limit(MAX_INCLUDED)):
                found[(target.name, row.id)] = (target, row)
    ids = [row.id for row in rows]
    for source, param in query.revinclude:
        holder = TYPES[source]
        actor.require(holder.permission)
        if _target_of(holder, param) is not rtype or not ids:
            continue
        column = getattr(holder.model, holder.params[param].columns[0])
        for row in session.scalars(select(holder.model).where(*visible(holder, actor), column.in_(ids))
                                   .order_by(holder.model.id).limit(MAX_INCLUDED)):
            found[(holder.name, row.id)] = (holder, row)
    return list(found.values())


def _target_of(rtype: ResourceType, param: str) -> ResourceType | None:
    """The type a reference parameter points at (patient/subject: Patient; owner: Practitioner)."""
    column = rtype.params[param].columns[0]
    return TYPES["Practitioner"] if column == "owner_id" else TYPES["Patient"] if column == "patient_id" else None
