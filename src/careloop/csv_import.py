"""CSV directories to validated rows: one reader for every import (all rows or none, the bad one named)."""

from __future__ import annotations

import csv
import io
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.audit import service as audit
from careloop.auth.actor import Actor
from careloop.errors import InvalidInput

MAX_ROWS = 50_000
BOOLEANS = {"true": True, "yes": True, "y": True, "1": True, "false": False, "no": False, "n": False, "0": False}
Row = TypeVar("Row", bound=BaseModel)


def read_rows(text: str, model: type[Row], *, booleans: tuple[str, ...] = (), lists: tuple[str, ...] = ()) -> list[Row]:
    """Rows of a CSV with a header naming `model`'s fields; empty cells are left out, yes/no cells in `booleans`
    become booleans and `;`-separated cells in `lists` become lists. InvalidInput names the first bad row and
    column (never its value)."""
    reader = csv.DictReader(io.StringIO(text))
    unknown = set(reader.fieldnames or ()) - set(model.model_fields)
    if not reader.fieldnames or unknown:
        raise InvalidInput(f"Unknown or missing CSV columns: {', '.join(sorted(unknown)) or 'no header row'}",
                           field="csv")
    rows = []
    for line, raw in enumerate(reader, start=2):
        if line > MAX_ROWS + 1:
            raise InvalidInput(f"At most {MAX_ROWS} rows per import", field="csv")
        values: dict[str, Any] = {}
        for key, value in raw.items():
            if value in (None, ""):
                continue
            if key in booleans:
                value = BOOLEANS.get(value.strip().lower(), value)
            elif key in lists:
                value = [part.strip() for part in value.split(";") if part.strip()]
            values[key] = value
        try:
            rows.append(model.model_validate(values))
        except ValidationError as err:
            column = ".".join(str(p) for p in err.errors()[0]["loc"]) or "row"
            raise InvalidInput(f"Row {line}: {column} is not valid", field=column) from err
    return rows


def upsert(session: Session, actor: Actor, model: type, rows: list[BaseModel]) -> tuple[int, int]:
    """Create or update the actor's organisation's entries by `external_id` (all of a model's directory
    rows); audited as one import. Returns (created, updated)."""
    existing = {e.external_id: e for e in session.scalars(select(model).where(
        model.organization_id == actor.organization_id, model.external_id.in_([r.external_id for r in rows])))}
    created = 0
    for row in rows:
        entry = existing.get(row.external_id)
        if entry is None:
            entry = existing[row.external_id] = model(organization_id=actor.organization_id)
            session.add(entry)
            created += 1
        for name, value in row.model_dump(mode="json").items():
            setattr(entry, name, value)
    session.flush()
    updated = len(rows) - created
    audit.record(session, actor, "import", record_type=model.__name__, detail={"created": created, "updated": updated})
    return created, updated
