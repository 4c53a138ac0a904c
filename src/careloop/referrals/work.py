"""Loop-closure work: a task whenever a referral waits too long in a status, closed when it moves on."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from careloop import clock
from careloop.care_teams import service as care_teams
from careloop.referrals import rules
from careloop.referrals.models import Referral
from careloop.referrals.models import ReferralStatus as S
from careloop.referrals.models import ReferralUrgency as U
from careloop.tasks import service as tasks
from careloop.tasks.models import Task, TaskFocus, TaskPriority

_PRIORITY = {U.ROUTINE: TaskPriority.ROUTINE, U.URGENT: TaskPriority.URGENT, U.STAT: TaskPriority.STAT}
CHASED = tuple(rules.CHASE_TITLES)


def _key(status: S) -> str:
    return f"referral:{status.value}"


def chase_task(session: Session, referral: Referral, now: dt.datetime) -> Task:
    """The task asking someone to move the referral on: the referrer reviews reports, the coordinator chases."""
    assignee = ({"owner_id": referral.referring_staff_id} if referral.status == S.REPORT_RECEIVED
                else care_teams.coordinator_assignment(session, referral.patient_id))
    return tasks.create_task(
        session, organization_id=referral.organization_id, patient_id=referral.patient_id,
        title=rules.CHASE_TITLES[referral.status], focus_type=TaskFocus.REFERRAL, focus_id=referral.id, **assignee,
        priority=_PRIORITY[referral.urgency], due_at=now + dt.timedelta(days=1),
        description=f"{referral.specialty_display} referral ({referral.urgency.value})",
        step_key=_key(referral.status))


def close_chases(session: Session, referral: Referral) -> int:
    """Complete the open chase tasks of a referral that has moved on; returns how many."""
    return tasks.complete_focus_tasks(session, TaskFocus.REFERRAL, referral.id,
                                      f"Referral is now {referral.status.value.replace('_', ' ')}")


def sweep_overdue(session: Session, now: dt.datetime | None = None, limit: int = 1000) -> int:
    """A chase task for each referral past its status's allowance that has none since entering it."""
    now = now or clock.now()
    already = exists().where(Task.focus_type == TaskFocus.REFERRAL, Task.focus_id == Referral.id,
                             Task.created_at >= Referral.status_at)
    candidates = session.scalars(select(Referral).where(Referral.status.in_(CHASED), ~already)
                                 .order_by(Referral.status_at).limit(limit))
    created = 0
    for referral in candidates:
        due = rules.chase_at(referral.status, referral.urgency, clock.ensure_utc(referral.status_at),
                             clock.ensure_utc(referral.appointment_at) if referral.appointment_at else None)
        if due is not None and due <= now:
            chase_task(session, referral, now)
            created += 1
    return created
