"""FHIR sweeps: write the NDJSON files of queued $export jobs, delete expired ones."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from careloop.fhir import export
from careloop.jobs.worker import sweep


@sweep("fhir_export")
def run_exports(session: Session) -> int:
    """One queued export per cycle, read a page per short transaction (the files stream to disk). The sweep's
    own session is left unused: it never begins a transaction, so it holds no lock while the export runs."""
    return export.run_pending(sessionmaker(bind=session.get_bind(), expire_on_commit=False))
