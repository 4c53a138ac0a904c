"""Read models for the referral pages: the tracker (open referrals, overdue first) and one referral."""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from careloop import clock
from careloop.auth import access
from careloop.auth.actor import Actor
from careloop.auth.permissions import Permission
from careloop.patients.models import Patient
from careloop.referrals import rules
from careloop.referrals.models import Provider, Referral, ReferralEvent
from careloop.referrals.models import ReferralStatus as S

TRACKER_LIMIT = 500


@dataclass(frozen=True)
class Row:
    referral: Referral
    patient: Patient
    provider: Provider | None
    chase_at: dt.datetime | None  # when it needs (or needed) chasing

    @property
    def overdue(self) -> bool:
        return self.chase_at is not None and self.chase_at <= clock.now()


def tracker(session: Session, actor: Actor, *, status: S | None = None) -> tuple[list[Row], dict[str, int]]:
    """Open referrals of the patients the actor may see, overdue first then oldest; counts by status."""
    actor.require(Permission.REFERRAL_READ)
    stmt = (select(Referral, Patient, Provider).join(Patient, Patient.id == Referral.patient_id)
            .outerjoin(Provider, Provider.id == Referral.provider_id)
            .where(access.visible_patients(actor), Referral.status.in_(rules.OPEN))
            .order_by(Referral.status_at, Referral.id).limit(TRACKER_LIMIT))
    rows = [Row(r, p, v, _chase_at(r)) for r, p, v in session.execute(stmt)]
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.referral.status.value] = counts.get(row.referral.status.value, 0) + 1
    if status is not None:
        rows = [row for row in rows if row.referral.status == status]
    rows.sort(key=lambda row: (not row.overdue, row.chase_at or dt.datetime.max.replace(tzinfo=dt.UTC)))
    return rows, counts


def _chase_at(referral: Referral) -> dt.datetime | None:
    return rules.chase_at(referral.status, referral.urgency, clock.ensure_utc(referral.status_at),
                          clock.ensure_utc(referral.appointment_at) if referral.appointment_at else None)


def next_statuses(referral: Referral) -> list[S]:
    """The statuses a person may move the referral to now (draft back to itself is never offered)."""
    return [s for s in S if rules.can_move(referral.status, s)]


AGE_BUCKETS = ((7, "0-7 days"), (30, "8-30 days"), (60, "31-60 days"), (None, "over 60 days"))


@dataclass(frozen=True)
class Group:
    """Times for one specialty and urgency, in days: to the appointment and to closing the loop."""

    specialty_code: str
    specialty_display: str
    urgency: str
    referrals: int
    to_appointment: tuple[int, float | None, float | None]  # count, median, 90th percentile
    to_closure: tuple[int, float | None, float | None]


@dataclass(frozen=True)
class Measures:
    groups: list[Group]
    open_by_age: dict[str, int]


def _summary(days: list[float]) -> tuple[int, float | None, float | None]:
    """Count, median and 90th percentile (nearest rank) of a list of durations in days."""
    if not days:
        return 0, None, None
    ordered = sorted(days)
    p90 = ordered[max(0, -(-9 * len(ordered) // 10) - 1)]
    return len(ordered), round(statistics.median(ordered), 1), round(p90, 1)


def measures(session: Session, actor: Actor, *, since: dt.date | None = None) -> Measures:
    """Time to appointment and to loop closure by specialty and urgency (from the first time each referral was
    sent), and open referrals by age, for the patients the actor may see."""
    actor.require(Permission.REFERRAL_READ)
    first_sent = (select(ReferralEvent.referral_id, func.min(ReferralEvent.occurred_at).label("sent"))
                  .where(ReferralEvent.to_status == S.SENT).group_by(ReferralEvent.referral_id).subquery())
    stmt = (select(Referral, first_sent.c.sent).join(Patient, Patient.id == Referral.patient_id)
            .outerjoin(first_sent, first_sent.c.referral_id == Referral.id).where(access.visible_patients(actor)))
    if since is not None:
        stmt = stmt.where(Referral.created_at >= dt.datetime.combine(since, dt.time(), dt.UTC))
    now, buckets = clock.now(), dict.fromkeys((label for _, label in AGE_BUCKETS), 0)
    times: dict[tuple[str, str, str], tuple[list[float], list[float], list[int]]] = {}
    for referral, sent in session.execute(stmt):
        key = (referral.specialty_code, referral.specialty_display, referral.urgency.value)
        to_appt, to_close, count = times.setdefault(key, ([], [], [0]))
        count[0] += 1
        start = clock.ensure_utc(sent) if sent is not None else None
        if start and referral.appointment_at and referral.status not in (S.CANCELLED, S.EXPIRED):
            to_appt.append((clock.ensure_utc(referral.appointment_at) - start).total_seconds() / 86400)
        if start and referral.status == S.CLOSED and referral.closed_at:
            to_close.append((clock.ensure_utc(referral.closed_at) - start).total_seconds() / 86400)
        if referral.status in rules.OPEN:
            age = (now - (start or clock.ensure_utc(referral.created_at))).days
            buckets[next(label for limit, label in AGE_BUCKETS if limit is None or age <= limit)] += 1
    groups = [Group(code, display, urgency, count[0], _summary(to_appt), _summary(to_close))
              for (code, display, urgency), (to_appt, to_close, count) in sorted(times.items())]
    return Measures(groups, buckets)
