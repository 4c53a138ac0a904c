"""Pure rules: readmission index stay, deadline status, encounter class, HL7 dates."""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from careloop.clinical.models import EncounterClass
from careloop.integrations.hl7v2.adt import AdtError, encounter_class, parse_datetime
from careloop.transitions.rules import PriorStay, deadline_status, readmission_index

T0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def test_readmission_picks_the_latest_discharge_within_30_days():
    a, b = PriorStay(uuid.uuid4(), T0 - dt.timedelta(days=20)), PriorStay(uuid.uuid4(), T0 - dt.timedelta(days=5))
    assert readmission_index(T0, [a, b]) == b
    assert readmission_index(T0, [PriorStay(uuid.uuid4(), T0 - dt.timedelta(days=31))]) is None
    assert readmission_index(T0, [PriorStay(uuid.uuid4(), T0 + dt.timedelta(hours=1))]) is None


@given(st.lists(st.integers(min_value=-60, max_value=60), max_size=8))
def test_readmission_index_is_always_within_the_window(days):
    stays = [PriorStay(uuid.uuid4(), T0 + dt.timedelta(days=d)) for d in days]
    index = readmission_index(T0, stays)
    within = [s for s in stays if dt.timedelta(0) <= T0 - s.discharged_at <= dt.timedelta(days=30)]
    assert (index is None) == (not within)
    if index:
        assert index.discharged_at == max(s.discharged_at for s in within)


def test_deadline_status():
    assert deadline_status("completed", T0, T0, T0) == "done"
    assert deadline_status("requested", T0 - dt.timedelta(1), None, T0) == "late"
    assert deadline_status("requested", T0 + dt.timedelta(1), None, T0) == "due"
    assert deadline_status("cancelled", T0, None, T0) == "withdrawn"


@pytest.mark.parametrize(("pv1_2", "pv1_18", "expected"), [
    ("I", "", EncounterClass.INPATIENT), ("E", "", EncounterClass.EMERGENCY), ("O", "", EncounterClass.AMBULATORY),
    ("O", "OBS", EncounterClass.OBSERVATION), ("OBS", "", EncounterClass.OBSERVATION), ("R", "", "ambulatory")])
def test_encounter_class(pv1_2, pv1_18, expected):
    assert encounter_class(pv1_2, pv1_18, "") == expected


def test_hl7_datetimes():
    ny = ZoneInfo("America/New_York")
    assert parse_datetime("20261101083000-0500", ny, "EVN^1^2") == dt.datetime(2026, 11, 1, 13, 30, tzinfo=dt.UTC)
    assert parse_datetime("202611011200", ny, "EVN^1^2") == dt.datetime(2026, 11, 1, 17, 0, tzinfo=dt.UTC)
    assert parse_datetime("2026", ny, "EVN^1^2").year == 2026
    assert parse_datetime("20261101083000.1234+0100", ny, "EVN^1^2").hour == 7
    assert parse_datetime("", ny, "EVN^1^2") is None
    for bad in ("20261301", "2026-11-01", "20260230", "nonsense"):
        with pytest.raises(AdtError):
            parse_datetime(bad, ny, "PV1^1^44")


def test_discharge_complexity_rule():
    from careloop.transitions.rules import discharge_complexity

    assert discharge_complexity(None, False) == "moderate"
    assert discharge_complexity("low", False) == "moderate"
    assert discharge_complexity("moderate", False) == "moderate"
    assert discharge_complexity("high", False) == "high"
    assert discharge_complexity("very_high", False) == "high"
    assert discharge_complexity(None, True) == "high"
