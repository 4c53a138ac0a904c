"""Referral life cycle and targets: pure rules, no database."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

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
# (routine 30 days is the common access standard; urgent within a few days); each organisation may set its
# own (ReferralTargets), within MAX_TARGET_DAYS, and stat no later than urgent, urgent no later than routine.
TARGET_DAYS: dict[U, int] = {U.ROUTINE: 30, U.URGENT: 3, U.STAT: 1}
MAX_TARGET_DAYS = 365


# How long a referral may wait in a status before someone is asked to chase it (days after entering the
# status; for scheduled, after the appointment). Statuses not listed are never chased.
CHASE_AFTER_DAYS: dict[S, dict[U, float]] = {
    S.SENT: {U.ROUTINE: 5, U.URGENT: 1, U.STAT: 0.25},  # not accepted or scheduled
    S.ACCEPTED: {U.ROUTINE: 7, U.URGENT: 1, U.STAT: 0.25},  # accepted, not scheduled
    S.SCHEDULED: {U.ROUTINE: 1, U.URGENT: 1, U.STAT: 1},  # the appointment has passed: was the patient seen?
    S.SEEN: {U.ROUTINE: 14, U.URGENT: 7, U.STAT: 3},  # seen, no report yet
    S.REPORT_RECEIVED: {U.ROUTINE: 3, U.URGENT: 1, U.STAT: 1},  # the referrer has not reviewed the report
}
CHASE_TITLES: dict[S, str] = {
    S.SENT: "Referral not accepted yet: contact the specialist's office",
    S.ACCEPTED: "Referral accepted but not scheduled: help the patient book",
    S.SCHEDULED: "Specialist appointment has passed: confirm the patient was seen",
    S.SEEN: "Specialist report not received: request the consult note",
    S.REPORT_RECEIVED: "Review the specialist's report and close the referral",
    S.DECLINED: "Referral declined: choose a new destination and send it again",
}


def chase_at(status: S, urgency: U, status_at: dt.datetime, appointment_at: dt.datetime | None) -> dt.datetime | None:
    """When a referral waiting in `status` needs chasing (None: never; a declined one at once)."""
    if status == S.DECLINED:
        return status_at
    days = CHASE_AFTER_DAYS.get(status, {}).get(urgency)
    if days is None:
        return None
    start = appointment_at if status == S.SCHEDULED and appointment_at is not None else status_at
    return start + dt.timedelta(days=days)


def can_move(current: S, target: S) -> bool:
    """Whether a referral may go from current to target."""
    return target in TRANSITIONS[current]


def target_appointment_date(sent_on: dt.date, urgency: U, targets: Mapping[U, int] = TARGET_DAYS) -> dt.date:
    """The date by which the patient should have been seen, for a referral sent on `sent_on`."""
    return sent_on + dt.timedelta(days=targets[urgency])


def targets_problem(targets: Mapping[U, int]) -> str | None:
    """Why a set of target days cannot be used (None when it can)."""
    if any(not 0 <= days <= MAX_TARGET_DAYS for days in targets.values()):
        return f"Target days are between 0 and {MAX_TARGET_DAYS}"
    if not targets[U.STAT] <= targets[U.URGENT] <= targets[U.ROUTINE]:
        return "Stat must be no later than urgent, and urgent no later than routine"
    return None
