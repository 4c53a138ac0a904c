"""Referral sweeps: chase referrals that wait too long in a status."""

from __future__ import annotations

from sqlalchemy.orm import Session

from careloop.jobs.worker import sweep
from careloop.referrals import work


@sweep("referral_chase")
def chase_sweep(session: Session) -> int:
    """Chase tasks for referrals not accepted, scheduled, seen, reported or reviewed in time."""
    return work.sweep_overdue(session)
