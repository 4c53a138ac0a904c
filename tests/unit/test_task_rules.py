"""Task rules without a database: life cycle, priority, buckets, escalation plans and coverage chains."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from careloop.tasks import rules
from careloop.tasks.models import OPEN_STATUSES, TaskPriority, TaskStatus

S = TaskStatus
P = TaskPriority


# --- life cycle ------------------------------------------------------------------------------------

ALLOWED_PAIRS = [(a, b) for a, targets in rules.ALLOWED.items() for b in sorted(targets)]
FORBIDDEN_PAIRS = [(S.COMPLETED, S.IN_PROGRESS), (S.CANCELLED, S.REQUESTED), (S.FAILED, S.COMPLETED),
                   (S.IN_PROGRESS, S.REQUESTED), (S.IN_PROGRESS, S.ACCEPTED), (S.ON_HOLD, S.COMPLETED),
                   (S.ACCEPTED, S.REQUESTED), (S.REQUESTED, S.REQUESTED)]


@pytest.mark.parametrize(("current", "target"), ALLOWED_PAIRS)
def test_allowed_transitions(current, target):
    assert rules.can_transition(current, target)


@pytest.mark.parametrize(("current", "target"), FORBIDDEN_PAIRS)
def test_forbidden_transitions(current, target):
    assert not rules.can_transition(current, target)


def test_terminal_states_have_no_way_out_and_open_ones_can_always_be_cancelled():
    for status in rules.TERMINAL:
        assert rules.ALLOWED[status] == frozenset()
    for status in OPEN_STATUSES:
        assert {S.CANCELLED, S.FAILED} <= rules.ALLOWED[status]
    assert set(OPEN_STATUSES) | rules.TERMINAL == set(TaskStatus)


@given(st.lists(st.sampled_from(list(TaskStatus)), max_size=30))
def test_random_sequences_follow_the_table_and_stop_at_a_terminal_state(targets):
    status, history = S.REQUESTED, [S.REQUESTED]
    for target in targets:
        if rules.can_transition(status, target):
            status = target
            history.append(status)
    for before, after in itertools.pairwise(history):
        assert after in rules.ALLOWED[before]
    assert all(s not in rules.TERMINAL for s in history[:-1])  # nothing ever leaves a terminal state
    assert S.REQUESTED not in history[1:]  # nothing goes back to requested


# --- priority and risk ---------------------------------------------------------------------------------

def test_priority_rises_one_level_at_a_time_and_stops_at_stat():
    assert [rules.raise_priority(p) for p in (P.ROUTINE, P.URGENT, P.ASAP, P.STAT)] == [P.URGENT, P.ASAP, P.STAT,
                                                                                         P.STAT]
    assert rules.raise_priority(P.ROUTINE, 2) == P.ASAP
    assert rules.raise_priority(P.URGENT, 0) == P.URGENT


@given(st.sampled_from(list(TaskPriority)), st.integers(min_value=0, max_value=10))
def test_raising_never_lowers(priority, levels):
    raised = rules.raise_priority(priority, levels)
    assert rules.PRIORITY_ORDER.index(raised) >= rules.PRIORITY_ORDER.index(priority)


def test_risk_rank_orders_tiers_and_unknown_last():
    assert rules.risk_rank("very_high") > rules.risk_rank("high") > rules.risk_rank("moderate")
    assert rules.risk_rank("moderate") > rules.risk_rank("low") > rules.risk_rank(None) == rules.risk_rank("odd")


# --- buckets -------------------------------------------------------------------------------------------

NOW = dt.datetime(2026, 3, 10, 15, 0, tzinfo=dt.UTC)  # 11:00 in New York (EDT)


def test_day_bounds_use_the_organisation_time_zone():
    b = rules.day_bounds(NOW, "America/New_York")
    assert b.today_start == dt.datetime(2026, 3, 10, 4, 0, tzinfo=dt.UTC)
    assert b.tomorrow_start == dt.datetime(2026, 3, 11, 4, 0, tzinfo=dt.UTC)
    assert b.week_start == dt.datetime(2026, 3, 9, 4, 0, tzinfo=dt.UTC)  # Monday
    late = rules.day_bounds(dt.datetime(2026, 3, 11, 2, 0, tzinfo=dt.UTC), "America/New_York")
    assert late.today_start == b.today_start  # 22:00 local is still the 10th


def test_buckets():
    b = rules.day_bounds(NOW, "America/New_York")
    assert rules.bucket_of(None, b) == rules.NO_DUE
    assert rules.bucket_of(NOW - dt.timedelta(minutes=1), b) == rules.OVERDUE
    assert rules.bucket_of(NOW + dt.timedelta(hours=12), b) == rules.TODAY  # 23:00 local
    assert rules.bucket_of(NOW + dt.timedelta(hours=13), b) == rules.UPCOMING  # midnight local


@given(st.datetimes(min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2030, 1, 1),
                    timezones=st.just(dt.UTC)),
       st.sampled_from(["America/New_York", "America/Los_Angeles", "Pacific/Honolulu", "UTC"]))
def test_today_is_one_calendar_day_long_and_contains_now(now, tz):
    b = rules.day_bounds(now, tz)
    assert b.today_start <= now < b.tomorrow_start
    assert dt.timedelta(hours=23) <= b.tomorrow_start - b.today_start <= dt.timedelta(hours=25)
    assert b.week_start <= b.today_start


# --- escalation ----------------------------------------------------------------------------------------

STEPS = (rules.EscalationStep(4), rules.EscalationStep(24, notify_supervisor=True), rules.EscalationStep(72))


def test_no_escalation_before_the_first_step():
    assert rules.plan_escalation(P.ROUTINE, 0, dt.timedelta(hours=3, minutes=59), STEPS) is None


def test_one_step_raises_one_level():
    plan = rules.plan_escalation(P.ROUTINE, 0, dt.timedelta(hours=5), STEPS)
    assert plan == rules.Escalation(level=1, priority=P.URGENT, notify_supervisor=False)
    assert rules.plan_escalation(P.URGENT, 1, dt.timedelta(hours=5), STEPS) is None  # already done


def test_reaching_the_supervisor_step_notifies_and_late_discovery_catches_up():
    assert rules.plan_escalation(P.URGENT, 1, dt.timedelta(hours=30), STEPS) == rules.Escalation(2, P.ASAP, True)
    assert rules.plan_escalation(P.ROUTINE, 0, dt.timedelta(days=5), STEPS) == rules.Escalation(3, P.STAT, True)
    assert rules.plan_escalation(P.ASAP, 2, dt.timedelta(days=5), STEPS) == rules.Escalation(3, P.STAT, False)


def test_steps_that_do_not_raise_priority():
    steps = (rules.EscalationStep(1, raise_priority=False, notify_supervisor=True),)
    assert rules.plan_escalation(P.ROUTINE, 0, dt.timedelta(hours=2), steps) == rules.Escalation(1, P.ROUTINE, True)


@given(st.sampled_from(list(TaskPriority)), st.integers(min_value=0, max_value=3),
       st.floats(min_value=0, max_value=1000))
def test_escalation_only_moves_forward(priority, level, hours):
    plan = rules.plan_escalation(priority, level, dt.timedelta(hours=hours), STEPS)
    if plan is not None:
        assert plan.level > level
        assert rules.PRIORITY_ORDER.index(plan.priority) >= rules.PRIORITY_ORDER.index(priority)
        assert plan.level <= len(STEPS)


# --- coverage ------------------------------------------------------------------------------------------

def _people(**rows):
    ids = {name: uuid.uuid5(uuid.NAMESPACE_DNS, name) for name in "abcdef"}
    table = {ids[name]: (away, ids.get(backup) if backup else None) for name, (away, backup) in rows.items()}
    return ids, table.get


def test_present_owner_keeps_the_task():
    ids, lookup = _people(a=(False, "b"), b=(False, None))
    assert rules.covering_owner(ids["a"], lookup) == ids["a"]


def test_away_owner_goes_to_backup_and_chains():
    ids, lookup = _people(a=(True, "b"), b=(True, "c"), c=(False, None))
    assert rules.covering_owner(ids["a"], lookup) == ids["c"]


def test_away_without_a_usable_backup_keeps_the_task():
    ids, lookup = _people(a=(True, None))
    assert rules.covering_owner(ids["a"], lookup) == ids["a"]
    ids, lookup = _people(a=(True, "f"))  # f is unknown or inactive
    assert rules.covering_owner(ids["a"], lookup) == ids["a"]


def test_cycles_stop():
    ids, lookup = _people(a=(True, "b"), b=(True, "a"))
    assert rules.covering_owner(ids["a"], lookup) in {ids["a"], ids["b"]}
