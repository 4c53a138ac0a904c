"""Medication sweeps: adherence (PDC) recomputed from recent pharmacy fills."""

from __future__ import annotations

from sqlalchemy.orm import Session

from careloop.jobs.worker import sweep
from careloop.medications import service


@sweep("medication_adherence")
def adherence(session: Session) -> int:
    """Recompute PDCs; tasks for medicines and classes under 80%."""
    return service.sweep_adherence(session)
