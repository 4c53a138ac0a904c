"""Pure protocol rules: conditions, run context, due dates, assignment and which steps are ready."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from careloop import clock
from careloop.protocols.definition import COORDINATOR, Condition, DueRule, EventRule, Matcher, Protocol, Step
from careloop.staff.models import StaffRole

END_OF_DAY = dt.time(23, 59)  # a step due "in N days" is due by the end of that local day
TRIGGER = "trigger"


def matcher_holds(matcher: Matcher, value: Any) -> bool:
    """Whether one context value passes every test the matcher gives (a missing value passes none but `present`)."""
    if matcher.present is not None and (value is not None) != matcher.present:
        return False
    checks = ((matcher.eq, lambda v, x: v == x), (matcher.ne, lambda v, x: v != x),
              (matcher.in_, lambda v, x: v in x), (matcher.not_in, lambda v, x: v not in x))
    for expected, test in checks:
        if expected is not None and not test(value, expected):
            return False
    bounds = ((matcher.gt, float.__gt__), (matcher.ge, float.__ge__), (matcher.lt, float.__lt__),
              (matcher.le, float.__le__))
    for limit, test in bounds:
        if limit is not None and not (_number(value) is not None and test(_number(value), float(limit))):
            return False
    return True


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def holds(condition: Condition, context: Mapping[str, Any]) -> bool:
    """Whether every entry of a condition holds on the context."""
    return all(matcher_holds(m, context.get(name)) for name, m in condition.items())


def build_context(protocol: Protocol, event_type: str, payload: Mapping[str, Any],
                  patient_facts: Mapping[str, Any]) -> dict[str, Any]:
    """The run context: protocol defaults, overridden by patient facts, overridden by the event payload."""
    context: dict[str, Any] = dict(protocol.defaults)
    context.update({k: v for k, v in patient_facts.items() if v is not None})
    context.update({k: v for k, v in payload.items() if v is not None})
    context[TRIGGER] = event_type
    return context


def event_matches(rule: EventRule, context: Mapping[str, Any], payload: Mapping[str, Any]) -> bool:
    """Whether an event's payload agrees with the run context on every `match` name."""
    return all(name in payload and str(payload[name]) == str(context.get(name)) for name in rule.match)


def due_at(anchor: dt.datetime, rule: DueRule, tz: str) -> dt.datetime:
    """When a step is due: anchor + hours exactly, or the end of the local day N (business) days later."""
    if rule.unit == "hours":
        return clock.ensure_utc(anchor) + dt.timedelta(hours=rule.offset)
    start = local_date(anchor, tz)
    if rule.unit == "business_days":
        return end_of_local_day(clock.add_business_days(start, rule.offset), tz)
    return end_of_local_day(start + dt.timedelta(days=rule.offset), tz)


def describe_due(rule: DueRule) -> str:
    """'2 business days after the trigger', '3 days after welcome_call' (for people)."""
    unit = rule.unit.replace("_", " ")
    if rule.offset == 1:
        unit = unit.removesuffix("s")
    return f"{rule.offset} {unit} after {'the trigger' if rule.from_ == TRIGGER else rule.from_}"


def describe_condition(condition: Condition) -> dict[str, Any]:
    """A condition as plain data (the operators given, with their YAML names)."""
    return {name: m.model_dump(by_alias=True, exclude_none=True) for name, m in condition.items()}


_WORDS = {"eq": "is", "ne": "is not", "in": "is one of", "not_in": "is none of", "gt": ">", "ge": "≥", "lt": "<",
          "le": "≤"}


def explain_condition(condition: Condition) -> list[str]:
    """A condition for people: ['complexity is high', 'risk is one of high, very_high']."""
    parts = []
    for name, tests in describe_condition(condition).items():
        for op, value in tests.items():
            if op == "present":
                parts.append(f"{name} is {'given' if value else 'not given'}")
            else:
                shown = ", ".join(map(str, value)) if isinstance(value, list) else value
                parts.append(f"{name} {_WORDS[op]} {shown}")
    return parts


def end_of_local_day(day: dt.date, tz: str) -> dt.datetime:
    """The moment (UTC) something due on a local calendar day is due."""
    return dt.datetime.combine(day, END_OF_DAY, tzinfo=ZoneInfo(tz)).astimezone(dt.UTC)


def local_date(moment: dt.datetime, tz: str) -> dt.date:
    """The calendar day of a moment in a time zone."""
    return clock.ensure_utc(moment).astimezone(ZoneInfo(tz)).date()


def assignee(roles: tuple[str, ...] | list[str], team: Mapping[str, uuid.UUID]) -> tuple[uuid.UUID | None,
                                                                                      StaffRole | None]:
    """(owner, queue): the first role someone holds on the patient's care team, else the first role's queue.

    `team` maps care-team role values to staff ids; `coordinator` means the primary care coordinator.
    """
    for role in roles:
        staff_id = team.get("primary_care_coordinator" if role == COORDINATOR else role)
        if staff_id is not None:
            return staff_id, None
    first = roles[0]
    return None, StaffRole.CARE_COORDINATOR if first == COORDINATOR else StaffRole(first)


@dataclass(frozen=True)
class StepState:
    """What happened to a step's task: still open, or resolved (completed, cancelled, failed) at a time."""

    open: bool
    completed_at: dt.datetime | None = None


@dataclass(frozen=True)
class Ready:
    """A step whose task is to be created now, due from `anchor`."""

    step: Step
    anchor: dt.datetime


def applicable(protocol: Protocol, context: Mapping[str, Any]) -> list[Step]:
    """The steps whose `when` holds for this run."""
    return [s for s in protocol.steps if holds(s.when, context)]


def ready_steps(protocol: Protocol, context: Mapping[str, Any], states: Mapping[str, StepState],
                run_anchor: dt.datetime) -> list[Ready]:
    """Applicable steps without a task yet whose dependencies are resolved or skipped (not applicable)."""
    keys = {s.key for s in applicable(protocol, context)}
    ready = []
    for step in protocol.steps:
        if step.key not in keys or step.key in states:
            continue
        deps = [d for d in step.depends_on if d in keys]
        if all(d in states and not states[d].open for d in deps):
            ready.append(Ready(step, _anchor(step, states, run_anchor)))
    return ready


def _anchor(step: Step, states: Mapping[str, StepState], run_anchor: dt.datetime) -> dt.datetime:
    """The trigger's moment, or the completion of the step named in `due.from` (the trigger if it was skipped)."""
    if step.due.from_ == TRIGGER:
        return run_anchor
    state = states.get(step.due.from_)
    return state.completed_at if state is not None and state.completed_at is not None else run_anchor


def is_finished(protocol: Protocol, context: Mapping[str, Any], states: Mapping[str, StepState]) -> bool:
    """Whether every applicable step has a resolved task."""
    return all(s.key in states and not states[s.key].open for s in applicable(protocol, context))
