"""Care plan subscriptions and sweeps: activity tasks completed elsewhere, and plans past their review date."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from careloop.care_plans import work
from careloop.events.models import DomainEvent
from careloop.events.service import subscribe
from careloop.jobs.worker import sweep
from careloop.tasks.models import Task, TaskFocus


@subscribe("task.completed")
def on_task_completed(session: Session, event: DomainEvent) -> None:
    """An activity's task was completed (on the task page, the worklist, ...): count it and schedule the next."""
    payload = event.payload or {}
    if payload.get("focus_type") != TaskFocus.CARE_PLAN_ACTIVITY.value:
        return
    task = session.get(Task, uuid.UUID(payload["task_id"]))
    if task is not None:
        work.record_activity_done(session, task)


@sweep("care_plan_review")
def review_sweep(session: Session) -> int:
    """Review tasks for active plans past their review date (once per plan)."""
    return work.create_review_tasks(session)
