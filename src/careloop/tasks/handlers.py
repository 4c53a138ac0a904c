"""Task reactions: the overdue-escalation sweep and reassignment when a patient's coordinator changes."""

from __future__ import annotations

from sqlalchemy.orm import Session

from careloop.events.models import DomainEvent
from careloop.events.service import subscribe
from careloop.jobs.worker import sweep
from careloop.tasks import assignment, escalation


@sweep("task_escalation")
def escalate_overdue_tasks(session: Session) -> int:
    """Each worker cycle: escalate open tasks that reached a new overdue step (rules in escalation.toml)."""
    return escalation.escalate_overdue(session)


@subscribe("care_team.coordinator_changed")
def move_tasks_to_new_coordinator(session: Session, event: DomainEvent) -> None:
    """The previous coordinator's open tasks for the patient go to the new coordinator."""
    assignment.on_coordinator_changed(session, event)
