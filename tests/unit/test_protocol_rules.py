"""Pure protocol rules: conditions, due dates across weekends and US federal holidays, assignment, readiness."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from careloop import clock
from careloop.protocols import rules
from careloop.protocols.definition import DueRule, Protocol
from careloop.protocols.registry import load_registry
from careloop.staff.models import StaffRole

NY = "America/New_York"


def local(y: int, m: int, d: int, hh: int = 10, tz: str = NY) -> dt.datetime:
    from zoneinfo import ZoneInfo

    return dt.datetime(y, m, d, hh, tzinfo=ZoneInfo(tz)).astimezone(dt.UTC)


def due_day(anchor: dt.datetime, offset: int, unit: str, tz: str = NY) -> dt.date:
    return rules.local_date(rules.due_at(anchor, DueRule(offset=offset, unit=unit), tz), tz)


# --- due dates ----------------------------------------------------------------------------------------------

def test_thanksgiving_2026_is_thursday_26_and_friday_27_is_a_business_day():
    assert not clock.is_business_day(dt.date(2026, 11, 26))
    assert clock.is_business_day(dt.date(2026, 11, 27))


def test_two_business_days_after_a_friday_discharge_is_tuesday():
    assert due_day(local(2026, 11, 20), 2, "business_days") == dt.date(2026, 11, 24)


def test_two_business_days_after_the_wednesday_before_thanksgiving_is_monday():
    # Thu 26 is Thanksgiving (skipped), Fri 27 is the first business day, Mon 30 the second.
    assert due_day(local(2026, 11, 25), 2, "business_days") == dt.date(2026, 11, 30)
    assert due_day(local(2026, 11, 25), 1, "business_days") == dt.date(2026, 11, 27)


def test_business_days_skip_observed_holidays():
    # 4 July 2026 is a Saturday: the holiday is observed on Friday 3 July.
    assert due_day(local(2026, 7, 2), 1, "business_days") == dt.date(2026, 7, 6)
    # Christmas 2026 is a Friday; a discharge on Thursday 24 December gets Monday 28 December.
    assert due_day(local(2026, 12, 24), 1, "business_days") == dt.date(2026, 12, 28)


def test_a_weekend_discharge_counts_from_the_next_business_days():
    assert due_day(local(2026, 11, 21), 2, "business_days") == dt.date(2026, 11, 24)


def test_business_days_use_the_organisation_time_zone():
    # 02:00 UTC on Saturday 21 Nov is still Friday evening in New York, but Saturday in Berlin.
    moment = dt.datetime(2026, 11, 21, 2, tzinfo=dt.UTC)
    assert due_day(moment, 2, "business_days", NY) == dt.date(2026, 11, 24)
    assert due_day(moment, 2, "business_days", "Europe/Berlin") == dt.date(2026, 11, 24)
    assert due_day(moment, 1, "business_days", NY) == dt.date(2026, 11, 23)
    assert due_day(moment, 1, "business_days", "Europe/Berlin") == dt.date(2026, 11, 23)
    assert rules.local_date(moment, NY) == dt.date(2026, 11, 20)


def test_days_are_calendar_days_due_at_the_end_of_the_local_day():
    due = rules.due_at(local(2026, 11, 20), DueRule(offset=7, unit="days"), NY)
    assert due == local(2026, 11, 27, 0) + dt.timedelta(hours=23, minutes=59)


def test_hours_are_exact():
    anchor = local(2026, 11, 20, 15)
    assert rules.due_at(anchor, DueRule(offset=72, unit="hours"), NY) == anchor + dt.timedelta(hours=72)


def test_daylight_saving_change_keeps_the_end_of_the_local_day():
    # US clocks go back on 1 November 2026: the end of that day is 04:59 UTC on 2 November... plus one hour.
    due = rules.due_at(local(2026, 10, 31), DueRule(offset=1, unit="days"), NY)
    assert due == dt.datetime(2026, 11, 2, 4, 59, tzinfo=dt.UTC)


@given(st.dates(min_value=dt.date(2025, 1, 1), max_value=dt.date(2030, 12, 31)), st.integers(0, 20))
def test_business_day_due_dates_are_business_days_after_the_anchor(day, offset):
    anchor = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)
    due = due_day(anchor, offset, "business_days", "UTC")
    assert clock.is_business_day(due)
    assert due >= day
    if offset:  # exactly `offset` business days in (day, due]
        between = [day + dt.timedelta(days=n) for n in range(1, (due - day).days + 1)]
        assert sum(clock.is_business_day(d) for d in between) == offset
    else:  # the same day, or the first business day after it
        assert not any(clock.is_business_day(day + dt.timedelta(days=n)) for n in range((due - day).days))


# --- conditions ---------------------------------------------------------------------------------------------

def _when(condition: dict) -> Protocol:
    return Protocol.model_validate({"key": "p", "name": "P", "version": "1", "triggers": [{"event": "a.b"}],
                                    "steps": [{"key": "s", "title": "S", "role": "coordinator",
                                               "due": {"offset": 1, "unit": "days"}, "when": condition}]})


@pytest.mark.parametrize(("condition", "context", "expected"), [
    ({"complexity": "high"}, {"complexity": "high"}, True),
    ({"complexity": "high"}, {"complexity": "moderate"}, False),
    ({"complexity": {"ne": "high"}}, {"complexity": "moderate"}, True),
    ({"complexity": {"ne": "high"}}, {}, True),
    ({"risk": ["high", "very_high"]}, {"risk": "very_high"}, True),
    ({"risk": ["high", "very_high"]}, {"risk": None}, False),
    ({"encounter_class": {"not_in": ["ambulatory"]}}, {"encounter_class": "inpatient"}, True),
    ({"chronic_problems": {"gt": 0}}, {"chronic_problems": 2}, True),
    ({"chronic_problems": {"gt": 0}}, {"chronic_problems": 0}, False),
    ({"chronic_problems": {"gt": 0}}, {}, False),
    ({"score": {"ge": 10, "lt": 20}}, {"score": "12"}, True),
    ({"referral_id": {"present": True}}, {"referral_id": "x"}, True),
    ({"referral_id": {"present": True}}, {}, False),
    ({"a": 1, "b": "x"}, {"a": 1, "b": "y"}, False),
])
def test_conditions(condition, context, expected):
    assert rules.holds(_when(condition).steps[0].when, context) is expected


def test_context_layers_defaults_then_patient_then_payload():
    protocol = _when({})
    protocol = protocol.model_copy(update={"defaults": {"complexity": "moderate", "risk": "low"}})
    context = rules.build_context(protocol, "encounter.discharged", {"complexity": "high", "x": None},
                                  {"risk": "high"})
    assert context == {"complexity": "high", "risk": "high", "trigger": "encounter.discharged"}


# --- assignment ---------------------------------------------------------------------------------------------

def test_assignee_prefers_the_care_team_member_then_the_first_role_queue():
    pharmacist, nurse, coordinator = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    team = {"rn_care_manager": nurse, "primary_care_coordinator": coordinator}
    assert rules.assignee(("pharmacist", "rn_care_manager"), team) == (nurse, None)
    assert rules.assignee(("pharmacist", "rn_care_manager"), {**team, "pharmacist": pharmacist}) == (pharmacist, None)
    assert rules.assignee(("pharmacist", "rn_care_manager"), {}) == (None, StaffRole.PHARMACIST)
    assert rules.assignee(("coordinator",), team) == (coordinator, None)
    assert rules.assignee(("coordinator",), {}) == (None, StaffRole.CARE_COORDINATOR)


# --- readiness ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def shipped() -> dict[str, Protocol]:
    return load_registry(org_root=None).shipped


def test_discharge_steps_by_complexity_and_risk(shipped):
    discharge = shipped["hospital_discharge"]
    anchor = local(2026, 11, 20)

    def keys(payload: dict, risk: str | None) -> set[str]:
        context = rules.build_context(discharge, "encounter.discharged", payload, {"risk": risk})
        return {r.step.key for r in rules.ready_steps(discharge, context, {}, anchor)}

    base = {"interactive_contact", "medication_reconciliation"}
    assert keys({"complexity": "high"}, "low") == base | {"face_to_face_7_days"}
    assert keys({"complexity": "moderate"}, "low") == base | {"face_to_face_14_days"}
    assert keys({}, None) == base | {"face_to_face_14_days"}
    assert keys({"complexity": "high"}, "high") == base | {"face_to_face_7_days", "home_visit"}


def test_dependent_steps_wait_for_their_predecessor_and_count_from_its_completion(shipped):
    intake = shipped["new_patient_intake"]
    anchor = local(2026, 11, 16)
    context = rules.build_context(intake, "patient.enrolled", {}, {})
    first = {r.step.key for r in rules.ready_steps(intake, context, {}, anchor)}
    assert first == {"welcome_call", "medication_review"}
    open_states = {k: rules.StepState(open=True) for k in first}
    assert rules.ready_steps(intake, context, open_states, anchor) == []
    done_at = local(2026, 11, 18, 15)
    states = {**open_states, "welcome_call": rules.StepState(open=False, completed_at=done_at)}
    ready = {r.step.key: r.anchor for r in rules.ready_steps(intake, context, states, anchor)}
    assert ready == {"consent": done_at, "comprehensive_assessment": anchor, "social_needs_screening": anchor}
    assert not rules.is_finished(intake, context, states)


def test_skipped_steps_do_not_block_and_the_run_finishes_when_applicable_steps_are_resolved(shipped):
    plan = shipped["care_plan_development"]
    context = rules.build_context(plan, "care_plan.review_due", {}, {})
    anchor = local(2026, 11, 16)
    assert [r.step.key for r in rules.ready_steps(plan, context, {}, anchor)] == ["sign_revision"]
    states = {"sign_revision": rules.StepState(open=False, completed_at=anchor)}
    assert [r.step.key for r in rules.ready_steps(plan, context, states, anchor)] == ["share_revision"]
    states["share_revision"] = rules.StepState(open=False, completed_at=anchor)
    assert rules.is_finished(plan, context, states)


def test_event_matching_compares_payload_and_context_as_text():
    rule = Protocol.model_validate({
        "key": "p", "name": "P", "version": "1", "triggers": [{"event": "a.b"}],
        "cancel_on": [{"event": "a.c", "match": ["encounter_id"]}],
        "steps": [{"key": "s", "title": "S", "role": "coordinator", "due": {"offset": 1, "unit": "days"}}],
    }).cancel_on[0]
    assert rules.event_matches(rule, {"encounter_id": "e1"}, {"encounter_id": "e1"})
    assert not rules.event_matches(rule, {"encounter_id": "e1"}, {"encounter_id": "e2"})
    assert not rules.event_matches(rule, {"encounter_id": "e1"}, {})
