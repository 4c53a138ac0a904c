"""Community referral sweeps: follow up on referrals the service has not answered."""

from __future__ import annotations

from sqlalchemy.orm import Session

from careloop.community import service
from careloop.jobs.worker import sweep


@sweep("community_follow_up")
def follow_up(session: Session) -> int:
    """Follow-up tasks for unanswered community referrals."""
    return service.follow_up_sweep(session)
