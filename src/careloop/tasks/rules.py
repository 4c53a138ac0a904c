"""Pure task rules: the FHIR Task life cycle, worklist buckets and ordering, escalation and coverage."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from careloop.tasks.models import PRIORITY_RANK, TaskPriority, TaskStatus

S = TaskStatus
ALLOWED: dict[TaskStatus, frozenset[TaskStatus]] = {
    S.REQUESTED: frozenset({S.ACCEPTED, S.IN_PROGRESS, S.ON_HOLD, S.COMPLETED, S.CANCELLED, S.FAILED}),
    S.ACCEPTED: frozenset({S.IN_PROGRESS, S.ON_HOLD, S.COMPLETED, S.CANCELLED, S.FAILED}),
    S.IN_PROGRESS: frozenset({S.ON_HOLD, S.COMPLETED, S.CANCELLED, S.FAILED}),
    S.ON_HOLD: frozenset({S.IN_PROGRESS, S.ACCEPTED, S.CANCELLED, S.FAILED}),
    S.COMPLETED: frozenset(),
    S.CANCELLED: frozenset(),
    S.FAILED: frozenset(),
}
TERMINAL = frozenset({S.COMPLETED, S.CANCELLED, S.FAILED})
NEEDS_REASON = frozenset({S.ON_HOLD, S.CANCELLED, S.FAILED})


def can_transition(current: TaskStatus, target: TaskStatus) -> bool:
    """Whether a task may move from current to target."""
    return target in ALLOWED[current]


RISK_RANK = {"very_high": 4, "high": 3, "rising": 2, "moderate": 2, "low": 1}


def risk_rank(tier: str | None) -> int:
    """Sort rank of a patient risk tier (unknown tiers sort last among equals)."""
    return RISK_RANK.get(tier or "", 0)


# --- priority ------------------------------------------------------------------------------------

PRIORITY_ORDER = sorted(PRIORITY_RANK, key=PRIORITY_RANK.__getitem__)  # routine, urgent, asap, stat


def raise_priority(priority: TaskPriority, levels: int = 1) -> TaskPriority:
    """The priority `levels` steps higher (routine -> urgent -> asap -> stat), never above stat."""
    index = min(PRIORITY_ORDER.index(priority) + max(levels, 0), len(PRIORITY_ORDER) - 1)
    return PRIORITY_ORDER[index]


# --- worklist buckets ----------------------------------------------------------------------------

OVERDUE, TODAY, UPCOMING, NO_DUE = "overdue", "today", "upcoming", "no_due"
BUCKETS = (OVERDUE, TODAY, UPCOMING, NO_DUE)


@dataclass(frozen=True)
class DayBounds:
    """The instants that split the worklist into buckets, for one organisation's time zone."""

    now: dt.datetime
    today_start: dt.datetime
    tomorrow_start: dt.datetime
    week_start: dt.datetime  # Monday 00:00 of the current week


def day_bounds(now: dt.datetime, tz: str) -> DayBounds:
    """Start of today, tomorrow and this week in `tz`, as UTC instants."""
    zone = ZoneInfo(tz)
    today = now.astimezone(zone).date()

    def start(day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(), zone).astimezone(dt.UTC)

    return DayBounds(now=now, today_start=start(today), tomorrow_start=start(today + dt.timedelta(days=1)),
                     week_start=start(today - dt.timedelta(days=today.weekday())))


def bucket_of(due_at: dt.datetime | None, bounds: DayBounds) -> str:
    """Which worklist bucket an open task with this due time falls in (the SQL counts mirror this)."""
    if due_at is None:
        return NO_DUE
    if due_at < bounds.now:
        return OVERDUE
    return TODAY if due_at < bounds.tomorrow_start else UPCOMING


def local_day_start(day: dt.date, tz: str) -> dt.datetime:
    """Midnight of a calendar day in `tz`, as a UTC instant (due-window filters)."""
    return dt.datetime.combine(day, dt.time(), ZoneInfo(tz)).astimezone(dt.UTC)


# --- escalation ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class EscalationStep:
    """One escalation level: reached `overdue_hours` after the due time."""

    overdue_hours: float
    raise_priority: bool = True
    notify_supervisor: bool = False


@dataclass(frozen=True)
class Escalation:
    """What to do to one task now: its new level and priority, and whether to tell the supervisor."""

    level: int
    priority: TaskPriority
    notify_supervisor: bool


def level_reached(overdue: dt.timedelta, steps: Sequence[EscalationStep]) -> int:
    """How many escalation steps a task this far past due has reached (steps sorted by overdue_hours)."""
    hours = overdue.total_seconds() / 3600
    return sum(1 for step in steps if hours >= step.overdue_hours)


def plan_escalation(priority: TaskPriority, current_level: int, overdue: dt.timedelta,
                    steps: Sequence[EscalationStep]) -> Escalation | None:
    """The escalation due for a task at `current_level`, or None when no new step is reached."""
    target = level_reached(overdue, steps)
    if target <= current_level:
        return None
    new_steps = steps[current_level:target]
    rises = sum(1 for step in new_steps if step.raise_priority)
    return Escalation(level=target, priority=raise_priority(priority, rises),
                      notify_supervisor=any(step.notify_supervisor for step in new_steps))


# --- coverage ------------------------------------------------------------------------------------

MAX_COVER_HOPS = 5


def covering_owner(owner_id: uuid.UUID,
                   lookup: Callable[[uuid.UUID], tuple[bool, uuid.UUID | None] | None]) -> uuid.UUID:
    """Who works an owner's tasks: the owner, or (while away) their backup, followed a few hops.

    lookup(staff_id) gives (away, backup_id), or None for an unknown or inactive staff member. The chain stops
    at someone present, at an away person with no usable backup, or after MAX_COVER_HOPS (cycles).
    """
    current, seen = owner_id, {owner_id}
    for _ in range(MAX_COVER_HOPS):
        found = lookup(current)
        if found is None:
            return current
        away, backup = found
        if not away or backup is None or backup in seen or lookup(backup) is None:
            return current
        current = backup
        seen.add(current)
    return current
