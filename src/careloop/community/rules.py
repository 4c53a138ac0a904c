"""Community referral life cycle and follow-up: pure rules."""

from __future__ import annotations

import datetime as dt

from careloop.community.models import CommunityReferralStatus as S

OUTCOMES = frozenset({S.SERVICE_PROVIDED, S.UNABLE_TO_CONTACT, S.DECLINED_BY_PATIENT, S.NOT_ELIGIBLE})
TRANSITIONS: dict[S, frozenset[S]] = {S.SENT: frozenset({S.ACCEPTED, *OUTCOMES}), S.ACCEPTED: OUTCOMES,
                                      **{outcome: frozenset() for outcome in OUTCOMES}}
OPEN = frozenset({S.SENT, S.ACCEPTED})
# Unanswered referrals are followed up: no answer a week after sending, no outcome a month after acceptance.
FOLLOW_UP_AFTER = {S.SENT: dt.timedelta(days=7), S.ACCEPTED: dt.timedelta(days=30)}
FOLLOW_UP_TITLES = {S.SENT: "Community referral unanswered: call the service and the patient",
                    S.ACCEPTED: "Community referral accepted a month ago: check the service was provided"}


def can_move(current: S, target: S) -> bool:
    return target in TRANSITIONS[current]


def follow_up_at(status: S, status_at: dt.datetime) -> dt.datetime | None:
    """When an open referral needs following up (None once it has an outcome)."""
    after = FOLLOW_UP_AFTER.get(status)
    return status_at + after if after is not None else None
