"""FHIR sweeps: write the NDJSON files of queued $export jobs, delete expired ones."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from careloop.fhir import export
from careloop.jobs.worker import sweep


@sweep("fhir_export")
def run_exports(session: Session) -> int:
    """One queued export per cycle, each type in its own short transactions (the files stream to disk)."""
    return export.run_pending(sessionmaker(bind=session.get_bind(), expire_on_commit=False))
