"""Pure care-plan rules: life cycles, goal targets, activity timeliness, review dates, adherence shares."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from careloop.care_plans import rules
from careloop.care_plans.models import CarePlanStatus as S
from careloop.care_plans.models import GoalComparator as C
from careloop.care_plans.models import GoalStatus as G


@pytest.mark.parametrize(("current", "target", "allowed"), [
    (S.DRAFT, S.ACTIVE, True), (S.DRAFT, S.REVOKED, True), (S.DRAFT, S.COMPLETED, False),
    (S.DRAFT, S.REVISED, False), (S.ACTIVE, S.REVISED, True), (S.ACTIVE, S.COMPLETED, True),
    (S.ACTIVE, S.REVOKED, True), (S.ACTIVE, S.DRAFT, False), (S.REVISED, S.ACTIVE, False),
    (S.COMPLETED, S.ACTIVE, False), (S.REVOKED, S.ACTIVE, False),
])
def test_plan_life_cycle(current, target, allowed):
    assert rules.can_move_plan(current, target) is allowed


def test_ended_plans_are_final():
    for status in (S.REVISED, S.COMPLETED, S.REVOKED):
        assert not any(rules.can_move_plan(status, t) for t in S)


@pytest.mark.parametrize(("current", "target", "allowed"), [
    (G.PROPOSED, G.ACTIVE, True), (G.PROPOSED, G.ACHIEVED, False), (G.ACTIVE, G.ACHIEVED, True),
    (G.ACTIVE, G.NOT_ACHIEVED, True), (G.NOT_ACHIEVED, G.ACTIVE, True), (G.ACHIEVED, G.ACTIVE, True),
    (G.CANCELLED, G.ACTIVE, False),
])
def test_goal_life_cycle(current, target, allowed):
    assert rules.can_move_goal(current, target) is allowed


@pytest.mark.parametrize(("comparator", "target", "value", "met"), [
    (C.LT, 8.0, 7.4, True),     # A1c below 8 %
    (C.LT, 8.0, 8.0, False),
    (C.LT, 140, 139, True),     # systolic below 140
    (C.LT, 140, 152, False),
    (C.LE, 140, 140, True),
    (C.GE, 150, 150, True),     # e.g. minutes of activity a week
    (C.GT, 150, 150, False),
    (C.EQ, 0, 0, True),         # no ED visit in 90 days
    (C.EQ, 0, 1, False),
    (C.LT, 8.0, None, None),    # no measurement yet
    (None, None, 7.0, None),    # free-text goal
])
def test_target_met(comparator, target, value, met):
    assert rules.target_met(comparator, target, value) is met


def test_describe_target():
    assert rules.describe_target(C.LT, 8.0, "%") == "< 8 %"
    assert rules.describe_target(C.LE, 139.5, "mm[Hg]") == "≤ 139.5 mm[Hg]"
    assert rules.describe_target(C.EQ, 0, None) == "= 0"
    assert rules.describe_target(None, None, None) == ""


def test_review_date_defaults_to_ninety_days_after_activation():
    today = dt.date(2026, 11, 25)
    assert rules.review_date_on_activation(None, today) == dt.date(2027, 2, 23)
    assert rules.review_date_on_activation(dt.date(2027, 1, 10), today) == dt.date(2027, 1, 10)


def test_timeliness_and_next_due():
    due = dt.date(2026, 12, 1)
    assert rules.completion_timeliness(due, dt.date(2026, 12, 1))
    assert not rules.completion_timeliness(due, dt.date(2026, 12, 2))
    assert rules.completion_timeliness(None, dt.date(2026, 12, 2))
    assert rules.next_due(30, dt.date(2026, 12, 2)) == dt.date(2027, 1, 1)
    assert rules.next_due(None, dt.date(2026, 12, 2)) is None


def test_adherence_rates():
    adherence = rules.Adherence(on_time=6, late=1, overdue=1, goals_met=1, goals_total=4)
    assert adherence.on_time_rate == 0.75 and adherence.goals_met_rate == 0.25
    assert rules.Adherence().on_time_rate is None and rules.Adherence().goals_met_rate is None


@given(st.integers(0, 1000), st.integers(0, 1000), st.integers(0, 1000))
def test_on_time_rate_is_a_share(on_time, late, overdue):
    rate = rules.Adherence(on_time=on_time, late=late, overdue=overdue).on_time_rate
    assert rate is None if on_time + late + overdue == 0 else 0 <= rate <= 1


def test_only_goals_in_play_count_for_adherence():
    assert [g for g in G if rules.goal_counts_for_adherence(g)] == [G.ACTIVE, G.ACHIEVED, G.NOT_ACHIEVED]
