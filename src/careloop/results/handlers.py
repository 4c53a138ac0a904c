"""Result sweeps: orders with nothing back in time, results nobody has reviewed."""

from __future__ import annotations

from sqlalchemy.orm import Session

from careloop.jobs.worker import sweep
from careloop.results import service


@sweep("result_follow_up")
def follow_up(session: Session) -> int:
    """Tasks for overdue and unreviewed results."""
    return service.sweep(session)
