"""Pure care-plan rules: the plan and goal life cycles, goal targets, activity timeliness and adherence."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from careloop.care_plans.models import ActivityStatus, CarePlanStatus, GoalComparator, GoalStatus
from careloop.clinical.models import EncounterClass

REVIEW_INTERVAL = dt.timedelta(days=90)
# Goal measures counted from the record instead of read from observations: code -> (encounter class, days back).
MEASURE_SYSTEM = "urn:careloop:measure"
ENCOUNTER_MEASURES: dict[str, tuple[EncounterClass, int]] = {
    "ed-visits-90d": (EncounterClass.EMERGENCY, 90),
    "admissions-90d": (EncounterClass.INPATIENT, 90),
}

P = CarePlanStatus
PLAN_TRANSITIONS: dict[CarePlanStatus, frozenset[CarePlanStatus]] = {
    P.DRAFT: frozenset({P.ACTIVE, P.REVOKED}),
    P.ACTIVE: frozenset({P.REVISED, P.COMPLETED, P.REVOKED}),
    P.REVISED: frozenset(),
    P.COMPLETED: frozenset(),
    P.REVOKED: frozenset(),
}
PLAN_NEEDS_REASON = frozenset({P.REVOKED})

G = GoalStatus
GOAL_TRANSITIONS: dict[GoalStatus, frozenset[GoalStatus]] = {
    G.PROPOSED: frozenset({G.ACTIVE, G.CANCELLED}),
    G.ACTIVE: frozenset({G.ACHIEVED, G.NOT_ACHIEVED, G.CANCELLED}),
    G.NOT_ACHIEVED: frozenset({G.ACTIVE, G.ACHIEVED, G.CANCELLED}),
    G.ACHIEVED: frozenset({G.ACTIVE}),
    G.CANCELLED: frozenset(),
}
OPEN_ACTIVITY = frozenset({ActivityStatus.NOT_STARTED, ActivityStatus.SCHEDULED, ActivityStatus.IN_PROGRESS,
                           ActivityStatus.ON_HOLD})

_COMPARE = {GoalComparator.LT: float.__lt__, GoalComparator.LE: float.__le__, GoalComparator.GT: float.__gt__,
            GoalComparator.GE: float.__ge__, GoalComparator.EQ: float.__eq__}
COMPARATOR_SIGN = {GoalComparator.LT: "<", GoalComparator.LE: "≤", GoalComparator.GT: ">", GoalComparator.GE: "≥",
                   GoalComparator.EQ: "="}


def can_move_plan(current: CarePlanStatus, target: CarePlanStatus) -> bool:
    """Whether a plan may go from current to target."""
    return target in PLAN_TRANSITIONS[current]


def can_move_goal(current: GoalStatus, target: GoalStatus) -> bool:
    """Whether a goal may go from current to target."""
    return target in GOAL_TRANSITIONS[current]


def target_met(comparator: GoalComparator | None, target: float | None, value: float | None) -> bool | None:
    """Whether a measured value meets a goal's target; None when the goal has no target or no value yet."""
    if comparator is None or target is None or value is None:
        return None
    return _COMPARE[comparator](float(value), float(target))


def describe_target(comparator: GoalComparator | None, target: float | None, unit: str | None) -> str:
    """'< 8 %' for people; empty for a goal without a measurable target."""
    if comparator is None or target is None:
        return ""
    return f"{COMPARATOR_SIGN[comparator]} {target:g}{(' ' + unit) if unit else ''}"


def review_date_on_activation(current: dt.date | None, today: dt.date) -> dt.date:
    """A plan activated without a review date is reviewed in 90 days."""
    return current if current is not None else today + REVIEW_INTERVAL


def completion_timeliness(due: dt.date | None, done: dt.date) -> bool:
    """Whether an activity done on `done` was on time (an activity with no due date always is)."""
    return due is None or done <= due


def next_due(frequency_days: int | None, done: dt.date) -> dt.date | None:
    """The next occurrence of a recurring activity, counted from when it was done; None for a one-off."""
    return done + dt.timedelta(days=frequency_days) if frequency_days else None


@dataclass(frozen=True)
class Adherence:
    """Share of activity occurrences done on time (overdue ones count as missed) and share of goals met."""

    on_time: int = 0
    late: int = 0
    overdue: int = 0
    goals_met: int = 0
    goals_total: int = 0
    patients: int = 1

    @property
    def on_time_rate(self) -> float | None:
        counted = self.on_time + self.late + self.overdue
        return self.on_time / counted if counted else None

    @property
    def goals_met_rate(self) -> float | None:
        return self.goals_met / self.goals_total if self.goals_total else None


def goal_counts_for_adherence(status: GoalStatus) -> bool:
    """Goals that count towards 'goals met': all but proposed and cancelled ones."""
    return status not in (GoalStatus.PROPOSED, GoalStatus.CANCELLED)
