"""Referral life cycle and targets: pure rules, no database."""

from __future__ import annotations

import datetime as dt

from careloop.referrals.models import ReferralStatus as S
from careloop.referrals.models import ReferralUrgency as U

# draft -> sent -> accepted/declined -> scheduled -> seen -> report received -> reviewed -> closed;
# cancelled or expired (with a reason) from any open state. A declined referral is sent again to a new
# destination (declined -> sent).
TRANSITIONS: dict[S, frozenset[S]] = {
    S.DRAFT: frozenset({S.SENT, S.CANCELLED}),
    S.SENT: frozenset({S.ACCEPTED, S.DECLINED, S.SCHEDULED, S.CANCELLED, S.EXPIRED}),
    S.ACCEPTED: frozenset({S.SCHEDULED, S.CANCELLED, S.EXPIRED}),
    S.DECLINED: frozenset({S.SENT, S.CANCELLED}),
    S.SCHEDULED: frozenset({S.SCHEDULED, S.SEEN, S.CANCELLED, S.EXPIRED}),  # rescheduling keeps it scheduled
    S.SEEN: frozenset({S.REPORT_RECEIVED, S.CANCELLED}),
    S.REPORT_RECEIVED: frozenset({S.REVIEWED}),
    S.REVIEWED: frozenset({S.CLOSED}),
    S.CLOSED: frozenset(),
    S.CANCELLED: frozenset(),
    S.EXPIRED: frozenset(),
}
OPEN = frozenset(s for s, targets in TRANSITIONS.items() if targets)
NEEDS_REASON = frozenset({S.DECLINED, S.CANCELLED, S.EXPIRED})
# Target time from sending to the appointment, by urgency (calendar days). Published practice varies
# (routine 30 days is the common access standard; urgent within a few days); organisations may change these.
TARGET_DAYS: dict[U, int] = {U.ROUTINE: 30, U.URGENT: 3, U.STAT: 1}


def can_move(current: S, target: S) -> bool:
    """Whether a referral may go from current to target."""
    return target in TRANSITIONS[current]


def target_appointment_date(sent_on: dt.date, urgency: U) -> dt.date:
    """The date by which the patient should have been seen, for a referral sent on `sent_on`."""
    return sent_on + dt.timedelta(days=TARGET_DAYS[urgency])
