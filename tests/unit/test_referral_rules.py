"""Referral life cycle rules: every state reachable from draft, terminal states final, targets by urgency."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from careloop.referrals import rules
from careloop.referrals.models import ReferralStatus as S
from careloop.referrals.models import ReferralUrgency as U


def test_every_status_is_reachable_from_draft_and_the_happy_path_is_allowed():
    seen, todo = {S.DRAFT}, [S.DRAFT]
    while todo:
        for nxt in rules.TRANSITIONS[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    assert seen == set(S)
    path = [S.DRAFT, S.SENT, S.ACCEPTED, S.SCHEDULED, S.SEEN, S.REPORT_RECEIVED, S.REVIEWED, S.CLOSED]
    assert all(rules.can_move(a, b) for a, b in itertools.pairwise(path))


@pytest.mark.parametrize("final", [S.CLOSED, S.CANCELLED, S.EXPIRED])
def test_final_states_go_nowhere(final):
    assert not rules.TRANSITIONS[final] and final not in rules.OPEN


def test_a_declined_referral_is_sent_again_and_a_report_cannot_be_skipped():
    assert rules.can_move(S.DECLINED, S.SENT)
    assert not rules.can_move(S.SEEN, S.REVIEWED)  # the report comes first
    assert not rules.can_move(S.REPORT_RECEIVED, S.CANCELLED)  # the loop is closed by reviewing it
    assert {S.DECLINED, S.CANCELLED, S.EXPIRED} == rules.NEEDS_REASON


def test_target_appointment_dates_by_urgency():
    sent = dt.date(2026, 11, 25)
    assert rules.target_appointment_date(sent, U.ROUTINE) == dt.date(2026, 12, 25)
    assert rules.target_appointment_date(sent, U.URGENT) == dt.date(2026, 11, 28)
    assert rules.target_appointment_date(sent, U.STAT) == dt.date(2026, 11, 26)
